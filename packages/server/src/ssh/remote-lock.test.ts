// The VPS's change lock, its script run by a local shell with real flock: free → held at once; busy → refused
// naming the holder, or waited for with its name and taken once the holder lets go (or dies).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireRemoteLock, batchDone, describeRemoteHolder, type HoldingHost } from './remote-lock.js';
import { buildBatchScript, parseBatchOutput } from './batch-script.js';

const dir = mkdtempSync(join(tmpdir(), 'egress-remote-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the held command here, as sshd would on the VPS; `kill` ends it like a dropped connection. */
function localHost(): HoldingHost & { kill(): void } {
  let killChild = () => undefined as unknown;
  return {
    kill: () => killChild(),
    hold: async (argv, onData) => {
      const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
      killChild = () => child.kill('SIGKILL');
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => onData(String(d)));
      child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
      const closed = new Promise<{ code: number; stderr: string }>((done) => child.on('close', (code) => done({ code: code ?? 255, stderr })));
      return { end: () => child.stdin.end(), closed };
    },
  };
}

const opts = (command: string, waitMs: number, waits: string[] = []) => ({ command, target: 'root@vps', waitMs, dir, onWait: (h: string) => waits.push(h) });

describe('acquireRemoteLock', () => {
  it('takes a free lock, names its holder beside it, forgets the name on release', async () => {
    const lock = await acquireRemoteLock(localHost(), opts('egress-server provision root@vps', 0));
    expect(lock).toBeDefined();
    expect(describeRemoteHolder(readFileSync(join(dir, 'change.holder'), 'utf8'))).toMatch(/^pid \d+ of \S+@\S+ \(egress-server provision root@vps, since \S+Z\)$/);
    await lock!.release();
    expect(readFileSync(join(dir, 'change.holder'), 'utf8')).toBe('');
  });

  it('refuses at once (wait 0) naming the holder; waits, saying for whom, and gets it when the holder dies', async () => {
    const first = localHost();
    const lock = await acquireRemoteLock(first, opts('egress-server peer add root@vps', 0));
    await expect(acquireRemoteLock(localHost(), opts('egress-server peer remove root@vps', 0))).rejects.toMatchObject({
      message: expect.stringMatching(new RegExp(`^egress-server peer remove root@vps: refused, pid ${process.pid} of \\S+ \\(egress-server peer add root@vps, since \\S+\\) is changing root@vps \\(lock ${dir}/change.lock on the VPS\\)$`)),
    });
    const waits: string[] = [];
    const second = acquireRemoteLock(localHost(), opts('egress-server deprovision root@vps', 20_000, waits));
    while (waits.length === 0) await new Promise((r) => setTimeout(r, 20));
    expect(waits[0]).toMatch(/^pid \d+ of \S+ \(egress-server peer add root@vps, since /);
    first.kill(); // the holder's side goes away without releasing (operator killed, connection dropped)
    const next = await second;
    expect(next).toBeDefined();
    await next!.release();
    await lock!.release();
  });

  it('runs the first batch under the lock in the same exec (its output after `held`), and only once the lock is held', async () => {
    const first = await acquireRemoteLock(localHost(), opts('egress-server peer add root@vps', 0));
    const batch = buildBatchScript([{ argv: ['cat', join(dir, 'change.holder')] }, { argv: ['sh', '-c', 'echo oops >&2; exit 3'] }, { argv: ['echo', 'a b'] }], false);
    const waits: string[] = [];
    const second = acquireRemoteLock(localHost(), opts('egress-server peer remove root@vps', 20_000, waits), batch);
    while (waits.length === 0) await new Promise((r) => setTimeout(r, 20));
    await first!.release();
    const lock = await second;
    expect(lock!.batch!.exitCode).toBe(0);
    const results = parseBatchOutput(lock!.batch!.stdout, batch.marker);
    // The batch read the holder file after the lock was taken: the second holder's name, not the first's.
    expect(describeRemoteHolder(results[0]!.stdout)).toMatch(/\(egress-server peer remove root@vps, since /);
    expect(results.slice(1)).toEqual([
      { exitCode: 3, stdout: '', stderr: 'oops\n' },
      { exitCode: 0, stdout: 'a b\n', stderr: '' },
    ]);
    await lock!.release();
    expect(readFileSync(join(dir, 'change.holder'), 'utf8')).toBe('');
  });

  it('finds the end of a batch only at its DONE line', () => {
    expect(batchDone('\nM 0\nx\nM E 0\n\nM END\n', 'M')).toBeUndefined();
    expect(batchDone('\nM 0\nx\nM E 0\n\nM END\n\nM DONE 0\n', 'M')).toEqual({ exitCode: 0, stdout: '\nM 0\nx\nM E 0\n\nM END\n' });
    expect(batchDone('\nM DONE 97\n', 'M')).toEqual({ exitCode: 97, stdout: '' });
    // Searching from a later offset still finds a DONE line that starts there; one wholly before it is not looked at.
    expect(batchDone('xx\nM DONE 1\n', 'M', 2)).toEqual({ exitCode: 1, stdout: 'xx' });
    expect(batchDone('\nM DONE 1\nyy', 'M', 3)).toBeUndefined();
  });

  it('gives up after the wait, naming the holder', async () => {
    const lock = await acquireRemoteLock(localHost(), opts('egress-server forward add root@vps', 0));
    await expect(acquireRemoteLock(localHost(), opts('egress-server forward remove root@vps', 1000))).rejects.toThrow(/gave up after 1 s waiting for pid \d+ of \S+ \(egress-server forward add root@vps/);
    await lock!.release();
  });

  it('is skipped (undefined) when the lock directory cannot be made (not root: the root check refuses next)', async () => {
    expect(await acquireRemoteLock(localHost(), { ...opts('x', 0), dir: '/proc/egress-no' })).toBeUndefined();
  });
});
