#!/usr/bin/env node
// The `agentcast` command. A committed file, not dist/cli.js itself: npm links a package's bin when it
// installs it, and in this repository `npm ci` runs before the build, so the target must already exist.
import '../dist/cli.js';
