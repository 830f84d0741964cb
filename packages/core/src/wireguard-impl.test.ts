// What carries a tunnel: parsers for ip -d link, ss -xlpn, wireguard-go --version and ethtool -k, and the fake-host path.
import { describe, expect, it } from 'vitest';
import { describeImplementation, hasOffloadSupport, implementationArgv, implementationsArgv, linkKind, offloadsFromEthtool, parseImplementation, parseImplementations, parseWireguardGoVersion, socketOwner, tunnelImplementation } from './wireguard-impl.js';
import type { Host } from './host/host.js';

const TUN = '[{"ifname":"egress0","mtu":1420,"linkinfo":{"info_kind":"tun","info_data":{"type":"tun","pi":false,"vnet_hdr":true}}}]';
const SS = 'u_str LISTEN 0 4096 /var/run/wireguard/egress0.sock 7333048 * 0 users:(("wireguard-go",pid=1863,fd=12))\n';

describe('tunnel implementation', () => {
  it('parses link kind and vnet_hdr, the UAPI socket owner, versions and ethtool features', () => {
    expect(linkKind(TUN)).toEqual({ kind: 'tun', vnetHdr: true });
    expect(linkKind('[{"ifname":"wg0","linkinfo":{"info_kind":"wireguard"}}]')).toEqual({ kind: 'wireguard' });
    expect(linkKind('not json')).toEqual({});
    expect(socketOwner(SS, '/var/run/wireguard/egress0.sock')).toEqual({ program: 'wireguard-go', pid: 1863 });
    expect(socketOwner(SS, '/var/run/wireguard/egress1.sock')).toBeUndefined();
    expect(parseWireguardGoVersion('wireguard-go v0.0.20230223\n\nUserspace WireGuard daemon')).toBe('0.0.20230223');
    expect(hasOffloadSupport('0.0.20220316')).toBe(false);
    expect(hasOffloadSupport('0.0.20230223')).toBe(true);
    expect(hasOffloadSupport('0.0.20250522')).toBe(true);
    expect(offloadsFromEthtool('tcp-segmentation-offload: off\n\ttx-tcp-segmentation: off [requested on]\n')).toBe('off');
    expect(offloadsFromEthtool('tcp-segmentation-offload: on\n\ttx-tcp-segmentation: on\n')).toBe('on');
    expect(offloadsFromEthtool('nothing')).toBeUndefined();
  });

  it('names the kernel module from the link kind alone', () => {
    const t = parseImplementation('@link\n[{"linkinfo":{"info_kind":"wireguard"}}]\n', 'wg0');
    expect(t).toMatchObject({ kind: 'kernel', offloads: 'n/a' });
    expect(describeImplementation(t)).toBe('kernel module (offloads native)');
  });

  it('names the package owning the binary: bookworm-backports 0.0.20231211 prints v0.0.20230223', () => {
    const out = `@link\n${TUN}\n\n@ss\n${SS}@exe\n/usr/bin/wireguard-go\n@version\nwireguard-go v0.0.20230223\n@package\nwireguard-go 0.0.20231211-1~bpo12+1\n`;
    const t = parseImplementation(out, 'egress0');
    expect(t).toMatchObject({ kind: 'wireguard-go', version: '0.0.20230223', package: 'wireguard-go 0.0.20231211-1~bpo12+1', offloads: 'on' });
    expect(describeImplementation(t)).toBe('wireguard-go 0.0.20230223 (package wireguard-go 0.0.20231211-1~bpo12+1, /usr/bin/wireguard-go), offloads on');
  });

  it('finds wireguard-go by its socket, reads its version, and takes offloads from ethtool, else from vnet_hdr', () => {
    const out = `@link\n${TUN}\n\n@ss\n${SS}@exe\n/usr/bin/wireguard-go\n@version\nwireguard-go v0.0.20220316\n`;
    const t = parseImplementation(`${out}@ethtool\n\ttx-tcp-segmentation: off [requested on]\n`, 'egress0');
    expect(t).toMatchObject({ kind: 'wireguard-go', version: '0.0.20220316', binary: '/usr/bin/wireguard-go', pid: 1863, offloads: 'off' });
    expect(t.how).toContain('ethtool -k egress0: tx-tcp-segmentation off');
    expect(describeImplementation(t)).toBe('wireguard-go 0.0.20220316 (/usr/bin/wireguard-go), offloads off; 0.0.20230223+ has TUN offloads (--userspace-wireguard backports)');
    const u = parseImplementation(out, 'egress0');
    expect(u.offloads).toBe('on');
    expect(u.how).toContain('no ethtool, ip -d link: TUN vnet_hdr on');
    const v = parseImplementation(out.replace(',"info_data":{"type":"tun","pi":false,"vnet_hdr":true}', ''), 'egress0');
    expect(v).toMatchObject({ offloads: 'unknown' });
    expect(v.how).toContain('0.0.20220316 predates TUN offloads');
  });

  it('runs one command on the host', async () => {
    const seen: string[][] = [];
    const host = { name: 'fake', run: async (argv: readonly string[]) => { seen.push([...argv]); return { stdout: '', stderr: '', exitCode: 0 }; } } as unknown as Host;
    expect(await tunnelImplementation(host, 'egress0')).toMatchObject({ kind: 'unknown', how: 'egress0 does not exist' });
    expect(seen).toEqual([implementationArgv('egress0')]);
  });

  it('says unknown when nobody holds the socket', () => {
    expect(parseImplementation(`@link\n${TUN}\n@ss\n`, 'egress0')).toMatchObject({ kind: 'unknown', offloads: 'unknown' });
  });
});

describe('several tunnels in one command', () => {
  it('splits the output by interface, and says which interface does not exist', () => {
    const one = '@link\n[{"ifname":"egress0","linkinfo":{"info_kind":"wireguard"}}]\n';
    const m = parseImplementations(`@@iface egress0\n${one}@@iface egress1\n@link\n`, ['egress0', 'egress1', 'egress2']);
    expect(m.get('egress0')).toMatchObject({ kind: 'kernel' });
    expect(m.get('egress1')).toMatchObject({ kind: 'unknown', how: 'egress1 does not exist' });
    expect(m.get('egress2')).toMatchObject({ kind: 'unknown', how: 'egress2 does not exist' });
    expect(implementationsArgv(['a', 'b']).slice(-3)).toEqual(['egress-wg-impl', 'a', 'b']);
  });
});
