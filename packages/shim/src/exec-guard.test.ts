// The shim's exec guard on real binaries built here: every exec function refuses statically linked C, Go (static and
// cgo) and setuid programs with EACCES and one line naming the program and `run`; dynamically linked C programs and
// scripts run by a dynamic interpreter pass; wrappers (env, sh -c, timeout, xargs) are caught; the override lets them
// start with a warning. No network, no namespace.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { locateShim } from './locate-shim.js';

const driverSource = fileURLToPath(new URL('../test/exec-guard-test.c', import.meta.url));
let dir: string;
let shim: string;
let driver: string;
const bin = (name: string) => join(dir, name);

beforeAll(() => {
  shim = locateShim();
  dir = mkdtempSync(join(tmpdir(), 'egress-exec-guard-'));
  chmodSync(dir, 0o755);
  driver = bin('exec-guard-test');
  execFileSync('cc', ['-O1', '-Wall', '-Wextra', '-Werror', '-o', driver, driverSource], { stdio: 'pipe' });
  writeFileSync(bin('ok.c'), '#include <stdio.h>\nint main(void){puts("ran");return 0;}\n');
  execFileSync('cc', ['-o', bin('dyn'), bin('ok.c')]);
  execFileSync('cc', ['-static', '-o', bin('static'), bin('ok.c')]);
  // setuid to another user (nobody), so that it changes the effective uid of whoever runs it here (root in CI).
  if (process.getuid?.() !== 0) throw new Error('the exec guard tests need root (a setuid program owned by another user); run them as root, as CI does');
  execFileSync('cc', ['-o', bin('setuid'), bin('ok.c')]);
  chownSync(bin('setuid'), 65534, 65534);
  chmodSync(bin('setuid'), 0o4755);
  execFileSync('cc', ['-o', bin('setuid-mine'), bin('ok.c')]);
  chmodSync(bin('setuid-mine'), 0o4755);
  mkdirSync(bin('go'));
  writeFileSync(bin('go/main.go'), 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("ran") }\n');
  writeFileSync(bin('go/cgo.go'), 'package main\n\n// int two(void) { return 2; }\nimport "C"\nimport "fmt"\n\nfunc main() { fmt.Println("ran", C.two()) }\n');
  const go = (cgo: string, out: string, src: string, ...flags: string[]) =>
    execFileSync('go', ['build', ...flags, '-o', bin(out), src], { cwd: bin('go'), env: { ...process.env, CGO_ENABLED: cgo, GO111MODULE: 'off', GOFLAGS: '-buildvcs=false' }, stdio: 'pipe' });
  go('0', 'go-static', 'main.go');
  go('0', 'go-stripped', 'main.go', '-ldflags=-s -w');
  go('1', 'go-cgo', 'cgo.go');
  // A script whose interpreter is static: the kernel runs the interpreter, which the shim cannot enter.
  writeFileSync(bin('script-static'), `#!${bin('static')} --flag\n`);
  writeFileSync(bin('script-sh'), '#!/bin/sh\necho ran\n');
  chmodSync(bin('script-static'), 0o755);
  chmodSync(bin('script-sh'), 0o755);
}, 180_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function run(argv: string[], extra: Record<string, string> = {}) {
  const r = spawnSync(argv[0]!, argv.slice(1), { env: { PATH: `${dir}:/usr/bin:/bin`, LD_PRELOAD: shim, ...extra }, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const APIS = ['execve', 'execv', 'execvp', 'execvpe', 'execl', 'execlp', 'execle', 'fexecve', 'posix_spawn', 'posix_spawnp'];
const REFUSED = [
  ['static', 'statically linked'],
  ['go-static', 'a statically linked Go program'],
  ['go-stripped', 'a statically linked Go program'],
  ['go-cgo', 'a Go program (Go makes its own system calls, even when dynamically linked)'],
  ['setuid', 'setuid/setgid, so the loader drops LD_PRELOAD'],
] as const;

describe('exec guard of libegress-shim', () => {
  it.each(APIS)('%s refuses static C, static/stripped/cgo Go and setuid programs with EACCES and one line naming it and run', (api) => {
    for (const [name, reason] of REFUSED) {
      const target = api === 'execvp' || api === 'execlp' || api === 'posix_spawnp' || api === 'execvpe' ? name : bin(name);
      const r = run([driver, api, target]);
      expect({ name, out: r.stdout.trim(), status: r.status }).toEqual({ name, out: 'refused errno=13', status: 3 });
      const shown = api === 'fexecve' ? '(file descriptor)' : bin(name);
      expect(r.stderr).toBe(`egress: refusing to start ${shown}: it is ${reason}; the LD_PRELOAD shim cannot send its traffic through the egress. Use 'egress-client run' (or run-as) for it, or exec --allow-uncovered to start it anyway (it leaks)\n`);
    }
  });

  it.each(APIS)('%s starts a dynamically linked program, a /bin/sh script and a setuid program of our own (no id change) as before, silently', (api) => {
    for (const name of ['dyn', 'script-sh', 'setuid-mine']) {
      const target = api.endsWith('p') || api === 'execvpe' ? name : bin(name);
      const r = run([driver, api, target]);
      expect({ name, stdout: r.stdout, stderr: r.stderr }).toEqual({ name, stdout: api.startsWith('posix_spawn') ? 'ran\nspawned status=0\n' : 'ran\n', stderr: '' });
    }
  });

  it("refuses a program with file capabilities (ping's cap_net_raw)", () => {
    expect(execFileSync('getcap', ['/usr/bin/ping'], { encoding: 'utf8' })).toContain('cap_net_raw');
    const r = run([driver, 'execv', '/usr/bin/ping']);
    expect(r.stdout.trim()).toBe('refused errno=13');
    expect(r.stderr).toContain('egress: refusing to start /usr/bin/ping: it is a program with file capabilities, so the loader drops LD_PRELOAD;');
  });

  it('follows a script to its static interpreter', () => {
    const r = run([driver, 'execve', bin('script-static')]);
    expect(r.stdout.trim()).toBe('refused errno=13');
    expect(r.stderr).toContain(`egress: refusing to start ${bin('script-static')} (interpreter ${bin('static')}): it is statically linked;`);
  });

  it('leaves missing programs and non-executables to the real exec (ENOENT, EACCES), without a line', () => {
    expect(run([driver, 'execve', bin('nosuch')])).toEqual({ status: 3, stdout: 'refused errno=2\n', stderr: '' });
    expect(run([driver, 'execvp', 'nosuch-egress-prog'])).toEqual({ status: 3, stdout: 'refused errno=2\n', stderr: '' });
    expect(run([driver, 'execve', bin('ok.c')])).toEqual({ status: 3, stdout: 'refused errno=13\n', stderr: '' });
  });

  it('catches wrappers: env X=1, sh -c, timeout, nice, xargs', () => {
    const cases: string[][] = [
      ['env', 'X=1', 'static'],
      ['sh', '-c', 'static'],
      ['sh', '-c', `exec ${bin('go-cgo')}`],
      ['timeout', '5', 'go-static'],
      ['nice', '-n', '1', 'setuid'],
      ['sh', '-c', `echo ${bin('static')} | xargs -n1 env`],
    ];
    for (const argv of cases) {
      const r = run(argv);
      expect({ argv, status: r.status, ran: r.stdout.includes('ran') }).toEqual({ argv, status: argv[0] === 'sh' && argv[2]!.includes('xargs') ? 123 : 126, ran: false });
      expect(r.stderr).toMatch(/^egress: refusing to start \S+: it is .*Use 'egress-client run' \(or run-as\)/m);
    }
    expect(run(['env', 'X=1', 'dyn'])).toEqual({ status: 0, stdout: 'ran\n', stderr: '' });
  });

  it('refuses a program about to start without the shim in LD_PRELOAD (env -i, env -u LD_PRELOAD), keeps one with it among others', () => {
    const line = (p: string) => `egress: refusing to start ${p}: it is about to start without the egress's LD_PRELOAD in its environment (env -i, or a launcher that clears it), so the shim would not load;`;
    for (const argv of [['env', '-i', bin('dyn')], ['env', '-u', 'LD_PRELOAD', bin('dyn')], ['env', 'LD_PRELOAD=', bin('dyn')]]) {
      const r = run(argv);
      expect({ argv, status: r.status, stdout: r.stdout }).toEqual({ argv, status: 126, stdout: '' });
      expect(r.stderr).toContain(line(bin('dyn')));
    }
    const other = `${dir}/libother.so`;
    execFileSync('cc', ['-shared', '-fPIC', '-o', other, '-x', 'c', '-'], { input: 'int egress_other_lib;\n' });
    expect(run(['env', `LD_PRELOAD=${other}:${shim}`, bin('dyn')])).toEqual({ status: 0, stdout: 'ran\n', stderr: '' });
    expect(run(['env', `LD_PRELOAD=${shim}.old`, bin('dyn')]).status).toBe(126);
    // A missing program keeps its ENOENT, with no line.
    expect(run(['env', '-i', bin('nosuch')])).toMatchObject({ status: 127 });
  });

  it('with EGRESS_ALLOW_UNCOVERED=1 starts them, with a warning line that they leak', () => {
    const r = run(['sh', '-c', 'go-static'], { EGRESS_ALLOW_UNCOVERED: '1' });
    expect(r).toEqual({
      status: 0,
      stdout: 'ran\n',
      stderr: `egress: warning: starting ${bin('go-static')}: it is a statically linked Go program; its traffic does NOT go through the egress (exec --allow-uncovered)\n`,
    });
    expect(run(['sh', '-c', 'go-static'], { EGRESS_ALLOW_UNCOVERED: 'yes' }).status).toBe(126);
  });

  it('inside the cgroup EGRESS_CGROUP names (placed by the supervisor) they start without a line; outside it they are refused', () => {
    // The test's own cgroup2 path stands in for the egress's: the children inherit it, as the placed app's do.
    const own = /^0::(\/.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1];
    if (!own) throw new Error('no cgroup2 line in /proc/self/cgroup: the cgroup check needs cgroup v2 (mounted here in CI)');
    const parent = own === '/' ? '/' : own.slice(0, own.lastIndexOf('/')) || '/';
    for (const argv of [['sh', '-c', 'go-static'], ['env', '-i', bin('static')], ['timeout', '20', 'setuid'], ['sh', '-c', 'exec env X=1 go-cgo']]) {
      expect(run(argv, { EGRESS_CGROUP: own })).toEqual({ status: 0, stdout: argv.join(' ').includes('go-cgo') ? 'ran 2\n' : 'ran\n', stderr: '' });
      expect(run(argv, { EGRESS_CGROUP: parent })).toMatchObject({ status: 0, stderr: '' });
    }
    // Another cgroup (a sibling, or one whose name only starts the same), a relative or empty value: refused as before.
    for (const cg of [`${own}-other`, `${own}x`, '/nosuch-egress', own.slice(1), '']) {
      const r = run(['sh', '-c', 'go-static'], { EGRESS_CGROUP: cg });
      expect({ cg, status: r.status }).toEqual({ cg, status: 126 });
      expect(r.stderr).toContain('egress: refusing to start');
    }
  });
});
