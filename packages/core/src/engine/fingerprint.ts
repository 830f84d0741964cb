// A normalized text of a CurrentState, to tell whether a rollback brought the host back exactly.
import { routeKey, ruleKey } from './ip-format.js';
import { normalizeNftListing, sha256 } from './journal.js';
import type { CurrentState } from './read-state.js';

/** Stable text of everything read (file contents hashed, nft listings normalized), journal excluded. */
export function fingerprint(s: CurrentState, exclude: readonly string[] = []): string {
  const out: string[] = [];
  for (const [p, f] of [...s.files].sort(([a], [b]) => a.localeCompare(b))) {
    if (exclude.includes(p)) continue;
    const entries = (f.entries ?? []).filter((e) => !exclude.some((x) => x === `${p}/${e}`));
    out.push(`file ${p} ${f.kind} ${f.mode.toString(8)} ${f.kind === 'file' ? sha256(f.content ?? '') : entries.join(',')}`);
  }
  for (const [k, v] of [...s.nft].sort(([a], [b]) => a.localeCompare(b))) out.push(`nft ${k}\n${normalizeNftListing(v)}`);
  out.push(...s.rules.map((r) => `rule ${ruleKey(r)}`).sort());
  out.push(...s.routes.map((r) => `route ${routeKey(r)}`).sort());
  for (const [k, v] of [...s.sysctls].sort(([a], [b]) => a.localeCompare(b))) out.push(`sysctl ${k}=${v}`);
  for (const [n, l] of [...s.links].sort(([a], [b]) => a.localeCompare(b))) out.push(`link ${n} mtu ${l.mtu} ${l.addresses.join(',')} ${l.wg ? `${l.wg.listenPort} ${l.wg.peers.join(',')}` : 'no-wg'}`);
  for (const [n, e] of [...s.units].sort(([a], [b]) => a.localeCompare(b))) out.push(`unit ${n} ${e}`);
  return out.join('\n');
}

/** Lines of `a` missing from `b` and vice versa, for an error message. */
export function fingerprintDiff(a: string, b: string): string[] {
  const la = new Set(a.split('\n'));
  const lb = new Set(b.split('\n'));
  return [...[...la].filter((l) => !lb.has(l)).map((l) => `- ${l}`), ...[...lb].filter((l) => !la.has(l)).map((l) => `+ ${l}`)];
}
