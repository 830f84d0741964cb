// Doctor's checks of one egress: saved files, kernel state against the rendered desired state, and live probes.
import { describeImplementation, tunnelImplementation, type TunnelImplementation } from '@egress/core/wireguard-impl';
import type { Host } from '@egress/core/host/host';
import { publicKeyOf } from '@egress/core/keys';
import type { ClientState, Egress } from '@egress/core/model/client';
import { normalizeNftListing } from '@egress/core/engine/journal';
import { clientKeyPath, clientWgConfigPath, publicFactsPath } from '@egress/core/render/client-paths';
import { publicFactsOf } from '@egress/core/render/client';
import { lanForwardsOf, renderClientNft } from '@egress/core/render/client-nft';
import { absentParts } from '../select/absent.js';
import { formatForwardSpec } from '@egress/core/model/forward';
import { renderClientRoutes, renderClientRules } from '@egress/core/render/client-routing';
import { clientTunnelAddresses, renderClientWgConfig } from '@egress/core/render/client-wg';
import { bypassFindings, bypassFixes, detectResolverDaemons } from '../dns-view/daemons.js';
import { dnsViewPrefix } from '../dns-view/view.js';
import { lookupUser } from '../users.js';
import { coexistChecks } from '../coexist/checks.js';
import { egressStatus, sysctlKeysOf } from './egress-status.js';
import { hasRoute, hasRule, type LiveClient } from './read-live.js';
import { probeTargets, runProbe } from './run-probe.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** What to run or do when it failed. */
  fix?: string;
}

const pass = (name: string, detail: string): Check => ({ name, ok: true, detail });
const fail = (name: string, detail: string, fix: string): Check => ({ name, ok: false, detail, fix });

/** Resolvers the user's programs would ask: those of /etc/resolv.conf plus the systemd-resolved stub. */
export function localResolvers(resolvConf: string | undefined): string[] {
  const found = (resolvConf ?? '')
    .split('\n')
    .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
    .filter((x): x is string => !!x && !x.includes('%'));
  return [...new Set([...found, '127.0.0.53'])];
}

/** Files, kernel state and live checks of one egress. */
export async function checkEgress(host: Host, state: ClientState, e: Egress, live: LiveClient): Promise<Check[]> {
  const checks: Check[] = [];
  const up = `egress-client up ${e.name}`;
  const reenroll = `egress-client enroll BUNDLE --user ${e.selectors.users[0]?.name ?? 'USER'} --name ${e.name}`;

  // Files.
  if (e.kind === 'wireguard') {
    const key = (await host.readFile(clientKeyPath(e.name)))?.trim();
    const mode = (await host.run(['stat', '-c', '%a', clientKeyPath(e.name)])).stdout.trim();
    if (!key) checks.push(fail('private key', `${clientKeyPath(e.name)} is missing`, reenroll));
    else if (mode !== '600') checks.push(fail('private key', `${clientKeyPath(e.name)} has mode ${mode}, expected 600`, `chmod 600 ${clientKeyPath(e.name)}`));
    else {
      let matches = false;
      try {
        matches = publicKeyOf(key) === e.wireguard.publicKey;
      } catch {
        matches = false;
      }
      checks.push(matches ? pass('private key', `${clientKeyPath(e.name)} (0600) matches ${e.wireguard.publicKey}`) : fail('private key', `${clientKeyPath(e.name)} does not belong to ${e.wireguard.publicKey}`, reenroll));
    }
    const conf = await host.readFile(clientWgConfigPath(e.interface));
    checks.push(conf === renderClientWgConfig(e) ? pass('wg-quick config', clientWgConfigPath(e.interface)) : fail('wg-quick config', `${clientWgConfigPath(e.interface)} ${conf === undefined ? 'is missing' : 'differs from the rendered config'}`, up));
  }
  const facts = await host.readFile(publicFactsPath(e.name));
  checks.push(facts === `${JSON.stringify(publicFactsOf(e), null, 2)}\n` ? pass('public facts', publicFactsPath(e.name)) : fail('public facts', `${publicFactsPath(e.name)} ${facts === undefined ? 'is missing' : 'differs'}`, up));

  // Kernel state.
  const link = live.links.get(e.interface);
  const wantAddrs = e.kind === 'wireguard' ? clientTunnelAddresses(e) : [];
  const missingAddrs = wantAddrs.filter((a) => !link?.addresses.includes(a));
  // Informational: which implementation carries the tunnel, and whether its offloads are on (never a failure).
  const impls = new Map<string, TunnelImplementation>();
  if (e.kind === 'wireguard' && link) {
    const impl = await tunnelImplementation(host, e.interface);
    impls.set(e.interface, impl);
    checks.push(pass('implementation', `${describeImplementation(impl)} (${impl.how})`));
  }
  if (!link || !link.up) checks.push(fail('interface', `${e.interface} is ${link ? 'down' : 'missing'}: the egress is down (its kill switch refuses selected traffic)`, up));
  else if (missingAddrs.length) checks.push(fail('interface', `${e.interface} lacks ${missingAddrs.join(', ')}`, `egress-client down ${e.name} && ${up}`));
  else checks.push(pass('interface', `${e.interface} up with ${link.addresses.join(', ')}`));

  const status = await egressStatus(host, e, live, undefined, impls);
  if (e.kind === 'wireguard' && link) {
    const age = status.latestHandshake ? Date.now() / 1000 - status.latestHandshake : Infinity;
    checks.push(age < 180 ? pass('handshake', `latest handshake ${Math.round(age)}s ago with ${status.endpoint}`) : fail('handshake', status.latestHandshake ? `latest handshake ${Math.round(age)}s ago (stale)` : `no handshake with ${status.endpoint}`, `check that ${e.wireguard.endpoint} is reachable over UDP and that the VPS has this peer (egress-server status)`));
  }
  // Selected units/cgroups not there yet are left out of the table, as apply leaves them out.
  const wantNft = renderClientNft(state, await absentParts(host, state))!;
  checks.push(
    live.nft === undefined
      ? fail('nft table', 'table inet egress is missing: nothing marks, redirects DNS or blocks leaks', up)
      : normalizeNftListing(live.nft) === normalizeNftListing(wantNft)
        ? pass('nft table', 'table inet egress matches the rendered one')
        : fail('nft table', 'table inet egress differs from the rendered one (edited by hand or by another tool?)', up),
  );
  const rules = renderClientRules(e);
  const missingRules = rules.filter((r) => !hasRule(live, r));
  checks.push(missingRules.length === 0 ? pass('ip rules', `${rules.length} rules at ${e.priority}-${e.priority + 9}`) : fail('ip rules', `${missingRules.length} of ${rules.length} rules missing (priorities ${[...new Set(missingRules.map((r) => r.priority))].join(', ')})`, up));
  checks.push(...(await coexistChecks(host, state, e)));
  checks.push(status.killSwitch.armed ? pass('kill switch', 'nft reject and prohibit fallback rules in place') : fail('kill switch', 'NOT armed: selected traffic could leave by another interface', up));
  if (link?.up) {
    const routes = renderClientRoutes(e);
    const missingRoutes = routes.filter((r) => !hasRoute(live, r));
    checks.push(missingRoutes.length === 0 ? pass('routes', `table ${e.table}: default dev ${e.interface}`) : fail('routes', `table ${e.table} lacks ${missingRoutes.map((r) => `${r.dst} (v${r.family})`).join(', ')}`, up));
  }
  const [validMark, rp, localnet] = sysctlKeysOf(e).map((k) => live.sysctls.get(k));
  const sysBad = [validMark !== '1' ? `src_valid_mark=${validMark ?? '?'} (want 1)` : '', link && rp !== '2' ? `${e.interface} rp_filter=${rp ?? '?'} (want 2)` : '', link && localnet !== '1' ? `${e.interface} route_localnet=${localnet ?? '?'} (want 1)` : ''].filter(Boolean);
  checks.push(sysBad.length === 0 ? pass('sysctls', 'src_valid_mark=1, loose rp_filter and route_localnet on the egress') : fail('sysctls', sysBad.join(', '), up));
  const lan = lanForwardsOf(e);
  if (lan.length && link?.up) {
    const keys = [...new Set([`net.ipv4.conf.${e.interface}.forwarding`, ...lan.map((f) => `net.ipv4.conf.${f.via ?? '?'}.forwarding`)])];
    const bad: string[] = [];
    for (const k of keys) {
      const r = await host.run(['sysctl', '-n', k]);
      if (r.exitCode !== 0 || r.stdout.trim() !== '1') bad.push(`${k}=${r.exitCode === 0 ? r.stdout.trim() : 'missing'}`);
    }
    const specs = lan.map((f) => `${formatForwardSpec(f)} via ${f.via ?? '?'}`).join(', ');
    checks.push(bad.length === 0 ? pass('LAN forwards', specs) : fail('LAN forwards', `${bad.join(', ')} (want 1): ${specs} cannot pass`, up));
  }

  // Where the kernel sends selected DNS once redirected: out of the egress, never another interface.
  if (link?.up) {
    for (const server of e.dns.filter((d) => (d.includes(':') ? !!e.address6 : !!e.address4))) {
      const r = await host.run(['ip', '-j', 'route', 'get', server, 'mark', `0x${e.mark.toString(16)}`]);
      let dev: string | undefined;
      try {
        dev = (JSON.parse(r.stdout) as Array<{ dev?: string }>)[0]?.dev;
      } catch {
        dev = undefined;
      }
      checks.push(dev === e.interface ? pass(`DNS route ${server}`, `selected DNS to ${server} leaves by ${e.interface}`) : fail(`DNS route ${server}`, `selected DNS to ${server} would leave by ${dev ?? 'nothing'} (${r.stderr.trim() || 'no route'})`, up));
    }
  }

  // Live checks as each bound user.
  if (!link?.up) {
    checks.push(fail('live checks', `skipped: ${e.interface} is down`, up));
    return checks;
  }
  const resolvers = localResolvers(await host.readFile('/etc/resolv.conf'));
  for (const u of e.selectors.users) {
    const entry = await lookupUser(host, u.name);
    if (!entry) {
      checks.push(fail(`user ${u.name}`, `user '${u.name}' no longer exists`, `egress-client uninstall ${e.name}`));
      continue;
    }
    if (entry.uid !== u.uid) checks.push(fail(`user ${u.name}`, `uid is ${entry.uid} now, the egress selects uid ${u.uid}`, reenroll));
    const probe = await runProbe(host, entry, { ...probeTargets(e), dns: resolvers, timeoutMs: 3000 });
    if (!probe.result) {
      checks.push(fail(`live checks as ${u.name}`, probe.error ?? 'probe failed', 'run egress-client doctor as root on the client'));
      continue;
    }
    const r = probe.result;
    checks.push(
      r.source4.address === e.address4
        ? pass(`source address (${u.name})`, `the kernel picks ${r.source4.address} for ${u.name}'s IPv4`)
        : fail(`source address (${u.name})`, `the kernel picks ${r.source4.address ?? r.source4.error} for ${u.name}'s IPv4, expected ${e.address4}`, up),
    );
    if (e.address6) {
      checks.push(r.source6.address === e.address6 ? pass(`IPv6 (${u.name})`, `through the egress from ${r.source6.address}`) : fail(`IPv6 (${u.name})`, `source ${r.source6.address ?? r.source6.error}, expected ${e.address6}`, up));
    } else {
      checks.push(r.source6.error ? pass(`IPv6 (${u.name})`, `refused immediately (${r.source6.error}): the egress has no IPv6`) : fail(`IPv6 (${u.name})`, `IPv6 would leave from ${r.source6.address}, not refused`, up));
    }
    for (const d of r.dns) {
      const via = e.dns[0] ? `answered through the egress (redirected to ${e.dns.find((x) => x.includes(':') === d.server.includes(':')) ?? e.dns[0]})` : 'answered';
      if (d.server.includes(':') && !e.address6) {
        checks.push(d.answered ? fail(`DNS ${d.server} (${u.name})`, `answered over IPv6 although the egress has no IPv6: it may have left directly`, up) : pass(`DNS ${d.server} (${u.name})`, `refused (${d.error}): the egress has no IPv6, the IPv4 resolvers answer`));
        continue;
      }
      if (!e.dns.length) checks.push(d.answered ? fail(`DNS ${d.server} (${u.name})`, 'answered although no egress resolver is set: it may have left locally', `egress-client enroll BUNDLE --user ${u.name} --name ${e.name} --dns IP`) : pass(`DNS ${d.server} (${u.name})`, `refused (${d.error}): no egress resolver set`));
      else checks.push(d.answered ? pass(`DNS ${d.server} (${u.name})`, via) : fail(`DNS ${d.server} (${u.name})`, `no answer (${d.error})`, `check that ${e.dns.join(', ')} answers from the VPS (egress-server status), or enroll with --dns IP`));
    }
    checks.push(...(await nameLookupChecks(host, e, entry)));
  }
  return checks;
}

/** A name getaddrinfo sends to DNS (NXDOMAIN is fine: the point is the path the lookup takes). */
const LOOKUP_PROBE = 'egress-doctor-probe.invalid';

/**
 * Name lookups the way apps make them (getaddrinfo through NSS): a local daemon (nscd, systemd-resolved through
 * nss-resolve, mDNS) would answer the user's own processes and send the query by the normal route — FAIL with what
 * to do; and getent run as the user in the view launchers give apps must find none of them.
 */
async function nameLookupChecks(host: Host, e: Egress, user: { name: string; uid: number; gid: number }): Promise<Check[]> {
  const out: Check[] = [];
  const daemons = detectResolverDaemons();
  const findings = bypassFindings(daemons);
  out.push(
    findings.length === 0
      ? pass(`name lookups (${user.name})`, `getaddrinfo goes to DNS (hosts: ${daemons.hosts.join(' ') || '?'}); no nscd or systemd-resolved socket answers it`)
      : fail(`name lookups (${user.name})`, `${user.name}'s own processes: ${findings.join('; ')} (apps started by run-as/run/run --isolate get a view without it)`, bypassFixes(daemons).join('; ')),
  );
  const view = dnsViewPrefix(e.name, e.dns);
  // What would answer a lookup: nscd (hosts cache on), resolved only where nss-resolve ('resolve') asks it.
  const hidden = [...daemons.nscdSockets, ...(daemons.resolvedSocket && daemons.hosts.includes('resolve') ? [daemons.resolvedSocket] : [])];
  const script = [...hidden.map((p) => `if [ -S '${p}' ]; then echo "visible: ${p}"; exit 90; fi`), `if grep -qE '^[[:space:]]*hosts:.*[[:space:]](resolve|mdns[a-z0-9_]*)([[:space:]]|$)' /etc/nsswitch.conf; then echo 'nsswitch.conf still has resolve/mdns'; exit 91; fi`, `getent ahosts ${LOOKUP_PROBE} >/dev/null; r=$?; [ $r -eq 0 ] || [ $r -eq 2 ] || { echo "getent exit $r"; exit 92; }`].join('\n');
  const r = await host.run([...view, 'setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', '/bin/sh', '-c', script]);
  out.push(
    r.exitCode === 0
      ? pass(`launched apps' lookups (${user.name})`, view.length ? `run-as/run view: ${hidden.length ? `${hidden.join(', ')} hidden, ` : ''}hosts: files dns, resolvers ${e.dns.join(', ')}` : 'no view needed: nothing local answers lookups')
      : fail(`launched apps' lookups (${user.name})`, `in the view run-as gives apps: ${(r.stdout + r.stderr).trim() || `exit ${r.exitCode}`}`, 'report this: the view must hide every local resolver daemon'),
  );
  return out;
}
