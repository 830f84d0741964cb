// Runs the C test program (test/shim-test.c) with the built shim preloaded, in a throwaway network namespace.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { locateShim } from './locate-shim.js';

const testSource = fileURLToPath(new URL('../test/shim-test.c', import.meta.url));
// The namespace: a veth pair (eg0 <-> eg0p) holding the "remote" and the egress addresses (private ranges only).
const SETUP = [
  'set -e',
  'ip link set lo up',
  'ip link add eg0 type veth peer name eg0p',
  'ip link set eg0p up',
  'ip link set eg0 up',
  'ip addr add 10.99.0.1/24 dev eg0',
  'ip addr add 10.99.0.2/24 dev eg0',
  'ip addr add 10.99.0.3/24 dev eg0',
  'ip addr add fd00:99::1/64 dev eg0 nodad',
  'ip addr add fd00:99::2/64 dev eg0 nodad',
  'exec "$@"',
].join('\n');

let dir: string;
let program: string;
let shim: string;

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error('the shim C tests need root (they create a network namespace with unshare -n); run them as root, as CI does');
  shim = locateShim();
  dir = mkdtempSync(join(tmpdir(), 'egress-shim-test-'));
  chmodSync(dir, 0o755);
  program = join(dir, 'shim-test');
  execFileSync('cc', ['-O1', '-Wall', '-Wextra', '-Werror', '-pthread', '-o', program, testSource], { stdio: 'pipe' });
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs the test program in a fresh network namespace with the given shim environment and optional user. */
function runInNetns(mode: string, env: Record<string, string>, user?: number) {
  const prefix = user === undefined ? [] : ['setpriv', `--reuid=${user}`, `--regid=${user}`, '--clear-groups'];
  const res = spawnSync('unshare', ['-n', 'sh', '-c', SETUP, 'setup', ...prefix, program, mode], {
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LD_PRELOAD: shim, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  const lines = res.stdout.split('\n').filter((l) => /^(not )?ok \d+/.test(l));
  return { status: res.status, stdout: res.stdout, stderr: res.stderr, lines, failed: lines.filter((l) => l.startsWith('not ok')) };
}

const BOUND = { EGRESS_BIND_V4: '10.99.0.2', EGRESS_BIND_V6: 'fd00:99::2', EGRESS_BIND_IFACE: 'eg0' };

describe('libegress-shim in a network namespace', () => {
  it('binds v4, v6, v4-mapped, UDP sendto/sendmsg/sendmmsg to the egress; leaves specific binds, loopback and AF_UNIX alone; 32 threads', () => {
    const r = runInNetns('bound', BOUND);
    expect(r.failed, r.stdout + r.stderr).toEqual([]);
    expect(r.lines).toHaveLength(15);
    expect(r.stdout).toContain('ok 15 - many threads connecting at once are all bound to the egress address # 32 threads x 40 connects, 0 not from the egress address');
    expect(r.status).toBe(0);
    // Never writes to the app's stderr unless EGRESS_SHIM_DEBUG is set.
    expect(r.stderr).toBe('');
  });

  it('works the same for an ordinary user (uid 65534): SO_BINDTODEVICE is allowed or skipped, never fatal', () => {
    const r = runInNetns('bound', BOUND, 65534);
    expect(r.failed, r.stdout + r.stderr).toEqual([]);
    expect(r.lines).toHaveLength(15);
    expect(r.status).toBe(0);
  });

  it('fails closed with ENETUNREACH when the egress addresses are not on the host; raw sockets pass', () => {
    const r = runInNetns('closed', { EGRESS_BIND_V4: '192.0.2.77', EGRESS_BIND_V6: '2001:db8::77', EGRESS_BIND_IFACE: 'eg0' });
    expect(r.failed, r.stdout + r.stderr).toEqual([]);
    expect(r.lines).toHaveLength(7);
    expect(r.stdout).toMatch(/ok 4 - udp sendto\/sendmsg\/sendmmsg fail closed with ENETUNREACH and nothing is sent # .*received=no local port=0/);
    expect(r.status).toBe(0);
  });

  it('fails closed when the egress interface is missing (tunnel down)', () => {
    const r = runInNetns('closed', { ...BOUND, EGRESS_BIND_IFACE: 'egress-gone' });
    expect(r.failed, r.stdout + r.stderr).toEqual([]);
    expect(r.status).toBe(0);
  });

  it('refuses IPv6 when the egress has no IPv6 address (never direct)', () => {
    const r = runInNetns('nov6', { EGRESS_BIND_V4: '10.99.0.2', EGRESS_BIND_IFACE: 'eg0' });
    expect(r.failed, r.stdout + r.stderr).toEqual([]);
    expect(r.lines).toEqual([
      'ok 1 - tcp v6 connect is refused when the egress has no IPv6 address # rc=-1 errno=Network is unreachable listener: nothing',
      'ok 2 - tcp v4 connect still uses the egress address # rc=0 peer=10.99.0.2 want=10.99.0.2',
      'ok 3 - dual-stack bind(in6addr_any) takes the v4-mapped egress address # rc=0 local=::ffff:10.99.0.2',
    ]);
  });

  it('resolves names through the egress: getaddrinfo, gethostbyname*, res_* and getnameinfo ask EGRESS_DNS from the egress address; localhost/numeric need no query', () => {
    const r = runInNetns('dns', { ...BOUND, EGRESS_DNS: '10.99.0.1' });
    expect(r.failed, r.stdout + r.stderr).toEqual([]);
    expect(r.lines).toEqual([
      "ok 1 - getaddrinfo asks the egress's resolver from the egress address (A and AAAA) # rc=0 result=10.99.0.1/80,fd00:99::1/80 canon=svc.egress.test queries=2 from=10.99.0.2",
      'ok 2 - getaddrinfo with AF_INET asks for A only # rc=0 result=10.99.0.1/0',
      'ok 3 - an unknown name is EAI_NONAME # rc=-2 (Name or service not known)',
      'ok 4 - gethostbyname, gethostbyname2 and gethostbyname_r resolve through the egress # v4=10.99.0.1 hostent=ok v6=fd00:99::1 small-buffer=ERANGE nothere=NULL/1 queries=4 from=10.99.0.2',
      'ok 5 - res_query, res_search, res_querydomain and res_send go through the egress # res_query=A 10.99.0.1 res_search=ok res_querydomain=ok nothere=-1/1 res_send=ok queries=5 from=10.99.0.2',
      'ok 6 - getnameinfo asks PTR through the egress # ptr=0:svc.egress.test:80 unknown=0:10.99.0.3 namereqd=-2 numeric=0:10.99.0.1 queries=3+0 from=10.99.0.2',
      'ok 7 - localhost and numeric hosts need no DNS query # localhost rc=0 numeric rc=0 queries=0',
    ]);
  });

  it('fails name lookups closed (EAI_FAIL, no query sent) when the egress cannot be used', () => {
    const r = runInNetns('dnsclosed', { EGRESS_BIND_V4: '192.0.2.77', EGRESS_BIND_V6: '2001:db8::77', EGRESS_BIND_IFACE: 'eg0', EGRESS_DNS: '10.99.0.1' });
    expect(r.lines).toEqual([
      'ok 1 - getaddrinfo, gethostbyname, res_query and getnameinfo fail and send nothing when the egress cannot be used # rc=-4 (Non-recoverable failure in name resolution) gethostbyname=NULL/3 res_query=-1/3 getnameinfo=-4 queries=0',
    ]);
  });

  it('explains its decisions on stderr only with EGRESS_SHIM_DEBUG', () => {
    const r = runInNetns('nov6', { EGRESS_BIND_V4: '10.99.0.2', EGRESS_BIND_IFACE: 'eg0', EGRESS_SHIM_DEBUG: '1' });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/egress-shim\[\d+\]: loaded: v4=10\.99\.0\.2 v6=- iface=eg0 dns=0 server\(s\)/);
    expect(r.stderr).toMatch(/egress-shim\[\d+\]: connect fd \d+ to fd00:99::1: the egress has no IPv6 address/);
    expect(r.stderr).toMatch(/egress-shim\[\d+\]: connect fd \d+ to 10\.99\.0\.1: bound to 10\.99\.0\.2/);
  });
});
