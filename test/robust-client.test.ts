// egress-client under a careless or hostile user (lab): hostile bundle files, another bundle under an enrolled
// name, system users, concurrent changes, 20 parallel isolated runs, SIGKILL of down, and no launcher starting an
// app while the fence is missing (after an uninstall killed after each change line).
import { startLab, type Lab } from '@egress/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE, client, clientSnapshot, enroll, provision } from './client-helpers.js';
import { killAfterChangeLine } from './kill-helpers.js';

let lab: Lab;
let before: Record<string, string>;
const OTHER = '/root/other.bundle.json';

beforeAll(async () => {
  lab = await startLab({ name: 'robust-cli' });
  before = await clientSnapshot(lab);
  await provision(lab);
  const r = await lab.exec('client', [...lab.egressServerArgv, 'peer', 'add', lab.ssh.target, 'other', '-i', lab.ssh.identity, '--out', OTHER], { timeoutMs: 120_000 });
  expect(r.exitCode, r.stderr).toBe(0);
}, 300_000);

afterAll(async () => {
  await lab?.down();
});

const sh = async (script: string): Promise<string> => {
  const r = await lab.exec('client', ['sh', '-c', script], { check: true });
  return r.stdout;
};
const waited = (stderr: string, command: string) => new RegExp(`waiting for pid \\d+ \\(egress-client ${command}, since \\S+\\) to finish`).test(stderr);

describe('refused before anything changes (lab)', () => {
  it('hostile bundle files: directory, /dev/zero, FIFO, a huge file, deeply nested JSON', async () => {
    await sh(`mkfifo /root/b-fifo && head -c 70000 /dev/zero | tr '\\0' ' ' > /root/b-big && node -e "process.stdout.write('['.repeat(30000)+']'.repeat(30000))" > /root/b-deep`);
    const cases = [
      { path: '/root', message: /bundle: '\/root' is a directory; expected a regular file of at most 65536 bytes/, code: 2 },
      { path: '/dev/zero', message: /bundle: '\/dev\/zero' is a character device; expected a regular file/, code: 2 },
      { path: '/root/b-fifo', message: /bundle: '\/root\/b-fifo' is a FIFO; expected a regular file/, code: 2 },
      { path: '/root/b-big', message: /bundle: '\/root\/b-big' is 70000 bytes long; expected a regular file of at most 65536 bytes/, code: 2 },
      { path: '/root/b-deep', message: /bundle: JSON nested deeper than 64 levels/, code: 2 },
    ];
    for (const c of cases) {
      const r = await client(lab, ['enroll', c.path, '--user', 'appuser'], { timeoutMs: 30_000 });
      expect(r.stderr, c.path).toMatch(c.message);
      expect(r.exitCode, c.path).toBe(c.code);
      expect(r.stderr).not.toMatch(/RangeError|internal error|^\[#\]/m);
    }
    expect(await clientSnapshot(lab)).toEqual(before);
  });

  it('another bundle under an enrolled name, a system account, --gateway with a bundle', async () => {
    await enroll(lab);
    const enrolled = await clientSnapshot(lab);
    const key = JSON.parse((await lab.readFile('client', BUNDLE))!).client.publicKey as string;
    const otherKey = JSON.parse((await lab.readFile('client', OTHER))!).client.publicKey as string;
    const cases = [
      { args: ['enroll', OTHER, '--user', 'otheruser', '--name', 'client'], code: 1, message: new RegExp(`--name: egress 'client' is already enrolled from another bundle \\(client key ${key.replace(/[+/]/g, '\\$&')} → ${otherKey.replace(/[+/]/g, '\\$&')}; address 10\\.77\\.0\\.2 → 10\\.77\\.0\\.3\\); nothing was changed`), hint: /--name client --replace/ },
      { args: ['enroll', OTHER, '--user', 'daemon'], code: 2, message: /--user: 'daemon' is a system account \(uid 1\) that egress did not create/, hint: /--allow-system-user/ },
      { args: ['enroll', OTHER, '--user', 'otheruser', '--gateway', '192.0.2.1'], code: 2, message: /--gateway: '192\.0\.2\.1' only goes with --interface/ },
      { args: ['run-as', '1003', '--', 'true'], code: 2, message: /run-as: USER: expected a user name, got the number '1003'/ },
      { args: ['run-as', 'a;id', '--', 'true'], code: 2, message: /run-as: USER: expected a user name .*got "a;id"/ },
      { args: ['run-as', 'root', '--', 'true'], code: 2, message: /run-as: USER: 'root' is uid 0 \(root\)/ },
    ];
    for (const c of cases) {
      const r = await client(lab, c.args);
      expect(r.stderr, c.args.join(' ')).toMatch(c.message);
      if (c.hint) expect(r.stderr).toMatch(c.hint);
      expect(r.exitCode, c.args.join(' ')).toBe(c.code);
      expect(r.stderr).not.toMatch(/^\[#\]/m);
    }
    expect(await clientSnapshot(lab)).toEqual(enrolled);
    expect((await client(lab, ['uninstall'])).exitCode).toBe(0);
  });
});

describe('concurrent changes (lab)', () => {
  it('enroll+enroll, up+down, uninstall+uninstall: each succeeds or says it waited; the end state is the last one asked for', async () => {
    const [a, b] = await Promise.all([client(lab, ['enroll', BUNDLE, '--user', 'appuser']), client(lab, ['enroll', BUNDLE, '--user', 'appuser'])]);
    expect([a.exitCode, b.exitCode], a.stderr + b.stderr).toEqual([0, 0]);
    expect([a, b].filter((r) => waited(r.stderr, 'enroll'))).toHaveLength(1);
    expect((await sh('wg show interfaces')).trim()).toBe('egress0');

    for (const order of [['up', 'down'], ['down', 'up']]) {
      const [x, y] = await Promise.all(order.map((c) => client(lab, [c])));
      expect([x!.exitCode, y!.exitCode], x!.stderr + y!.stderr).toEqual([0, 0]);
      // The one that waited for the other ran last.
      const last = waited(x!.stderr, order[1]!) ? order[0] : waited(y!.stderr, order[0]!) ? order[1] : undefined;
      expect(last, x!.stderr + y!.stderr).toBeDefined();
      const present = (await lab.exec('client', ['ip', 'link', 'show', 'egress0'])).exitCode === 0;
      expect(present, `last: ${last}`).toBe(last === 'up');
    }

    const [u, v] = await Promise.all([client(lab, ['uninstall']), client(lab, ['uninstall'])]);
    expect([u.exitCode, v.exitCode], u.stderr + v.stderr).toEqual([0, 0]);
    expect([u, v].filter((r) => waited(r.stderr, 'uninstall'))).toHaveLength(1);
    expect(await clientSnapshot(lab)).toEqual(before);
  }, 240_000);

  it('20 parallel run --isolate all succeed; uninstall then leaves no /etc/netns, /run/netns or /run/egress/isolate', async () => {
    await enroll(lab);
    const runs = await Promise.all(Array.from({ length: 20 }, () => client(lab, ['run', '--isolate', '--', ...lab.probeArgv()], { timeoutMs: 240_000 })));
    const bad = runs.filter((r) => r.exitCode !== 0 || r.stdout.trim().split('\n').pop() !== lab.addr.vpsV4);
    expect(bad.map((r) => `${r.exitCode}: ${r.stderr.split('\n').filter((l) => !l.startsWith('[#')).join(' ')}`)).toEqual([]);
    expect((await client(lab, ['uninstall'])).exitCode).toBe(0);
    expect(await sh('for d in /etc/netns /run/netns /run/egress/isolate /run/egress/isolate-created-dirs; do [ -e $d ] && echo $d; done; true')).toBe('');
    expect(await clientSnapshot(lab)).toEqual(before);
  }, 600_000);
});

describe('SIGKILL (lab)', () => {
  it('down killed after each change line: a re-run converges (tunnel gone, fence kept), up restores', async () => {
    await enroll(lab);
    let kills = 0;
    for (let n = 1; ; n++) {
      const run = await killAfterChangeLine(lab, 'client', [...lab.egressClientArgv, 'down'], n);
      const again = await client(lab, ['down']);
      expect(again.exitCode, `down killed after line ${n}; re-run: ${again.stderr}`).toBe(0);
      expect((await lab.exec('client', ['ip', 'link', 'show', 'egress0'])).exitCode).not.toBe(0);
      expect(await sh('ip rule | grep -c "uidrange .* prohibit" || true')).not.toBe('0\n');
      const runAs = await client(lab, ['run-as', 'appuser', '--', 'true']);
      expect(runAs.stderr).toMatch(/egress 'client' is down/);
      expect((await client(lab, ['up'])).exitCode).toBe(0);
      if (!run.killed) break;
      kills++;
    }
    console.log(`down was killed after each of its first ${kills} change lines`);
    expect(kills).toBeGreaterThan(0);
    expect(await lab.probe('client', { prefix: [...lab.egressClientArgv, 'run-as', 'appuser', '--'] })).toBe(lab.addr.vpsV4);
  }, 300_000);

  it('uninstall killed after each change line: no launcher starts an app while the fence is missing; a re-run removes everything', async () => {
    let kills = 0;
    const outcomes: Record<string, number> = {};
    for (let n = 1; ; n++) {
      if ((await lab.exec('client', ['test', '-e', '/etc/egress/client.json'])).exitCode !== 0) await enroll(lab);
      const run = await killAfterChangeLine(lab, 'client', [...lab.egressClientArgv, 'uninstall'], n);
      // Whatever the kill left: run-as either refuses, or its app is seen with the VPS's address — never the client's.
      await sh(`rm -f /tmp/started`);
      const r = await lab.exec('client', [...lab.egressClientArgv, 'run-as', 'appuser', '--', 'sh', '-c', `touch /tmp/started; exec "$@"`, 'sh', ...lab.probeArgv()], { timeoutMs: 30_000 });
      const seen = r.stdout.trim().split('\n').pop();
      const outcome = r.exitCode === 0 ? 'app ran, seen with the VPS address' : /fence .* is not in place/.test(r.stderr) ? 'refused: fence missing' : (/error: (.*)/.exec(r.stderr)?.[1] ?? 'failed').replace(/'[^']*'/g, "'…'").slice(0, 60);
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      if (r.exitCode === 0) expect(seen, `uninstall killed after line ${n}`).toBe(lab.addr.vpsV4);
      else {
        expect(seen, `uninstall killed after line ${n}: ${r.stderr}`).not.toBe(lab.addr.clientV4);
        if (/fence .* is not in place/.test(r.stderr)) expect(await sh('test -e /tmp/started && echo started || true')).toBe('');
      }
      const again = await client(lab, ['uninstall']);
      expect(again.exitCode, `uninstall killed after line ${n}; re-run: ${again.stderr}`).toBe(0);
      // Known gap (the uninstall change order is issue 11's): killed after the state was saved empty but before the
      // key file was removed, the re-run cannot tell that key from one a user placed for a key-less bundle, so it stays.
      const now = await clientSnapshot(lab);
      const keys = now.etc!.split('\n').filter((l) => /^\/etc\/egress\/[^/]+\.key /.test(l));
      for (const k of keys) expect(k).toMatch(/ -rw------- 45$/);
      expect({ ...now, etc: now.etc!.split('\n').filter((l) => !keys.includes(l)).join('\n') }, `uninstall killed after line ${n}, re-run`).toEqual(before);
      if (keys.length) {
        console.log(`uninstall killed after line ${n}: the re-run left ${keys.join(', ')} (0600)`);
        await sh('rm -f /etc/egress/*.key');
      }
      if (!run.killed) break;
      kills++;
    }
    console.log(`uninstall was killed after each of its first ${kills} change lines; run-as afterwards: ${JSON.stringify(outcomes)}`);
    expect(kills).toBeGreaterThan(0);
  }, 600_000);
});
