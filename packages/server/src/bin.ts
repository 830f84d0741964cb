#!/usr/bin/env node
// egress-server entry point: the only place that calls process.exit.
import { runCli } from './cli/run-cli.js';

/**
 * Exits once stdout and stderr have handed everything to the OS: process.exit() right after a large write to a pipe
 * drops what is still queued (status --json of a 1,000-peer VPS, ~260 KB, arrived cut at ~220 KB in the bench).
 */
function exitAfterFlush(code: number): void {
  let pending = 2;
  const done = (): void => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}

runCli(process.argv.slice(2)).then(
  (code) => exitAfterFlush(code),
  (err) => {
    process.stderr.write(`internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    exitAfterFlush(1);
  },
);
