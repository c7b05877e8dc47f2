#!/usr/bin/env node
// Copies the non-TypeScript files the built code reads at run time into dist/ (tsc copies only .ts output):
// the Redis engine's Lua scripts.
import { cpSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const from = join(root, 'src/engine/lua');
if (existsSync(from)) cpSync(from, join(root, 'dist/engine/lua'), { recursive: true });
