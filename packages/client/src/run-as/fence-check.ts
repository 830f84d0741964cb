// Launchers check the fence itself, not only the state file: the user's lookup and prohibit ip rules (both
// families) and its kill switch in nftables must be in place before an app starts. Three reads run at once
// (`ip -j -4 rule`, `ip -j -6 rule`, `nft list chain`), so the check costs about one process start. `exec` and `run`
// select by source address or mark, not by user: they check the rules of that selector and the egress's kill switch.
import { execFile } from 'node:child_process';
import { EgressError } from '@egress/core/errors';

/** What the fence of one user in one egress is made of (from the saved state). */
export interface FenceSpec {
  name: string;
  priority: number;
  table: number;
  address4?: string;
  address6?: string;
  /** A wg-quick egress with `--outside-allowed direct`: its families it has carry no prohibit rules (prohibit routes instead). */
  outsideDirect?: boolean;
}

/** The kernel's view, as read. */
export interface FenceFacts {
  rules4: string;
  rules6: string;
  /** `nft list chain inet egress output_filter`; undefined when the chain (or table) is missing. */
  filterChain: string | undefined;
}

interface RuleJson {
  priority?: number;
  src?: string;
  fwmark?: string;
  uid_start?: number;
  uid_end?: number;
  table?: string;
  action?: string;
}

function parseRules(text: string): RuleJson[] {
  try {
    const v = JSON.parse(text) as unknown;
    return Array.isArray(v) ? (v as RuleJson[]) : [];
  } catch {
    return [];
  }
}

/** What is missing of the fence of `uid` in egress `e` (empty: all in place). Pure. */
export function missingFence(e: FenceSpec, uid: number, facts: FenceFacts): string[] {
  const missing: string[] = [];
  for (const [family, text, hasAddress] of [[4, facts.rules4, !!e.address4], [6, facts.rules6, !!e.address6]] as const) {
    const rules = parseRules(text).filter((r) => r.uid_start === uid && r.uid_end === uid);
    const fallback = hasAddress ? 'prohibit' : 'unreachable';
    if (hasAddress && !rules.some((r) => r.priority === e.priority + 1 && r.table === String(e.table))) missing.push(`IPv${family} rule ${e.priority + 1} uidrange ${uid}-${uid} lookup ${e.table}`);
    if (!(hasAddress && e.outsideDirect) && !rules.some((r) => r.priority === e.priority + 8 && r.action === fallback)) missing.push(`IPv${family} rule ${e.priority + 8} uidrange ${uid}-${uid} ${fallback}`);
  }
  const chain = facts.filterChain;
  if (chain === undefined) missing.push('nftables chain inet egress output_filter');
  else if (!new RegExp(`meta skuid ${uid} .*kill switch`).test(chain)) missing.push(`kill switch for uid ${uid} in nftables chain inet egress output_filter`);
  return missing;
}

function read(cmd: string, args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: 10_000 }, (err, stdout) => resolve(err ? undefined : stdout));
  });
}

/** Reads the rules of both families and the kill switch chain, all at once. */
export async function readFenceFacts(): Promise<FenceFacts> {
  const [rules4, rules6, filterChain] = await Promise.all([read('ip', ['-j', '-4', 'rule', 'show']), read('ip', ['-j', '-6', 'rule', 'show']), read('nft', ['list', 'chain', 'inet', 'egress', 'output_filter'])]);
  return { rules4: rules4 ?? '[]', rules6: rules6 ?? '[]', filterChain };
}

/** The refusal every launcher gives when a fence is missing (`whose`: "appuser's", "the shim's (source 10.77.0.2)"). */
export function fenceMissingError(egress: string, whose: string, missing: string[]): EgressError {
  return new EgressError('E_FENCE_MISSING', `egress '${egress}': the fence that keeps ${whose} traffic in the egress is not in place (missing: ${missing.join('; ')}); the app was not started`, {
    hint: `egress-client up ${egress}`,
  });
}

/** Refuses to start an app as `user` when the fence of its egress is not in place, naming what is missing. */
export async function requireFence(e: FenceSpec, user: { name: string; uid: number }, facts?: FenceFacts): Promise<void> {
  const missing = missingFence(e, user.uid, facts ?? (await readFenceFacts()));
  if (missing.length) throw fenceMissingError(e.name, `${user.name}'s`, missing);
}

/**
 * The fence of the launchers that select by packet, not by user: `exec` (the shim binds sockets to the egress's
 * addresses: `from ADDR` rules, a mark per source) and `run` (the cgroup's mark: `fwmark` rules). Both rely on the
 * egress's kill switch for marked traffic.
 */
export interface MarkedFenceSpec {
  name: string;
  address4?: string;
  address6?: string;
}

/** How a launcher's traffic is selected: by source address (exec) or by mark (run). */
export type MarkedBy = 'source' | 'fwmark';

/** The kernel's view for a marked fence; the nft chains are undefined when missing or not readable. */
export interface MarkedFenceFacts {
  rules4: string;
  rules6: string;
  /** `nft list chain inet egress output_mark` (marks traffic from the egress's addresses). */
  markChain: string | undefined;
  /** `nft list chain inet egress postrouting_filter` (drops marked traffic leaving by another interface). */
  killChain: string | undefined;
  /** A caller without CAP_NET_ADMIN cannot list nftables: only the rules are checked then. */
  nftHidden?: boolean;
}

/**
 * What is missing of the marked fence of egress `e` (empty: all in place). Pure. Per address family: the lookup
 * rule of the selector (`from ADDR`, or `fwmark`) into a table of egress's own, and for `source` the mark of that
 * address; then the egress's kill switch on marked traffic. (The prohibit fallbacks are not required: an
 * outside-direct egress has prohibit routes instead, and the public facts launchers read do not say which it is.)
 */
export function missingMarkedFence(e: MarkedFenceSpec, by: MarkedBy, facts: MarkedFenceFacts): string[] {
  const missing: string[] = [];
  for (const [family, text, address] of [[4, facts.rules4, e.address4], [6, facts.rules6, e.address6]] as const) {
    if (!address) continue;
    const rules = parseRules(text).filter((r) => (by === 'source' ? r.src === address : r.fwmark !== undefined));
    const selector = by === 'source' ? `from ${address}` : 'fwmark';
    if (!rules.some((r) => r.table !== undefined && !['main', 'local', 'default'].includes(r.table))) missing.push(`IPv${family} rule ${selector} lookup (the egress's table)`);
  }
  if (facts.nftHidden) return missing;
  if (by === 'source') {
    for (const address of [e.address4, e.address6]) {
      if (address && !(facts.markChain ?? '').includes(`comment "${e.name}: source ${address}"`)) missing.push(`mark for source ${address} in nftables chain inet egress output_mark`);
    }
  }
  if (!(facts.killChain ?? '').includes(`comment "${e.name}: kill switch"`)) missing.push(`kill switch of '${e.name}' in nftables chain inet egress postrouting_filter`);
  return missing;
}

/** Reads the rules of both families and (when this process may) the two nft chains, all at once. */
export async function readMarkedFenceFacts(mayListNft: boolean = process.getuid?.() === 0): Promise<MarkedFenceFacts> {
  const chain = (name: string) => (mayListNft ? read('nft', ['list', 'chain', 'inet', 'egress', name]) : Promise.resolve(undefined));
  const [rules4, rules6, markChain, killChain] = await Promise.all([read('ip', ['-j', '-4', 'rule', 'show']), read('ip', ['-j', '-6', 'rule', 'show']), chain('output_mark'), chain('postrouting_filter')]);
  return { rules4: rules4 ?? '[]', rules6: rules6 ?? '[]', markChain, killChain, ...(mayListNft ? {} : { nftHidden: true }) };
}

/** Refuses to start an app by `exec` (source) or `run` (fwmark) when its egress's fence is not in place, naming what is missing. */
export async function requireMarkedFence(e: MarkedFenceSpec, by: MarkedBy, facts?: MarkedFenceFacts): Promise<void> {
  const missing = missingMarkedFence(e, by, facts ?? (await readMarkedFenceFacts()));
  const whose = by === 'source' ? `the shim's (source ${[e.address4, e.address6].filter(Boolean).join(', ')})` : "the app cgroup's";
  if (missing.length) throw fenceMissingError(e.name, whose, missing);
}
