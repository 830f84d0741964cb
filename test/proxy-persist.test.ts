// `egress-client proxy --persist` end to end: a saved proxy is run by `egress-client daemon`, curl over SOCKS5 through
// it is seen with the VPS's address; killing the proxy makes the daemon start it again; a daemon killed with -9 leaves
// its proxy running and the next daemon replaces it (one listener, listed, counted in `status`); `proxy remove` and
// `uninstall` close the port; a non-loopback listen without --allow is refused with nothing saved.
import { randomBytes } from 'node:crypto';
import { startLab, type Lab, type LabProcess } from '@egress/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, enroll, provision, tearDownClientLab } from './client-helpers.js';

const NAME = `pp-${randomBytes(3).toString('hex')}`;
const WEB_PORT = 8080;
const PORT = 1085;
const ID = `127.0.0.1-${PORT}`;
let lab: Lab;
let daemon: LabProcess | undefined;

const WEB = `const http=require('http');http.createServer((q,r)=>r.end((q.socket.remoteAddress||'').replace(/^::ffff:/,'')+'\\n')).listen({host:process.argv[1],port:${WEB_PORT}},()=>console.log('READY'))`;

async function waitFor<T>(what: string, ms: number, get: () => T | undefined | false | Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}${daemon ? `; daemon output:\n${daemon.output().slice(-3000)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const curl = () => lab.exec('client', ['curl', '-sS', '--max-time', '10', '--socks5-hostname', `127.0.0.1:${PORT}`, `http://whoami.egress.test:${WEB_PORT}/`], { user: 'otheruser', timeoutMs: 30_000 });
/** A pid that no longer runs: gone, or a zombie its new parent has not reaped yet (an orphan's parent is gone). */
const gone = async (pid: number | string) => /^(Z.*)?$/.test((await lab.exec('client', ['ps', '-o', 'stat=', '-p', String(pid)])).stdout.trim());
const listening = async () => (await lab.exec('client', ['ss', '-Hltn', `sport = :${PORT}`])).stdout.trim() !== '';
const listedPid = async (): Promise<number | undefined> => {
  const r = await client(lab, ['proxy', 'list', '--json']);
  expect(r.exitCode, r.stderr).toBe(0);
  const doc = JSON.parse(r.stdout) as { proxies: Array<{ id: string; pid: number | null }> };
  return doc.proxies.find((p) => p.id === ID)?.pid ?? undefined;
};

beforeAll(async () => {
  lab = await startLab({ name: 'proxy-persist' });
  await provision(lab, []);
  await enroll(lab, ['--name', NAME]);
  const web = lab.spawn('internet', [process.execPath, '-e', WEB, lab.addr.whoamiV4]);
  await waitFor('the web server', 20_000, () => web.output().includes('READY'));
}, 300_000);

afterAll(() => tearDownClientLab(lab, { stop: [daemon], egress: NAME }));

describe('egress-client proxy --persist in the lab', () => {
  it('a non-loopback listen without --allow is refused and nothing is saved', async () => {
    const r = await client(lab, ['proxy', '--persist', '--egress', NAME, '--listen', `${lab.addr.clientV4}:${PORT}`]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/--listen: .* is not a loopback address; give --allow/);
    expect(await lab.readFile('client', '/etc/egress/proxies.json')).toBeUndefined();
  });

  it('the daemon runs the saved proxy; curl through it is seen with the VPS address', async () => {
    const saved = await client(lab, ['proxy', '--persist', '--egress', NAME, '--listen', `127.0.0.1:${PORT}`]);
    expect(saved.exitCode, saved.stderr).toBe(0);
    expect(saved.stdout).toContain(`saved proxy '${ID}'`);
    const mode = await lab.exec('client', ['stat', '-c', '%a', '/etc/egress/proxies.json']);
    expect(mode.stdout.trim()).toBe('600');
    const dup = await client(lab, ['proxy', '--persist', '--egress', NAME, '--listen', `127.0.0.1:${PORT}`]);
    expect(dup.stderr).toContain(`--listen: 127.0.0.1:${PORT} is already used by saved proxy '${ID}'`);

    daemon = lab.spawn('client', [...lab.egressClientArgv, 'daemon', '--debounce-ms', '10']);
    await waitFor('the proxy to listen', 60_000, async () => (await listening()) && (await listedPid()));
    const r = await curl();
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(lab.addr.vpsV4);
  });

  it('a killed proxy is started again by the daemon and works again', async () => {
    const first = (await listedPid())!;
    expect(first).toBeGreaterThan(0);
    expect((await lab.exec('client', ['kill', '-9', String(first)])).exitCode).toBe(0);
    await waitFor('the restart line', 30_000, () => daemon!.output().includes(`proxy ${ID}: exited (SIGKILL); restarting in`));
    const second = await waitFor('a new proxy pid', 60_000, async () => {
      const pid = await listedPid();
      return pid !== undefined && pid !== first && (await listening()) ? pid : undefined;
    });
    console.log(`[proxy-persist] proxy pid ${first} killed, restarted as pid ${second}`);
    const r = await curl();
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(lab.addr.vpsV4);
  });

  it('a daemon killed with -9 leaves its proxy; the next daemon stops it and runs exactly one, which list and status show', async () => {
    const orphan = (await listedPid())!;
    const daemonPid = (await lab.exec('client', ['cat', '/run/egress/daemon.pid'])).stdout.trim();
    expect(daemonPid).toMatch(/^\d+$/);
    expect((await lab.exec('client', ['kill', '-9', daemonPid])).exitCode).toBe(0);
    await waitFor('the daemon to be gone', 10_000, () => gone(daemonPid));
    // The orphan still serves; the next daemon must not start a second one beside it, nor leave it.
    expect(await listening()).toBe(true);
    daemon = lab.spawn('client', [...lab.egressClientArgv, 'daemon', '--debounce-ms', '10']);
    await waitFor('the leftover to be stopped', 30_000, () => daemon!.output().includes(`proxy ${ID}: pid ${orphan} was left running by a previous daemon; stopping it`));
    const next = await waitFor('the new proxy to be listed', 60_000, async () => {
      const pid = await listedPid();
      return pid !== undefined && pid !== orphan && (await listening()) ? pid : undefined;
    });
    expect(await gone(orphan)).toBe(true);
    // Exactly one process listens on the port, and it is the listed one.
    const ss = (await lab.exec('client', ['ss', '-Hltnp', `sport = :${PORT}`])).stdout;
    const pids = [...new Set([...ss.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])))];
    expect(pids, ss).toEqual([next]);
    const r = await curl();
    expect(r.stdout.trim()).toBe(lab.addr.vpsV4);
    // The counters reach `status` (the proxy rewrites its status file about once a second).
    const shown = await waitFor('status to show the connection', 15_000, async () => {
      const st = await client(lab, ['status', NAME, '--json']);
      const doc = JSON.parse(st.stdout) as { proxies: Array<{ id: string; pid: number; status: { connections: number; bytesDown: number; active: number } | null }> };
      const row = doc.proxies.find((p) => p.id === ID);
      return row?.pid === next && row.status && row.status.connections >= 1 && row.status.bytesDown > 0 ? row.status : undefined;
    });
    console.log(`[proxy-persist] daemon ${daemonPid} killed -9; orphan proxy ${orphan} stopped by the next daemon, which runs ${next}; status: ${JSON.stringify(shown)}`);
    const text = await client(lab, ['status', NAME]);
    expect(text.stdout).toMatch(new RegExp(`proxies:\\n  ${ID.replace(/\./g, '\\.')} .* running \\(pid ${next}; \\d+ active, \\d+ connections, `));
  });

  it('proxy remove: the daemon stops it and the port is closed', async () => {
    const removed = await client(lab, ['proxy', 'remove', ID]);
    expect(removed.exitCode, removed.stderr).toBe(0);
    await waitFor('the port to close', 30_000, async () => !(await listening()));
    // The daemon logs the stop once the child has exited, which can come a moment after the port closed.
    await waitFor('the daemon to log the stop', 10_000, () => daemon!.output().includes(`proxy ${ID}: removed, stopped`));
    const r = await curl();
    expect(r.exitCode).not.toBe(0);
    expect(r.stdout).not.toContain(lab.addr.vpsV4);
    expect(await lab.readFile('client', '/etc/egress/proxies.json')).toBeUndefined();
  });

  it('uninstall stops a saved proxy the daemon runs', async () => {
    const saved = await client(lab, ['proxy', '--persist', '--egress', NAME, '--listen', `127.0.0.1:${PORT}`]);
    expect(saved.exitCode, saved.stderr).toBe(0);
    await waitFor('the proxy to listen', 60_000, async () => (await listening()) && (await listedPid()));
    const u = await client(lab, ['uninstall', NAME]);
    expect(u.exitCode, u.stderr).toBe(0);
    await waitFor('the port to close', 30_000, async () => !(await listening()));
    expect(await lab.readFile('client', '/etc/egress/proxies.json')).toBeUndefined();
  });
});
