#!/usr/bin/env node
// The egress-server command. This launcher is kept in git so npm links the bin at install time (before any build);
// the program itself is dist/bin.js, made by `npm run build`.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/bin.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('egress-server is not built yet: run `npm run build` in the egress repository first\n');
  process.exit(1);
}
await import(entry.href);
