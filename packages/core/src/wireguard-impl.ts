// Which WireGuard implementation carries a tunnel (kernel module, wireguard-go and its version, other) and whether its offloads are on.
import type { Host } from './host/host.js';

/** The first wireguard-go release with TUN GSO/GRO and UDP GSO/GRO offloads (upstream's 2023-02-23 tag). */
export const OFFLOAD_WIREGUARD_GO = '0.0.20230223';

/** What carries one tunnel interface, and how that was decided (for status/doctor). */
export interface TunnelImplementation {
  kind: 'kernel' | 'wireguard-go' | 'other' | 'unknown';
  /** Userspace only: the program (comm), its binary and the version it prints. */
  program?: string;
  binary?: string;
  version?: string;
  /**
   * The distribution package that owns the binary and its version ("wireguard-go 0.0.20231211-1~bpo12+1"): the version
   * a binary prints can lag behind its release (bookworm-backports' 0.0.20231211 prints v0.0.20230223).
   */
  package?: string;
  pid?: number;
  /** 'on' / 'off' from the device's features; 'n/a' for the kernel module (it segments natively). */
  offloads: 'on' | 'off' | 'n/a' | 'unknown';
  /** One line: how kind and offloads were decided. */
  how: string;
}

/** From `ip -d -j link show dev IF`: the link kind ('wireguard' = kernel module, 'tun' = userspace) and, for a TUN, its vnet_hdr flag. */
export function linkKind(ipJson: string): { kind?: string; vnetHdr?: boolean } {
  try {
    const links = JSON.parse(ipJson) as Array<{ linkinfo?: { info_kind?: string; info_data?: { vnet_hdr?: boolean } } }>;
    const info = links[0]?.linkinfo;
    return { ...(info?.info_kind ? { kind: info.info_kind } : {}), ...(typeof info?.info_data?.vnet_hdr === 'boolean' ? { vnetHdr: info.info_data.vnet_hdr } : {}) };
  } catch {
    return {};
  }
}

/** The process holding a UAPI socket, from `ss -xlpn` output (`users:(("wireguard-go",pid=123,fd=7))`). */
export function socketOwner(ssOutput: string, socketPath: string): { program: string; pid: number } | undefined {
  for (const line of ssOutput.split('\n')) {
    if (!line.includes(socketPath)) continue;
    const m = /users:\(\("([^"]+)",pid=(\d+)/.exec(line);
    if (m) return { program: m[1]!, pid: Number(m[2]) };
  }
  return undefined;
}

/** The version a wireguard-go binary prints (`wireguard-go v0.0.20230223`), without the v. */
export function parseWireguardGoVersion(text: string): string | undefined {
  return /wireguard-go v?(\d+\.\d+\.\d+)/.exec(text)?.[1];
}

/** Whether a wireguard-go version has the TUN/UDP offloads (0.0.YYYYMMDD compared as numbers). */
export function hasOffloadSupport(version: string): boolean {
  const n = (v: string) => v.split('.').map(Number);
  const [a, b] = [n(version), n(OFFLOAD_WIREGUARD_GO)];
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
}

/**
 * Whether TUN offloads are on, from `ethtool -k IF`: wireguard-go with offloads opens its TUN with a virtio-net
 * header and turns TSO on (`tx-tcp-segmentation: on`); without them the kernel keeps it off ("[requested on]").
 */
export function offloadsFromEthtool(text: string): 'on' | 'off' | undefined {
  const m = /^\s*tx-tcp-segmentation:\s*(on|off)/m.exec(text);
  return m ? (m[1] as 'on' | 'off') : undefined;
}

// One shell command (one SSH round trip on a VPS) for any number of interfaces ("$@"); each interface's part starts
// with "@@iface NAME", its sections with "@name" lines. `ss` runs once; a binary's version and package (dpkg-query -S
// reads every package's file list: the slow part) are read once per binary, not once per tunnel.
const SCRIPT = String.raw`ssout=$(ss -xlpn 2>/dev/null); lastexe=; info=
for i in "$@"; do
  echo "@@iface $i"; s=/var/run/wireguard/$i.sock
  echo @link; ip -d -j link show dev "$i" 2>/dev/null || continue
  line=$(printf '%s\n' "$ssout" | grep -F " $s " | head -1)
  echo; echo @ss; [ -n "$line" ] && printf '%s\n' "$line"
  pid=$(printf '%s\n' "$line" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1)
  if [ -n "$pid" ]; then exe=$(readlink -f "/proc/$pid/exe"); echo @exe; echo "$exe"
    if [ "$exe" != "$lastexe" ]; then lastexe=$exe
      info=$(case "$exe" in */wireguard-go) echo @version; "$exe" --version 2>/dev/null | head -1;; esac
        pkg=$(dpkg-query -S "$exe" 2>/dev/null | head -1 | cut -d: -f1)
        [ -n "$pkg" ] && { echo @package; dpkg-query -W -f='${'$'}{Package} ${'$'}{Version}\n' "$pkg" 2>/dev/null; }); fi
    [ -n "$info" ] && printf '%s\n' "$info"; fi
  command -v ethtool >/dev/null 2>&1 && { echo @ethtool; ethtool -k "$i" 2>/dev/null | grep tx-tcp-segmentation:; }
done
true`;

/** The argv that reads what carries each of `ifaces` in one command (parse with `parseImplementations`). */
export function implementationsArgv(ifaces: readonly string[]): string[] {
  return ['sh', '-c', SCRIPT, 'egress-wg-impl', ...ifaces];
}

/** Splits the output of `implementationsArgv` by interface and interprets each part (pure). */
export function parseImplementations(stdout: string, ifaces: readonly string[]): Map<string, TunnelImplementation> {
  const parts = new Map<string, string>();
  let cur: string | undefined;
  for (const line of stdout.split('\n')) {
    const m = /^@@iface (\S+)$/.exec(line);
    if (m) {
      cur = m[1]!;
      parts.set(cur, '');
    } else if (cur !== undefined) parts.set(cur, `${parts.get(cur)}${line}\n`);
  }
  return new Map(ifaces.map((i) => [i, parseImplementation(parts.get(i) ?? '', i)]));
}

/** What carries each of `ifaces` on `host`, read in one command. */
export async function tunnelImplementations(host: Host, ifaces: readonly string[]): Promise<Map<string, TunnelImplementation>> {
  if (ifaces.length === 0) return new Map();
  const r = await host.run(implementationsArgv(ifaces));
  return parseImplementations(r.exitCode === 0 ? r.stdout : '', ifaces);
}

/** The argv that reads what carries `iface` (parse its stdout with `parseImplementation`). */
export function implementationArgv(iface: string): string[] {
  return ['sh', '-c', SCRIPT, 'egress-wg-impl', iface];
}

/** Interprets the output of `implementationArgv` (pure). */
export function parseImplementation(stdout: string, iface: string): TunnelImplementation {
  const sec: Record<string, string> = {};
  let cur = '';
  for (const line of stdout.split('\n')) {
    const m = /^@(\w+)$/.exec(line);
    if (m) cur = m[1]!;
    else if (cur) sec[cur] = `${sec[cur] ?? ''}${line}\n`;
  }
  if (!sec.link?.trim()) return { kind: 'unknown', offloads: 'unknown', how: `${iface} does not exist` };
  const { kind, vnetHdr } = linkKind(sec.link);
  if (kind === 'wireguard') return { kind: 'kernel', offloads: 'n/a', how: `ip -d link: ${iface} is a kernel wireguard link (GSO/GRO native)` };
  const sock = `/var/run/wireguard/${iface}.sock`;
  const owner = socketOwner(sec.ss ?? '', sock);
  if (!owner) return { kind: 'unknown', offloads: 'unknown', how: `ip -d link: ${iface} is ${kind ?? 'of unknown kind'}; no process holds ${sock}` };
  const binary = sec.exe?.trim() || undefined;
  const isGo = owner.program === 'wireguard-go';
  const ver = isGo ? parseWireguardGoVersion(sec.version ?? '') : undefined;
  const fromEthtool = sec.ethtool !== undefined ? offloadsFromEthtool(sec.ethtool) : undefined;
  const pkg = sec.package?.trim().split('\n')[0]?.trim();
  const base = { kind: isGo ? ('wireguard-go' as const) : ('other' as const), program: owner.program, pid: owner.pid, ...(binary ? { binary } : {}), ...(ver ? { version: ver } : {}), ...(pkg ? { package: pkg } : {}) };
  const who = `${owner.program} pid ${owner.pid} holds ${sock}`;
  if (fromEthtool) return { ...base, offloads: fromEthtool, how: `${who}; ethtool -k ${iface}: tx-tcp-segmentation ${fromEthtool}` };
  // Without ethtool: a TUN opened with a virtio-net header (IFF_VNET_HDR) is how wireguard-go turns its offloads on.
  if (vnetHdr !== undefined) return { ...base, offloads: vnetHdr ? 'on' : 'off', how: `${who}; no ethtool, ip -d link: TUN vnet_hdr ${vnetHdr ? 'on' : 'off'}` };
  if (ver) {
    const on = hasOffloadSupport(ver);
    return { ...base, offloads: 'unknown', how: `${who}; no ethtool or vnet_hdr flag, so from the version: ${ver} ${on ? 'has' : 'predates'} TUN offloads (${OFFLOAD_WIREGUARD_GO}+)` };
  }
  return { ...base, offloads: 'unknown', how: `${who}; no ethtool, vnet_hdr flag or version` };
}

/** Finds what carries `iface` on `host` (one command): kernel module, or the process behind its UAPI socket, its version and offloads. */
export async function tunnelImplementation(host: Host, iface: string): Promise<TunnelImplementation> {
  const r = await host.run(implementationArgv(iface));
  return parseImplementation(r.exitCode === 0 ? r.stdout : '', iface);
}

/** One line for status/doctor: "wireguard-go 0.0.20230223 (/usr/bin/wireguard-go), offloads on". */
export function describeImplementation(t: TunnelImplementation): string {
  if (t.kind === 'kernel') return 'kernel module (offloads native)';
  if (t.kind === 'unknown') return `unknown (${t.how})`;
  const name = t.kind === 'wireguard-go' ? `wireguard-go ${t.version ?? '(version unknown)'}` : `${t.program ?? 'userspace'} (not wireguard-go)`;
  const off = t.offloads === 'unknown' ? 'offloads unknown' : `offloads ${t.offloads}`;
  const hint = t.kind === 'wireguard-go' && t.version && !hasOffloadSupport(t.version) ? `; ${OFFLOAD_WIREGUARD_GO}+ has TUN offloads (--userspace-wireguard backports)` : '';
  const from = [...(t.package ? [`package ${t.package}`] : []), ...(t.binary ? [t.binary] : [])];
  return `${name}${from.length ? ` (${from.join(', ')})` : ''}, ${off}${hint}`;
}
