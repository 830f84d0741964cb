#!/usr/bin/env node
// egress-server entry point: the only place that ends the process (after stdout and stderr are flushed).
import { exitAfterFlush } from '@egress/core/process/exit-after-flush';
import { runCli } from './cli/run-cli.js';

runCli(process.argv.slice(2)).then(
  (code) => exitAfterFlush(code),
  (err) => {
    process.stderr.write(`internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    exitAfterFlush(1);
  },
);
