// Where another firewall's iptables FORWARD policy is DROP (Docker, ufw), the narrowest accepts forwarded selectors
// need: from the selected interface/network out of the egress's interface, and replies back. Docker's own rules stay
// untouched: they go into DOCKER-USER (the chain Docker keeps for the admin) when it exists, else FORWARD, tagged with
// a comment naming the egress, and are found and removed by that tag.
import type { Host } from '@egress/core/host/host';
import type { ClientState } from '@egress/core/model/client';

/** Comment of every accept egress adds for a forwarded selector: `egress-select:EGRESS`. */
export const ACCEPT_TAG = 'egress-select:';

/** The accept rules (iptables argv after `-A CHAIN`) the forwarded selectors of `state` need. */
export function wantedAccepts(state: ClientState): string[][] {
  const out: string[][] = [];
  for (const e of state.egresses) {
    const tag = ['-m', 'comment', '--comment', `${ACCEPT_TAG}${e.name}`, '-j', 'ACCEPT'];
    const state = ['-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED'];
    for (const i of e.selectors.interfaces) {
      out.push(['-i', i, '-o', e.interface, ...tag]);
      out.push(['-i', e.interface, '-o', i, ...state, ...tag]);
    }
    for (const s of e.selectors.sources) {
      out.push(['-s', s.cidr, '-i', s.via, '-o', e.interface, ...tag]);
      out.push(['-d', s.cidr, '-i', e.interface, '-o', s.via, ...state, ...tag]);
    }
  }
  return out;
}

/** The chain the accepts go into (DOCKER-USER when Docker made it), or undefined when FORWARD does not drop. */
async function acceptChain(host: Host): Promise<string | undefined> {
  const r = await host.run(['iptables', '-w', '-S', 'FORWARD']);
  if (r.exitCode !== 0 || !/^-P FORWARD DROP$/m.test(r.stdout)) return undefined;
  return (await host.run(['iptables', '-w', '-S', 'DOCKER-USER'])).exitCode === 0 ? 'DOCKER-USER' : 'FORWARD';
}

/** Tagged accepts present now, as (chain, rule argv as `iptables -S` prints it after `-A CHAIN`). */
async function presentAccepts(host: Host): Promise<Array<{ chain: string; rule: string[] }>> {
  const out: Array<{ chain: string; rule: string[] }> = [];
  for (const chain of ['DOCKER-USER', 'FORWARD']) {
    const r = await host.run(['iptables', '-w', '-S', chain]);
    if (r.exitCode !== 0) continue;
    for (const line of r.stdout.split('\n')) {
      const words = line.trim().split(/\s+/);
      if (words[0] !== '-A' || words[1] !== chain || !line.includes(ACCEPT_TAG)) continue;
      out.push({ chain, rule: words.slice(2).map((w) => w.replace(/^"|"$/g, '')) });
    }
  }
  return out;
}

/** `-s 10.0.0.0/24` is printed as given; `-s 10.0.0.5` as `10.0.0.5/32`: compare without host prefixes. */
const key = (rule: string[]): string => rule.map((w) => w.replace(/\/32$/, '')).join(' ');

/**
 * Makes the tagged accepts match what `state` needs (only where FORWARD's policy drops): adds the missing ones at the
 * top of their chain, deletes the ones no selector needs any more. Returns the commands run, for the summary.
 */
export async function syncForwardAccepts(host: Host, state: ClientState, dryRun = false): Promise<string[]> {
  if ((await host.run(['iptables', '--version'])).exitCode !== 0) return [];
  const chain = await acceptChain(host);
  const wanted = chain ? wantedAccepts(state) : [];
  const present = await presentAccepts(host);
  const done: string[] = [];
  const run = async (argv: string[]): Promise<void> => {
    done.push(argv.join(' '));
    if (!dryRun) await host.run(argv, { check: true, change: true });
  };
  for (const w of wanted) if (!present.some((p) => p.chain === chain && key(p.rule) === key(w))) await run(['iptables', '-w', '-I', chain!, '1', ...w]);
  for (const p of present) if (!(p.chain === chain && wanted.some((w) => key(w) === key(p.rule)))) await run(['iptables', '-w', '-D', p.chain, ...p.rule]);
  return done;
}
