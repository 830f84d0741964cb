// egress-server under a careless or hostile operator (lab, real SSH): --out paths that must never be replaced,
// flags that cannot work, SIGKILL of provision and deprovision after each change line, concurrent changes from one
// operator machine and from two (own lock directories: the lock on the VPS serialises them).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLab, type Lab } from '@egress/lab';
import { inTurn, killAfterChangeLine } from './kill-helpers.js';
import { server, sh, vpsSnapshot } from './server-helpers.js';

let lab: Lab;
let pristine: Record<string, string>;

beforeAll(async () => {
  lab = await startLab({ name: 'robust-srv' });
  pristine = await vpsSnapshot(lab);
}, 120_000);

afterAll(async () => {
  await lab?.down();
});

const OUT = '/root/robust.bundle.json';
const provisionArgv = () => [...lab.egressServerArgv, 'provision', lab.ssh.target, '--out', OUT];
const deprovisionArgv = () => [...lab.egressServerArgv, 'deprovision', lab.ssh.target];

/** The public key of the private key in the client's bundle, and the VPS's public key of peer `client`. */
async function keysAgree(): Promise<{ bundle: string; vps: string | undefined }> {
  const bundle = JSON.parse(await sh(lab, 'client', `cat ${OUT}`)) as { client: { privateKey: string } };
  const pub = await lab.exec('client', ['wg', 'pubkey'], { stdin: `${bundle.client.privateKey}\n`, check: true });
  const state = JSON.parse(await sh(lab, 'vps', 'cat /etc/egress/server.json')) as { peers: Array<{ name: string; publicKey: string }> };
  return { bundle: pub.stdout.trim(), vps: state.peers.find((p) => p.name === 'client')?.publicKey };
}

/** The VPS as it was before anything (ruleset, rules, routes, /etc, sysctls, links, iptables). */
async function expectPristine(what: string): Promise<void> {
  const now = await vpsSnapshot(lab);
  for (const k of Object.keys(pristine)) expect(now[k], `${what}: ${k}`).toBe(pristine[k]);
}

describe('--out and flags refused before the VPS is touched (lab)', () => {
  it('never replaces a device node, symlink, directory, FIFO or existing file (inode and type checked)', async () => {
    const cases = [
      { kind: 'char device', make: 'mknod /root/o-dev c 1 3', path: '/root/o-dev', reason: /is a character device/ },
      { kind: 'symlink', make: 'echo keep > /root/o-target && ln -s /root/o-target /root/o-link', path: '/root/o-link', reason: /is a symbolic link/ },
      { kind: 'directory', make: 'mkdir /root/o-dir', path: '/root/o-dir', reason: /is a directory/ },
      { kind: 'FIFO', make: 'mkfifo /root/o-fifo', path: '/root/o-fifo', reason: /is a FIFO/ },
      { kind: 'existing file', make: 'echo notes > /root/o-file', path: '/root/o-file', reason: /exists; expected a path where nothing exists yet/ },
    ];
    for (const c of cases) {
      await sh(lab, 'client', c.make);
      const before = await sh(lab, 'client', `stat -c '%i %F %t:%T %s' ${c.path}`);
      for (const args of [['provision', lab.ssh.target, '--out', c.path], ['peer', 'add', lab.ssh.target, 'phone', '--out', c.path]]) {
        const r = await server(lab, args);
        expect(r.exitCode, `${c.kind}: ${r.stderr}`).toBe(2);
        expect(r.stderr).toMatch(new RegExp(`--out: '${c.path}' `));
        expect(r.stderr).toMatch(c.reason);
        expect(r.stderr).not.toMatch(/^\[#/m);
        expect(await sh(lab, 'client', `stat -c '%i %F %t:%T %s' ${c.path}`), c.kind).toBe(before);
      }
    }
    expect(await sh(lab, 'client', 'cat /root/o-target')).toBe('keep\n');
    await expectPristine('after refused --out paths');
  });

  it('refuses --public-interface lo and a loopback --subnet, naming field, value and reason', async () => {
    const cases = [
      { args: ['--public-interface', 'lo'], message: /--public-interface: 'lo' is the loopback interface/ },
      { args: ['--subnet', '127.0.0.0/8'], message: /--subnet: '127\.0\.0\.0\/8' is a loopback range, which cannot carry a tunnel/ },
    ];
    for (const c of cases) {
      const r = await server(lab, ['provision', lab.ssh.target, '--out', '/root/never.json', ...c.args]);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(c.message);
    }
    await expectPristine('after refused flags');
  });
});

describe('SIGKILL after each change line (lab)', () => {
  it('provision: a re-run converges and writes the bundle with the key the VPS knows; deprovision leaves nothing', async () => {
    let total = 0;
    for (let n = 1; ; n++) {
      const run = await killAfterChangeLine(lab, 'client', provisionArgv(), n);
      if (!run.killed) {
        total = run.lines;
        break;
      }
      const again = await server(lab, ['provision', lab.ssh.target, '--out', OUT]);
      expect(again.exitCode, `killed after line ${n}; re-run: ${again.stderr}`).toBe(0);
      const keys = await keysAgree();
      expect(keys.vps, `killed after line ${n}`).toBe(keys.bundle);
      expect(await sh(lab, 'client', `ls -A /root | grep -c 'robust.bundle.json.pending' || true`)).toBe('0\n');
      expect((await server(lab, ['deprovision', lab.ssh.target])).exitCode).toBe(0);
      await sh(lab, 'client', `rm -f ${OUT}`);
      await expectPristine(`provision killed after line ${n}, re-run, deprovision`);
    }
    console.log(`provision was killed after each of its ${total} change lines`);
    expect(total).toBeGreaterThan(3);
    await sh(lab, 'client', `rm -f ${OUT}`);
    expect((await server(lab, ['deprovision', lab.ssh.target])).exitCode).toBe(0);
    await expectPristine('after the provision kills');
  }, 900_000);

  it('deprovision: a re-run removes everything, the unit drop-in directory too', async () => {
    let kills = 0;
    for (let n = 1; ; n++) {
      await sh(lab, 'client', `rm -f ${OUT}`);
      const p = await server(lab, ['provision', lab.ssh.target, '--out', OUT]);
      expect(p.exitCode, p.stderr).toBe(0);
      const run = await killAfterChangeLine(lab, 'client', deprovisionArgv(), n);
      const again = await server(lab, ['deprovision', lab.ssh.target]);
      expect(again.exitCode, `killed after line ${n}; re-run: ${again.stderr}`).toBe(0);
      await expectPristine(`deprovision killed after line ${n}, re-run`);
      if (!run.killed) break;
      kills++;
    }
    console.log(`deprovision was killed after each of its first ${kills} change lines`);
    expect(kills).toBeGreaterThan(2);
  }, 900_000);
});

describe('concurrent changes of one VPS (lab)', () => {
  it('provision + provision, peer add + peer add: each succeeds or says it waited; the end state is whole', async () => {
    await sh(lab, 'client', `rm -f ${OUT} /root/a.json /root/b.json`);
    const [a, b] = await Promise.all([server(lab, ['provision', lab.ssh.target, '--out', OUT]), server(lab, ['provision', lab.ssh.target, '--out', OUT])]);
    expect([a.exitCode, b.exitCode], a.stderr + b.stderr).toEqual([0, 0]);
    expect([a.stderr, b.stderr].filter((e) => /waiting for pid \d+ \(egress-server provision /.test(e))).toHaveLength(1);
    const keys = await keysAgree();
    expect(keys.vps).toBe(keys.bundle);
    const [x, y] = await Promise.all([server(lab, ['peer', 'add', lab.ssh.target, 'pa', '--out', '/root/a.json']), server(lab, ['peer', 'add', lab.ssh.target, 'pb', '--out', '/root/b.json'])]);
    expect([x.exitCode, y.exitCode], x.stderr + y.stderr).toEqual([0, 0]);
    const state = JSON.parse(await sh(lab, 'vps', 'cat /etc/egress/server.json')) as { peers: Array<{ name: string; address4: string }> };
    expect(state.peers.map((p) => p.name).sort()).toEqual(['client', 'pa', 'pb']);
    expect(new Set(state.peers.map((p) => p.address4)).size).toBe(3);
    const [d1, d2] = await Promise.all([server(lab, ['deprovision', lab.ssh.target]), server(lab, ['deprovision', lab.ssh.target])]);
    expect([d1.exitCode, d2.exitCode]).toEqual([0, 0]);
    await expectPristine('after concurrent deprovisions');
  }, 300_000);
});

describe('two operator machines, one VPS: the lock on the VPS (lab)', () => {
  // Two operators: each its own HOME, so its own local lock directory (~/.cache/egress/locks); only the VPS's lock is shared.
  const argvOf = (n: 1 | 2, args: string[], env: Record<string, string> = {}) => ['env', `HOME=/root/op${n}`, ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...lab.egressServerArgv, ...args, '-i', lab.ssh.identity, '--known-hosts', lab.ssh.knownHosts];
  const op = (n: 1 | 2, args: string[]) => lab.exec('client', ['sh', '-c', 'cd /root && exec "$@"', 'sh', ...argvOf(n, args)], { timeoutMs: 120_000 });
  const onVps = /waiting for pid \d+ of \S+ \(egress-server (\S+(?: add| remove)?) root@\S+, since \S+\) to finish with \S+ \(one change at a time; lock on the VPS\)/;
  /** Operator 1 runs A, held (SIGSTOP) once it reads the VPS; operator 2's B must wait for it on the VPS (or be refused). */
  const inTurnOps = (a: string[], b: string[], envB: Record<string, string> = {}) => inTurn(lab, 'client', argvOf(1, a), argvOf(2, b, envB), { held: /==> Reading the VPS/, waited: onVps });
  const forwards = async () => (JSON.parse((await op(1, ['forward', 'list', lab.ssh.target, '--json'])).stdout) as { forwards: Array<{ spec: string }> }).forwards.map((f) => f.spec);
  const peers = async () => (JSON.parse(await sh(lab, 'vps', 'cat /etc/egress/server.json')) as { peers: Array<{ name: string; address4: string }> }).peers;

  it('pairs from two operators (own lock dirs): the second waits on the VPS naming the first, or is refused with its name; the end state is the last one asked for', async () => {
    await sh(lab, 'client', `mkdir -p /root/op1 /root/op2; rm -f ${OUT} /root/p?.json`);
    expect((await op(1, ['provision', lab.ssh.target, '--out', OUT])).exitCode).toBe(0);

    // Both at once: each gets its own local lock, so one waits on the VPS.
    const [x, y] = await Promise.all([op(1, ['peer', 'add', lab.ssh.target, 'pa', '--out', '/root/pa.json']), op(2, ['peer', 'add', lab.ssh.target, 'pb', '--out', '/root/pb.json'])]);
    expect([x.exitCode, y.exitCode], x.stderr + y.stderr).toEqual([0, 0]);
    expect([x.stderr, y.stderr].filter((e) => onVps.exec(e)?.[1] === 'peer add'), x.stderr + y.stderr).toHaveLength(1);
    expect((await peers()).map((p) => p.name).sort()).toEqual(['client', 'pa', 'pb']);
    expect(new Set((await peers()).map((p) => p.address4)).size).toBe(3);

    const F = '9090/tcp';
    const fwd = (verb: string) => ['forward', verb, lab.ssh.target, F, '--peer', 'client'];
    const table = [
      { what: 'forward add, then forward remove', a: fwd('add'), b: fwd('remove'), forwards: [] as string[] },
      { what: 'forward remove, then forward add', before: fwd('add'), a: fwd('remove'), b: fwd('add'), forwards: [`${F}:9090`] },
      { what: 'peer add, then peer remove', a: ['peer', 'add', lab.ssh.target, 'pc', '--out', '/root/pc.json'], b: ['peer', 'remove', lab.ssh.target, 'pc'], peers: ['client', 'pa', 'pb'] },
      { what: 'peer remove, then peer add', a: ['peer', 'remove', lab.ssh.target, 'pa'], b: ['peer', 'add', lab.ssh.target, 'pe', '--out', '/root/pe.json'], peers: ['client', 'pb', 'pe'] },
      { what: 'peer remove twice (the second finds it gone)', a: ['peer', 'remove', lab.ssh.target, 'pb'], b: ['peer', 'remove', lab.ssh.target, 'pb'], peers: ['client', 'pe'], bFails: /peer 'pb' does not exist on this server/ },
    ];
    for (const c of table) {
      if (c.before) expect((await op(1, c.before)).exitCode).toBe(0);
      const { a, b } = await inTurnOps(c.a, c.b);
      expect(a.exitCode, `${c.what}: ${a.out}`).toBe(0);
      expect(b.out, c.what).toMatch(onVps);
      expect(onVps.exec(b.out)![1], c.what).toBe(`${c.a[0]} ${c.a[1]}`);
      if (c.bFails) {
        expect(b.exitCode, c.what).toBe(1);
        expect(b.out).toMatch(c.bFails);
      } else expect(b.exitCode, `${c.what}: ${b.out}`).toBe(0);
      if (c.forwards) expect(await forwards(), c.what).toEqual(c.forwards);
      if (c.peers) expect((await peers()).map((p) => p.name).sort(), c.what).toEqual(c.peers);
    }

    // While operator 1 holds the VPS: refused at once with EGRESS_LOCK_WAIT_MS=0, naming it; the VPS unchanged by 2.
    const { a, b } = await inTurnOps(['peer', 'add', lab.ssh.target, 'pf', '--out', '/root/pf.json'], ['peer', 'remove', lab.ssh.target, 'pe'], { EGRESS_LOCK_WAIT_MS: '0' });
    expect(a.exitCode, a.out).toBe(0);
    expect(b.exitCode, b.out).not.toBe(0);
    expect(b.out).toMatch(/error: egress-server peer remove root@\S+: refused, pid \d+ of \S+ \(egress-server peer add root@\S+, since \S+\) is changing \S+ \(lock \/run\/egress-server\/change\.lock on the VPS\)/);
    expect(b.out).not.toMatch(/^\[#/m);
    expect((await peers()).map((p) => p.name).sort()).toEqual(['client', 'pe', 'pf']);

    const [d1, d2] = await Promise.all([op(1, ['deprovision', lab.ssh.target]), op(2, ['deprovision', lab.ssh.target])]);
    expect([d1.exitCode, d2.exitCode], d1.stderr + d2.stderr).toEqual([0, 0]);
    await expectPristine('after two operators');
  }, 300_000);
});
