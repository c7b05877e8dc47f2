#!/usr/bin/env node
// Writes docs/openapi.json from the built gateway: the very text GET /v1/openapi.json serves
// (docs/protocol.md D, "OpenAPI"). test/integration/openapi.test.ts checks the committed file is current.
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { openApiJson } = await import(join(root, 'dist/gateway/http-api.js'));
writeFileSync(join(root, '../../docs/openapi.json'), openApiJson());
