// N plain wg-quick servers in the lab's vps host, each masquerading to its own public address (198.51.100.11…), standing in
// for N VPSes; each gets a client config in the client host (/root/vpsI.conf) that `egress-client enroll` takes.
import { generateKeyPair } from '@egress/core';
import type { Lab } from './lab.js';

/** One stand-in VPS: its public address (what whoami sees), tunnel subnet, port, egress user and client config path. */
export interface WgServer {
  i: number;
  /** The name to enroll it under (`--name`) and its wg-quick interface in the vps host. */
  name: string;
  public: string;
  subnet: string;
  port: number;
  user: string;
  clientConf: string;
}

/** The most servers the address plan holds (198.51.100.11-40, 10.90-119.0.0/24). */
export const MAX_WG_SERVERS = 30;

/** Starts `n` wg-quick servers in the vps host (private keys only in 0600 files) and writes their client configs. */
export async function startWgServers(lab: Lab, n: number): Promise<WgServer[]> {
  if (!Number.isInteger(n) || n < 1 || n > MAX_WG_SERVERS) throw new RangeError(`startWgServers: n must be an integer 1-${MAX_WG_SERVERS}, got ${n}`);
  const vps = async (script: string, stdin?: string) => {
    const r = await lab.exec('vps', ['sh', '-c', script], { timeoutMs: 60_000, ...(stdin ? { stdin } : {}) });
    if (r.exitCode !== 0) throw new Error(`lab ${lab.name}: vps: ${script}: exit ${r.exitCode}: ${r.stderr.trim()}`);
  };
  await vps('sysctl -q -w net.ipv4.ip_forward=1');
  const servers: WgServer[] = [];
  const nat: string[] = [];
  for (let i = 0; i < n; i++) {
    const s: WgServer = { i, name: `vps${i}`, public: `198.51.100.${11 + i}`, subnet: `10.${90 + i}.0`, port: 51821 + i, user: `eg${i + 1}`, clientConf: `/root/vps${i}.conf` };
    const server = generateKeyPair();
    const client = generateKeyPair();
    const conf = ['[Interface]', `Address = ${s.subnet}.1/24`, `ListenPort = ${s.port}`, `PrivateKey = ${server.privateKey}`, '', '[Peer]', `PublicKey = ${client.publicKey}`, `AllowedIPs = ${s.subnet}.2/32`, ''].join('\n');
    await lab.writeFile('vps', `/etc/wireguard/${s.name}.conf`, conf, '0600');
    await vps(`ip address add ${s.public}/32 dev eth0 && wg-quick up ${s.name} 2>&1`);
    nat.push(`    oifname "eth0" ip saddr ${s.subnet}.0/24 snat ip to ${s.public}`);
    const clientConf = ['[Interface]', `PrivateKey = ${client.privateKey}`, `Address = ${s.subnet}.2/32`, '', '[Peer]', `PublicKey = ${server.publicKey}`, `Endpoint = ${lab.addr.vpsV4}:${s.port}`, 'AllowedIPs = 0.0.0.0/0', 'PersistentKeepalive = 25', ''].join('\n');
    await lab.writeFile('client', s.clientConf, clientConf, '0600');
    servers.push(s);
  }
  await vps('nft -f -', `table ip eight {\n  chain post {\n    type nat hook postrouting priority 100;\n${nat.join('\n')}\n  }\n}\n`);
  return servers;
}

/** `egress-client enroll` argv (after egressClientArgv) for a server: its own user, created, named after the server. */
export function enrollArgs(s: WgServer): string[] {
  return ['enroll', s.clientConf, '--user', s.user, '--create-user', '--name', s.name];
}
