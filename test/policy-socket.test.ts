// Issue 18 end to end: who may use an egress (`allow`), enforced in the kernel on the egress address, and the
// supervisor's socket that lets an allowed user run, run-as (own identity), exec and attach without sudo.
// otheruser not allowed: exec, run, attach and a program binding the tunnel address all fail, 0 packets on the
// tunnel or the uplinks. After `allow --user otheruser`: all work without sudo, seen with the VPS address, as
// otheruser. attach/detach move a running loop's next connections. ≥ 50 hostile socket requests are refused.
import { randomBytes } from 'node:crypto';
import { labCgroupParent, startLab, type Lab, type LabProcess } from '@egress/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, enroll, provision, tearDownClientLab, waitUntil } from './client-helpers.js';
import { askFromInternet, serveOnClient } from './forward-helpers.js';

const NAME = `pol-${randomBytes(3).toString('hex')}`;
const BIND = '/tmp/egress-bind-probe.mjs';
const FUZZ = '/tmp/egress-socket-fuzz.mjs';
let lab: Lab;
let daemon: LabProcess;
let daemonExited = false;
let tunnelAddr: string;
let tunnelIf: string;

// Binds the egress's tunnel address itself (no shim, no egress-client) and asks whoami over TCP or UDP: prints what it saw.
const BIND_JS = `import net from 'node:net';
import dgram from 'node:dgram';
const [local, host, port, proto] = process.argv.slice(2);
const fail = (e) => { console.log('fail ' + (e.code || e.message)); process.exit(2); };
setTimeout(() => { console.log('fail timeout'); process.exit(3); }, 3000);
if (proto === 'udp') {
  const s = dgram.createSocket('udp4');
  s.on('error', fail);
  s.on('message', (m) => { console.log(m.toString().trim()); process.exit(0); });
  s.bind(0, local, () => s.send('whoami\\n', Number(port), host, (e) => e && fail(e)));
} else {
  const s = net.connect({ host, port: Number(port), localAddress: local });
  s.on('data', (d) => { console.log(d.toString().trim()); process.exit(0); });
  s.on('error', fail);
}
`;
const bindArgv = (proto: 'tcp' | 'udp' = 'tcp') => ['node', BIND, tunnelAddr, lab.addr.whoamiV4, String(lab.addr.whoamiPort), proto];

// Sends each request on its own connection: a string (one line), {bytes: N} (N bytes, no newline), or
// {first, kill, rest} (first part, then the target process is killed mid-request, then the rest); prints the replies.
const FUZZ_JS = `import net from 'node:net';
import { readFileSync } from 'node:fs';
const reqs = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const one = (r) => new Promise((resolve) => {
  const s = net.connect('/run/egress/client.sock');
  let buf = '';
  s.on('connect', () => {
    if (typeof r === 'string') s.write(r + '\\n');
    else if (r.bytes) s.write(Buffer.alloc(r.bytes, 0x41));
    else { s.write(r.first); process.kill(r.kill, 'SIGKILL'); setTimeout(() => s.write(r.rest + '\\n'), 300); }
  });
  s.on('data', (d) => (buf += d));
  s.on('error', (e) => resolve({ transport: e.code }));
  s.on('close', () => { try { resolve(JSON.parse(buf.split('\\n')[0])); } catch { resolve({ raw: buf }); } });
});
const out = [];
for (const r of reqs) out.push(await one(r));
console.log(JSON.stringify(out));
`;

const cli = () => lab.egressClientArgv;
const egressCgroup = () => `/sys/fs/cgroup/${labCgroupParent(lab.name)}/${NAME}`;
const APP = (probe: string[]) => ['sh', '-c', 'id -u; grep "^0::" /proc/self/cgroup; exec "$@"', 'app', ...probe];

/** Spawns argv as `user` behind a shell that prints its pid first (then becomes argv); resolves with both. */
async function spawnWithPid(user: string, script: string): Promise<{ proc: LabProcess; pid: number }> {
  const proc = lab.spawn('client', ['sh', '-c', `echo pid=$$; ${script}`], { user });
  await waitUntil('the pid line', 10_000, () => /pid=\d+/.test(proc.output()));
  return { proc, pid: Number(/pid=(\d+)/.exec(proc.output())![1]) };
}

/** The supervisor socket's ACL, as getfacl prints it. */
async function socketAcl(): Promise<string> {
  return (await lab.exec('client', ['getfacl', '--omit-header', '/run/egress/client.sock'])).stdout;
}

async function asOther(argv: string[]) {
  return lab.exec('client', argv, { user: 'otheruser', timeoutMs: 30_000 });
}

/** Every pid in the egress's cgroup tree (what `nothing changes` compares). */
async function placedPids(): Promise<string> {
  const r = await lab.exec('client', ['sh', '-c', `find ${egressCgroup()} -name cgroup.procs -exec cat {} + | sort -n`]);
  return r.stdout;
}

async function captures() {
  const filter = `host ${lab.addr.whoamiV4} or host ${lab.addr.whoamiV6}`;
  return Promise.all([lab.capture('client', tunnelIf, filter), lab.capture('client', 'eth0', filter), lab.capture('client', 'wlan0', filter)]);
}

beforeAll(async () => {
  lab = await startLab({ name: 'policy-socket' });
  // A forwarded TCP and UDP port: serving one is using the egress too (only allowed users' replies leave).
  await provision(lab, ['--forward', '8080/tcp', '--forward', '8081/udp']);
  await enroll(lab, ['--name', NAME]);
  const facts = JSON.parse((await lab.exec('client', ['cat', `/etc/egress/public/${NAME}.json`], { check: true })).stdout);
  tunnelAddr = facts.address4;
  tunnelIf = facts.interface;
  await lab.writeFile('client', BIND, BIND_JS, '0644');
  await lab.writeFile('client', FUZZ, FUZZ_JS, '0644');
  daemon = lab.spawn('client', [...cli(), 'daemon', '--debounce-ms', '10']);
  void daemon.exited.then(() => (daemonExited = true));
  await waitUntil('the daemon socket', 30_000, () => daemon.output().includes('socket /run/egress/client.sock'));
}, 240_000);

afterAll(() => tearDownClientLab(lab, { stop: [daemon], egress: NAME }));

describe('who may use an egress (allow) and launching without sudo (supervisor socket)', () => {
  it('by default the egress allows root and its bound user only (old and new state alike)', async () => {
    const r = await client(lab, ['allow', 'list', '--egress', NAME, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.egresses[0].allowedUids).toEqual([0, 1001]);
    // enroll created the group `egress` (no members yet) and recorded it as egress's own; the socket is root:egress,
    // and its ACL names the bound user only (uid 1001), nobody else.
    const group = (await lab.exec('client', ['getent', 'group', 'egress'], { check: true })).stdout.trim();
    expect(group).toMatch(/^egress:x:\d+:$/);
    expect(JSON.parse((await lab.exec('client', ['cat', '/etc/egress/client-created-group.json'], { check: true })).stdout)).toEqual({ version: 1, group: 'egress', gid: Number(group.split(':')[2]) });
    expect((await lab.exec('client', ['stat', '-c', '%a %U %G', '/run/egress/client.sock'], { check: true })).stdout.trim()).toBe('660 root egress');
    await waitUntil('the socket ACL', 10_000, async () => (await socketAcl()).includes('user:appuser:rw-'));
    expect(await socketAcl()).not.toContain('otheruser');
  });

  it('otheruser, not allowed: exec, run, attach and a program binding the tunnel address fail; 0 packets on the tunnel or uplinks', async () => {
    const caps = await captures();
    const exec = await asOther([...cli(), 'exec', '--egress', NAME, '--', ...lab.probeArgv()]);
    expect(exec.exitCode).not.toBe(0);
    expect(exec.stderr).toContain(`user otheruser (uid 1002) may not use egress '${NAME}'`);
    expect(exec.stderr).toContain(`sudo egress-client allow --egress ${NAME} --user otheruser`);
    const run = await asOther([...cli(), 'run', '--egress', NAME, '--', ...lab.probeArgv()]);
    expect(run.exitCode).not.toBe(0);
    expect(run.stderr).toContain(`may not use egress '${NAME}'`);
    const { proc: sleeper, pid } = await spawnWithPid('otheruser', 'exec sleep 60');
    const attach = await asOther([...cli(), 'attach', String(pid), '--egress', NAME]);
    expect(attach.exitCode).not.toBe(0);
    expect(attach.stderr).toMatch(/may not use (egress|the supervisor's socket)/);
    sleeper.kill('SIGKILL');
    const [tcp, udp] = await Promise.all([asOther(bindArgv('tcp')), asOther(bindArgv('udp'))]);
    expect(tcp.exitCode).not.toBe(0);
    expect(tcp.stdout).toMatch(/^fail (ECONNREFUSED|ECONNRESET)/);
    expect(udp.exitCode).not.toBe(0);
    expect(udp.stdout).toMatch(/^fail /);
    // Not one packet of theirs on the tunnel or an uplink.
    expect(await Promise.all(caps.map((c) => c.stop()))).toEqual([[], [], []]);
    // Serving a forwarded port: the connections come in through the tunnel, otheruser's replies never leave.
    const inbound = await lab.capture('client', tunnelIf, 'dst port 8080 or dst port 8081');
    const replies = await Promise.all([lab.capture('client', tunnelIf, 'src port 8080 or src port 8081'), lab.capture('client', 'eth0', 'src port 8080 or src port 8081'), lab.capture('client', 'wlan0', 'src port 8080 or src port 8081')]);
    const services = [await serveOnClient(lab, { proto: 'tcp', host: '0.0.0.0', port: 8080, tag: 'other-tcp', user: 'otheruser' }), await serveOnClient(lab, { proto: 'udp', host: '0.0.0.0', port: 8081, tag: 'other-udp', user: 'otheruser' })];
    expect(await askFromInternet(lab, 'tcp', lab.addr.vpsV4, 8080, 6)).toBe('');
    expect(await askFromInternet(lab, 'udp', lab.addr.vpsV4, 8081, 6)).toBe('');
    // The UDP service got the question; the kernel refused its answer at sendto.
    expect(services[1]!.output()).toContain('got');
    expect(services[1]!.output()).toMatch(/sent (EPERM|EACCES)/);
    for (const p of services) p.kill('SIGTERM');
    await Promise.all(services.map((p) => p.exited));
    expect((await inbound.stop()).length).toBeGreaterThan(0);
    expect(await Promise.all(replies.map((c) => c.stop()))).toEqual([[], [], []]);
    // Root binding the same address is allowed (the kernel rule names the uids).
    const root = await lab.exec('client', bindArgv());
    expect(root.stdout.trim()).toBe(lab.addr.vpsV4);
  });

  it('after allow --user otheruser: exec, run, run-as (own identity) and the bound program work without sudo, as otheruser, via the VPS', async () => {
    const dry = await client(lab, ['allow', '--egress', NAME, '--user', 'otheruser', '--dry-run']);
    expect(dry.stdout).toContain('dry run: would have allowed user otheruser');
    expect(JSON.parse((await client(lab, ['allow', 'list', '--egress', NAME, '--json'])).stdout).egresses[0].allowedUids).toEqual([0, 1001]);
    const allow = await client(lab, ['allow', '--egress', NAME, '--user', 'otheruser']);
    expect(allow.exitCode, allow.stderr).toBe(0);
    expect(allow.stdout).toContain(`allowed user otheruser on egress '${NAME}' (uids allowed now: 0, 1001, 1002)`);
    const again = await client(lab, ['allow', '--egress', NAME, '--user', 'otheruser']);
    expect(again.stdout).toContain('already allowed');
    // allow created the group `egress` with otheruser in it; the daemon gives the socket to it.
    expect((await lab.exec('client', ['getent', 'group', 'egress'], { check: true })).stdout).toMatch(/^egress:x:\d+:otheruser$/m);
    await waitUntil('the socket to belong to group egress', 10_000, async () => (await lab.exec('client', ['stat', '-c', '%a %U %G', '/run/egress/client.sock'])).stdout.trim() === '660 root egress');

    const exec = await asOther([...cli(), 'exec', '--egress', NAME, '--', ...APP(lab.probeArgv())]);
    expect(exec.exitCode, exec.stderr).toBe(0);
    expect(exec.stderr).toContain('placed in cgroup');
    const [uid, cg, seen] = exec.stdout.trim().split('\n');
    expect({ uid, seen }).toEqual({ uid: '1002', seen: lab.addr.vpsV4 });
    expect(cg).toBe(`0::/${labCgroupParent(lab.name)}/${NAME}/uid-1002`);

    for (const argv of [[...cli(), 'run', '--egress', NAME, '--'], [...cli(), 'run-as', 'otheruser', '--']]) {
      const r = await asOther([...argv, ...APP(lab.probeArgv())]);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout.trim().split('\n')).toEqual(['1002', `0::/${labCgroupParent(lab.name)}/${NAME}/uid-1002`, lab.addr.vpsV4]);
    }
    const udp = await asOther([...cli(), 'run', '--egress', NAME, '--', ...lab.probeArgv({ udp: true })]);
    expect(udp.stdout.trim().split('\n').pop()).toBe(lab.addr.vpsV4);
    for (const proto of ['tcp', 'udp'] as const) expect((await asOther(bindArgv(proto))).stdout.trim()).toBe(lab.addr.vpsV4);
    // Allowed, otheruser may serve the forwarded ports too.
    const services = [await serveOnClient(lab, { proto: 'tcp', host: '0.0.0.0', port: 8080, tag: 'other-tcp', user: 'otheruser' }), await serveOnClient(lab, { proto: 'udp', host: '0.0.0.0', port: 8081, tag: 'other-udp', user: 'otheruser' })];
    expect(await askFromInternet(lab, 'tcp', lab.addr.vpsV4, 8080)).toBe(`other-tcp ${lab.addr.vpsGwV4}`);
    expect(await askFromInternet(lab, 'udp', lab.addr.vpsV4, 8081)).toBe(`other-udp ${lab.addr.vpsGwV4}`);
    for (const p of services) p.kill('SIGTERM');
    await Promise.all(services.map((p) => p.exited));
  });

  it('attach moves a running loop’s next connections to the VPS address; detach moves them back', async () => {
    const { proc: loop, pid } = await spawnWithPid('otheruser', `while :; do ${[...lab.probeArgv(), '1500'].join(' ')} || echo fail; sleep 0.2; done`);
    await waitUntil('the loop to be seen directly', 20_000, () => loop.output().includes(lab.addr.clientV4));
    const attach = await asOther([...cli(), 'attach', String(pid), '--egress', NAME]);
    expect(attach.exitCode, attach.stderr).toBe(0);
    expect(attach.stdout).toContain(`attached pid ${pid} to egress '${NAME}'`);
    let mark = loop.output().length;
    await waitUntil('the attached loop to be seen with the VPS address', 20_000, () => loop.output().slice(mark).includes(lab.addr.vpsV4));
    const detach = await asOther([...cli(), 'detach', String(pid)]);
    expect(detach.exitCode, detach.stderr).toBe(0);
    mark = loop.output().length;
    await waitUntil('the detached loop to be seen directly again', 20_000, () => loop.output().slice(mark).includes(lab.addr.clientV4));
    loop.kill('SIGKILL');
    await loop.exited;
    // A connection open before attach is listed as staying on its path (the VPS's sshd keeps it open).
    const held = `const s = require('net').connect(22, '${lab.ssh.target.split('@')[1]}'); s.on('data', () => console.log('connected')); setInterval(() => {}, 1000);`;
    const { proc: holder, pid: holderPid } = await spawnWithPid('otheruser', `exec node -e "${held}"`);
    await waitUntil('the held connection', 10_000, () => holder.output().includes('connected'));
    const a = await asOther([...cli(), 'attach', String(holderPid), '--egress', NAME]);
    expect(a.exitCode, a.stderr).toBe(0);
    expect(a.stdout).toContain('connections already open stay on the path they took:');
    expect(a.stdout).toMatch(new RegExp(`${lab.ssh.target.split('@')[1]!.replace(/\./g, '\\.')}:22 .*pid=${holderPid},`));
    expect((await asOther([...cli(), 'detach', String(holderPid)])).exitCode).toBe(0);
    holder.kill('SIGKILL');
    await holder.exited;
  });

  it('refuses at least 50 hostile socket requests with a reason; the supervisor stays up and nothing changes', async () => {
    // Targets: appuser's and root's processes, PID 1, kthreadd, otheruser's own process that is not a child, gone PIDs.
    const { proc: appSleep, pid: appPid } = await spawnWithPid('appuser', 'exec sleep 120');
    const { proc: own, pid: ownPid } = await spawnWithPid('otheruser', 'exec sleep 120');
    const { pid: dying } = await spawnWithPid('otheruser', 'exec sleep 120');
    // A setuid program otheruser started (its effective uid is root's).
    await lab.exec('client', ['sh', '-c', 'cp /bin/sleep /tmp/egress-suid-sleep && chown root:root /tmp/egress-suid-sleep && chmod 4755 /tmp/egress-suid-sleep'], { check: true });
    const { proc: suid, pid: suidPid } = await spawnWithPid('otheruser', 'exec /tmp/egress-suid-sleep 120');
    await waitUntil('the setuid sleep to run with euid 0', 10_000, async () => /^Uid:\s+1002\s+0\s+0\s+0$/m.test((await lab.exec('client', ['cat', `/proc/${suidPid}/status`])).stdout));
    const rootPid = Number((await lab.exec('client', ['cat', '/run/egress/daemon.pid'])).stdout.trim());
    const gone = Number((await lab.exec('client', ['sh', '-c', 'sh -c "exit 0" & echo $!; wait'])).stdout.trim());
    const appCgroupBefore = (await lab.exec('client', ['cat', `/proc/${appPid}/cgroup`])).stdout;
    const before = await placedPids();
    const reqs: Array<string | { bytes: number } | { first: string; kill: number; rest: string }> = [
      { first: `{"op":"attach","pid":${dying},`, kill: dying, rest: `"egress":"${NAME}"}` },
      'not json', '', '{', '[]', 'null', '42', '"place"', 'true', '{}', '{"op":null}', '{"op":"run","argv":["sh","-c","id"]}', '{"op":"exec","cmd":"touch /tmp/pwned"}',
      '{"op":"place"}', '{"op":"place","pid":"1"}', '{"op":"place","pid":-5}', '{"op":"place","pid":0}', '{"op":"place","pid":1.5}', '{"op":"place","pid":1e30}', '{"op":"place","pid":null}', '{"op":"place","pid":[1]}',
      '{"op":"place","pid":{"$gt":0}}', '{"op":"attach","pid":100,"tree":"yes"}', '{"op":"attach","pid":100,"egress":"../../etc"}', '{"op":"attach","pid":100,"egress":"A"}', '{"op":"attach","pid":100,"egress":1}',
      '{"op":"attach","pid":100,"uid":0}', '{"op":"attach","pid":100,"cgroup":"/"}', '{"op":"detach"}', '{"op":"detach","pid":"x"}', '{"op":"ping","extra":1}', '{"op":"PING"}', '{"op":"place","pid":42,"__proto__":{"x":1}}',
      `{"op":"attach","pid":${appPid},"egress":"${NAME}"}`, `{"op":"attach","pid":${appPid},"egress":"${NAME}","tree":true}`, `{"op":"place","pid":${appPid},"egress":"${NAME}"}`, `{"op":"detach","pid":${appPid}}`,
      `{"op":"attach","pid":${rootPid},"egress":"${NAME}"}`, `{"op":"attach","pid":1,"egress":"${NAME}"}`, `{"op":"attach","pid":1,"egress":"${NAME}","tree":true}`, `{"op":"place","pid":1,"egress":"${NAME}"}`, `{"op":"detach","pid":1}`,
      `{"op":"attach","pid":2,"egress":"${NAME}"}`, `{"op":"place","pid":${ownPid},"egress":"${NAME}"}`, `{"op":"detach","pid":${ownPid}}`, `{"op":"attach","pid":${ownPid},"egress":"nosuch"}`,
      `{"op":"attach","pid":${suidPid},"egress":"${NAME}"}`, `{"op":"attach","pid":${gone},"egress":"${NAME}"}`, `{"op":"place","pid":${gone},"egress":"${NAME}"}`, '{"op":"attach","pid":4194304}', `{"op":"attach","pid":${ownPid},"egress":"${'x'.repeat(5000)}"}`,
      { bytes: 5000 }, { bytes: 1 << 20 }, `{"op":"attach","pid":"${ownPid}"}\n{"op":"ping"}`, '\u0000\u0001\u0002', '{"op":"attach","pid":99999999}',
    ];
    expect(reqs.length).toBeGreaterThanOrEqual(50);
    await lab.writeFile('client', '/tmp/egress-fuzz-reqs.json', JSON.stringify(reqs), '0644');
    const r = await asOther(['node', FUZZ, '/tmp/egress-fuzz-reqs.json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const replies = JSON.parse(r.stdout) as Array<{ ok?: boolean; error?: string }>;
    expect(replies).toHaveLength(reqs.length);
    const notRefused = replies.map((x, i) => ({ req: JSON.stringify(reqs[i]).slice(0, 80), reply: x })).filter(({ reply }) => !(reply.ok === false && typeof reply.error === 'string' && reply.error.length > 0));
    expect(notRefused).toEqual([]);
    const why = (re: RegExp) => replies.some((x) => re.test(x.error ?? ''));
    expect(replies.filter((x, i) => typeof reqs[i] === 'string' && (reqs[i] as string).includes(`"pid":${appPid}`)).map((x) => x.error)).toEqual(
      Array(4).fill(`pid ${appPid} belongs to uid 1001, not to you (uid 1002)`),
    );
    expect({
      init: why(/pid 1 \(init\) is never moved/),
      kthread: why(/kernel thread/),
      root: why(new RegExp(`pid ${rootPid} (is the supervisor itself|belongs to uid 0)`)),
      gone: why(new RegExp(`no process ${gone} \\(it does not exist or has exited\\)`)),
      exitedMidRequest: new RegExp(`(no process ${dying} \\(it does not exist|pid ${dying} has exited)`).test(replies[0]!.error ?? ''),
      tooLarge: why(/request too large/),
      notChild: why(/not a child of the asking process/),
      notJson: why(/not JSON/),
      setuid: why(new RegExp(`pid ${suidPid} runs setuid/setgid`)),
      unknownOp: why(/op: expected op 'ping', 'place', 'attach' or 'detach', got "run"/),
    }).toEqual({ init: true, kthread: true, root: true, gone: true, tooLarge: true, notChild: true, notJson: true, setuid: true, unknownOp: true, exitedMidRequest: true });

    // Nothing changed: the egress cgroup holds the same pids, appuser's process stayed where it was, the daemon runs.
    expect(await placedPids()).toBe(before);
    expect((await lab.exec('client', ['cat', `/proc/${appPid}/cgroup`])).stdout).toBe(appCgroupBefore);
    expect(daemonExited).toBe(false);
    const refusedLogged = daemon.output().split('\n').filter((l) => l.includes('socket: refused')).length;
    expect(refusedLogged).toBeGreaterThanOrEqual(50);
    await lab.writeFile('client', '/tmp/egress-fuzz-reqs.json', JSON.stringify(['{"op":"ping"}']), '0644');
    expect(JSON.parse((await asOther(['node', FUZZ, '/tmp/egress-fuzz-reqs.json'])).stdout)).toEqual([{ ok: true, pids: [] }]);
    appSleep.kill('SIGKILL');
    own.kill('SIGKILL');
    await lab.exec('client', ['kill', '-KILL', String(suidPid)]);
    await suid.exited;
  });

  it('allow --group: members are expanded to uids, and the daemon re-renders when /etc/group changes', async () => {
    const dis = await client(lab, ['disallow', '--egress', NAME, '--user', 'otheruser']);
    expect(dis.exitCode, dis.stderr).toBe(0);
    expect((await asOther(bindArgv())).stdout).toMatch(/^fail (ECONNREFUSED|ECONNRESET)/);
    await lab.exec('client', ['groupadd', 'egresstesters'], { check: true });
    const allow = await client(lab, ['allow', '--egress', NAME, '--group', 'egresstesters']);
    expect(allow.exitCode, allow.stderr).toBe(0);
    expect(allow.stdout).toContain(`allowed group egresstesters on egress '${NAME}' (uids allowed now: 0, 1001)`);
    expect((await asOther(bindArgv())).stdout).toMatch(/^fail /);
    // No egress-client command: the daemon sees /etc/group change and re-renders the kernel rule with uid 1002.
    await lab.exec('client', ['gpasswd', '--add', 'otheruser', 'egresstesters'], { check: true });
    await waitUntil('otheruser to be allowed through the group', 20_000, async () => (await asOther(bindArgv())).stdout.trim() === lab.addr.vpsV4);
    // Re-rendered by the daemon alone (no egress-client command ran since gpasswd).
    const rules = (await lab.exec('client', ['nft', 'list', 'chain', 'inet', 'egress', 'output_filter'], { check: true })).stdout;
    expect(rules).toContain(`ip saddr ${tunnelAddr} ct direction original meta skuid != { 0, 1001, 1002 } jump allow_${NAME}`);
    // Allowed through the group alone (disallow --user took them out of group `egress`): the socket's ACL names the
    // group and, expanded, the user, so run, exec and attach go through the supervisor without sudo.
    expect((await lab.exec('client', ['id', '-nG', 'otheruser'], { check: true })).stdout.split(/\s+/)).not.toContain('egress');
    await waitUntil('the socket ACL to name the group and the user', 20_000, async () => /group:egresstesters:rw-/.test(await socketAcl()) && /user:otheruser:rw-/.test(await socketAcl()));
    const run = await asOther([...cli(), 'run', '--egress', NAME, '--', ...APP(lab.probeArgv())]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout.trim().split('\n')).toEqual(['1002', `0::/${labCgroupParent(lab.name)}/${NAME}/uid-1002`, lab.addr.vpsV4]);
    const exec = await asOther([...cli(), 'exec', '--egress', NAME, '--', ...lab.probeArgv()]);
    expect(exec.exitCode, exec.stderr).toBe(0);
    expect(exec.stdout.trim().split('\n').pop()).toBe(lab.addr.vpsV4);
    expect(exec.stderr).toContain('placed in cgroup');
    const list = JSON.parse((await client(lab, ['allow', 'list', '--egress', NAME, '--json'])).stdout);
    expect(list.egresses[0].allowedUids).toEqual([0, 1001, 1002]);
    await lab.exec('client', ['gpasswd', '--delete', 'otheruser', 'egresstesters'], { check: true });
    await waitUntil('otheruser to be refused again', 20_000, async () => /^fail /.test((await asOther(bindArgv())).stdout));
    // Not allowed any more: the ACL forgets the user, and run is refused naming the egress and how to allow them.
    await waitUntil('the socket ACL to drop otheruser', 20_000, async () => !(await socketAcl()).includes('user:otheruser'));
    const refused = await asOther([...cli(), 'run', '--egress', NAME, '--', ...lab.probeArgv()]);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain(`may not use egress '${NAME}'`);
    expect(refused.stderr).toContain(`sudo egress-client allow --egress ${NAME} --user otheruser`);
  });

  it('uninstall removes the group egress that enroll created, and its record', async () => {
    const u = await client(lab, ['uninstall', NAME]);
    expect(u.exitCode, u.stderr).toBe(0);
    expect((await lab.exec('client', ['getent', 'group', 'egress'])).exitCode).toBe(2);
    expect((await lab.exec('client', ['test', '-e', '/etc/egress/client-created-group.json'])).exitCode).not.toBe(0);
  });
});
