// Who may send from an egress's own address (`egress-client allow`): the source-address path `exec` and a program
// binding the tunnel address use is refused in the kernel for every other uid, with the kill switch's reject.
import type { Egress } from '../model/client.js';
import { allowedUids } from '../policy/access.js';

/** `meta skuid != …` as nft lists it (one uid bare, several as an anonymous set). */
function notAllowed(uids: readonly number[]): string {
  return uids.length === 1 ? `meta skuid != ${uids[0]}` : `meta skuid != { ${uids.join(', ')} }`;
}

/**
 * Output-filter rules refusing connections that other uids start from the egress's addresses (`ct direction original`:
 * replies of port-forwarded services keep working whoever owns them). TCP gets a reset, the rest admin-prohibited.
 */
export function policyRules(e: Egress): string[] {
  const who = notAllowed(allowedUids(e));
  const out: string[] = [];
  for (const [ip, addr] of [['ip', e.address4], ['ip6', e.address6]] as const) {
    if (!addr) continue;
    const c = ` comment "${e.name}: only allowed users send from ${addr}"`;
    out.push(`${ip} saddr ${addr} ct direction original ${who} meta l4proto tcp reject with tcp reset${c}`);
    out.push(`${ip} saddr ${addr} ct direction original ${who} reject with icmpx admin-prohibited${c}`);
  }
  return out;
}
