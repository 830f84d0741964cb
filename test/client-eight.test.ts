// Eight egresses on one client at once, each to its own WireGuard server: eight plain wg-quick servers in the lab's
// vps host, each masquerading to its own public address (198.51.100.11-18), stand in for eight VPSes. Each egress's
// user is seen by whoami with its own server's address, all at the same time; otheruser keeps the normal route.
import { generateKeyPair } from '@egress/core';
import { startLab, type Lab } from '@egress/lab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client } from './client-helpers.js';

const N = 8;
let lab: Lab;
const servers = Array.from({ length: N }, (_, i) => ({
  i,
  public: `198.51.100.${11 + i}`,
  subnet: `10.${90 + i}.0`,
  port: 51821 + i,
  user: `eg${i + 1}`,
  server: generateKeyPair(),
  client: generateKeyPair(),
}));

async function vps(script: string, stdin?: string): Promise<void> {
  const r = await lab.exec('vps', ['sh', '-c', script], { timeoutMs: 60_000, ...(stdin ? { stdin } : {}) });
  expect(r.exitCode, `${script}\n${r.stderr}`).toBe(0);
}

beforeAll(async () => {
  lab = await startLab({ name: 'client-eight' });
  await vps('sysctl -q -w net.ipv4.ip_forward=1');
  const nat: string[] = [];
  for (const s of servers) {
    const conf = ['[Interface]', `Address = ${s.subnet}.1/24`, `ListenPort = ${s.port}`, `PrivateKey = ${s.server.privateKey}`, '', '[Peer]', `PublicKey = ${s.client.publicKey}`, `AllowedIPs = ${s.subnet}.2/32`, ''].join('\n');
    await lab.writeFile('vps', `/etc/wireguard/vps${s.i}.conf`, conf, '0600');
    await vps(`ip address add ${s.public}/32 dev eth0 && wg-quick up vps${s.i} 2>&1`);
    nat.push(`    oifname "eth0" ip saddr ${s.subnet}.0/24 snat ip to ${s.public}`);
    const clientConf = ['[Interface]', `PrivateKey = ${s.client.privateKey}`, `Address = ${s.subnet}.2/32`, '', '[Peer]', `PublicKey = ${s.server.publicKey}`, `Endpoint = ${lab.addr.vpsV4}:${s.port}`, 'AllowedIPs = 0.0.0.0/0', 'PersistentKeepalive = 25', ''].join('\n');
    await lab.writeFile('client', `/root/vps${s.i}.conf`, clientConf, '0600');
  }
  await vps('nft -f -', `table ip eight {\n  chain post {\n    type nat hook postrouting priority 100;\n${nat.join('\n')}\n  }\n}\n`);
  for (const s of servers) {
    const r = await client(lab, ['enroll', `/root/vps${s.i}.conf`, '--user', s.user, '--create-user', '--name', `vps${s.i}`], { timeoutMs: 120_000 });
    expect(r.exitCode, r.stderr).toBe(0);
  }
}, 600_000);

afterAll(async () => {
  // The egress cgroups live in the machine's cgroup2 hierarchy (under this lab's parent): uninstall removes them.
  if (lab) await client(lab, ['uninstall']).catch(() => undefined);
  await lab?.down();
});

describe('eight egresses on one client', () => {
  it('each user is seen with its own server address, all probed at once, UDP too; otheruser keeps the uplink', async () => {
    const seen = await Promise.all(servers.map((s) => lab.probe('client', { user: s.user })));
    expect(seen).toEqual(servers.map((s) => s.public));
    const udp = await Promise.all(servers.map((s) => lab.probe('client', { user: s.user, udp: true })));
    expect(udp).toEqual(servers.map((s) => s.public));
    expect(await lab.probe('client', { user: 'otheruser' })).toBe(lab.addr.clientV4);
  });

  it('status lists all eight up, each with a handshake on its own interface', async () => {
    const status = JSON.parse((await client(lab, ['status', '--json'])).stdout) as { egresses: Array<{ name: string; up: boolean; interface: string; latestHandshake: number }> };
    expect(status.egresses.map((e) => e.name).sort()).toEqual(servers.map((s) => `vps${s.i}`).sort());
    expect(status.egresses.every((e) => e.up && e.latestHandshake > 0)).toBe(true);
    expect(new Set(status.egresses.map((e) => e.interface)).size).toBe(N);
  });
});
