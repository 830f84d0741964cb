// Issue 7, `run --isolate`: the app runs in a network namespace whose only way out is a veth into the egress; nothing is
// left after a normal exit, a SIGKILL of the app, a SIGKILL of egress-client (its reaper cleans), or of both (the next
// start sweeps). Runs the built CLI inside the lab's client host with an interface egress on wlan0.
import { startLab, type Lab, type LabProcess } from '@egress/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE, provision } from './client-helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every isolate object still present in the client host, described; [] when the host is clean. */
async function leftovers(lab: Lab): Promise<string[]> {
  const out: string[] = [];
  const json = async (argv: string[]): Promise<unknown> => {
    const r = await lab.exec('client', argv);
    return r.exitCode === 0 && r.stdout.trim() ? JSON.parse(r.stdout) : [];
  };
  for (const ns of (await json(['ip', '-j', 'netns', 'list'])) as Array<{ name: string }>) if (ns.name.startsWith('egiso')) out.push(`netns ${ns.name}`);
  for (const l of (await json(['ip', '-j', 'link', 'show'])) as Array<{ ifname: string }>) if (l.ifname.startsWith('egiso')) out.push(`link ${l.ifname}`);
  for (const fam of ['-4', '-6']) {
    for (const r of (await json(['ip', '-j', fam, 'rule', 'show'])) as Array<{ priority: number; iif?: string }>) {
      if (r.priority === 4900 || r.priority === 4901 || r.iif?.startsWith('egiso')) out.push(`rule ${fam} ${r.priority} iif ${r.iif}`);
    }
  }
  const tables = (await json(['nft', '-j', 'list', 'tables'])) as { nftables?: Array<{ table?: { name: string } }> };
  for (const t of tables.nftables ?? []) if (t.table?.name.startsWith('egiso')) out.push(`nft table ${t.table.name}`);
  for (const dir of ['/etc/netns', '/run/egress/isolate', '/run/egress/isolate/sysctl']) {
    const r = await lab.exec('client', ['ls', '-1', dir]);
    for (const f of r.stdout.split('\n').filter((x) => x && x !== 'sysctl')) out.push(`file ${dir}/${f}`);
  }
  for (const tool of ['iptables', 'ip6tables']) {
    const r = await lab.exec('client', [tool, '-w', '-S', 'FORWARD']);
    for (const line of r.stdout.split('\n')) if (line.includes('egiso')) out.push(`${tool} ${line}`);
  }
  const fwd = (await lab.exec('client', ['sysctl', '-n', 'net.ipv4.conf.wlan0.forwarding', 'net.ipv6.conf.wlan0.force_forwarding'])).stdout.split('\n').filter(Boolean);
  if (fwd.some((v) => v !== '0')) out.push(`wlan0 forwarding ${fwd.join('/')}`);
  return out;
}

/** Waits until an isolated run is up: its record exists and its namespace holds the app; returns owner, reaper and app pids. */
async function waitForRun(lab: Lab, proc: LabProcess): Promise<{ owner: number; reaper?: number; app: number }> {
  for (let i = 0; i < 200; i++) {
    const ls = await lab.exec('client', ['ls', '-1', '/run/egress/isolate']);
    const rec = ls.stdout.split('\n').find((f) => /^\d+\.json$/.test(f));
    if (rec && /isolated in egiso-/.test(proc.output())) {
      const owner = Number(rec.replace('.json', ''));
      const pids = (await lab.exec('client', ['ip', 'netns', 'pids', `egiso-${owner}`])).stdout.split('\n').filter((s) => /^\d+$/.test(s.trim()));
      if (pids.length > 0) {
        const record = JSON.parse((await lab.readFile('client', `/run/egress/isolate/${rec}`))!) as { reaperPid?: number };
        return { owner, app: Number(pids[0]), ...(record.reaperPid ? { reaper: record.reaperPid } : {}) };
      }
    }
    await sleep(50);
  }
  throw new Error(`isolated run did not start: ${proc.output()}`);
}

/** Whether a process runs (a zombie whose parent was killed and is not reaped yet counts as gone). */
async function alive(lab: Lab, pid: number): Promise<boolean> {
  const stat = (await lab.exec('client', ['ps', '-o', 'stat=', '-p', String(pid)])).stdout.trim();
  return stat !== '' && !stat.startsWith('Z');
}

/** Polls until the client host has no isolate object left (or gives up and returns what is left). */
async function untilClean(lab: Lab, ms = 5000): Promise<string[]> {
  let left = await leftovers(lab);
  for (let t = 0; left.length > 0 && t < ms; t += 100) {
    await sleep(100);
    left = await leftovers(lab);
  }
  return left;
}

// The cgroup2 hierarchy is the machine's, shared by every lab: a unique egress name keeps ours apart, and uninstall removes it.
const NAME = 'wlan-iso';
const TUNNEL = 'wg-iso';

describe('run --isolate', () => {
  let lab: Lab;
  let cli: string[];
  beforeAll(async () => {
    lab = await startLab({ name: 'isolate-run' });
    cli = lab.egressClientArgv;
    const r = await lab.exec('client', [...cli, 'enroll', '--interface', 'wlan0', '--user', 'appuser', '--name', NAME, '--dns', lab.addr.dnsV4]);
    if (r.exitCode !== 0) throw new Error(`enroll --interface failed: ${r.stderr}`);
  });
  afterAll(async () => {
    if (lab) for (const name of [TUNNEL, NAME]) await lab.exec('client', [...cli, 'uninstall', name]);
    await lab?.down();
  });

  it('sees only lo and its veth, leaves by the egress (v4, v6, DNS), cannot bind another address, and leaves nothing behind', async () => {
    expect(await leftovers(lab)).toEqual([]);
    const links = await lab.exec('client', [...cli, 'run', '--isolate', '--', 'ip', '-j', 'link', 'show']);
    expect(links.exitCode, links.stderr).toBe(0);
    const seen = (JSON.parse(links.stdout) as Array<{ ifname: string; link_type: string }>).map((l) => [l.ifname.replace(/\d+/, 'N'), l.link_type]);
    expect(seen).toEqual([['lo', 'loopback'], ['egisoNn', 'ether']]);
    expect(await leftovers(lab)).toEqual([]);

    const iso = [...cli, 'run', '--isolate', '--'];
    expect(await lab.probe('client', { prefix: iso })).toBe(lab.addr.clientWlanV4);
    expect(await lab.probe('client', { prefix: iso, udp: true })).toBe(lab.addr.clientWlanV4);
    expect(await lab.probe('client', { prefix: iso, v6: true })).toBe(lab.addr.clientWlanV6);
    const before = (await lab.dnsQueries()).length;
    const byName = await lab.exec('client', [...iso, ...lab.probeArgv({ host: 'v4only.egress.test' })]);
    expect(byName.stdout.trim()).toBe(lab.addr.clientWlanV4);
    const asked = (await lab.dnsQueries()).slice(before);
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.every((q) => q.from === lab.addr.clientWlanV4)).toBe(true);
    // The host's other addresses do not exist in the namespace: binding to eth0's address fails.
    const bind = `const s=require('net').createServer();s.on('error',e=>{console.log(e.code);process.exit(0)});s.listen(0,'${lab.addr.clientV4}',()=>{console.log('bound');process.exit(0)})`;
    const b = await lab.exec('client', [...iso, process.execPath, '-e', bind]);
    expect(b.stdout.trim()).toBe('EADDRNOTAVAIL');
    // Nor does binding to the other uplink by name (SO_BINDTODEVICE), even for root with a raw ICMP socket.
    const byDevice = await lab.exec('client', [...iso, 'ping', '-c', '1', '-W', '1', '-I', 'eth0', lab.addr.whoamiV4]);
    expect(byDevice.exitCode).not.toBe(0);
    expect(byDevice.stderr + byDevice.stdout).toMatch(/eth0.*(No such device|unknown iface)|(No such device|unknown iface).*eth0/i);
    // The host itself is out of reach through the veth.
    const resolv = await lab.exec('client', [...iso, 'cat', '/etc/resolv.conf']);
    expect(resolv.stdout).toContain(`nameserver ${lab.addr.dnsV4}`);
    // The app runs as the invoking user (here: --user) with its exit status passed through.
    const id = await lab.exec('client', [...cli, 'run', '--isolate', '--user', 'appuser', '--', 'sh', '-c', 'id -un; exit 7']);
    expect([id.exitCode, id.stdout.trim()]).toEqual([7, 'appuser']);
    const notRoot = await lab.exec('client', [...cli, 'run', '--isolate', '--', 'true'], { user: 'appuser' });
    expect(notRoot.exitCode).not.toBe(0);
    expect(notRoot.stderr).toContain('run --isolate needs root');
    expect(await leftovers(lab)).toEqual([]);
  });

  it('runs two isolated apps at once, each in its own namespace, and restores forwarding only when the last ends', async () => {
    await lab.exec('client', ['rm', '-f', '/tmp/iso-a']);
    const waiting = lab.spawn('client', [...cli, 'run', '--isolate', '--', 'sh', '-c', 'while [ ! -e /tmp/iso-a ]; do sleep 0.05; done; exec "$@"', 'a', ...lab.probeArgv()]);
    const a = await waitForRun(lab, waiting);
    expect((await lab.exec('client', ['sysctl', '-n', 'net.ipv4.conf.wlan0.forwarding'])).stdout.trim()).toBe('1');
    // B starts, probes and ends while A runs: A's namespace and the shared forwarding stay.
    expect(await lab.probe('client', { prefix: [...cli, 'run', '--isolate', '--'] })).toBe(lab.addr.clientWlanV4);
    expect(await leftovers(lab)).toEqual(expect.arrayContaining([`netns egiso-${a.owner}`, 'wlan0 forwarding 1/1']));
    await lab.exec('client', ['touch', '/tmp/iso-a'], { check: true });
    const end = await waiting.exited;
    expect(end.code).toBe(0);
    expect(waiting.output().split('\n')).toContain(lab.addr.clientWlanV4);
    expect(await leftovers(lab)).toEqual([]);
  });

  it('starts and ends several isolated runs at the same moment and still restores forwarding', async () => {
    const runs = await Promise.all([1, 2, 3, 4].map(() => lab.exec('client', [...cli, 'run', '--isolate', '--', ...lab.probeArgv()], { timeoutMs: 60_000 })));
    expect(runs.map((r) => [r.exitCode, r.stdout.trim()]), runs.map((r) => r.stderr.split('\n').filter((l) => !l.startsWith('[#]')).join('\n')).join('\n')).toEqual([1, 2, 3, 4].map(() => [0, lab.addr.clientWlanV4]));
    expect(await leftovers(lab)).toEqual([]);
  });

  it("works where another firewall's FORWARD policy drops (Docker, ufw), with accepts only for its run", async () => {
    await lab.exec('client', ['iptables', '-w', '-P', 'FORWARD', 'DROP'], { check: true });
    try {
      const during = await lab.exec('client', [...cli, 'run', '--isolate', '--', 'sh', '-c', 'iptables -w -S FORWARD 2>&1; exec "$@"', 'app', ...lab.probeArgv()]);
      expect(during.exitCode, during.stderr).toBe(0);
      expect(during.stdout.trim().split('\n').pop()).toBe(lab.addr.clientWlanV4);
      // The rules are added on the host (the namespace has its own, empty, iptables), and reported on stderr.
      expect(during.stderr).toMatch(/\[#\] iptables -w -I FORWARD -i egiso\d+h -m comment --comment egiso-\d+ -j ACCEPT/);
      expect(during.stderr).toMatch(/\[#\] iptables -w -I FORWARD -o egiso\d+h -m comment --comment egiso-\d+ -j ACCEPT/);
      expect(await leftovers(lab)).toEqual([]);
      expect((await lab.exec('client', ['iptables', '-w', '-S', 'FORWARD'])).stdout).toBe('-P FORWARD DROP\n');
    } finally {
      await lab.exec('client', ['iptables', '-w', '-P', 'FORWARD', 'ACCEPT'], { check: true });
    }
  });

  it('cleans up when the app is killed with SIGKILL', async () => {
    const proc = lab.spawn('client', [...cli, 'run', '--isolate', '--', 'sleep', '300']);
    const run = await waitForRun(lab, proc);
    expect(await leftovers(lab)).toEqual(expect.arrayContaining([`netns egiso-${run.owner}`, `link egiso${run.owner}h`, `nft table egiso_${run.owner}`]));
    await lab.exec('client', ['kill', '-KILL', String(run.app)], { check: true });
    expect(await proc.exited).toEqual({ code: 137, signal: null });
    expect(await leftovers(lab)).toEqual([]);
  });

  it('cleans up when egress-client itself is killed with SIGKILL (its reaper does it)', async () => {
    const proc = lab.spawn('client', [...cli, 'run', '--isolate', '--', 'sleep', '300']);
    const run = await waitForRun(lab, proc);
    expect(run.reaper).toBeGreaterThan(0);
    await lab.exec('client', ['kill', '-KILL', String(run.owner)], { check: true });
    expect((await proc.exited).signal).toBe('SIGKILL');
    expect(await untilClean(lab)).toEqual([]);
    expect(await alive(lab, run.app)).toBe(false);
    expect(await alive(lab, run.reaper!)).toBe(false);
  });

  it('sweeps what a run left when egress-client and its reaper were both killed, at the next start', async () => {
    const proc = lab.spawn('client', [...cli, 'run', '--isolate', '--', 'sleep', '300']);
    const run = await waitForRun(lab, proc);
    await lab.exec('client', ['kill', '-KILL', String(run.reaper), String(run.owner)], { check: true });
    // (proc.exited waits for the output pipes, which the orphaned app still holds until the sweep kills it.)
    while (await alive(lab, run.owner)) await sleep(50);
    const left = await leftovers(lab);
    expect(left).toEqual(expect.arrayContaining([`netns egiso-${run.owner}`, `link egiso${run.owner}h`, `rule -4 4900 iif egiso${run.owner}h`, `nft table egiso_${run.owner}`, `file /run/egress/isolate/${run.owner}.json`]));
    const next = await lab.exec('client', [...cli, 'run', '--isolate', '--', 'true']);
    expect(next.exitCode, next.stderr).toBe(0);
    expect(next.stderr).toContain(`removed what isolated runs of dead processes left behind (pids ${run.owner})`);
    expect(await leftovers(lab)).toEqual([]);
    expect((await proc.exited).signal).toBe('SIGKILL');
    expect(await alive(lab, run.app)).toBe(false);
  });

  it('isolates an app into a WireGuard egress the same way (seen with the VPS address)', async () => {
    await provision(lab, []);
    const r = await lab.exec('client', [...cli, 'enroll', BUNDLE, '--user', 'otheruser', '--name', TUNNEL], { timeoutMs: 90_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    const iso = [...cli, 'run', '--isolate', '--egress', TUNNEL, '--'];
    const links = await lab.exec('client', [...iso, 'ip', '-j', 'link', 'show']);
    expect((JSON.parse(links.stdout) as Array<{ ifname: string }>).map((l) => l.ifname.replace(/\d+/, 'N'))).toEqual(['lo', 'egisoNn']);
    expect(await lab.probe('client', { prefix: iso })).toBe(lab.addr.vpsV4);
    expect(await lab.probe('client', { prefix: iso, udp: true })).toBe(lab.addr.vpsV4);
    expect(await lab.probe('client', { prefix: iso, v6: true })).toBe(lab.addr.vpsV6);
    // With two egresses, one must be named.
    const ambiguous = await lab.exec('client', [...cli, 'run', '--isolate', '--', 'true']);
    expect(ambiguous.exitCode).not.toBe(0);
    expect(ambiguous.stderr).toContain('--egress: several egresses are enrolled; expected one of:');
    expect(await leftovers(lab)).toEqual([]);
  });

  it('fails closed when the egress goes away under a running app: nothing leaves by eth0', async () => {
    await lab.exec('client', ['rm', '-f', '/tmp/iso-go']);
    const app = `while [ ! -e /tmp/iso-go ]; do sleep 0.05; done; exec "$@"`;
    const proc = lab.spawn('client', [...cli, 'run', '--isolate', '--egress', NAME, '--', 'sh', '-c', app, 'app', ...lab.probeArgv()]);
    await waitForRun(lab, proc);
    const capture = await lab.capture('client', 'eth0', `net 10.239.0.0/16 or net fd65:6769:7300::/48 or host ${lab.addr.whoamiV4} or host ${lab.addr.clientWlanV4}`);
    await lab.exec('client', ['ip', 'link', 'set', 'wlan0', 'down'], { check: true });
    await lab.exec('client', ['touch', '/tmp/iso-go'], { check: true });
    const end = await proc.exited;
    expect(end.code, proc.output()).not.toBe(0);
    expect(await capture.stop()).toEqual([]);
    expect(await leftovers(lab)).toEqual([]);
    // A new isolated run is refused while the egress is down, before anything is created.
    const refused = await lab.exec('client', [...cli, 'run', '--isolate', '--egress', NAME, '--', 'true']);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain(`egress '${NAME}' is down: its table`);
    expect(await leftovers(lab)).toEqual([]);
  });
});
