#!/usr/bin/env node
// egress-server entry point: the only place that calls process.exit.
import { runCli } from './cli/run-cli.js';

runCli(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
