#!/usr/bin/env node
// egress-client entry: the only place that ends the process (exit code, or the app's signal re-raised).
import { runCli } from './cli.js';

const status = await runCli(process.argv.slice(2));
if (status.signal) {
  process.removeAllListeners(status.signal);
  process.kill(process.pid, status.signal);
} else {
  process.exit(status.code);
}
