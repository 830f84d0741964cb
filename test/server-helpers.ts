// Helpers for egress-server end-to-end tests: run the built CLI in the client host, snapshot the VPS, bring a client up by hand.
import type { Lab } from '@egress/lab';

/** Runs `egress-server ARGS` inside the client host with cwd /root of that host (so bundles land in its private /root). */
export async function server(lab: Lab, args: string[], opts: { timeoutMs?: number } = {}) {
  return lab.exec('client', ['sh', '-c', 'cd /root && exec "$@"', 'sh', ...lab.egressServerArgv, ...args], { timeoutMs: opts.timeoutMs ?? 120_000 });
}

/** Runs provision with --json and returns the parsed document (throws with stderr on failure). */
export async function provisionJson(lab: Lab, args: string[]): Promise<Record<string, unknown>> {
  const r = await server(lab, ['provision', lab.ssh.target, '--json', ...args]);
  if (r.exitCode !== 0) throw new Error(`provision failed (${r.exitCode}):\n${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/** Runs a shell script in a lab host and returns stdout; fails on a nonzero exit. */
export async function sh(lab: Lab, host: 'internet' | 'vps' | 'client', script: string, timeoutMs = 30_000): Promise<string> {
  const r = await lab.exec(host, ['sh', '-c', script], { timeoutMs });
  if (r.exitCode !== 0) throw new Error(`${host}: ${script}\nexit ${r.exitCode}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** What deprovision must leave exactly as it found: ruleset, rules, routes, /etc listing, forwarding sysctls, links, iptables. */
export async function vpsSnapshot(lab: Lab): Promise<Record<string, string>> {
  const parts: Record<string, string> = {
    nft: 'nft list ruleset',
    rules: 'ip rule; ip -6 rule',
    routes: 'ip route show table all; ip -6 route show table all',
    etc: 'find /etc | sort',
    // Every net.* sysctl except the live count of conntrack entries (the SSH session itself makes some).
    sysctls: "sysctl -a 2>/dev/null | grep '^net\\.' | grep -v '^net\\.netfilter\\.nf_conntrack_count ' | sort",
    links: 'ip -o link show | cut -d: -f2',
    iptables: 'iptables -S; ip6tables -S',
  };
  const out: Record<string, string> = {};
  for (const [k, script] of Object.entries(parts)) out[k] = await sh(lab, 'vps', script);
  return out;
}

/** Brings the client side up by hand from the bundle: wg-quick (key from a 0600 file), routes to whoami and replies via the tunnel. */
export async function clientUp(lab: Lab, bundlePath: string): Promise<void> {
  const bundle = JSON.parse(await sh(lab, 'client', `cat ${bundlePath}`)) as {
    server: { endpoint: string; publicKey: string };
    client: { address4: string; address6?: string; privateKey: string };
    tunnel: { mtu: number };
  };
  const addrs = [`${bundle.client.address4}/32`, ...(bundle.client.address6 ? [`${bundle.client.address6}/128`] : [])].join(', ');
  const conf = `[Interface]\nAddress = ${addrs}\nMTU = ${bundle.tunnel.mtu}\nTable = off\nPostUp = wg set %i private-key /etc/wireguard/egress0.key\n\n[Peer]\nPublicKey = ${bundle.server.publicKey}\nEndpoint = ${bundle.server.endpoint}\nAllowedIPs = 0.0.0.0/0, ::/0\nPersistentKeepalive = 25\n`;
  await lab.exec('client', ['sh', '-c', 'umask 077; mkdir -p /etc/wireguard; cat > /etc/wireguard/egress0.key'], { stdin: `${bundle.client.privateKey}\n`, check: true });
  await lab.exec('client', ['sh', '-c', 'umask 077; cat > /etc/wireguard/egress0.conf && wg-quick up egress0'], { stdin: conf, check: true });
  await sh(
    lab,
    'client',
    [
      `ip route add ${lab.addr.whoamiV4}/32 dev egress0`,
      `ip -6 route add ${lab.addr.whoamiV6}/128 dev egress0`,
      `ip rule add from ${bundle.client.address4} lookup 200 priority 100`,
      'ip route add default dev egress0 table 200',
      ...(bundle.client.address6 ? [`ip -6 rule add from ${bundle.client.address6} lookup 200 priority 100`, 'ip -6 route add default dev egress0 table 200'] : []),
    ].join(' && '),
  );
}

/** Undoes clientUp (a re-provisioned server has new keys, so the client needs the new bundle). */
export async function clientDown(lab: Lab): Promise<void> {
  await sh(lab, 'client', 'wg-quick down egress0 && ip rule del priority 100 && (ip -6 rule del priority 100 || true)');
}

/** Probes whoami from the client, retrying while the first handshake happens. */
export async function probeWithRetry(lab: Lab, v6 = false): Promise<string> {
  let last = '';
  for (let i = 0; i < 5; i++) {
    try {
      last = await lab.probe('client', { v6 });
      if (last) return last;
    } catch (err) {
      last = String(err);
    }
  }
  return last;
}

/** Connects from the internet host to a VPS port and returns what the service said ('' when refused). */
export async function reach(lab: Lab, proto: 'tcp' | 'udp', port: number, v6 = false): Promise<string> {
  const addr = v6 ? `[${lab.addr.vpsV6}]` : lab.addr.vpsV4;
  const target = `${proto === 'tcp' ? 'TCP' : 'UDP'}${v6 ? '6' : ''}:${addr}:${port}`;
  const r = await lab.exec('internet', ['sh', '-c', `echo ping | timeout 8 socat -T 4 -t 4 - ${target}`], { timeoutMs: 15_000 });
  return r.stdout.trim();
}

/** Waits until the VPS has a handshake with every peer (a restarted server waits for the client to re-handshake). */
export async function waitHandshake(lab: Lab, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = await lab.exec('vps', ['wg', 'show', 'egress0', 'latest-handshakes']);
    const stamps = r.stdout.trim().split('\n').filter(Boolean).map((l) => Number(l.split('\t')[1]));
    if (r.exitCode === 0 && stamps.length > 0 && stamps.every((t) => t > 0)) return;
    await new Promise((res) => setTimeout(res, 500));
  }
  throw new Error('no WireGuard handshake on the VPS in time');
}

/** reach(), retried a few times (the first packets after a restart can be lost). */
export async function reachWithRetry(lab: Lab, proto: 'tcp' | 'udp', port: number, v6 = false): Promise<string> {
  let last = '';
  for (let i = 0; i < 4 && !last; i++) last = await reach(lab, proto, port, v6);
  return last;
}
