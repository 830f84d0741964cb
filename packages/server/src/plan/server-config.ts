// Turns VPS facts, flags and the existing state into the desired ServerConfig (pure: tested without a VPS).
import ipaddr from 'ipaddr.js';
import { ConflictError, NotFoundError, ServerConfig, ValidationError, forwardsOverlap, formatForwardSpec, parseForwardSpec, parseWith, targetsOverlap, type Peer, type PortForward } from '@egress/core';
import type { VpsFacts } from '../remote/facts.js';
import { alignedTunnelMtu, WG_OVERHEAD } from '@egress/core/path-mtu';
import { DEFAULT_SUBNET6, DEFAULT_SUBNETS4, chooseSubnet, hostAt, nextPeerIndex, occupiedPrefixes } from './addresses.js';

/** Provision flags after parsing. */
export interface ProvisionInput {
  /** Host of the SSH target (endpoint fallback behind cloud NAT). */
  targetHost: string;
  sshPort: number;
  name: string;
  subnets: string[];
  listenPort?: number;
  publicInterface?: string;
  dns: string[];
  forwards: string[];
}

/** Whether an address is not reachable from the internet (RFC 1918, CGNAT, link-local, ULA, loopback). */
export function isPrivateAddress(address: string): boolean {
  const range = ipaddr.parse(address).range();
  return ['private', 'carrierGradeNat', 'linkLocal', 'loopback', 'uniqueLocal', 'unspecified'].includes(range);
}

function globalAddress(facts: VpsFacts, iface: string, family: 4 | 6): string | undefined {
  return facts.addresses.find((a) => a.ifname === iface && a.family === family && a.scope === 'global')?.address;
}

/** Parses forward SPECs for one peer and refuses duplicates, the SSH port and the WireGuard port before anything changes. */
export function parseForwards(specs: readonly string[], peer: string, guard: { sshPort: number; listenPort: number }, field = '--forward'): PortForward[] {
  const out: PortForward[] = [];
  for (const spec of specs) {
    const f = parseForwardSpec(spec, peer, field);
    const end = f.publicPortEnd ?? f.publicPort;
    if (f.proto === 'tcp' && f.publicPort <= guard.sshPort && guard.sshPort <= end) {
      throw new ConflictError(`${field}: '${spec}' would forward ${guard.sshPort}/tcp, the SSH port egress-server uses to reach the VPS; nothing was changed`, { hint: 'pick another public port' });
    }
    if (f.proto === 'udp' && f.publicPort <= guard.listenPort && guard.listenPort <= end) {
      throw new ConflictError(`${field}: '${spec}' would forward ${guard.listenPort}/udp, the WireGuard listen port; nothing was changed`, { hint: 'pick another public port or --listen-port' });
    }
    const dup = out.find((o) => forwardsOverlap(o, f));
    if (dup) throw new ConflictError(`${field}: '${spec}' claims a public port already given by '${formatForwardSpec(dup)}'; nothing was changed`);
    out.push(f);
  }
  return out;
}

/** Checks new forwards against other peers' forwards, and LAN forwards against the ports the client already uses for others. */
export function checkForwardClashes(config: Pick<ServerConfig, 'forwards'>, added: readonly PortForward[], field = '--forward', includeSamePeer = false): void {
  for (const f of added) {
    const clash = config.forwards.find((o) => (includeSamePeer || o.peer !== f.peer) && forwardsOverlap(o, f));
    if (clash) throw new ConflictError(`${field}: ${formatForwardSpec(f)} is already forwarded to peer '${clash.peer}' (${formatForwardSpec(clash)}); nothing was changed`);
    const shared = [...config.forwards, ...added].find((o) => o !== f && (o.targetHost || f.targetHost) && targetsOverlap(o, f) && !forwardsOverlap(o, f));
    if (shared) throw new ConflictError(`${field}: ${formatForwardSpec(f)} lands on the same port of peer '${f.peer}' as ${formatForwardSpec(shared)}, and one of them goes to a LAN host; nothing was changed`, { hint: 'give one of them another target port' });
  }
}

/**
 * Refuses LAN targets that would loop: inside the tunnel subnets (the client itself, the VPS, another peer) or one
 * of the VPS's own addresses.
 */
export function checkForwardLoops(forwards: readonly PortForward[], around: { subnets: readonly (string | undefined)[]; vpsAddresses: readonly string[] }, field = '--forward'): void {
  for (const f of forwards) {
    if (!f.targetHost) continue;
    const host = ipaddr.process(f.targetHost);
    const subnet = around.subnets.find((c): c is string => {
      if (!c) return false;
      const [net, len] = ipaddr.parseCIDR(c);
      return net.kind() === host.kind() && host.match(net, len);
    });
    const why = subnet ? `is inside the tunnel subnet ${subnet}` : around.vpsAddresses.includes(f.targetHost) ? 'is an address of the VPS itself' : undefined;
    if (why) throw new ValidationError(`${field}: '${formatForwardSpec(f)}': ${f.targetHost} ${why}, so the forward would loop; expected the LAN address of a host behind the client`, [{ path: field, message: `loop (got '${f.targetHost}')` }]);
  }
}

/** A new peer with the next free addresses of the config's subnets. */
export function allocatePeer(config: Pick<ServerConfig, 'subnet4' | 'subnet6' | 'peers'>, name: string, publicKey: string): Peer {
  if (config.peers.some((p) => p.name === name)) throw new ConflictError(`peer '${name}' already exists`, { hint: 'choose another NAME or remove the peer first' });
  if (config.peers.some((p) => p.publicKey === publicKey)) throw new ConflictError(`--public-key: that key already belongs to peer '${config.peers.find((p) => p.publicKey === publicKey)!.name}'`);
  const n = nextPeerIndex(config);
  return { name, publicKey, address4: hostAt(config.subnet4, n), ...(config.subnet6 ? { address6: hostAt(config.subnet6, n) } : {}) };
}

/** Finds a peer or says which exist. */
export function requirePeer(config: Pick<ServerConfig, 'peers'>, name: string): Peer {
  const peer = config.peers.find((p) => p.name === name);
  if (!peer) throw new NotFoundError(`peer '${name}' does not exist on this server (peers: ${config.peers.map((p) => p.name).join(', ') || 'none'})`, { hint: 'list them with `egress-server peer list HOST`' });
  return peer;
}

/** Splits --subnet values into one v4 and one v6 CIDR. */
export function splitSubnets(subnets: readonly string[]): { v4?: string; v6?: string } {
  const out: { v4?: string; v6?: string } = {};
  for (const s of subnets) {
    let kind: string;
    try {
      kind = ipaddr.parseCIDR(s)[0].kind();
    } catch {
      throw new ValidationError(`--subnet: expected a CIDR like 10.77.0.0/24 or fd7a:77::/64, got '${s}'`, [{ path: '--subnet', message: 'bad CIDR' }]);
    }
    const len = Number(s.split('/')[1]);
    const range = ipaddr.parse(s.split('/')[0]!).range();
    if (['loopback', 'linkLocal', 'unspecified', 'multicast', 'broadcast', 'ipv4Mapped'].includes(range)) {
      throw new ValidationError(`--subnet: '${s}' is a ${range} range, which cannot carry a tunnel; expected a private range (10/8, 172.16/12, 192.168/16, 100.64/10; fd00::/8 for IPv6)`, [{ path: '--subnet', message: range }]);
    }
    if (kind === 'ipv4') {
      if (out.v4) throw new ValidationError(`--subnet: expected at most one IPv4 subnet, got '${out.v4}' and '${s}'`);
      if (len > 29 || len < 8) throw new ValidationError(`--subnet: expected an IPv4 prefix length 8-29, got '${s}'`);
      if (!isPrivateAddress(s.split('/')[0]!)) throw new ValidationError(`--subnet: expected a private IPv4 range (10/8, 172.16/12, 192.168/16, 100.64/10), got '${s}'`);
      out.v4 = s;
    } else {
      if (out.v6) throw new ValidationError(`--subnet: expected at most one IPv6 subnet, got '${out.v6}' and '${s}'`);
      if (len > 120 || len < 48) throw new ValidationError(`--subnet: expected an IPv6 prefix length 48-120, got '${s}'`);
      out.v6 = s;
    }
  }
  return out;
}

/**
 * A new server's tunnel MTU from its public interface: its MTU minus WireGuard's overhead (80 when clients may come
 * over IPv6, else 60), within 1280-9000 and a multiple of 16 (path-mtu.ts says why); 1420 when the MTU is unknown. A provisioned server keeps the MTU it has.
 */
export function serverTunnelMtu(publicMtu: number | undefined, ipv6Endpoint: boolean): number {
  if (!publicMtu) return 1420;
  return alignedTunnelMtu(publicMtu - WG_OVERHEAD[ipv6Endpoint ? 6 : 4]);
}

/** The server config provision converges to, plus whether the named peer must be created. */
export function planServerConfig(
  facts: VpsFacts,
  input: ProvisionInput,
  existing: ServerConfig | undefined,
  keys: { serverPublicKey: string; clientPublicKey: string },
): { config: ServerConfig; peerIsNew: boolean } {
  const iface = existing?.interface ?? 'egress0';
  const publicInterface = input.publicInterface ?? existing?.publicInterface ?? facts.defaultRoute4?.dev ?? facts.defaultRoute6?.dev;
  if (!publicInterface) throw new NotFoundError('the VPS has no default route, so egress cannot tell its public interface', { hint: 'pass --public-interface IF' });
  if (!facts.addresses.some((a) => a.ifname === publicInterface)) throw new NotFoundError(`--public-interface: '${publicInterface}' has no address on the VPS (interfaces: ${[...new Set(facts.addresses.map((a) => a.ifname))].join(', ')})`);
  const requested = splitSubnets(input.subnets);
  const occupied4 = occupiedPrefixes(facts.routes, 4, iface);
  const occupied6 = occupiedPrefixes(facts.routes, 6, iface);
  let subnet4: string;
  let subnet6: string | undefined;
  if (existing) {
    subnet4 = existing.subnet4;
    subnet6 = existing.subnet6;
    if ((requested.v4 && requested.v4 !== existing.subnet4) || (requested.v6 && requested.v6 !== existing.subnet6)) {
      throw new ConflictError(`--subnet: the server already uses ${[existing.subnet4, existing.subnet6].filter(Boolean).join(' and ')}; changing it would renumber every peer; nothing was changed`, {
        hint: 'deprovision first to start over with another subnet',
      });
    }
  } else {
    subnet4 = chooseSubnet(requested.v4, DEFAULT_SUBNETS4, occupied4);
    const wantV6 = requested.v6 !== undefined || (requested.v4 === undefined && !!facts.defaultRoute6 && !!globalAddress(facts, publicInterface, 6));
    subnet6 = wantV6 ? chooseSubnet(requested.v6, [DEFAULT_SUBNET6], occupied6) : undefined;
  }
  const listenPort = input.listenPort ?? existing?.listenPort ?? 51820;
  const publicAddress4 = globalAddress(facts, publicInterface, 4);
  const publicAddress6 = globalAddress(facts, publicInterface, 6);
  const endpointHost = publicAddress4 && !isPrivateAddress(publicAddress4) ? publicAddress4 : input.targetHost;
  const dnsAll = input.dns.length > 0 ? input.dns : existing?.dns.length ? existing.dns : facts.resolvers;
  const dns = dnsAll.filter((a) => a.includes(':') ? !!subnet6 : true);
  const base = {
    version: 1 as const,
    interface: iface,
    listenPort,
    publicInterface,
    endpointHost,
    ...(publicAddress4 && !isPrivateAddress(publicAddress4) ? { publicAddress4 } : {}),
    ...(publicAddress6 && subnet6 && !isPrivateAddress(publicAddress6) ? { publicAddress6 } : {}),
    subnet4,
    ...(subnet6 ? { subnet6 } : {}),
    address4: hostAt(subnet4, 1),
    ...(subnet6 ? { address6: hostAt(subnet6, 1) } : {}),
    publicKey: keys.serverPublicKey,
    mtu: existing?.mtu ?? serverTunnelMtu(facts.linkMtus?.[publicInterface], !!(publicAddress6 && subnet6)),
    dns,
    peers: existing?.peers ?? [],
    forwards: existing?.forwards ?? [],
  };
  let peer = base.peers.find((p) => p.name === input.name);
  const peerIsNew = !peer;
  if (!peer) {
    peer = allocatePeer(base, input.name, keys.clientPublicKey);
    base.peers = [...base.peers, peer];
  }
  const forwards = parseForwards(input.forwards, input.name, { sshPort: input.sshPort, listenPort });
  checkForwardLoops(forwards, { subnets: [base.subnet4, base.subnet6], vpsAddresses: facts.addresses.map((a) => a.address) });
  checkForwardClashes({ forwards: base.forwards.filter((f) => f.peer !== input.name) }, forwards);
  const mine = (list: readonly PortForward[]) => list.filter((f) => f.peer === input.name).map(formatForwardSpec).sort().join(' ');
  if (mine(base.forwards) !== mine(forwards)) base.forwards = [...base.forwards.filter((f) => f.peer !== input.name), ...forwards];
  return { config: parseWith(ServerConfig, base, 'server'), peerIsNew };
}
