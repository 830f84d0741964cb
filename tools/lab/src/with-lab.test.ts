// withLab always removes its lab: when the body throws, and when vitest times the test out (needs root).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { labDir } from './paths.js';
import { nsOf } from './procs.js';
import { run } from './run.js';
import { startLab, sweepStaleLabs } from './start.js';
import { withLab } from './with-lab.js';
import { spawn, type ChildProcess } from 'node:child_process';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));

describe('withLab', () => {
  it('needs root', () => {
    expect(process.getuid?.(), 'the lab tests need root: run them as root, as .ci/run does').toBe(0);
  });

  it('tears the lab down when the body throws, and rethrows', async () => {
    const name = `wlt-${process.pid}`;
    let holder = 0;
    await expect(
      withLab({ name }, async (lab) => {
        holder = lab.hosts.vps.pid;
        expect(await lab.probe('vps')).toBe('198.51.100.2');
        throw new Error('body failed on purpose');
      }),
    ).rejects.toThrow('body failed on purpose');
    expect(holder).toBeGreaterThan(0);
    expect(nsOf(holder, 'net')).toBeUndefined();
    expect(existsSync(labDir(name))).toBe(false);
  });

  it('tears the lab down when vitest times the test out', async () => {
    const name = `wlto-${process.pid}`;
    const r = await run(['npx', 'vitest', 'run', '--config', 'fixtures/vitest.config.ts', '--reporter', 'verbose'], {
      env: { ...process.env, LAB_FIXTURE_NAME: name, CI: 'true', NO_COLOR: '1', FORCE_COLOR: '0' },
      timeoutMs: 60_000,
      cwd: pkgDir,
    });
    const out = r.stdout + r.stderr;
    const holder = Number(/LAB STARTED (\d+)/.exec(out)?.[1]);
    expect(holder, out).toBeGreaterThan(0);
    expect(out).toMatch(/Test timed out in 8000ms/);
    expect(out).toMatch(/1 failed \| 1 passed/);
    expect(r.exitCode).toBe(1);
    expect(nsOf(holder, 'net')).toBeUndefined();
    expect(existsSync(labDir(name))).toBe(false);
  }, 90_000);

  it('refuses a name that a live lab uses', async () => {
    const name = `wlu-${process.pid}`;
    await withLab({ name }, async () => {
      await expect(startLab({ name })).rejects.toThrow(`lab name '${name}' is in use by process ${process.pid}: pick another name`);
    });
  });

  it('removes a lab whose process was killed, on the next start', async () => {
    const name = `wlk-${process.pid}`;
    const child = await labInChild(name);
    child.process.kill('SIGKILL');
    await new Promise((r) => child.process.once('close', r));
    expect(nsOf(child.holder, 'net')).toMatch(/^net:\[\d+\]$/); // SIGKILL runs no exit handler: the lab is still there
    await sweepStaleLabs();
    expect(nsOf(child.holder, 'net')).toBeUndefined();
    expect(existsSync(labDir(name))).toBe(false);
  });

  it("takes name-PID when another live process holds the name (the same test file run twice at once)", async () => {
    const name = `wlh-${process.pid}`;
    const child = await labInChild(name);
    try {
      await withLab({ name }, async (lab) => {
        expect(lab.name).toBe(`${name}-${process.pid}`);
        expect(await lab.probe('client')).toBe('192.0.2.2');
        expect(nsOf(child.holder, 'net')).toMatch(/^net:/);
      });
    } finally {
      child.process.kill('SIGTERM');
      await new Promise((r) => child.process.once('close', r));
    }
    expect(nsOf(child.holder, 'net')).toBeUndefined(); // the child's exit handler removed its own lab
    expect(existsSync(labDir(name))).toBe(false);
  });
});

const children = new Set<ChildProcess>();

// Children a failed or timed-out test left running: kill them, then their labs go with the sweep.
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await Promise.all([...children].map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('close', r)) : undefined)));
  await sweepStaleLabs();
});

/** Starts a lab in a separate node process that stays alive until killed. */
async function labInChild(name: string): Promise<{ process: ChildProcess; holder: number }> {
  const index = fileURLToPath(new URL('../dist/index.js', import.meta.url));
  const child = spawn(process.execPath, ['--input-type=module', '-e',
    `const { startLab } = await import(${JSON.stringify(index)}); const lab = await startLab({ name: ${JSON.stringify(name)} });` +
      ` process.on('SIGTERM', () => process.exit(0)); process.stdout.write('UP ' + lab.hosts.client.pid + '\\n'); setInterval(() => {}, 1000);`,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const holder = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the child's lab was not up within 20 s: ${err}`)), 20_000);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { const m = /UP (\d+)/.exec(d); if (m) { clearTimeout(timer); resolve(Number(m[1])); } });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`child exited ${code} before the lab was up: ${err}`)); });
  });
  return { process: child, holder };
}
