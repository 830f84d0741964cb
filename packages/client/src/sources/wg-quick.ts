// Source `wg-quick`: a standard WireGuard config from any server (a VPN provider, a router, wg-easy) → an egress of
// kind wireguard, its private key (and PresharedKey) copied to 0600 files. The file's shell hooks are never run.
import { basename } from 'node:path';
import ipaddr from 'ipaddr.js';
import { ConflictError, ValidationError } from '@egress/core/errors';
import { publicKeyOf } from '@egress/core/keys';
import type { Egress } from '@egress/core/model/client';
import { SafeName } from '@egress/core/model/primitives';
import { parseWgQuick, type WgQuickConfig } from '@egress/core/model/wg-quick';
import { clientKeyPath, clientPskPath } from '@egress/core/render/client-paths';
import { selectorsFor } from '../enroll/selectors-for.js';
import { allocatedFields } from '../enroll/egress-from-bundle.js';
import type { EnrollSource } from '../enroll/pipeline.js';
import type { FactField } from '../enroll/semantic-checks.js';
import { defaultEgressName } from '../uplink/egress-from-uplink.js';

type WireguardEgress = Extract<Egress, { kind: 'wireguard' }>;

/** Network form of an address/prefix ("10.66.0.2/24" → "10.66.0.0/24"). */
function networkOf(address: string, prefix: number): string {
  const cidr = `${address}/${prefix}`;
  return `${(address.includes(':') ? ipaddr.IPv6.networkAddressFromCIDR(cidr) : ipaddr.IPv4.networkAddressFromCIDR(cidr)).toString()}/${prefix}`;
}

/** True when `address` lies in `cidr`. */
function inCidr(address: string, cidr: string): boolean {
  const a = ipaddr.parse(address);
  const [net, len] = ipaddr.parseCIDR(cidr);
  return a.kind() === net.kind() && a.match(net as never, len);
}

/** The egress a parsed wg-quick file describes, or a refusal naming the line and key (pure). */
export async function wgQuickSource(path: string, text: string, o: { name?: string; dns?: string; user: string; outsideDirect?: boolean }): Promise<EnrollSource> {
  const file = basename(path);
  const cfg: WgQuickConfig = parseWgQuick(text, file);
  const at = (line: number, key: string) => `${file} line ${line}: ${key}`;
  const refuse = (line: number, key: string, msg: string, hint?: string): never => {
    throw new ValidationError(`${at(line, key)}: ${msg}`, [{ path: at(line, key), message: msg }], hint ? { hint } : {});
  };
  if (cfg.hooks.length) {
    const h = cfg.hooks[0]!;
    refuse(h.line, h.value, `shell hooks (${[...new Set(cfg.hooks.map((x) => `${x.value} at line ${x.line}`))].join(', ')}) would run commands as root; egress never runs them, so it refuses the file`, `remove the ${[...new Set(cfg.hooks.map((x) => x.value))].join('/')} lines from a copy of ${file} and enroll the copy`);
  }
  if (cfg.peers.length === 0) refuse(cfg.privateKey.line, '[Peer]', 'expected one [Peer] section (the server), got none');
  if (cfg.peers.length > 1) refuse(cfg.peers[1]!.line, '[Peer]', `expected one [Peer] section (an egress goes to one server), got ${cfg.peers.length}`, 'keep the one server you want in a copy of the file');
  const peer = cfg.peers[0]!;
  if (!peer.endpoint) refuse(peer.line, 'Endpoint', 'expected an Endpoint host:port in [Peer] (where the server is), got none');
  if (!peer.allowedIps.value.length) refuse(peer.line, 'AllowedIPs', 'expected AllowedIPs in [Peer] (what the tunnel carries, e.g. 0.0.0.0/0, ::/0), got none');
  const v4 = cfg.addresses.filter((a) => a.value.family === 4);
  const v6 = cfg.addresses.filter((a) => a.value.family === 6);
  if (!v4.length) refuse(cfg.privateKey.line, 'Address', 'expected an IPv4 Address in [Interface] (egress needs an IPv4 tunnel address), got none');
  if (v4.length > 1) refuse(v4[1]!.line, 'Address', `expected one IPv4 Address, got ${v4.length} (${v4.map((a) => a.value.address).join(', ')})`);
  if (v6.length > 1) refuse(v6[1]!.line, 'Address', `expected at most one IPv6 Address, got ${v6.length} (${v6.map((a) => a.value.address).join(', ')})`);
  const a4 = v4[0]!;
  const a6 = v6[0];
  const allowed = peer.allowedIps.value;
  // IPv6 goes through only when both the address and AllowedIPs have it; otherwise it is refused, never direct.
  const carries6 = !!a6 && allowed.some((c) => c.includes(':'));
  const everything = allowed.includes('0.0.0.0/0') && (!carries6 || allowed.includes('::/0'));
  const allowedIps = everything ? undefined : [...allowed];
  const publicKey = publicKeyOf(cfg.privateKey.value);
  const dnsServers = cfg.dns.flatMap((d) => d.value);
  const dnsLine = (i: number): number => {
    let k = i;
    for (const d of cfg.dns) {
      if (k < d.value.length) return d.line;
      k -= d.value.length;
    }
    return cfg.dns[0]?.line ?? 0;
  };
  const subnet4 = networkOf(a4.value.address, a4.value.prefix);
  const subnet6 = a6 ? networkOf(a6.value.address, a6.value.prefix) : undefined;
  const dnsFlag = o.dns !== undefined;
  // A resolver of a family the egress does not carry could not be reached through it: keep those it can reach.
  const dns = (dnsFlag ? [o.dns!] : dnsServers).filter((d) => (d.includes(':') ? carries6 : true));
  const name = o.name ?? defaultEgressName(file.replace(/\.conf$/i, ''));
  if (!SafeName.safeParse(name).success) throw new ValidationError(`--name: the file name gives '${name}', which is not an egress name (1-32 lowercase letters, digits, '_' or '-')`, [{ path: '--name', message: 'bad name' }], { hint: `egress-client enroll ${path} --user ${o.user} --name vpn` });
  const lines: Record<FactField, number> = {
    address4: a4.line,
    address6: a6?.line ?? a4.line,
    subnet4: a4.line,
    subnet6: a6?.line ?? a4.line,
    serverAddress4: peer.line,
    serverAddress6: peer.line,
    endpoint: peer.endpoint!.line,
    dns: cfg.dns[0]?.line ?? 0,
    serverPublicKey: peer.publicKey.line,
    clientPublicKey: cfg.privateKey.line,
  };
  const keyName: Record<FactField, string> = { address4: 'Address', address6: 'Address', subnet4: 'Address', subnet6: 'Address', serverAddress4: 'Endpoint', serverAddress6: 'Endpoint', endpoint: 'Endpoint', dns: 'DNS', serverPublicKey: 'PublicKey', clientPublicKey: 'PrivateKey' };
  const notes: string[] = [];
  if (cfg.ignored.length) notes.push(`${file}: ${cfg.ignored.map((x) => `${x.value} (line ${x.line})`).join(', ')} ignored: egress decides routing tables and marks itself`);
  if (cfg.listenPort) notes.push(`${file}: ListenPort (line ${cfg.listenPort.line}) ignored: the client picks its own port`);
  if (cfg.searchDomains.length) notes.push(`${file}: DNS search domains ${cfg.searchDomains.join(', ')} ignored (only resolver addresses are used)`);
  if (a6 && !carries6) notes.push(`${file}: IPv6 refused for the selected apps: AllowedIPs carry no IPv6 network`);
  if (!a6 && allowed.some((c) => c.includes(':'))) notes.push(`${file}: IPv6 refused for the selected apps: no IPv6 Address in [Interface]`);
  if (o.outsideDirect && !allowedIps) refuse(peer.allowedIps.line, 'AllowedIPs', `--outside-allowed direct: AllowedIPs = ${allowed.join(', ')} cover every destination; nothing is outside them`);
  if (allowedIps) notes.push(`${file}: the tunnel carries only ${allowed.join(', ')}; the selected apps' traffic to other destinations ${o.outsideDirect ? 'takes the normal route (--outside-allowed direct)' : 'is refused'}`);
  const outside = allowedIps && !o.outsideDirect ? dns.filter((d) => !allowed.some((c) => inCidr(d, c))) : [];
  if (outside.length) notes.push(`${file}: DNS server ${outside.join(', ')} is outside AllowedIPs: the selected apps' DNS to it is refused (pass --dns with a resolver inside them)`);
  const secrets = [{ path: clientKeyPath(name), text: `${cfg.privateKey.value}\n` }];
  if (peer.presharedKey) secrets.push({ path: clientPskPath(name), text: `${peer.presharedKey.value}\n` });

  return {
    name,
    kind: 'wireguard',
    conflicts(before, existing) {
      const other = before.egresses.find((e) => e.kind === 'wireguard' && e.wireguard.publicKey === publicKey && e.name !== name);
      if (!existing && other) throw new ConflictError(`${at(cfg.privateKey.line, 'PrivateKey')}: this key is already enrolled as egress '${other.name}'`, { hint: `egress-client enroll ${path} --user ${o.user} --name ${other.name}` });
    },
    build: (c): WireguardEgress => ({
      ...allocatedFields(c.name, c.allocation),
      kind: 'wireguard',
      address4: a4.value.address,
      ...(carries6 ? { address6: a6!.value.address } : {}),
      dns,
      selectors: selectorsFor(c),
      wireguard: {
        endpoint: peer.endpoint!.value,
        serverPublicKey: peer.publicKey.value,
        publicKey,
        mtu: cfg.mtu?.value ?? 1420,
        persistentKeepalive: peer.persistentKeepalive?.value ?? 0,
        subnet4,
        ...(carries6 && subnet6 ? { subnet6 } : {}),
        forwards: [],
        ...(allowedIps ? { allowedIps } : {}),
        ...(allowedIps && o.outsideDirect ? { outsideAllowed: 'direct' as const } : {}),
        ...(peer.presharedKey ? { presharedKey: true } : {}),
      },
    }),
    facts: {
      address4: a4.value.address,
      ...(a6 ? { address6: a6.value.address } : {}),
      subnet4,
      ...(subnet6 ? { subnet6 } : {}),
      endpoint: peer.endpoint!.value,
      dns: dnsFlag ? [o.dns!] : dnsServers,
      serverPublicKey: peer.publicKey.value,
      clientPublicKey: publicKey,
    },
    field: (f, i) => (f === 'dns' && dnsFlag ? '--dns' : at(f === 'dns' && i !== undefined ? dnsLine(i) : lines[f], keyName[f])),
    secrets,
    reloadSecrets: (e) => [
      ['wg', 'set', e.interface, 'private-key', clientKeyPath(name)],
      ...(peer.presharedKey ? [['wg', 'set', e.interface, 'peer', peer.publicKey.value, 'preshared-key', clientPskPath(name)]] : []),
    ],
    describe: notes.map((n) => `  ${n}`),
    document: { source: { kind: 'wg-quick', file: path } },
    unchanged: (user) => `egress ${name} is already enrolled for ${user} from ${file}: nothing changed`,
    applying: (e) => `Bringing egress ${name} up on ${e.interface} (from ${file}; its shell hooks are never run)`,
    warnings: (e, user) => (e.dns.length ? [] : [`${file} names no DNS server and --dns was not given: ${user}'s DNS to local resolvers will be refused`]),
  };
}
