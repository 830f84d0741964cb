// No launcher leaks silently, end to end: `exec` refuses a static C program, a static Go program and a dynamically
// linked cgo Go program (naming the reason and `run`), and the shim refuses them behind wrappers (sh -c, env X=1,
// timeout); nothing reaches an uplink. With --allow-uncovered they start, the user is told, and they are indeed seen
// with the client's own address. A browser-like app that hands its URL to an instance running outside the egress
// is reported as a likely handoff by exec, run and run-as. run-as from an X session (Xvfb) gives the dedicated user
// the display for the app's lifetime only.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startLab, type Lab } from '@egress/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowUser, enroll, provision, tearDownClientLab, waitUntil } from './client-helpers.js';

const NAME = `cover-${randomBytes(3).toString('hex')}`;
const STATIC = '/tmp/cover/static-probe';
const GO_STATIC = '/tmp/cover/go-static';
const GO_CGO = '/tmp/cover/go-cgo';
/** The C probe, dynamically linked, setuid root: the loader drops LD_PRELOAD for it. */
const SUID = '/tmp/cover/suid-probe';
let lab: Lab;
let exec: string[];
let sudoOther: Record<string, string>;

const source = (file: string) => readFileSync(fileURLToPath(new URL(`../packages/shim/test/${file}`, import.meta.url)), 'utf8');
const last = (text: string) => text.trim().split('\n').pop() ?? '';

beforeAll(async () => {
  lab = await startLab({ name: 'launch-cover' });
  await provision(lab, []);
  await enroll(lab, ['--name', NAME]);
  // exec by a user other than the bound one needs the owner's allow (issue 18's policy).
  await allowUser(lab, 'otheruser', NAME);
  exec = [...lab.egressClientArgv, 'exec', '--egress', NAME];
  await lab.exec('client', ['mkdir', '-p', '-m', '0755', '/tmp/cover'], { check: true });
  await lab.exec('client', ['cc', '-static', '-O2', '-o', STATIC, '-x', 'c', '-'], { stdin: source('static-probe.c'), check: true });
  // The Go probes are built here from source: CGO_ENABLED=0 (static) and with a cgo file (dynamically linked).
  await lab.writeFile('client', '/tmp/cover/src-static/main.go', source('go-probe.go'));
  await lab.writeFile('client', '/tmp/cover/src-cgo/main.go', source('go-probe.go'));
  await lab.writeFile('client', '/tmp/cover/src-cgo/cgo.go', 'package main\n\n// int egress_cgo(void) { return 1; }\nimport "C"\n\nfunc init() { _ = C.egress_cgo() }\n');
  const goEnv = { GO111MODULE: 'off', GOPROXY: 'off', GOCACHE: '/tmp/go-cache', GOPATH: '/tmp/go-path', GOFLAGS: '-buildvcs=false' };
  await lab.exec('client', ['sh', '-c', `cd /tmp/cover/src-static && go build -o ${GO_STATIC} .`], { env: { ...goEnv, CGO_ENABLED: '0' }, timeoutMs: 180_000, check: true });
  await lab.exec('client', ['sh', '-c', `cd /tmp/cover/src-cgo && go build -o ${GO_CGO} .`], { env: { ...goEnv, CGO_ENABLED: '1' }, timeoutMs: 180_000, check: true });
  await lab.exec('client', ['chmod', '0755', STATIC, GO_STATIC, GO_CGO], { check: true });
  await lab.exec('client', ['cc', '-O2', '-o', SUID, '-x', 'c', '-'], { stdin: source('static-probe.c'), check: true });
  await lab.exec('client', ['chmod', '4755', SUID], { check: true });
  const uid = (await lab.exec('client', ['id', '-u', 'otheruser'], { check: true })).stdout.trim();
  const gid = (await lab.exec('client', ['id', '-g', 'otheruser'], { check: true })).stdout.trim();
  sudoOther = { SUDO_UID: uid, SUDO_GID: gid, SUDO_USER: 'otheruser' };
}, 300_000);

// uninstall removes egress/NAME from the cgroup2 hierarchy, which outlives the lab (it is the machine's).
afterAll(() => tearDownClientLab(lab, { egress: NAME }));

/** Captures whoami traffic on both uplinks of the client. */
async function uplinkCaptures() {
  const filter = `host ${lab.addr.whoamiV4} or host ${lab.addr.whoamiV6}`;
  return [await lab.capture('client', 'eth0', filter), await lab.capture('client', 'wlan0', filter)];
}

/** The probe's argv: static-probe HOST PORT tcp, go-probe HOST PORT. */
const probeArgs = (prog: string) => [prog, lab.addr.whoamiV4, String(lab.addr.whoamiPort), ...(prog === STATIC || prog === SUID ? ['tcp'] : [])];

describe('no launcher leaks silently (lab)', () => {
  it('the probes are what they claim: static C, static Go, dynamically linked cgo Go', async () => {
    const interp = async (f: string) => (await lab.exec('client', ['readelf', '--program-headers', '--wide', f], { check: true })).stdout.includes('INTERP');
    const goNote = async (f: string) => (await lab.exec('client', ['readelf', '--notes', '--wide', f], { check: true })).stdout.includes('GO BUILDID');
    expect({ static: await interp(STATIC), goStatic: await interp(GO_STATIC), goCgo: await interp(GO_CGO) }).toEqual({ static: false, goStatic: false, goCgo: true });
    expect({ static: await goNote(STATIC), goStatic: await goNote(GO_STATIC), goCgo: await goNote(GO_CGO) }).toEqual({ static: false, goStatic: true, goCgo: true });
  });

  it('exec refuses static C, static Go and cgo Go, naming the reason and run; they do not start and nothing reaches an uplink', async () => {
    const caps = await uplinkCaptures();
    for (const [prog, reason] of [
      [STATIC, 'statically linked'],
      [GO_STATIC, 'a statically linked Go program'],
      [GO_CGO, 'a Go program (Go makes its own system calls, even when dynamically linked)'],
    ] as const) {
      const r = await lab.exec('client', [...exec, '--', ...probeArgs(prog)], { user: 'otheruser' });
      expect({ prog, code: r.exitCode, stdout: r.stdout }).toEqual({ prog, code: 1, stdout: '' });
      expect(r.stderr).toContain(`error: exec: refusing to start ${prog}: ${prog} is ${reason}: the LD_PRELOAD shim cannot send its traffic through egress '${NAME}'`);
      expect(r.stderr).toContain(`Use the cgroup way instead: egress-client run --egress ${NAME} -- ${probeArgs(prog).join(' ')}`);
      expect(r.stderr).toContain(`then run exec again; to start it anyway, knowing its traffic will NOT go through egress '${NAME}': egress-client exec --allow-uncovered`);
    }
    expect((await Promise.all(caps.map((c) => c.stop()))).flat()).toEqual([]);
  });

  it('the shim refuses them behind wrappers (sh -c, env X=1, timeout), and env -i: EACCES, one line naming run, 0 packets', async () => {
    const caps = await uplinkCaptures();
    const cases = [
      ['sh', '-c', probeArgs(STATIC).join(' ')],
      ['env', 'X=1', ...probeArgs(STATIC)],
      ['timeout', '20', ...probeArgs(GO_STATIC)],
      ['sh', '-c', `exec ${probeArgs(GO_CGO).join(' ')}`],
      // A dynamically linked program is refused too when a wrapper would start it without the shim.
      ['env', '-i', ...lab.probeArgv(), '1500'],
    ];
    for (const argv of cases) {
      const r = await lab.exec('client', [...exec, '--', ...argv], { user: 'otheruser' });
      expect({ argv, code: r.exitCode, stdout: r.stdout }).toEqual({ argv, code: 126, stdout: '' });
      expect(r.stderr).toMatch(
        /egress: refusing to start \S+: it is (statically linked|a statically linked Go program|a Go program \(Go makes its own system calls, even when dynamically linked\)|about to start without the egress's LD_PRELOAD in its environment \(env -i, or a launcher that clears it\), so the shim would not load); the LD_PRELOAD shim cannot send its traffic through the egress\. Use 'egress-client run' \(or run-as\) for it/,
      );
    }
    expect((await Promise.all(caps.map((c) => c.stop()))).flat()).toEqual([]);
  });

  it('with --allow-uncovered they start, the user is told they leak, and they are seen with the client address', async () => {
    for (const prog of [STATIC, GO_STATIC, GO_CGO]) {
      const r = await lab.exec('client', [...exec, '--allow-uncovered', '--', ...probeArgs(prog)], { user: 'otheruser' });
      expect({ prog, code: r.exitCode, seen: last(r.stdout) }).toEqual({ prog, code: 0, seen: lab.addr.clientV4 });
      expect(r.stderr).toContain(`warning: --allow-uncovered: starting it anyway; its traffic will LEAK outside the egress. ${prog} is `);
    }
    // Behind a wrapper the shim lets it start too, with its own warning line.
    const r = await lab.exec('client', [...exec, '--allow-uncovered', '--', 'sh', '-c', probeArgs(GO_STATIC).join(' ')], { user: 'otheruser' });
    expect({ code: r.exitCode, seen: last(r.stdout) }).toEqual({ code: 0, seen: lab.addr.clientV4 });
    expect(r.stderr).toContain(`egress: warning: starting ${GO_STATIC}: it is a statically linked Go program; its traffic does NOT go through the egress (exec --allow-uncovered)`);
    // A dynamically linked C program behind the same wrappers still goes through the VPS, with no line.
    const ok = await lab.exec('client', [...exec, '--', 'env', 'X=1', 'sh', '-c', [...lab.probeArgv(), '1500'].join(' ')], { user: 'otheruser' });
    expect({ code: ok.exitCode, seen: last(ok.stdout) }).toEqual({ code: 0, seen: lab.addr.vpsV4 });
    expect(ok.stderr).not.toContain('refusing');
  });

  it('with a supervisor running, exec places them in the egress cgroup: static C, static Go, cgo Go, setuid and sh -c static are seen with the VPS address', async () => {
    const daemon = lab.spawn('client', [...lab.egressClientArgv, 'daemon', '--debounce-ms', '10']);
    try {
      await waitUntil('the daemon socket', 30_000, () => daemon.output().includes('socket /run/egress/client.sock'));
      for (const prog of [STATIC, GO_STATIC, GO_CGO, SUID]) {
        const r = await lab.exec('client', [...exec, '--', ...probeArgs(prog)], { user: 'otheruser' });
        expect({ prog, code: r.exitCode, seen: last(r.stdout) }, r.stderr).toEqual({ prog, code: 0, seen: lab.addr.vpsV4 });
        expect(r.stderr).toContain(`egress: ${prog} is `);
        expect(r.stderr).toContain(`; the supervisor places it in egress '${NAME}''s cgroup, where the kernel selects its traffic`);
        expect(r.stderr).toMatch(/egress: placed in cgroup \/\S+\/uid-\d+ by the supervisor/);
        expect(r.stderr).not.toMatch(/LEAK|refusing/);
      }
      // Behind a wrapper: the shim's exec guard sees EGRESS_CGROUP and this process in that cgroup, and lets it start.
      for (const argv of [['sh', '-c', probeArgs(STATIC).join(' ')], ['env', 'X=1', 'timeout', '20', ...probeArgs(GO_STATIC)]]) {
        const r = await lab.exec('client', [...exec, '--', ...argv], { user: 'otheruser' });
        expect({ argv, code: r.exitCode, seen: last(r.stdout) }).toEqual({ argv, code: 0, seen: lab.addr.vpsV4 });
        expect(r.stderr).not.toMatch(/LEAK|refusing/);
      }
    } finally {
      daemon.kill('SIGTERM');
      await daemon.exited;
    }
    // Supervisor stopped: refused again, naming the supervisor and run; nothing starts, 0 packets on the uplinks.
    const caps = await uplinkCaptures();
    for (const argv of [probeArgs(STATIC), probeArgs(GO_CGO), probeArgs(SUID), ['sh', '-c', probeArgs(GO_STATIC).join(' ')]]) {
      const r = await lab.exec('client', [...exec, '--', ...argv], { user: 'otheruser' });
      if (argv[0] === 'sh') {
        // sh is covered by the shim: it starts, and the guard inside it refuses the static Go program (no cgroup).
        expect({ code: r.exitCode, stdout: r.stdout }).toEqual({ code: 126, stdout: '' });
        expect(r.stderr).toContain(`egress: refusing to start ${GO_STATIC}: it is a statically linked Go program`);
        continue;
      }
      expect({ argv, code: r.exitCode, stdout: r.stdout }).toEqual({ argv, code: 1, stdout: '' });
      expect(r.stderr).toContain("exec could place it in the egress's cgroup, but no supervisor is running: start the supervisor (egress-client daemon / the systemd unit) or use run");
    }
    expect((await Promise.all(caps.map((c) => c.stop()))).flat()).toEqual([]);
  });

  it('a browser-like app handing its URL to an instance running outside the egress is reported by exec, run and run-as', async () => {
    // The "browser": hands its URL to a running instance (a socket) and exits 0, else becomes that instance.
    await lab.exec('client', ['mkdir', '-p', '-m', '1777', '/tmp/handoff'], { check: true });
    await lab.writeFile(
      'client',
      '/tmp/handoff/firefox',
      [
        '#!/bin/sh',
        'sock=/tmp/handoff/instance.sock',
        'if [ -S "$sock" ]; then printf "%s\\n" "$1" | socat - "UNIX-CONNECT:$sock"; exit $?; fi',
        'exec socat "UNIX-LISTEN:$sock,fork,mode=0777" "OPEN:/tmp/handoff/received,creat,append,perm=0666"',
        '',
      ].join('\n'),
      '0755',
    );
    const instance = lab.spawn('client', ['/tmp/handoff/firefox'], { user: 'otheruser' });
    await waitUntil('the running instance', 20_000, async () => (await lab.exec('client', ['test', '-S', '/tmp/handoff/instance.sock'])).exitCode === 0);
    const viaExec = await lab.exec('client', [...exec, '--', '/tmp/handoff/firefox', 'https://one.example/'], { user: 'otheruser' });
    const viaRun = await lab.exec('client', [...lab.egressClientArgv, 'run', '--egress', NAME, '--', '/tmp/handoff/firefox', 'https://two.example/'], { env: sudoOther });
    const viaRunAs = await lab.exec('client', [...lab.egressClientArgv, 'run-as', 'appuser', '--', '/tmp/handoff/firefox', 'https://three.example/']);
    for (const [how, r] of [['exec', viaExec], ['run', viaRun], ['run-as', viaRunAs]] as const) {
      expect({ how, code: r.exitCode }).toEqual({ how, code: 0 });
      expect(r.stderr).toMatch(new RegExp(`note: firefox exited with status 0 after \\d+\\.\\d s\\. If it is an app that hands its work to an instance of itself already running \\(a browser\\), that instance runs OUTSIDE egress '${NAME}'`));
      expect(r.stderr).toContain('firefox --no-remote -P PROFILE (or --new-instance with a profile not in use)');
    }
    await waitUntil('the instance to have all three URLs', 10_000, async () => ((await lab.readFile('client', '/tmp/handoff/received')) ?? '').split('\n').filter(Boolean).length === 3);
    expect(((await lab.readFile('client', '/tmp/handoff/received')) ?? '').split('\n').filter(Boolean).sort()).toEqual(['https://one.example/', 'https://three.example/', 'https://two.example/']);
    instance.kill('SIGTERM');
    await instance.exited;
    // A run that fails says nothing of a handoff, nor does a quick ordinary command outside a graphical session.
    const failed = await lab.exec('client', [...exec, '--', 'sh', '-c', 'exit 3'], { user: 'otheruser' });
    expect(failed.exitCode).toBe(3);
    expect(failed.stderr).not.toContain('note:');
    const quick = await lab.exec('client', [...exec, '--', 'true'], { user: 'otheruser' });
    expect({ code: quick.exitCode, note: quick.stderr.includes('note:') }).toEqual({ code: 0, note: false });
    const quickGui = await lab.exec('client', [...exec, '--', 'true'], { user: 'otheruser', env: { DISPLAY: ':5' } });
    expect({ code: quickGui.exitCode, note: quickGui.stderr.includes('note: true exited with status 0') }).toEqual({ code: 0, note: true });
  });

  it('run-as from an X session: the dedicated user reaches the display while the app runs, not before or after; a prior grant is kept', async () => {
    // otheruser's X session: Xvfb with a cookie only otheruser can read (-noreset: the access list outlives clients).
    await lab.exec('client', ['sh', '-c', 'mkdir -m 0700 /tmp/xother && xauth -f /tmp/xother/auth add :77 . "$(mcookie)" && chown -R otheruser /tmp/xother'], { check: true });
    const xvfb = lab.spawn('client', ['Xvfb', ':77', '-auth', '/tmp/xother/auth', '-nolisten', 'tcp', '-noreset'], { user: 'otheruser' });
    const session = { DISPLAY: ':77', XAUTHORITY: '/tmp/xother/auth' };
    await waitUntil('Xvfb to accept otheruser', 30_000, async () => (await lab.exec('client', ['xset', 'q'], { user: 'otheruser', env: session })).exitCode === 0);
    const appuserReaches = async () => (await lab.exec('client', ['xset', 'q'], { user: 'appuser', env: { DISPLAY: ':77' } })).exitCode === 0;
    const acl = async () => (await lab.exec('client', ['xhost'], { user: 'otheruser', env: session, check: true })).stdout;
    expect(await appuserReaches()).toBe(false);

    const app = `id -un; echo "DISPLAY=$DISPLAY"; if xset q >/dev/null 2>&1; then echo display-ok; else echo display-refused; fi`;
    const r = await lab.exec('client', [...lab.egressClientArgv, 'run-as', 'appuser', '--', 'sh', '-c', app], { env: { ...sudoOther, ...session }, timeoutMs: 60_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['appuser', 'DISPLAY=:77', 'display-ok']);
    expect(r.stderr).toContain('egress: display :77: granted to appuser alone (xhost +SI:localuser:appuser) until the app exits');
    expect(await appuserReaches()).toBe(false);
    // Taken back, and the display was never opened to everyone.
    expect(await acl()).toBe('access control enabled, only authorized clients can connect\n');

    // Granted by the user beforehand: left as it was.
    await lab.exec('client', ['xhost', '+SI:localuser:appuser'], { user: 'otheruser', env: session, check: true });
    const kept = await lab.exec('client', [...lab.egressClientArgv, 'run-as', 'appuser', '--', 'sh', '-c', 'xset q >/dev/null && echo display-ok'], { env: { ...sudoOther, ...session }, timeoutMs: 60_000 });
    expect({ code: kept.exitCode, out: kept.stdout.trim() }).toEqual({ code: 0, out: 'display-ok' });
    expect(kept.stderr).toContain('egress: display :77: appuser already had access (SI:localuser:appuser); left as it is');
    expect(await acl()).toContain('SI:localuser:appuser');
    expect(await appuserReaches()).toBe(true);
    await lab.exec('client', ['xhost', '-SI:localuser:appuser'], { user: 'otheruser', env: session, check: true });
    expect(await appuserReaches()).toBe(false);

    // Two apps at once: the grant stays while either runs, and goes with the last one.
    const first = lab.spawn('client', [...lab.egressClientArgv, 'run-as', 'appuser', '--', 'sh', '-c', 'echo first-started; while [ ! -e /tmp/cover/go-on ]; do sleep 0.1; done'], { env: { ...sudoOther, ...session } });
    await waitUntil('the first app', 30_000, () => first.output().includes('first-started'));
    const second = await lab.exec('client', [...lab.egressClientArgv, 'run-as', 'appuser', '--', 'sh', '-c', 'xset q >/dev/null && echo display-ok'], { env: { ...sudoOther, ...session }, timeoutMs: 60_000 });
    expect({ code: second.exitCode, out: second.stdout.trim() }).toEqual({ code: 0, out: 'display-ok' });
    expect(await appuserReaches()).toBe(true);
    await lab.exec('client', ['touch', '/tmp/cover/go-on'], { check: true });
    expect((await first.exited).code).toBe(0);
    expect(await appuserReaches()).toBe(false);
    expect(await acl()).toBe('access control enabled, only authorized clients can connect\n');
    xvfb.kill('SIGTERM');
    await xvfb.exited;
  });

  it('run-as from a Wayland session: ACLs on the Wayland and audio sockets for the app only, absolute paths passed, removed after', async () => {
    const uid = sudoOther.SUDO_UID!;
    const rt = `/run/user/${uid}`;
    // otheruser's session sockets (0700 directories, as logind makes them), each answering one line.
    await lab.exec('client', ['sh', '-c', `mkdir -p ${rt}/pulse && chmod 0700 ${rt} ${rt}/pulse && chown -R otheruser ${rt}`], { check: true });
    const servers = [
      lab.spawn('client', ['socat', `UNIX-LISTEN:${rt}/wayland-0,fork,mode=0700`, 'SYSTEM:echo wayland-ok'], { user: 'otheruser' }),
      lab.spawn('client', ['socat', `UNIX-LISTEN:${rt}/pulse/native,fork,mode=0700`, 'SYSTEM:echo pulse-ok'], { user: 'otheruser' }),
    ];
    await waitUntil('the session sockets', 20_000, async () => (await lab.exec('client', ['test', '-S', `${rt}/wayland-0`, '-a', '-S', `${rt}/pulse/native`])).exitCode === 0);
    const reach = async (sock: string) => (await lab.exec('client', ['socat', '-T', '3', '-', `UNIX-CONNECT:${sock}`], { user: 'appuser', stdin: '' })).stdout.trim();
    const acls = async () => (await lab.exec('client', ['getfacl', '--omit-header', '--absolute-names', rt, `${rt}/pulse`, `${rt}/wayland-0`, `${rt}/pulse/native`], { check: true })).stdout;
    const before = await acls();
    expect(await reach(`${rt}/wayland-0`)).toBe('');

    const app = 'echo "$WAYLAND_DISPLAY|$PULSE_SERVER"; socat -T 3 - "UNIX-CONNECT:$WAYLAND_DISPLAY" </dev/null; socat -T 3 - "UNIX-CONNECT:${PULSE_SERVER#unix:}" </dev/null';
    const r = await lab.exec('client', [...lab.egressClientArgv, 'run-as', 'appuser', '--', 'sh', '-c', app], { env: { ...sudoOther, WAYLAND_DISPLAY: 'wayland-0' }, timeoutMs: 60_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([`${rt}/wayland-0|unix:${rt}/pulse/native`, 'wayland-ok', 'pulse-ok']);
    expect(r.stderr).toContain(`egress: ${rt}/wayland-0: appuser may use it (ACL) until the app exits`);
    // Afterwards: no entry for appuser left, the ACLs as before, and appuser is refused again.
    expect(await acls()).toBe(before);
    expect(await acls()).not.toContain('appuser');
    expect(await reach(`${rt}/wayland-0`)).toBe('');
    expect(await reach(`${rt}/pulse/native`)).toBe('');
    for (const s of servers) s.kill('SIGTERM');
    await Promise.all(servers.map((s) => s.exited));
  });
});
