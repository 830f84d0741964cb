// Unit tests for exec/run's pure parts and for exec itself on this host (no network, no root needed).
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Output } from '@egress/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertCgroupMarked, cgroupMatch, dropArgv, usableCgroup2Root } from './run.js';
import { assertEgressUp } from './egress-up.js';
import { exitCodeOf } from './child-run.js';
import { inspectCommand, runExec, shimWarnings } from './exec.js';
import { inspectExecutable } from './inspect-executable.js';
import { parseCgroup2Mounts, findCgroup2Mount } from './cgroup-mount.js';
import { readPublicFacts } from './public-facts.js';
import { locateShim } from '@egress/shim';
import { resolveCommand } from './resolve-command.js';
import { envForUser } from './invoking-user.js';
import type { MarkedFenceFacts } from '../run-as/fence-check.js';

let dir: string;
let shim: string;
const FACTS = { version: 1, name: 'vps1', kind: 'wireguard', interface: 'egress0', address4: '10.66.0.2', address6: 'fd00:66::2', dns: ['10.66.0.1'] } as const;

function quietOutput(): { output: Output; err: () => string } {
  let text = '';
  const stderr = { write: (s: string) => ((text += s), true) } as unknown as NodeJS.WritableStream;
  return { output: new Output({ stderr, stdout: stderr, env: {} }), err: () => text };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'egress-app-exec-'));
  writeFileSync(join(dir, 'static.c'), 'int main(void){return 0;}\n');
  execFileSync('cc', ['-static', '-o', join(dir, 'static-bin'), join(dir, 'static.c')]);
  execFileSync('cc', ['-o', join(dir, 'dynamic-bin'), join(dir, 'static.c')]);
  execFileSync('cc', ['-o', join(dir, 'setuid-bin'), join(dir, 'static.c')]);
  chmodSync(join(dir, 'setuid-bin'), 0o4755);
  writeFileSync(join(dir, 'script'), `#!${join(dir, 'static-bin')} --flag\n`);
  chmodSync(join(dir, 'script'), 0o755);
  writeFileSync(join(dir, 'text'), 'hello\n');
  // Go programs, built here from source: static (CGO_ENABLED=0), static and stripped of symbols, and dynamic with cgo.
  mkdirSync(join(dir, 'go'));
  writeFileSync(join(dir, 'go', 'main.go'), 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hi") }\n');
  writeFileSync(join(dir, 'go', 'cgo.go'), 'package main\n\n// int two(void) { return 2; }\nimport "C"\nimport "fmt"\n\nfunc main() { fmt.Println(C.two()) }\n');
  const go = (cgo: string, out: string, src: string, ...flags: string[]) =>
    execFileSync('go', ['build', ...flags, '-o', join(dir, out), src], { cwd: join(dir, 'go'), env: { ...process.env, CGO_ENABLED: cgo, GO111MODULE: 'off', GOFLAGS: '-buildvcs=false' }, stdio: 'pipe' });
  go('0', 'go-static', 'main.go');
  go('0', 'go-stripped', 'main.go', '-ldflags=-s -w');
  go('1', 'go-cgo', 'cgo.go');
  mkdirSync(join(dir, 'public'));
  shim = locateShim();
  copyFileSync(shim, join(dir, 'other.so'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('inspectExecutable', () => {
  it('sees a dynamically linked ELF (PT_INTERP) as not static', async () => {
    expect(await inspectExecutable(join(dir, 'dynamic-bin'))).toEqual({ elf: true, static: false, setuid: false, go: false, bits: 64, machine: 62 });
    expect(await inspectExecutable('/bin/sh')).toMatchObject({ elf: true, static: false, setuid: false, bits: 64 });
  });
  it('sees a gcc -static binary as static', async () => {
    expect(await inspectExecutable(join(dir, 'static-bin'))).toEqual({ elf: true, static: true, setuid: false, go: false, bits: 64, machine: 62 });
  });
  it('sees a setuid bit to another user (secure-execution mode), not one to the runner itself', async () => {
    const owner = statSync(join(dir, 'setuid-bin'));
    expect(await inspectExecutable(join(dir, 'setuid-bin'), { uid: owner.uid + 1, gid: owner.gid })).toEqual({ elf: true, static: false, setuid: true, go: false, bits: 64, machine: 62 });
    expect(await inspectExecutable(join(dir, 'setuid-bin'), { uid: owner.uid, gid: owner.gid })).toMatchObject({ setuid: false });
  });
  it('reports a script interpreter and follows it', async () => {
    expect(await inspectExecutable(join(dir, 'script'))).toEqual({ elf: false, static: false, setuid: false, interpreter: join(dir, 'static-bin') });
    expect(await inspectCommand(join(dir, 'script'))).toEqual({ elf: true, static: true, setuid: false, go: false, bits: 64, machine: 62, inspected: join(dir, 'static-bin') });
    expect(await inspectExecutable(join(dir, 'text'))).toEqual({ elf: false, static: false, setuid: false });
  });
});

describe('inspectExecutable on Go programs (built from source here)', () => {
  it('sees a CGO_ENABLED=0 Go program as static Go, also stripped (-s -w)', async () => {
    expect(await inspectExecutable(join(dir, 'go-static'))).toEqual({ elf: true, static: true, setuid: false, go: true, bits: 64, machine: 62 });
    expect(await inspectExecutable(join(dir, 'go-stripped'))).toEqual({ elf: true, static: true, setuid: false, go: true, bits: 64, machine: 62 });
  });
  it('sees a cgo Go program as dynamically linked but Go', async () => {
    expect(await inspectExecutable(join(dir, 'go-cgo'))).toEqual({ elf: true, static: false, setuid: false, go: true, bits: 64, machine: 62 });
  });
  it("sees file capabilities (ping's cap_net_raw, iputils-ping is in tools/setup.sh)", async () => {
    expect(execFileSync('getcap', ['/usr/bin/ping'], { encoding: 'utf8' })).toContain('cap_net_raw');
    expect(await inspectExecutable('/usr/bin/ping')).toMatchObject({ elf: true, static: false, caps: true });
    expect((await inspectExecutable(join(dir, 'dynamic-bin'))).caps).toBeUndefined();
  });
  it('does not take C programs, the shim or node for Go', async () => {
    for (const f of [join(dir, 'dynamic-bin'), join(dir, 'static-bin'), shim, process.execPath, '/bin/sh']) expect((await inspectExecutable(f)).go, f).toBe(false);
  });
  it('reads a truncated or corrupt ELF without throwing (bounded, no huge allocation)', async () => {
    const whole = readFileSync(join(dir, 'go-cgo'));
    writeFileSync(join(dir, 'trunc'), whole.subarray(0, 200));
    expect(await inspectExecutable(join(dir, 'trunc'))).toMatchObject({ elf: true, go: false });
    const bad = Buffer.from(whole.subarray(0, 4096));
    bad.writeUInt16LE(0xffff, 56); // e_phnum
    bad.writeUInt16LE(0xffff, 60); // e_shnum
    writeFileSync(join(dir, 'corrupt'), bad);
    expect(await inspectExecutable(join(dir, 'corrupt'))).toMatchObject({ elf: true, static: true, go: false });
    writeFileSync(join(dir, 'tiny'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1]));
    expect(await inspectExecutable(join(dir, 'tiny'))).toEqual({ elf: false, static: false, setuid: false });
  });
});

describe('shimWarnings', () => {
  it('names static, Go and setuid programs and points to run', () => {
    const w = shimWarnings({ elf: true, static: true, setuid: true, inspected: '/opt/app' }, { ...FACTS, dns: [...FACTS.dns] }, ['app', '-v']);
    expect(w).toEqual([
      "/opt/app is statically linked: the LD_PRELOAD shim cannot send its traffic through egress 'vps1', it would leave by the normal route. Use the cgroup way instead: egress-client run --egress vps1 -- app -v (or run-as a bound user; with sudo unless a supervisor allows you)",
      "/opt/app is setuid/setgid (the loader drops LD_PRELOAD): the LD_PRELOAD shim cannot send its traffic through egress 'vps1', it would leave by the normal route. Use the cgroup way instead: egress-client run --egress vps1 -- app -v (or run-as a bound user; with sudo unless a supervisor allows you)",
    ]);
    expect(shimWarnings({ elf: true, static: false, setuid: false, go: true, inspected: '/usr/bin/kubectl' }, { ...FACTS, dns: [] }, ['kubectl'])[0]).toMatch(
      /^\/usr\/bin\/kubectl is a Go program \(Go makes its own system calls, even when dynamically linked\): .* egress-client run --egress vps1 -- kubectl/,
    );
    expect(shimWarnings({ elf: true, static: true, setuid: false, go: true, inspected: '/opt/gp' }, { ...FACTS, dns: [] }, ['gp'])[0]).toMatch(/^\/opt\/gp is a statically linked Go program: /);
    expect(shimWarnings({ elf: true, static: false, setuid: false, caps: true, inspected: '/usr/bin/ping' }, { ...FACTS, dns: [] }, ['ping'])[0]).toMatch(/^\/usr\/bin\/ping is a program with file capabilities \(the loader drops LD_PRELOAD\): /);
    expect(shimWarnings({ elf: true, static: false, setuid: false, inspected: '/bin/sh' }, { ...FACTS, dns: [] }, ['sh'])).toEqual([]);
  });
  it('warns for a 32-bit program the 64-bit shim cannot load into', () => {
    const shimInfo = { elf: true, static: false, setuid: false, bits: 64 as const, machine: 62 };
    const w = shimWarnings({ elf: true, static: false, setuid: false, bits: 32, machine: 3, inspected: '/opt/game32' }, { ...FACTS, dns: [] }, ['game32'], shimInfo);
    expect(w).toEqual([
      "/opt/game32 is a 32-bit program (ELF machine 3), unlike the 64-bit shim (machine 62): the LD_PRELOAD shim cannot send its traffic through egress 'vps1', it would leave by the normal route. Use the cgroup way instead: egress-client run --egress vps1 -- game32 (or run-as a bound user; with sudo unless a supervisor allows you)",
    ]);
    expect(shimWarnings({ elf: true, static: false, setuid: false, bits: 64, machine: 62, inspected: '/bin/sh' }, { ...FACTS, dns: [] }, ['sh'], shimInfo)).toEqual([]);
  });
});

describe('cgroup2 mount detection', () => {
  const unified = '35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n';
  const hybrid = [
    '30 24 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755',
    '31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate',
    '32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd',
  ].join('\n');
  it('finds /sys/fs/cgroup on a unified host', () => {
    expect(findCgroup2Mount(unified)).toEqual({ path: '/sys/fs/cgroup', root: '/' });
  });
  it('finds /sys/fs/cgroup/unified on a hybrid host', () => {
    expect(findCgroup2Mount(hybrid)).toEqual({ path: '/sys/fs/cgroup/unified', root: '/' });
  });
  it('prefers the canonical mount and unescapes paths', () => {
    const two = '40 24 0:40 / /mnt/my\\040cg rw - cgroup2 none rw\n' + unified;
    expect(parseCgroup2Mounts(two)).toEqual([
      { path: '/sys/fs/cgroup', root: '/' },
      { path: '/mnt/my cg', root: '/' },
    ]);
  });
  it('run accepts only a cgroup2 mount at /sys/fs/cgroup (where nft resolves paths)', () => {
    expect(usableCgroup2Root(unified, () => true)).toBe('/sys/fs/cgroup');
    expect(() => usableCgroup2Root(hybrid, () => true)).toThrow(
      "this host has no usable cgroup v2 hierarchy: cgroup2 is mounted at /sys/fs/cgroup/unified (hybrid layout), but nftables resolves 'socket cgroupv2' paths under /sys/fs/cgroup",
    );
    expect(() => usableCgroup2Root('', () => true)).toThrow('this host has no usable cgroup v2 hierarchy (no cgroup2 mount in /proc/self/mountinfo)');
  });
  it('returns undefined without cgroup2 (v1 only)', () => {
    expect(findCgroup2Mount(hybrid.split('\n').filter((l) => !l.includes('cgroup2')).join('\n'))).toBeUndefined();
  });
});

describe('readPublicFacts', () => {
  it('refuses when no egress is enrolled', async () => {
    await expect(readPublicFacts(undefined, join(dir, 'nothing-here'))).rejects.toThrow(/no egress is enrolled on this host/);
  });
  it('takes the only egress, and refuses an unknown or invalid name', async () => {
    writeFileSync(join(dir, 'public', 'vps1.json'), JSON.stringify(FACTS));
    expect(await readPublicFacts(undefined, join(dir, 'public'))).toEqual(FACTS);
    await expect(readPublicFacts('other', join(dir, 'public'))).rejects.toThrow("--egress: no egress named 'other' (enrolled: vps1)");
    await expect(readPublicFacts('Bad Name', join(dir, 'public'))).rejects.toThrow("--egress: expected a name of 1-32 lowercase letters, digits, '_' or '-', got 'Bad Name'");
  });
  it('requires --egress when several exist', async () => {
    writeFileSync(join(dir, 'public', 'wlan.json'), JSON.stringify({ ...FACTS, name: 'wlan', kind: 'interface', interface: 'wlan0', address6: undefined }));
    await expect(readPublicFacts(undefined, join(dir, 'public'))).rejects.toThrow('--egress: several egresses are enrolled (vps1, wlan); choose one');
    expect((await readPublicFacts('wlan', join(dir, 'public'))).interface).toBe('wlan0');
    rmSync(join(dir, 'public', 'wlan.json'));
  });
  it('names the field of a bad facts file', async () => {
    mkdirSync(join(dir, 'bad'));
    writeFileSync(join(dir, 'bad', 'x.json'), JSON.stringify({ ...FACTS, name: 'x', address4: '300.1.1.1' }));
    await expect(readPublicFacts(undefined, join(dir, 'bad'))).rejects.toThrow(/address4/);
  });
});

describe('assertEgressUp', () => {
  const facts = { ...FACTS, dns: [...FACTS.dns] };
  it('accepts the interface with its addresses', () => {
    expect(() => assertEgressUp(facts, { egress0: ['10.66.0.2', 'fd00:66::2'], lo: ['127.0.0.1'] })).not.toThrow();
  });
  it('refuses a missing interface (egress down) with a hint', () => {
    expect(() => assertEgressUp(facts, { lo: ['127.0.0.1'] })).toThrow("egress 'vps1' is down: interface egress0 does not exist");
  });
  it('refuses an interface without the egress address', () => {
    expect(() => assertEgressUp(facts, { egress0: ['10.66.0.2'] })).toThrow("egress 'vps1' is not ready: interface egress0 does not have its address fd00:66::2");
  });
});

describe('run helpers', () => {
  it('checks the nft cgroup rule of the egress', () => {
    expect(cgroupMatch('egress/vps1')).toBe('socket cgroupv2 level 2 "egress/vps1"');
    expect(cgroupMatch('egress-lab/l1/vps1')).toBe('socket cgroupv2 level 3 "egress-lab/l1/vps1"');
    const chain = 'table inet egress {\n\tchain output_mark {\n\t\tsocket cgroupv2 level 2 "egress/vps1" meta mark set meta mark | 0x01000000\n\t}\n}\n';
    expect(() => assertCgroupMarked('vps1', 'egress/vps1', () => chain)).not.toThrow();
    expect(() => assertCgroupMarked('vps2', 'egress/vps2', () => chain)).toThrow(`egress 'vps2' does not mark cgroup egress/vps2 (no 'socket cgroupv2 level 2 "egress/vps2"' rule in table inet egress)`);
    expect(() => assertCgroupMarked('vps1', 'egress/vps1', () => { throw new Error('no table'); })).toThrow("egress 'vps1': cannot read its nftables rules");
    const stale = '\t\tsocket cgroupv2 level 2 671 meta mark set meta mark | 0x01000000 comment "vps1: cgroup egress/vps1"\n';
    expect(() => assertCgroupMarked('vps1', 'egress/vps1', () => stale)).toThrow("egress 'vps1': its nftables rule refers to a cgroup egress/vps1 that no longer exists");
  });
  it('drops to the user with setpriv, or runs directly as root', () => {
    expect(dropArgv({ uid: 1000, gid: 1000, name: 'me' }, '/usr/bin/curl', ['-s', 'x'], '/usr/bin/setpriv')).toEqual(['/usr/bin/setpriv', '--reuid=1000', '--regid=1000', '--init-groups', '--', '/usr/bin/curl', '-s', 'x']);
    expect(dropArgv({ uid: 1234, gid: 100 }, '/bin/app', [], '/usr/bin/setpriv')).toEqual(['/usr/bin/setpriv', '--reuid=1234', '--regid=100', '--clear-groups', '--', '/bin/app']);
    expect(dropArgv({ uid: 0, gid: 0, name: 'root' }, '/bin/app', ['a'], '')).toEqual(['/bin/app', 'a']);
  });
  it("sets HOME/USER/LOGNAME to the target user's", () => {
    const env = envForUser({ uid: 1000, gid: 1000, name: 'me', home: '/home/me', shell: '/bin/bash' }, { HOME: '/root', USER: 'root', DISPLAY: ':0' }, 0, () => true);
    expect(env).toEqual({ HOME: '/home/me', USER: 'me', LOGNAME: 'me', SHELL: '/bin/bash', DISPLAY: ':0', XDG_RUNTIME_DIR: '/run/user/1000', DBUS_SESSION_BUS_ADDRESS: 'unix:path=/run/user/1000/bus' });
    const noSession = envForUser({ uid: 1000, gid: 1000, name: 'me' }, { XDG_RUNTIME_DIR: '/run/user/0' }, 0, () => false);
    expect(noSession).toEqual({ USER: 'me', LOGNAME: 'me' });
    expect(envForUser({ uid: 0, gid: 0 }, { HOME: '/root' }, 0, () => true)).toEqual({ HOME: '/root' });
  });
  it('maps signals to 128+N', () => {
    expect(exitCodeOf(3, null)).toBe(3);
    expect(exitCodeOf(null, 'SIGTERM')).toBe(143);
    expect(exitCodeOf(null, 'SIGKILL')).toBe(137);
  });
  it('resolves commands on PATH, skipping relative entries', () => {
    expect(resolveCommand('sh', { PATH: '/usr/bin:/bin' })).toMatch(/^\/(usr\/)?bin\/sh$/);
    expect(() => resolveCommand('sh', { PATH: '.:relative' })).toThrow("command 'sh' not found on PATH");
    expect(() => resolveCommand('./nope-not-here', {}, dir)).toThrow("command './nope-not-here' is not an executable file");
  });
});

describe('runExec on this host', () => {
  const up = { egress0: ['10.66.0.2', 'fd00:66::2'] };
  const rules = (addr: string) => JSON.stringify([{ priority: 7102, src: addr, table: '7100' }]);
  const fenced: MarkedFenceFacts = {
    rules4: rules('10.66.0.2'),
    rules6: rules('fd00:66::2'),
    markChain: 'ip saddr 10.66.0.2 meta mark set 0x1 comment "vps1: source 10.66.0.2"\nip6 saddr fd00:66::2 meta mark set 0x1 comment "vps1: source fd00:66::2"',
    killChain: 'meta mark 0x1 oifname != "egress0" drop comment "vps1: kill switch"',
  };
  it('runs the command with the shim first in LD_PRELOAD and the egress variables, returning its exit code', async () => {
    const { output, err } = quietOutput();
    const out = join(dir, 'env.txt');
    const code = await runExec({
      argv: ['sh', '-c', `printf '%s|%s|%s|%s' "$LD_PRELOAD" "$EGRESS_BIND_V4" "$EGRESS_BIND_V6" "$EGRESS_BIND_IFACE" > ${out}; exit 7`],
      env: { PATH: '/usr/bin:/bin', LD_PRELOAD: join(dir, 'other.so') },
      output,
      publicDir: join(dir, 'public'),
      interfaces: up,
      shimPath: shim,
      fenceFacts: fenced,
    });
    expect(code).toBe(7);
    expect(readFileSync(out, 'utf8')).toBe(`${shim}:${join(dir, 'other.so')}|10.66.0.2|fd00:66::2|egress0`);
    expect(err()).toContain("egress: sh through 'vps1' (10.66.0.2, fd00:66::2 on egress0, LD_PRELOAD shim)");
  });
  it('returns 128+N when the command dies of signal N', async () => {
    const { output } = quietOutput();
    const code = await runExec({ argv: ['sh', '-c', 'kill -TERM $$'], env: { PATH: '/usr/bin:/bin' }, output, publicDir: join(dir, 'public'), interfaces: up, shimPath: shim, fenceFacts: fenced });
    expect(code).toBe(143);
  });
  it('refuses static, Go (static and cgo) and setuid programs before starting them, naming the reason and run', async () => {
    // The setuid file is ours: run "as" another user for its bit to change the effective uid.
    const other = { uid: process.getuid!() + 1, gid: process.getgid!() };
    for (const [bin, reason] of [
      ['static-bin', 'statically linked'],
      ['go-static', 'a statically linked Go program'],
      ['go-cgo', 'a Go program (Go makes its own system calls, even when dynamically linked)'],
      ['setuid-bin', 'setuid/setgid (the loader drops LD_PRELOAD)'],
    ] as const) {
      const { output } = quietOutput();
      const err = await runExec({ argv: [join(dir, bin)], env: { PATH: '/usr/bin:/bin' }, output, publicDir: join(dir, 'public'), interfaces: up, shimPath: shim, runner: other, fenceFacts: fenced }).then(
        () => undefined,
        (e: Error & { hint?: string }) => e,
      );
      expect(err?.message).toBe(
        `exec: refusing to start ${join(dir, bin)}: ${join(dir, bin)} is ${reason}: the LD_PRELOAD shim cannot send its traffic through egress 'vps1', it would leave by the normal route. Use the cgroup way instead: egress-client run --egress vps1 -- ${join(dir, bin)} (or run-as a bound user; with sudo unless a supervisor allows you). exec could place it in the egress's cgroup, but no supervisor is running: start the supervisor (egress-client daemon / the systemd unit) or use run`,
      );
      expect(err?.hint).toBe(`sudo systemctl start egress-client (or sudo egress-client daemon), then run exec again; to start it anyway, knowing its traffic will NOT go through egress 'vps1': egress-client exec --allow-uncovered --egress vps1 -- ${join(dir, bin)}`);
    }
  });
  it('starts them with --allow-uncovered, says they leak, and tells the shim (EGRESS_ALLOW_UNCOVERED=1)', async () => {
    const { output, err } = quietOutput();
    const code = await runExec({ argv: [join(dir, 'go-static')], env: { PATH: '/usr/bin:/bin' }, output, publicDir: join(dir, 'public'), interfaces: up, shimPath: shim, allowUncovered: true, fenceFacts: fenced });
    expect(code).toBe(0);
    expect(err()).toContain(`warning: --allow-uncovered: starting it anyway; its traffic will LEAK outside the egress. ${join(dir, 'go-static')} is a statically linked Go program`);
    const out = join(dir, 'allow.txt');
    const { output: o2 } = quietOutput();
    await runExec({ argv: ['sh', '-c', `printf '%s' "$EGRESS_ALLOW_UNCOVERED" > ${out}`], env: { PATH: '/usr/bin:/bin', EGRESS_ALLOW_UNCOVERED: '1' }, output: o2, publicDir: join(dir, 'public'), interfaces: up, shimPath: shim, fenceFacts: fenced });
    expect(readFileSync(out, 'utf8')).toBe('');
  });
  it('refuses when the egress is down, before running anything', async () => {
    const { output } = quietOutput();
    const marker = join(dir, 'ran');
    await expect(runExec({ argv: ['touch', marker], env: { PATH: '/usr/bin:/bin' }, output, publicDir: join(dir, 'public'), interfaces: {}, shimPath: shim })).rejects.toThrow(
      "egress 'vps1' is down: interface egress0 does not exist",
    );
    expect(() => readFileSync(marker)).toThrow();
  });
  it('refuses when the fence is missing (like run-as), before running anything', async () => {
    const { output } = quietOutput();
    const marker = join(dir, 'ran-unfenced');
    const cases: Array<{ what: string; facts: MarkedFenceFacts; missing: string }> = [
      { what: 'no rules (interrupted uninstall)', facts: { ...fenced, rules4: '[]', rules6: '[]' }, missing: "IPv4 rule from 10.66.0.2 lookup (the egress's table); IPv6 rule from fd00:66::2 lookup (the egress's table)" },
      { what: 'no nft table', facts: { ...fenced, markChain: undefined, killChain: undefined }, missing: "mark for source 10.66.0.2 in nftables chain inet egress output_mark; mark for source fd00:66::2 in nftables chain inet egress output_mark; kill switch of 'vps1' in nftables chain inet egress postrouting_filter" },
      { what: 'no kill switch', facts: { ...fenced, killChain: '' }, missing: "kill switch of 'vps1' in nftables chain inet egress postrouting_filter" },
    ];
    for (const c of cases) {
      await expect(runExec({ argv: ['touch', marker], env: { PATH: '/usr/bin:/bin' }, output, publicDir: join(dir, 'public'), interfaces: up, shimPath: shim, fenceFacts: c.facts }), c.what).rejects.toMatchObject({
        code: 'E_FENCE_MISSING',
        message: `egress 'vps1': the fence that keeps the shim's (source 10.66.0.2, fd00:66::2) traffic in the egress is not in place (missing: ${c.missing}); the app was not started`,
        hint: 'egress-client up vps1',
      });
    }
    expect(() => readFileSync(marker)).toThrow();
    // Without CAP_NET_ADMIN only the rules can be read: they are still checked.
    await expect(runExec({ argv: ['true'], env: { PATH: '/usr/bin:/bin' }, output, publicDir: join(dir, 'public'), interfaces: up, shimPath: shim, fenceFacts: { rules4: '[]', rules6: rules('fd00:66::2'), markChain: undefined, killChain: undefined, nftHidden: true } })).rejects.toThrow(
      "(missing: IPv4 rule from 10.66.0.2 lookup (the egress's table))",
    );
  });
  it('refuses an empty command', async () => {
    const { output } = quietOutput();
    await expect(runExec({ argv: [], output, publicDir: join(dir, 'public'), interfaces: up })).rejects.toThrow('exec: expected a command after --, got none');
  });
});
