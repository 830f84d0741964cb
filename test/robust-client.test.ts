// egress-client under a careless or hostile user (lab): hostile and doctored bundle files, another bundle under an
// enrolled name, system users, hints, concurrent changes (at once and in turn, every order), 20 parallel isolated
// runs, SIGKILL of enroll, up, down and uninstall after their change lines, and no launcher (run-as, exec, run)
// starting an app while the fence is missing.
import { startLab, type Lab } from '@egress/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUNDLE, appuserSees, client, clientSnapshot, enroll, provision } from './client-helpers.js';
import { inTurn, killAfterChangeLine } from './kill-helpers.js';

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

/** The public key of /etc/egress/client.key, and the one the bundle names (they must agree while enrolled). */
async function keysAgree(): Promise<void> {
  const pub = (await sh('wg pubkey < /etc/egress/client.key')).trim();
  expect(pub).toBe((JSON.parse((await lab.readFile('client', BUNDLE))!) as { client: { publicKey: string } }).client.publicKey);
}

/**
 * After an interrupted change: run-as, exec and run each start a probe behind a marker file. None may leak: an app
 * that ran is seen with the VPS's address (or fails, fenced); one refused for a missing fence never started.
 */
async function launchersNeverLeak(label: string, outcomes: Record<string, number>): Promise<void> {
  await sh('rm -f /tmp/started-*');
  const launchers: Record<string, string[]> = { 'run-as': ['run-as', 'appuser', '--'], exec: ['exec', '--'], run: ['run', '--'] };
  await Promise.all(
    Object.entries(launchers).map(async ([name, prefix]) => {
      const r = await lab.exec('client', [...lab.egressClientArgv, ...prefix, 'sh', '-c', `touch /tmp/started-${name}; exec "$@"`, 'sh', ...lab.probeArgv(), '1500'], { timeoutMs: 30_000 });
      const seen = r.stdout.trim().split('\n').pop();
      const fence = /the fence that keeps .* is not in place/.test(r.stderr);
      const outcome = `${name}: ${r.exitCode === 0 ? 'ran, seen with the VPS address' : fence ? 'refused: fence missing' : (/error: (.*)/.exec(r.stderr)?.[1] ?? 'app failed (fenced)').replace(/'[^']*'/g, "'…'").replace(/\(.*/, '').slice(0, 50).trim()}`;
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      if (r.exitCode === 0) expect(seen, `${label}: ${name}`).toBe(lab.addr.vpsV4);
      else expect(seen, `${label}: ${name}: ${r.stderr}`).not.toBe(lab.addr.clientV4);
      if (fence) expect(await sh(`test -e /tmp/started-${name} && echo started || true`), `${label}: ${name}`).toBe('');
    }),
  );
}

describe('refused before anything changes (lab)', () => {
  it('hostile bundle files: directory, /dev/zero, FIFO, a huge file, deeply nested JSON', async () => {
    await sh(`mkfifo /root/b-fifo && head -c 9000000 /dev/zero | tr '\\0' ' ' > /root/b-big && node -e "process.stdout.write('['.repeat(30000)+']'.repeat(30000))" > /root/b-deep`);
    // Two bundles that parse but cannot work: a loopback tunnel address, the server's key equal to the client's.
    const doctor = (change: string, out: string) => `node -e 'const b=JSON.parse(require("fs").readFileSync("${BUNDLE}"));${change};require("fs").writeFileSync("${out}",JSON.stringify(b))'`;
    await sh(`${doctor('b.client.address6="::1"', '/root/b-lo6')} && ${doctor('b.server.publicKey=b.client.publicKey', '/root/b-samekey')}`);
    const cases = [
      { path: '/root', message: /bundle: '\/root' is a directory; expected a regular file of at most 8388608 bytes/, code: 2 },
      { path: '/dev/zero', message: /bundle: '\/dev\/zero' is a character device; expected a regular file/, code: 2 },
      { path: '/root/b-fifo', message: /bundle: '\/root\/b-fifo' is a FIFO; expected a regular file/, code: 2 },
      { path: '/root/b-big', message: /bundle: '\/root\/b-big' is 9000000 bytes long; expected a regular file of at most 8388608 bytes/, code: 2 },
      { path: '/root/b-deep', message: /bundle: JSON nested deeper than 64 levels/, code: 2 },
      { path: '/root/b-lo6', message: /bundle\.client\.address6: '::1' the tunnel address cannot be a loopback address/, code: 2 },
      { path: '/root/b-samekey', message: /bundle\.server\.publicKey: '[A-Za-z0-9+/]{43}=' is the client's own public key; the server's key must differ/, code: 2 },
    ];
    for (const c of cases) {
      const r = await client(lab, ['enroll', c.path, '--user', 'appuser'], { timeoutMs: 30_000 });
      expect(r.stderr, c.path).toMatch(c.message);
      expect(r.exitCode, c.path).toBe(c.code);
      expect(r.stderr).not.toMatch(/RangeError|internal error|^\[#\]/m);
      if (/b-lo6|b-samekey/.test(c.path)) expect(r.stderr).toMatch(/nothing was changed/);
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
      { args: ['run-as', 'daemon', '--', 'true'], code: 1, message: /user 'daemon' is not bound to an egress \(enrolled: client\); 'daemon' is a system account \(uid 1\)/, hint: /--user NEWNAME --create-user/ },
      { args: ['enroll', OTHER, '--user', '1003', '--create-user'], code: 2, message: /--user: expected a user name .*got "1003"/ },
      { args: ['enroll', OTHER, '--user', "it's", '--create-user'], code: 2, message: /--user: expected a user name .*got "it's"/ },
      { args: ['enroll', OTHER, '--user', 'root', '--name', 'other'], code: 2, message: /--user: 'root' is root \(uid 0\)/ },
    ];
    for (const c of cases) {
      const r = await client(lab, c.args);
      expect(r.stderr, c.args.join(' ')).toMatch(c.message);
      if (c.hint) expect(r.stderr).toMatch(c.hint);
      // No hint suggests root, a uid (with --create-user or not), a system account or an unquoted name.
      expect(r.stderr, c.args.join(' ')).not.toMatch(/^hint: .*--user (root|daemon|\d+|[^\s']*[;$()"][^\s']*)(\s|$)/m);
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

  it('in turn, both orders: forward add/remove, enroll/uninstall (up/down: above) — the second waits for the first; the end state is the second\'s', async () => {
    const waitedFor = /waiting for pid \d+ \(egress-client (\S+(?: add| remove)?), since \S+\) to finish/;
    const ENROLL = ['enroll', BUNDLE, '--user', 'appuser'];
    const forwards = async () => (JSON.parse((await client(lab, ['forward', 'list', '--json'])).stdout) as { forwards: Array<{ publicPort: number }> }).forwards.map((f) => f.publicPort);
    const table: Array<{ what: string; before: string[][]; a: string[]; b: string[]; end: () => Promise<void> }> = [
      { what: 'forward add, then forward remove', before: [], a: ['forward', 'add', '9090/tcp'], b: ['forward', 'remove', '9090/tcp'], end: async () => expect(await forwards()).toEqual([8080]) },
      { what: 'forward remove, then forward add', before: [['forward', 'add', '9090/tcp']], a: ['forward', 'remove', '9090/tcp'], b: ['forward', 'add', '9090/tcp'], end: async () => expect((await forwards()).sort()).toEqual([8080, 9090]) },
      { what: 'uninstall, then enroll', before: [['forward', 'remove', '9090/tcp']], a: ['uninstall'], b: ENROLL, end: async () => expect(await appuserSees(lab)).toBe(lab.addr.vpsV4) },
      { what: 'enroll, then uninstall', before: [['uninstall']], a: ENROLL, b: ['uninstall'], end: async () => expect(await clientSnapshot(lab)).toEqual(before) },
    ];
    await enroll(lab);
    for (const c of table) {
      for (const cmd of c.before) expect((await client(lab, cmd)).exitCode, `${c.what}: before: ${cmd.join(' ')}`).toBe(0);
      const { a, b } = await inTurn(lab, 'client', [...lab.egressClientArgv, ...c.a], [...lab.egressClientArgv, ...c.b], { held: /^\[#/m, waited: waitedFor });
      expect([a.exitCode, b.exitCode], `${c.what}:\n${a.out}\n${b.out}`).toEqual([0, 0]);
      expect(waitedFor.exec(b.out)?.[1], c.what).toBe(c.a[0] === 'forward' ? `forward ${c.a[1]}` : c.a[0]);
      await c.end();
    }
  }, 300_000);

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
  it('down, then up, killed after each change line: re-runs converge (tunnel gone, fence kept / tunnel back), no launcher leaks', async () => {
    await enroll(lab);
    let kills = 0;
    let upKills = 0;
    const outcomes: Record<string, number> = {};
    for (let n = 1; ; n++) {
      const run = await killAfterChangeLine(lab, 'client', [...lab.egressClientArgv, 'down'], n);
      const again = await client(lab, ['down']);
      expect(again.exitCode, `down killed after line ${n}; re-run: ${again.stderr}`).toBe(0);
      expect((await lab.exec('client', ['ip', 'link', 'show', 'egress0'])).exitCode).not.toBe(0);
      expect(await sh('ip rule | grep -c "uidrange .* prohibit" || true')).not.toBe('0\n');
      const runAs = await client(lab, ['run-as', 'appuser', '--', 'true']);
      expect(runAs.stderr).toMatch(/egress 'client' is down/);
      const up = await killAfterChangeLine(lab, 'client', [...lab.egressClientArgv, 'up'], n);
      if (up.killed) {
        upKills++;
        await launchersNeverLeak(`up killed after line ${n}`, outcomes);
      }
      const upAgain = await client(lab, ['up']);
      expect(upAgain.exitCode, `up killed after line ${n}; re-run: ${upAgain.stderr}`).toBe(0);
      await keysAgree();
      if (!run.killed) break;
      kills++;
    }
    console.log(`down was killed after each of its first ${kills} change lines, up after each of its first ${upKills}; launchers after the up kills: ${JSON.stringify(outcomes)}`);
    expect(kills).toBeGreaterThan(0);
    expect(upKills).toBeGreaterThan(0);
    expect(await lab.probe('client', { prefix: [...lab.egressClientArgv, 'run-as', 'appuser', '--'] })).toBe(lab.addr.vpsV4);
  }, 300_000);

  it('run-as, exec and run refuse while part of the fence is missing (rules, kill switch), naming it; the app never starts; up restores', async () => {
    const cases = [
      { what: 'IPv4 lookup rules', break: 'ip -4 rule del priority 7100 && ip -4 rule del priority 7101 && ip -4 rule del priority 7102', missing: { 'run-as': /IPv4 rule 7101 uidrange \d+-\d+ lookup 7100/, exec: /IPv4 rule from 10\.77\.0\.2 lookup/, run: /IPv4 rule fwmark lookup/ } },
      { what: 'kill switches', break: 'nft flush chain inet egress output_filter && nft flush chain inet egress postrouting_filter', missing: { 'run-as': /kill switch for uid \d+/, exec: /kill switch of 'client'/, run: /kill switch of 'client'/ } },
    ];
    const launchers: Record<string, string[]> = { 'run-as': ['run-as', 'appuser', '--'], exec: ['exec', '--'], run: ['run', '--'] };
    for (const c of cases) {
      await sh(`${c.break} && rm -f /tmp/started-*`);
      for (const [name, prefix] of Object.entries(launchers)) {
        const r = await client(lab, [...prefix, 'sh', '-c', `touch /tmp/started-${name}`]);
        expect(r.exitCode, `${c.what}: ${name}: ${r.stderr}`).not.toBe(0);
        expect(r.stderr, `${c.what}: ${name}`).toMatch(/error: egress 'client': the fence that keeps .* traffic in the egress is not in place \(missing: .*\); the app was not started/);
        expect(r.stderr, `${c.what}: ${name}`).toMatch(c.missing[name as keyof typeof c.missing]);
        expect(r.stderr).toMatch(/hint: egress-client up client/);
      }
      expect(await sh('ls /tmp | grep -c ^started- || true'), c.what).toBe('0\n');
      expect((await client(lab, ['up'])).exitCode).toBe(0);
      expect(await lab.probe('client', { prefix: [...lab.egressClientArgv, 'exec', '--'] }), c.what).toBe(lab.addr.vpsV4);
    }
  }, 120_000);

  it('enroll, then uninstall, killed after each change line: re-runs converge, the key stays with the enrolled egress, no launcher leaks, nothing is left', async () => {
    let kills = 0;
    let enrollKills = 0;
    const outcomes: Record<string, number> = {};
    for (let n = 1; ; n++) {
      if ((await lab.exec('client', ['test', '-e', '/etc/egress/client.json'])).exitCode !== 0) {
        // Enroll is killed after every other line here (test/fence-kill.test.ts kills it after each one), to keep this loop short.
        const e = n % 2 === 1 ? await killAfterChangeLine(lab, 'client', [...lab.egressClientArgv, 'enroll', BUNDLE, '--user', 'appuser'], n) : await client(lab, ['enroll', BUNDLE, '--user', 'appuser']).then((r) => ({ killed: false, exitCode: r.exitCode }));
        if ('exitCode' in e) expect(e.exitCode).toBe(0);
        if (e.killed) {
          enrollKills++;
          await launchersNeverLeak(`enroll killed after line ${n}`, outcomes);
          const again = await client(lab, ['enroll', BUNDLE, '--user', 'appuser']);
          expect(again.exitCode, `enroll killed after line ${n}; re-run: ${again.stderr}`).toBe(0);
        }
        await keysAgree();
      }
      const run = await killAfterChangeLine(lab, 'client', [...lab.egressClientArgv, 'uninstall'], n);
      await launchersNeverLeak(`uninstall killed after line ${n}`, outcomes);
      // While the state still names the egress, its key is there and agrees with the bundle.
      if ((await lab.exec('client', ['test', '-e', '/etc/egress/client.json'])).exitCode === 0) await keysAgree();
      const again = await client(lab, ['uninstall']);
      expect(again.exitCode, `uninstall killed after line ${n}; re-run: ${again.stderr}`).toBe(0);
      expect(await clientSnapshot(lab), `uninstall killed after line ${n}, re-run`).toEqual(before);
      if (!run.killed) break;
      kills++;
    }
    console.log(`enroll was killed after ${enrollKills} of its change lines (every other one), uninstall after each of its first ${kills}; launchers afterwards: ${JSON.stringify(outcomes)}`);
    expect(kills).toBeGreaterThan(20);
    expect(enrollKills).toBeGreaterThan(10);
  }, 900_000);
});
