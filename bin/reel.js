#!/usr/bin/env node
// `reel`, the command line of the HTTP API (docs/cli.md). The CLI is TypeScript run through tsx's
// loader, as `npm start` runs the embedded stack: no build step, and `npm ci` installs tsx.
import process from 'node:process';
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
