// Bundle loading: missing, malformed, wrong version, tampered key, no key; and the egress built from a good one.
import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '@egress/core/keys';
import { FakeHost } from '@egress/core/testing';
import { Bundle } from '@egress/core/model/bundle';
import { egressFromBundle } from './egress-from-bundle.js';
import { loadBundle } from './bundle.js';

const server = generateKeyPair();
const me = generateKeyPair();
const good = {
  version: 1,
  kind: 'egress-bundle',
  name: 'laptop',
  server: { endpoint: '198.51.100.2:51820', publicKey: server.publicKey, address4: '10.77.0.1', address6: 'fd7a:77::1', publicAddress4: '198.51.100.2' },
  client: { address4: '10.77.0.2', address6: 'fd7a:77::2', publicKey: me.publicKey, privateKey: me.privateKey },
  tunnel: { subnet4: '10.77.0.0/24', subnet6: 'fd7a:77::/64', mtu: 1420 },
  dns: ['203.0.113.53'],
  forwards: [{ proto: 'tcp', publicPort: 8080, peer: 'laptop', targetPort: 80 }, { proto: 'udp', publicPort: 9000, peer: 'desktop', targetPort: 9000 }],
};

async function hostWith(files: Record<string, string>): Promise<FakeHost> {
  const h = new FakeHost();
  for (const [p, c] of Object.entries(files)) await h.writeFile(p, c, { mode: 0o600 });
  return h;
}

describe('loadBundle', () => {
  it('loads a good bundle and names the egress after the peer unless --name is given', async () => {
    const h = await hostWith({ '/b.json': JSON.stringify(good) });
    expect(await loadBundle(h, '/b.json')).toMatchObject({ path: '/b.json', name: 'laptop', privateKey: me.privateKey });
    expect((await loadBundle(h, '/b.json', 'work')).name).toBe('work');
  });

  it('refuses missing, malformed, other-version and tampered bundles, never echoing the key', async () => {
    const h = await hostWith({
      '/bad.json': '{',
      '/v2.json': JSON.stringify({ ...good, version: 2 }),
      '/t.json': JSON.stringify({ ...good, client: { ...good.client, publicKey: server.publicKey } }),
      '/badkey.json': JSON.stringify({ ...good, client: { ...good.client, privateKey: 'not-a-key' } }),
    });
    await expect(loadBundle(h, '/nope.json')).rejects.toThrow("bundle: no such file '/nope.json'");
    await expect(loadBundle(h, '/bad.json')).rejects.toThrow(/^bundle: expected a JSON document/);
    await expect(loadBundle(h, '/v2.json')).rejects.toThrow('bundle.version: expected version 1 (this egress reads bundle version 1), got 2');
    await expect(loadBundle(h, '/t.json')).rejects.toThrow(`bundle.client.privateKey: does not belong to bundle.client.publicKey ${server.publicKey}`);
    const err = await loadBundle(h, '/badkey.json').catch((e: Error) => e);
    expect((err as Error).message).toContain('bundle.client.privateKey');
    expect((err as Error).message).toContain('(secret, not shown)');
  });

  it('uses an existing key file when the bundle carries no private key', async () => {
    const { privateKey: _drop, ...client } = good.client;
    const h = await hostWith({ '/b.json': JSON.stringify({ ...good, client }) });
    await expect(loadBundle(h, '/b.json')).rejects.toThrow('bundle.client.privateKey: the bundle has no private key and /etc/egress/laptop.key does not exist');
    await h.writeFile('/etc/egress/laptop.key', `${me.privateKey}\n`, { mode: 0o600 });
    expect((await loadBundle(h, '/b.json')).privateKey).toBe(me.privateKey);
  });
});

describe('egressFromBundle', () => {
  it('builds the wireguard egress with the allocation, users, cgroup, DNS override and only this peer’s forwards', () => {
    const e = egressFromBundle(Bundle.parse(good), {
      name: 'laptop',
      allocation: { interface: 'egress1', mark: 0x02000000, markMask: 0x02000000, table: 7101, priority: 7110 },
      users: [{ name: 'appuser', uid: 1001 }],
      dns: ['192.0.2.53'],
      cgroup2: true,
    });
    expect(e).toEqual({
      name: 'laptop',
      kind: 'wireguard',
      interface: 'egress1',
      mark: 0x02000000,
      markMask: 0x02000000,
      table: 7101,
      priority: 7110,
      address4: '10.77.0.2',
      address6: 'fd7a:77::2',
      dns: ['192.0.2.53'],
      selectors: { users: [{ name: 'appuser', uid: 1001 }], cgroups: ['egress/laptop'], shimSource: true, units: [], interfaces: [], sources: [] },
      wireguard: {
        endpoint: '198.51.100.2:51820',
        serverPublicKey: server.publicKey,
        publicKey: me.publicKey,
        mtu: 1420,
        persistentKeepalive: 25,
        serverAddress4: '10.77.0.1',
        serverAddress6: 'fd7a:77::1',
        subnet4: '10.77.0.0/24',
        subnet6: 'fd7a:77::/64',
        publicAddress4: '198.51.100.2',
        forwards: [{ proto: 'tcp', publicPort: 8080, peer: 'laptop', targetPort: 80 }],
      },
    });
  });
});
