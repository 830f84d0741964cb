// Doctor's checks of one egress against other tools: a rule before egress's range that captures selected traffic
// (Tailscale, wg-quick, unknown), and another tool's nftables kill switch that drops it.
import type { Host } from '@egress/core/host/host';
import type { ClientState, Egress } from '@egress/core/model/client';
import type { Check } from '../live/checks.js';
import { ALLOCATION } from '../state/allocate.js';
import { capturingRules, defaultRoutesByTable, type IpRouteJson, type IpRuleJson } from './foreign-rules.js';
import { droppingChains } from './foreign-firewall.js';

async function json<T>(host: Host, argv: string[]): Promise<T | undefined> {
  const r = await host.run(argv);
  if (r.exitCode !== 0 || !r.stdout.trim()) return undefined;
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    return undefined;
  }
}

/** The `foreign rules` and `foreign firewall` checks of one egress. */
export async function coexistChecks(host: Host, state: ClientState, e: Egress): Promise<Check[]> {
  const own = (p: number): boolean => state.egresses.some((o) => p >= o.priority && p <= o.priority + 9);
  const found = [];
  for (const family of [4, 6] as const) {
    if (family === 4 ? !e.address4 : !e.address6) continue;
    const rules = (await json<IpRuleJson[]>(host, ['ip', '-j', `-${family}`, 'rule', 'show'])) ?? [];
    const routes = (await json<IpRouteJson[]>(host, ['ip', '-j', `-${family}`, 'route', 'show', 'table', 'all'])) ?? [];
    found.push(...capturingRules(family, rules, defaultRoutesByTable(routes), e.mark, e.priority, own));
  }
  const checks: Check[] = [];
  if (found.length === 0) checks.push({ name: 'foreign rules', ok: true, detail: `no other tool's rule before ${e.priority} captures selected traffic` });
  else {
    const early = ALLOCATION.firstEarlyPriority;
    const lines = found.map((r) => `IPv${r.family} priority ${r.priority} '${r.text}' -> ${r.target} (likely ${r.owner})`);
    const stillBefore = found.some((r) => r.priority <= early + 9);
    checks.push({
      name: 'foreign rules',
      ok: false,
      detail: `rules of another tool come before egress's ${e.priority}-${e.priority + 9} and capture selected traffic first: ${lines.join('; ')}`,
      fix: stillBefore
        ? `move the other tool's rule after ${ALLOCATION.lastEarlyPriority + 9} (ip rule del priority ${found[0]!.priority} and add it again with a higher priority), then egress-client up ${e.name}`
        : `egress-client uninstall ${e.name} && egress-client enroll ${e.kind === 'interface' ? `--interface ${e.interface}` : 'BUNDLE'} ${e.selectors.users[0] ? `--user ${e.selectors.users[0].name}` : '--user USER'} --name ${e.name} (a new enroll picks the early range ${early}-${ALLOCATION.lastEarlyPriority + 9}, before these rules)`,
    });
  }
  const ruleset = await json<unknown>(host, ['nft', '-j', 'list', 'ruleset']);
  const drops = ruleset ? droppingChains(ruleset, e.interface, e.mark & e.markMask, e.markMask, (family, table) => family === 'inet' && (table === 'egress' || table.startsWith('egiso_'))) : [];
  if (drops.length === 0) checks.push({ name: 'foreign firewall', ok: true, detail: `no other nftables output chain drops selected traffic out of ${e.interface}` });
  else {
    checks.push({
      name: 'foreign firewall',
      ok: false,
      detail:
        `${drops.map((d) => `chain ${d.family} ${d.table} ${d.chain} (hook ${d.hook}, ${d.by})`).join('; ')} drops selected traffic out of ${e.interface}. ` +
        `egress cannot let it through from its own table: an nftables accept ends only its own base chain, a drop in any base chain is final`,
      fix: drops.map((d) => d.fix).join(' && '),
    });
  }
  return checks;
}
