// Launchers check the fence itself, not only the state file: the user's lookup and prohibit ip rules (both
// families) and its kill switch in nftables must be in place before an app starts. Three reads run at once
// (`ip -j -4 rule`, `ip -j -6 rule`, `nft list chain`), so the check costs about one process start.
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

/** Refuses to start an app as `user` when the fence of its egress is not in place, naming what is missing. */
export async function requireFence(e: FenceSpec, user: { name: string; uid: number }, facts?: FenceFacts): Promise<void> {
  const missing = missingFence(e, user.uid, facts ?? (await readFenceFacts()));
  if (missing.length === 0) return;
  throw new EgressError('E_FENCE_MISSING', `egress '${e.name}': the fence that keeps ${user.name}'s traffic in the egress is not in place (missing: ${missing.join('; ')}); the app was not started`, {
    hint: `egress-client up ${e.name}`,
  });
}
