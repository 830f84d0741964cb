#!/usr/bin/env node
// egress-client entry: the only place that ends the process (exit code, or the app's signal re-raised), output flushed first.
// `run-as USER -- CMD` takes a path without commander so the app starts as soon as possible.
import { constants } from 'node:os';
import { exitAfterFlush, flushStreams } from '@egress/core/process/exit-after-flush';

const argv = process.argv.slice(2);
const fast = argv[0] === 'run-as' ? (await import('./run-as/fast-path.js')).fastRunAs(argv) : undefined;
const status = await (fast ?? (await import('./cli.js')).runCli(argv));
if (status.signal) {
  // What was printed arrives before the signal ends the process (a pipe drops what is still queued).
  await flushStreams();
  process.removeAllListeners(status.signal);
  process.kill(process.pid, status.signal);
  // Still alive (the signal is ignored here): exit the way a shell reports a signal.
  setTimeout(() => process.exit(128 + (constants.signals[status.signal!] ?? 0)), 100);
} else {
  // process.exit at once cut large piped output (status --json); see exit-after-flush.
  exitAfterFlush(status.code);
}
