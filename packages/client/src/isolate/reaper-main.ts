// Entry point of the reaper process: on EOF of stdin (its owner ended), wait for the owner to be gone, then undo the owner's isolated run.
import { LocalHost } from '@egress/core/host/local-host';
import { ownerAlive } from './record.js';
import { teardownIsolation } from './teardown.js';

const owner = Number(process.argv[2]);
if (!Number.isInteger(owner) || owner < 1) process.exit(2);
// The owner's terminal or a test may signal the whole group; only the owner's end matters.
for (const sig of ['SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGTERM'] as const) process.on(sig, () => undefined);

let done = false;
/** Cleans up once, after the owner is gone (or 10 s passed). */
async function reap(): Promise<void> {
  if (done) return;
  done = true;
  const host = new LocalHost({ name: 'reaper' });
  for (let i = 0; i < 200 && (await ownerAlive(host, owner)); i++) await new Promise((r) => setTimeout(r, 50));
  await teardownIsolation(host, owner).catch(() => undefined);
  process.exit(0);
}
process.stdin.on('end', () => void reap());
process.stdin.on('close', () => void reap());
process.stdin.on('error', () => void reap());
process.stdin.resume();
