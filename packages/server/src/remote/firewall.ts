// Narrow accepts in other firewalls whose FORWARD/INPUT policy drops (Docker, ufw), marked `egress`, removed on deprovision.
import { z } from 'zod';
import type { Command, IptablesAccept, NftAccept } from '@egress/core';

/** Comment that marks egress's rules in other tables. */
export const ACCEPT_COMMENT = 'egress';

/** Chains whose policy is DROP in `iptables -S` output. */
export function dropPolicies(iptablesS: string | undefined): Set<string> {
  const out = new Set<string>();
  for (const line of (iptablesS ?? '').split('\n')) {
    const m = /^-P (\S+) DROP$/.exec(line.trim());
    if (m) out.add(m[1]!);
  }
  return out;
}

/** The accepts the tunnel needs where an iptables chain policy drops: forward in/out of the tunnel, the listen port in. */
export function neededAccepts(iptables: { v4: string | undefined; v6: string | undefined }, iface: string, listenPort: number, v6Tunnel: boolean): IptablesAccept[] {
  const out: IptablesAccept[] = [];
  const tag = ['-m', 'comment', '--comment', ACCEPT_COMMENT, '-j', 'ACCEPT'];
  for (const [tool, text] of [['iptables', iptables.v4], ['ip6tables', iptables.v6]] as const) {
    const drops = dropPolicies(text);
    if (drops.has('FORWARD') && (tool === 'iptables' || v6Tunnel)) {
      out.push({ tool, chain: 'FORWARD', rule: ['-i', iface, ...tag] }, { tool, chain: 'FORWARD', rule: ['-o', iface, ...tag] });
    }
    if (drops.has('INPUT')) out.push({ tool, chain: 'INPUT', rule: ['-p', 'udp', '--dport', String(listenPort), ...tag] });
  }
  return out;
}

/** The egress-marked rules present in `iptables -S` output, as accepts (to remove or compare). */
export function presentAccepts(iptables: { v4: string | undefined; v6: string | undefined }): IptablesAccept[] {
  const out: IptablesAccept[] = [];
  for (const [tool, text] of [['iptables', iptables.v4], ['ip6tables', iptables.v6]] as const) {
    for (const line of (text ?? '').split('\n')) {
      const words = line.trim().split(/\s+/);
      if (words[0] !== '-A' || (words[1] !== 'FORWARD' && words[1] !== 'INPUT')) continue;
      const i = words.indexOf('--comment');
      if (i < 0 || words[i + 1] !== ACCEPT_COMMENT) continue;
      out.push({ tool, chain: words[1], rule: words.slice(2) });
    }
  }
  return out;
}

function key(a: IptablesAccept): string {
  return `${a.tool} ${a.chain} ${a.rule.join(' ')}`;
}

/** Commands that add missing accepts and delete egress-marked ones no longer wanted. */
export function acceptCommands(present: readonly IptablesAccept[], wanted: readonly IptablesAccept[]): Command[] {
  const have = new Set(present.map(key));
  const want = new Set(wanted.map(key));
  return [
    ...wanted.filter((a) => !have.has(key(a))).map((a) => ({ argv: [a.tool, '-I', a.chain, ...a.rule], options: { change: true } })),
    ...present.filter((a) => !want.has(key(a))).map((a) => ({ argv: [a.tool, '-D', a.chain, ...a.rule], options: { change: true } })),
  ];
}

const NftChain = z.looseObject({ family: z.string(), table: z.string(), name: z.string(), hook: z.string().optional(), policy: z.string().optional() });
const NftRule = z.looseObject({ family: z.string(), table: z.string(), chain: z.string(), handle: z.number(), comment: z.string().optional() });

/** Native nftables base chains (not iptables', not egress's) that drop forwarded traffic by policy. */
export function nftForwardDropChains(nftJson: unknown): Array<{ family: string; table: string; name: string }> {
  const items = (nftJson as { nftables?: unknown[] })?.nftables ?? [];
  const out: Array<{ family: string; table: string; name: string }> = [];
  for (const item of items) {
    const c = NftChain.safeParse((item as { chain?: unknown })?.chain);
    if (!c.success || c.data.hook !== 'forward' || c.data.policy !== 'drop') continue;
    if (c.data.table === 'egress') continue;
    if ((c.data.family === 'ip' || c.data.family === 'ip6') && c.data.table === 'filter' && c.data.name === 'FORWARD') continue;
    out.push({ family: c.data.family, table: c.data.table, name: c.data.name });
  }
  return out;
}

/** Native nft rules egress added to other tables (comment "egress"), by handle. */
export function nftEgressRules(nftJson: unknown): Array<{ family: string; table: string; chain: string; handle: number }> {
  const items = (nftJson as { nftables?: unknown[] })?.nftables ?? [];
  const out: Array<{ family: string; table: string; chain: string; handle: number }> = [];
  for (const item of items) {
    const r = NftRule.safeParse((item as { rule?: unknown })?.rule);
    if (r.success && r.data.comment === ACCEPT_COMMENT && r.data.table !== 'egress') out.push({ family: r.data.family, table: r.data.table, chain: r.data.chain, handle: r.data.handle });
  }
  return out;
}

/** Commands that give the tunnel a narrow accept in native nft forward chains with policy drop (added once, by comment). */
export function nftAcceptCommands(nftJson: unknown, iface: string): Command[] {
  const present = nftEgressRules(nftJson);
  return nftForwardDropChains(nftJson)
    .filter((c) => !present.some((p) => p.family === c.family && p.table === c.table && p.chain === c.name))
    .flatMap((c) =>
      ['iifname', 'oifname'].map((dir) => ({
        argv: ['nft', 'insert', 'rule', c.family, c.table, c.name, dir, iface, 'accept', 'comment', ACCEPT_COMMENT],
        options: { change: true },
      })),
    );
}

/** Commands that delete every native nft rule egress added to other tables. */
export function nftRemoveCommands(nftJson: unknown): Command[] {
  return nftEgressRules(nftJson).map((r) => ({ argv: ['nft', 'delete', 'rule', r.family, r.table, r.chain, 'handle', String(r.handle)], options: { change: true } }));
}

/** The accepts to re-add at boot in native nft forward chains that drop (one per chain: in and out of the tunnel). */
export function nftBootAccepts(nftJson: unknown, iface: string): NftAccept[] {
  return nftForwardDropChains(nftJson).map((c) => ({ tool: 'nft', family: c.family, table: c.table, chain: c.name, iface }));
}
