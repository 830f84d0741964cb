// Peer-only config changes become `wg set` for those peers (pure diff, then through the engine on FakeHost).
import { describe, expect, it } from 'vitest';
import { ApplyError } from '../errors.js';
import { generateKeyPair } from '../keys.js';
import { FakeHost } from '../testing/index.js';
import { apply } from './apply.js';
import { emptyHostState, type HostState, type Ownership } from './types.js';
import { MAX_PEER_SETS, peerSetChange, splitWgConfig } from './wg-peer-set.js';

const KEYS = Array.from({ length: 4 }, () => generateKeyPair().publicKey);
const CONF = '/etc/wireguard/wg9.conf';
const OWN: Ownership = { nftTables: [], rulePriorities: [], routeTables: [], links: ['wg9'], files: [CONF], journalPath: '/etc/egress/wg9-journal.json', units: [] };

function conf(peers: number[], o: { port?: number; extra?: string } = {}): string {
  return [
    '# Managed',
    '[Interface]',
    'Address = 10.9.0.1/24',
    `ListenPort = ${o.port ?? 51820}`,
    'PostUp = wg set %i private-key /etc/egress/wg9.key',
    ...peers.flatMap((i) => ['', '[Peer]', `# peer${i}`, `PublicKey = ${KEYS[i]}`, `AllowedIPs = 10.9.0.${10 + i}/32`, ...(o.extra ? [o.extra] : [])]),
    '',
  ].join('\n');
}

function state(peers: number[]): HostState {
  return {
    ...emptyHostState(),
    files: [{ path: CONF, content: conf(peers), mode: 0o600 }],
    links: [{ kind: 'wireguard', name: 'wg9', configPath: CONF, addresses: ['10.9.0.1/24'], peers: peers.map((i) => KEYS[i]!), listenPort: 51820 }],
  };
}

describe('peerSetChange', () => {
  it('adds and removes whole peers with wg set, removals first; undo is the inverse', () => {
    const c = peerSetChange('wg9', conf([0, 1]), conf([0, 2]), [KEYS[0]!, KEYS[1]!])!;
    expect(c.do.map((a) => (a.kind === 'run' ? a.argv.join(' ') : a.kind))).toEqual([`wg set wg9 peer ${KEYS[1]} remove`, `wg set wg9 peer ${KEYS[2]} allowed-ips 10.9.0.12/32`]);
    expect(c.undo.map((a) => (a.kind === 'run' ? a.argv.join(' ') : a.kind))).toEqual([`wg set wg9 peer ${KEYS[2]} remove`, `wg set wg9 peer ${KEYS[1]} allowed-ips 10.9.0.11/32`]);
  });

  it('passes a preshared key on stdin, marked secret, never on argv', () => {
    const psk = Buffer.alloc(32, 7).toString('base64');
    const c = peerSetChange('wg9', conf([0], { extra: `PresharedKey = ${psk}` }), conf([0, 1], { extra: `PresharedKey = ${psk}` }), [KEYS[0]!])!;
    const add = c.do[0]!;
    expect(add).toMatchObject({ kind: 'run', stdin: `${psk}\n`, secret: true });
    expect(add.kind === 'run' && add.argv.join(' ')).not.toContain(psk);
  });

  it.each([
    ['the [Interface] changed', conf([0], { port: 1 }), conf([0, 1]), [0]],
    ['a kept peer changed', conf([0]), conf([0, 1]).replace('10.9.0.10/32', '10.9.0.99/32'), [0]],
    ['live peers drifted from the old config', conf([0]), conf([0, 1]), [0, 3]],
    ['a key wg set is not given here', conf([0]), conf([0, 1], { extra: 'Foo = bar' }), [0]],
    ['two peers share an allowed prefix', conf([0]), conf([0, 1]).replace('10.9.0.11/32', '10.9.0.10/32'), [0]],
    ['nothing was added or removed', conf([0]), conf([0]).replace('# peer0', '# renamed'), [0]],
  ] as const)('leaves the whole-config sync when %s', (_why, before, after, live) => {
    expect(peerSetChange('wg9', before, after, live.map((i) => KEYS[i]!))).toBeUndefined();
  });

  it(`leaves a bulk change (more than ${MAX_PEER_SETS} peers) to one whole-config sync`, () => {
    const many = Array.from({ length: MAX_PEER_SETS + 1 }, () => generateKeyPair().publicKey);
    const text = (keys: string[]) => `[Interface]\nListenPort = 1\n${keys.map((k, i) => `[Peer]\nPublicKey = ${k}\nAllowedIPs = 10.8.${i}.1/32\n`).join('')}`;
    expect(peerSetChange('wg9', text([]), text(many.slice(0, MAX_PEER_SETS)), [])!.do).toHaveLength(MAX_PEER_SETS);
    expect(peerSetChange('wg9', text([]), text(many), [])).toBeUndefined();
  });

  it('normalizes spacing and comments of the [Interface] section', () => {
    expect(splitWgConfig('[Interface]\nListenPort=1 # x\n')!.iface).toBe(splitWgConfig('[Interface]\n  ListenPort = 1\n')!.iface);
  });
});

describe('engine: a peer-only change is wg set (FakeHost)', () => {
  it('adds then removes one peer without syncconf or restart; the other peers stay as they were', async () => {
    const host = new FakeHost();
    await apply(host, state([0, 1]), OWN);
    host.calls.length = 0;
    const added = await apply(host, state([0, 1, 2]), OWN);
    expect(added.steps.map((s) => s.title)).toEqual([expect.stringMatching(/^update \/etc\/wireguard\/wg9.conf/), 'update peers of wg9 (wg set: +1 peer)']);
    expect(host.changes().filter((l) => l.startsWith('wg'))).toEqual([`wg set wg9 peer ${KEYS[2]} allowed-ips 10.9.0.12/32`]);
    expect(host.dump()).toContain(`peers ${KEYS[0]}[10.9.0.10/32] ${KEYS[1]}[10.9.0.11/32] ${KEYS[2]}[10.9.0.12/32]`);
    expect((await apply(host, state([0, 1, 2]), OWN)).changed).toBe(0);

    host.calls.length = 0;
    const removed = await apply(host, state([0, 2]), OWN);
    expect(removed.steps.map((s) => s.title)).toEqual([expect.stringMatching(/^update /), 'update peers of wg9 (wg set: -1 peer)']);
    expect(host.changes().filter((l) => l.startsWith('wg'))).toEqual([`wg set wg9 peer ${KEYS[1]} remove`]);
    expect(host.dump()).toContain(`peers ${KEYS[0]}[10.9.0.10/32] ${KEYS[2]}[10.9.0.12/32]`);
  });

  it('restores the config file and the peer set exactly when the wg set fails', async () => {
    const host = new FakeHost();
    await apply(host, state([0, 1]), OWN);
    const before = host.dump();
    host.failOn(`wg set wg9 peer ${KEYS[2]}`, { changesOnly: true });
    const err = await apply(host, state([0, 1, 2]), OWN).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplyError);
    expect((err as ApplyError).message).toMatch(/previous state was restored/);
    expect(host.dump()).toBe(before);
  });
});
