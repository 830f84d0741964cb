// Policy rules and routes of each client egress: its own table, a 10-wide priority range, a fallback so selected
// traffic never reaches the main table.
import type { RouteSpec, RuleSpec } from '../engine/types.js';
import type { Egress } from '../model/client.js';
import { forwardedRules } from './client-nft-forwarded.js';

/** Offsets inside an egress's priority range [priority, priority + 9]. */
export const RULE_OFFSETS = { fwmark: 0, uid: 1, source: 2, fallbackFwmark: 7, fallbackUid: 8, fallbackSource: 9 } as const;

/** True for a wireguard egress with narrow AllowedIPs whose other destinations go direct (`--outside-allowed direct`). */
export function outsideDirect(e: Egress): boolean {
  return e.kind === 'wireguard' && !!e.wireguard.allowedIps && e.wireguard.outsideAllowed === 'direct';
}

/** Metric of the `prohibit` route under each allowed network of a direct-outside egress (it outlives the tunnel). */
export const ALLOWED_PROHIBIT_METRIC = 4096;

/** The selectors of one family as rule matches (fwmark, each user, the shim source). */
function selectors(e: Egress, family: 4 | 6): Array<{ offset: 0 | 1 | 2; match: Partial<RuleSpec> }> {
  const out: Array<{ offset: 0 | 1 | 2; match: Partial<RuleSpec> }> = [{ offset: 0, match: { fwmark: e.mark, fwmask: e.markMask } }];
  for (const u of e.selectors.users) out.push({ offset: 1, match: { uidrange: [u.uid, u.uid] } });
  const src = family === 4 ? e.address4 : e.address6;
  if (e.selectors.shimSource && src) out.push({ offset: 2, match: { from: src } });
  return out;
}

/**
 * Renders the ip rules of one egress: for each selector (fwmark, `uidrange U-U` so the kernel picks the egress
 * address as source, `from ADDR` for the shim) a lookup of the egress's table, then the same selectors again 7
 * priorities later as `prohibit` (IPv6 without a tunnel address: `unreachable`, and no lookup at all).
 */
export function renderClientRules(e: Egress): RuleSpec[] {
  const rules: RuleSpec[] = [];
  for (const family of [4, 6] as const) {
    const hasFamily = family === 4 ? !!e.address4 : !!e.address6;
    const sel = selectors(e, family);
    if (hasFamily) for (const s of sel) rules.push({ family, priority: e.priority + s.offset, ...s.match, table: e.table, action: 'lookup' });
    // Outside-direct: the egress table's own prohibit routes refuse AllowedIPs; other destinations fall through.
    if (hasFamily && outsideDirect(e)) continue;
    const action = hasFamily ? 'prohibit' : 'unreachable';
    for (const s of sel) rules.push({ family, priority: e.priority + 7 + s.offset, ...s.match, action });
  }
  return [...rules, ...forwardedRules(e, outsideDirect(e))];
}

/** The destinations a wireguard egress with AllowedIPs carries in one family ('default' for /0). */
function allowedDestinations(allowed: string[], family: 4 | 6): string[] {
  return allowed.filter((c) => c.includes(':') === (family === 6)).map((c) => (c.endsWith('/0') ? 'default' : c.replace(/\/(32|128)$/, '')));
}

/**
 * Renders the routes of one egress's table: a default route out of its interface (per family it has); a wireguard
 * egress with narrower AllowedIPs gets one route per allowed network, so other destinations find no route here and
 * fall to the egress's `prohibit` rules (refused, never direct).
 */
export function renderClientRoutes(e: Egress): RouteSpec[] {
  const routes: RouteSpec[] = [];
  if (e.kind === 'wireguard' && e.wireguard.allowedIps) {
    for (const family of [4, 6] as const) {
      if (!(family === 4 ? e.address4 : e.address6)) continue;
      for (const dst of allowedDestinations(e.wireguard.allowedIps, family)) {
        routes.push({ family, table: e.table, dst, dev: e.interface });
        if (outsideDirect(e)) routes.push({ family, table: e.table, dst, type: 'prohibit', metric: ALLOWED_PROHIBIT_METRIC });
      }
    }
    return routes;
  }
  if (e.address4) {
    const via = e.kind === 'interface' ? e.uplink.gateway4 : undefined;
    routes.push({ family: 4, table: e.table, dst: 'default', dev: e.interface, ...(via ? { via } : {}) });
  }
  if (e.address6) {
    const via = e.kind === 'interface' ? e.uplink.gateway6 : undefined;
    routes.push({ family: 6, table: e.table, dst: 'default', dev: e.interface, ...(via ? { via } : {}) });
  }
  return routes;
}
