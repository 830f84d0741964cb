// Who may send from an egress's own address (`egress-client allow`): the source-address path `exec` and a program
// binding the tunnel address use is refused in the kernel for every other uid, with the kill switch's reject.
import type { Egress } from '../model/client.js';
import { allowedUids } from '../policy/access.js';

/** `meta skuid != …` as nft lists it (one uid bare, several as an anonymous set). */
function notAllowed(uids: readonly number[]): string {
  return uids.length === 1 ? `meta skuid != ${uids[0]}` : `meta skuid != { ${uids.join(', ')} }`;
}

/** The regular chain a connection from the egress address by another uid jumps to. */
export function policyChainName(e: Egress): string {
  return `allow_${e.name}`;
}

/**
 * Output-filter rules for connections other uids start from the egress's addresses (`ct direction original`), and
 * for their replies to connections from the tunnel (a forwarded port served by a user the egress does not allow). TCP gets a reset, the rest admin-prohibited. An egress
 * that selects by cgroup sends them through a chain that lets its cgroup's sockets return first: only root or the
 * supervisor (after checking the policy) put processes there, and `run --user` by root is root's choice. A socket in
 * a shallower cgroup does not match the cgroup test and is refused.
 */
export function policyRules(e: Egress, fromTunnel?: string): { rules: string[]; chain?: string } {
  const who = notAllowed(allowedUids(e));
  const rules: string[] = [];
  const chain = policyChainName(e);
  const viaChain = e.selectors.cgroups.length > 0;
  const refuse = (match: string, c: string): void => {
    if (viaChain) {
      rules.push(`${match} ${who} jump ${chain}${c}`);
      return;
    }
    rules.push(`${match} ${who} meta l4proto tcp reject with tcp reset${c}`);
    rules.push(`${match} ${who} reject with icmpx admin-prohibited${c}`);
  };
  for (const [ip, addr] of [['ip', e.address4], ['ip6', e.address6]] as const) {
    if (addr) refuse(`${ip} saddr ${addr} ct direction original`, ` comment "${e.name}: only allowed users send from ${addr}"`);
  }
  // Serving a forwarded port is using the egress too: the replies of another uid's socket to a connection that came
  // in through the tunnel (fromTunnel: its ct mark) are refused in the kernel, before they leave. Packets with no
  // socket (the kernel's own resets and ICMP errors) do not match `meta skuid` and pass.
  if (fromTunnel) refuse(`${fromTunnel} ct direction reply`, ` comment "${e.name}: only allowed users answer connections from the tunnel"`);
  if (!viaChain || rules.length === 0) return { rules };
  const body = [
    ...e.selectors.cgroups.map((g) => `socket cgroupv2 level ${g.split('/').length} "${g}" return comment "${e.name}: apps placed in cgroup ${g} (by root or the supervisor)"`),
    `meta l4proto tcp reject with tcp reset comment "${e.name}: not allowed to use this egress"`,
    `reject with icmpx admin-prohibited comment "${e.name}: not allowed to use this egress"`,
  ];
  return { rules, chain: [`\tchain ${chain} {`, ...body.map((r) => `\t\t${r}`), '\t}'].join('\n') };
}
