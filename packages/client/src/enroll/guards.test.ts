// Table-driven refusals of enroll and run-as (fake host): each before anything changes, naming field, value and reason.
import { PassThrough } from 'node:stream';
import { beforeEach, describe, expect, it } from 'vitest';
import { generateKeyPair } from '@egress/core/keys';
import { FakeHost, dumpMachine } from '@egress/core/testing';
import { runCli } from '../cli.js';
import { checkRunAsUser } from '../run-as/user-hints.js';

const server = generateKeyPair();
const makeBundle = (keys = generateKeyPair(), endpoint = '198.51.100.2:51820', address4 = '10.77.0.2') => ({
  version: 1,
  kind: 'egress-bundle',
  name: 'laptop',
  server: { endpoint, publicKey: server.publicKey, publicAddress4: '198.51.100.2', address4: '10.77.0.1' },
  client: { address4, publicKey: keys.publicKey, privateKey: keys.privateKey },
  tunnel: { subnet4: '10.77.0.0/24', mtu: 1420, persistentKeepalive: 25 },
  dns: ['203.0.113.53'],
  forwards: [],
});
const first = generateKeyPair();
const second = generateKeyPair();

let host: FakeHost;
/** Runs the CLI on the fake host; stdout and stderr are read back from pass-through streams. */
async function cli(argv: string[]) {
  const [stdout, stderr] = [new PassThrough(), new PassThrough()];
  const status = await runCli(argv, { host, isRoot: true, handshakeTimeoutMs: 0, stdout, stderr });
  return { code: status.code, stdout: String(stdout.read() ?? ''), stderr: String(stderr.read() ?? '') };
}

const PASSWD: Record<string, string> = {
  appuser: 'appuser:x:1001:1001::/home/appuser:/bin/bash',
  otheruser: 'otheruser:x:1002:1002::/home/otheruser:/bin/bash',
  daemon: 'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  svcapp: 'svcapp:x:998:998:egress app user:/home/svcapp:/usr/sbin/nologin',
};

beforeEach(async () => {
  host = new FakeHost();
  host.machine.dirs.add('/etc/systemd').add('/etc/systemd/system');
  host.on('sh', () => ({ exitCode: 0, stdout: '', stderr: '' }));
  host.on('getent', (argv) => (PASSWD[argv.at(-1)!] ? { exitCode: 0, stdout: `${PASSWD[argv.at(-1)!]}\n`, stderr: '' } : { exitCode: 2, stdout: '', stderr: '' }));
  await host.writeFile('/root/first.json', JSON.stringify(makeBundle(first)), { mode: 0o600 });
  await host.writeFile('/root/second.json', JSON.stringify(makeBundle(second, '198.51.100.9:51820', '10.77.0.3')), { mode: 0o600 });
  await host.writeFile('/root/deep.json', '['.repeat(100_000) + ']'.repeat(100_000), { mode: 0o600 });
});

describe('enroll refuses before anything changes', () => {
  const cases: Array<{ args: string[]; enrolled?: boolean; message: RegExp; hint?: RegExp }> = [
    {
      args: ['enroll', '/root/second.json', '--user', 'otheruser', '--name', 'laptop'],
      enrolled: true,
      message: new RegExp(`--name: egress 'laptop' is already enrolled from another bundle \\(client key ${first.publicKey.replace(/[+/]/g, '\\$&')} → ${second.publicKey.replace(/[+/]/g, '\\$&')}; endpoint 198\\.51\\.100\\.2:51820 → 198\\.51\\.100\\.9:51820; address 10\\.77\\.0\\.2 → 10\\.77\\.0\\.3\\); nothing was changed`),
      hint: /--name laptop --replace/,
    },
    { args: ['enroll', '/root/first.json', '--user', 'daemon'], message: /--user: 'daemon' is a system account \(uid 1\) that egress did not create/, hint: /--allow-system-user/ },
    { args: ['enroll', '/root/first.json', '--user', 'appuser', '--gateway', '192.0.2.1'], message: /--gateway: '192\.0\.2\.1' only goes with --interface/ },
    { args: ['enroll', '/root/first.json', '--user', 'appuser', '--address', '192.0.2.5'], message: /--address: '192\.0\.2\.5' only goes with --interface/ },
    { args: ['enroll', '/root/deep.json', '--user', 'appuser'], message: /bundle: JSON nested deeper than 64 levels/ },
  ];
  for (const c of cases) {
    it(`${c.args.slice(1).join(' ')}${c.enrolled ? ' (laptop enrolled)' : ''}`, async () => {
      if (c.enrolled) expect((await cli(['enroll', '/root/first.json', '--user', 'appuser'])).code).toBe(0);
      const before = dumpMachine(host.machine);
      const changesBefore = host.calls.filter((x) => x.change).length;
      const r = await cli(c.args);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(c.message);
      if (c.hint) expect(r.stderr).toMatch(c.hint);
      expect(r.stderr).not.toMatch(/RangeError|internal error/);
      expect(dumpMachine(host.machine)).toBe(before);
      expect(host.calls.filter((x) => x.change).length).toBe(changesBefore);
    });
  }

  it('--replace swaps the bundle of an enrolled name; a system user egress created and --allow-system-user pass', async () => {
    expect((await cli(['enroll', '/root/first.json', '--user', 'appuser'])).code).toBe(0);
    host.on('wg', (argv) => (argv[1] === 'set' ? { exitCode: 0, stdout: '', stderr: '' } : undefined)); // loads the new key into the running tunnel
    const r = await cli(['enroll', '/root/second.json', '--user', 'appuser', '--name', 'laptop', '--replace']);
    expect(r.code, r.stderr).toBe(0);
    expect(host.machine.files.get('/etc/egress/laptop.key')?.content).toBe(`${second.privateKey}\n`);
    expect((await cli(['enroll', '/root/first.json', '--user', 'svcapp', '--name', 'svc'])).code).toBe(0);
    expect((await cli(['enroll', '/root/first.json', '--user', 'daemon', '--name', 'laptop', '--replace', '--allow-system-user', '--dry-run'])).code).toBe(0);
  });
});

describe('run-as USER is a user name before any hint repeats it', () => {
  const cases: Array<{ user: string; message: RegExp }> = [
    { user: '1003', message: /^run-as: USER: expected a user name, got the number '1003'/ },
    { user: 'a;id', message: /^run-as: USER: expected a user name .* got "a;id"/ },
    { user: '$(reboot)', message: /got "\$\(reboot\)"/ },
  ];
  for (const c of cases) {
    it(`refuses '${c.user}' with a hint that suggests nothing to paste`, () => {
      let err: (Error & { hint?: string }) | undefined;
      try {
        checkRunAsUser(c.user);
      } catch (e) {
        err = e as Error & { hint?: string };
      }
      expect(err?.message).toMatch(c.message);
      expect(err?.hint).toBe('egress-client status lists the users of each egress');
    });
  }
  it('accepts ordinary names', () => {
    for (const u of ['appuser', 'app.user-1', '_svc']) expect(() => checkRunAsUser(u)).not.toThrow();
  });
});
