// A link with a systemd unit (the VPS's wg-quick@IF.service) is started, restarted and stopped through that unit
// where systemd runs, so the unit's state is true afterwards; without systemd, plain wg-quick as before.
import { describe, expect, it } from 'vitest';
import { FakeHost, defaultMachine } from '../testing/index.js';
import { publicKeyOf } from '../keys.js';
import { apply, formatPlan, teardown } from './apply.js';
import type { HostState, Ownership } from './types.js';

const KEY = 'EP48duQvr+OjtmttqIGUlM67+vX88XozXFWRPO6JVHw=';
const PEER = publicKeyOf('iJnluhsUP6OwTey5qowWZOPItbPh3l/9gleTWtQUBnI=');
const UNIT = 'wg-quick@egress0.service';
const OWN: Ownership = { nftTables: [], rulePriorities: [], routeTables: [], links: ['egress0'], files: ['/etc/wireguard/egress0.conf', '/etc/egress/egress0.key'], journalPath: '/etc/egress/engine.json', units: [UNIT] };

function state(address: string): HostState {
  return {
    files: [
      { path: '/etc/egress/egress0.key', content: `${KEY}\n`, mode: 0o600, secret: true },
      { path: '/etc/wireguard/egress0.conf', content: `[Interface]\nAddress = ${address}\nListenPort = 51820\nPostUp = wg set %i private-key /etc/egress/egress0.key\n\n[Peer]\nPublicKey = ${PEER}\nAllowedIPs = 10.77.0.2/32\n`, mode: 0o600 },
    ],
    nft: [], sysctls: [], rules: [], routes: [],
    links: [{ kind: 'wireguard', name: 'egress0', configPath: '/etc/wireguard/egress0.conf', addresses: [address], peers: [PEER], listenPort: 51820, unit: UNIT }],
    units: [{ name: UNIT, enable: true }],
  };
}

function host(systemd: boolean): FakeHost {
  const m = defaultMachine({ systemd });
  for (const d of ['/etc/wireguard', '/etc/egress', '/etc/systemd/system']) m.dirs.add(d);
  return new FakeHost({ machine: m });
}

describe('links with a systemd unit', () => {
  it('start, restart and stop through systemctl where systemd runs: the unit is active exactly while the link is up', async () => {
    const h = host(true);
    const plan = formatPlan((await apply(h, state('10.77.0.1/24'), OWN, { dryRun: true })).steps);
    expect(plan).toContain(`bring up egress0 (systemctl start ${UNIT})`);
    expect(plan).not.toContain('wg-quick up');
    await apply(h, state('10.77.0.1/24'), OWN);
    expect(h.machine.links.has('egress0')).toBe(true);
    expect(h.machine.units.get(UNIT)).toMatchObject({ active: true, enabled: true });
    await apply(h, state('10.77.1.1/24'), OWN); // address change: a restart, through the unit
    expect(h.machine.units.get(UNIT)).toMatchObject({ active: true });
    await teardown(h, OWN);
    expect(h.machine.links.has('egress0')).toBe(false);
    expect(h.machine.units.get(UNIT)?.active ?? false).toBe(false);
  });

  it('uses wg-quick where systemd does not run', async () => {
    const h = host(false);
    const plan = formatPlan((await apply(h, state('10.77.0.1/24'), OWN, { dryRun: true })).steps);
    expect(plan).toContain('bring up egress0 (wg-quick up /etc/wireguard/egress0.conf)');
    await apply(h, state('10.77.0.1/24'), OWN);
    expect(h.machine.links.has('egress0')).toBe(true);
  });
});
