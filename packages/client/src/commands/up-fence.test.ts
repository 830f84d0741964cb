// `up --fence-only` (the early boot unit) loads kernel state only: it never reloads systemd or enables a unit, even when
// its read says the supervisor's unit is not enabled (a reload inside the boot transaction lost the supervisor's start).
import { beforeEach, describe, expect, it } from 'vitest';
import { FakeHost } from '@egress/core/testing';
import { runOn, testBundle } from '../testing/fake-cli.js';

let host: FakeHost;
const cli = (argv: string[]) => runOn(host, argv);

beforeEach(async () => {
  host = new FakeHost();
  host.on('sh', () => ({ exitCode: 0, stdout: '', stderr: '' }));
  const appuser = 'appuser:x:1001:1001::/home/appuser:/bin/bash';
  host.on('getent', (argv) => (argv[1] === 'passwd' && argv.at(-1) === 'appuser' ? { exitCode: 0, stdout: `${appuser}\n`, stderr: '' } : { exitCode: 2, stdout: '', stderr: '' }));
  await host.writeFile('/root/b.json', JSON.stringify(testBundle()), { mode: 0o600 });
  await host.writeFile('/etc/passwd', 'appuser:x:1001:1001::/home/appuser:/bin/bash\n', { mode: 0o644 });
  expect((await cli(['enroll', '/root/b.json', '--user', 'appuser'])).code).toBe(0);
});

describe('up --fence-only', () => {
  it('after a reboot (kernel state gone) arms the kill switch and rules, and touches no unit even when is-enabled says disabled', async () => {
    const units = [...host.machine.units.keys()];
    expect(units.length).toBeGreaterThan(0);
    // A reboot: kernel state gone; and the early read of unit enablement does not say enabled.
    host.machine.nft.clear();
    host.machine.rules = [];
    for (const u of host.machine.units.values()) u.enabled = false;
    const mark = host.calls.length;
    const r = await cli(['up', '--fence-only']);
    expect(r.code, r.stderr).toBe(0);
    const ran = host.calls.slice(mark).map((c) => c.argv.join(' '));
    expect(ran.filter((a) => /^systemctl (daemon-reload|enable|disable)/.test(a))).toEqual([]);
    expect(host.machine.nft.size).toBeGreaterThan(0);
    expect(host.machine.rules.length).toBeGreaterThan(0);
  });

  it('plain up still enables a unit that is not enabled (the repair the supervisor and `up` make)', async () => {
    for (const u of host.machine.units.values()) u.enabled = false;
    const mark = host.calls.length;
    const r = await cli(['up', '--async']);
    expect(r.code, r.stderr).toBe(0);
    expect(host.calls.slice(mark).map((c) => c.argv.join(' ')).filter((a) => /^systemctl enable/.test(a)).length).toBeGreaterThan(0);
  });
});
