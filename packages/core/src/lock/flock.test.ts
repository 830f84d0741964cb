// The kernel lock: one holder at a time, waiters told who holds it, refusals name the holder, and a holder
// killed with SIGKILL releases it at once (no stale lock).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireLock, withLock } from './flock.js';

const dir = mkdtempSync(join(tmpdir(), 'egress-flock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('flock lock', () => {
  it('serialises holders: the second waits (told who holds it) and runs after the first released', async () => {
    const path = join(dir, 'a.lock');
    const order: string[] = [];
    const waits: string[] = [];
    const first = await acquireLock({ path, command: 'first-cmd', waitMs: 10_000 });
    const second = withLock({ path, command: 'second-cmd', waitMs: 10_000, onWait: (h) => waits.push(h) }, async () => {
      order.push('second');
    });
    await new Promise((r) => setTimeout(r, 200));
    order.push('first-release');
    await first.release();
    await second;
    expect(order).toEqual(['first-release', 'second']);
    expect(waits).toHaveLength(1);
    expect(waits[0]).toMatch(new RegExp(`^pid ${process.pid} \\(first-cmd, since \\S+Z\\)$`));
  });

  it('refuses at once with waitMs 0, naming the holder; and gives up after waitMs', async () => {
    const path = join(dir, 'b.lock');
    const held = await acquireLock({ path, command: 'egress-client up', waitMs: 0 });
    await expect(acquireLock({ path, command: 'egress-client down', waitMs: 0 })).rejects.toThrow(`egress-client down: refused, pid ${process.pid} (egress-client up, since`);
    await expect(acquireLock({ path, command: 'egress-client down', waitMs: 1000 })).rejects.toThrow(/egress-client down: gave up after 1 s waiting for pid \d+ \(egress-client up/);
    await held.release();
    await (await acquireLock({ path, command: 'egress-client down', waitMs: 0 })).release();
  });

  it('is released when its holder is killed with SIGKILL', async () => {
    const path = join(dir, 'c.lock');
    // A holder in another process: node takes the lock, prints "held", then sleeps.
    const holder = spawn(process.execPath, ['--input-type=module', '-e', `
      import { spawn } from 'node:child_process';
      const c = spawn('flock', ['-n', ${JSON.stringify(path)}, 'sh', '-c', 'echo held && exec cat >/dev/null'], { stdio: ['pipe', 'inherit', 'inherit'] });
      setInterval(() => {}, 1000);
    `], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => holder.stdout.on('data', (d: Buffer) => String(d).includes('held') && resolve()));
    await expect(acquireLock({ path, command: 'x', waitMs: 0 })).rejects.toThrow(/refused/);
    holder.kill('SIGKILL');
    const lock = await acquireLock({ path, command: 'after-kill', waitMs: 10_000 });
    await lock.release();
  });
});
