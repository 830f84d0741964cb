// Reads what a host has of the things egress owns, in one batch of commands (one round trip over SSH).
import { z } from 'zod';
import { CommandError } from '../errors.js';
import { runAll, type Command, type Host, type RunResult } from '../host/host.js';
import { parseJsonWith } from '../model/parse.js';
import { IpRouteJson, IpRuleJson, routeFromJson, ruleFromJson, type CurrentRoute, type CurrentRule } from './ip-format.js';
import { Journal, emptyJournal, sha256 } from './journal.js';
import type { HostState, Ownership } from './types.js';

export interface CurrentFile {
  kind: 'file' | 'dir';
  mode: number;
  /** File content (files only). */
  content?: string;
  /** Entry names (directories only). */
  entries?: string[];
}

export interface CurrentLink {
  name: string;
  mtu: number;
  addresses: string[];
  /** Administratively up (a wg-quick killed half-way leaves the link created but down). */
  up?: boolean;
  /** Present when `wg show NAME dump` answers. */
  wg?: { listenPort: number; peers: string[] };
}

/** What the host has now, limited to what egress owns or wants. */
export interface CurrentState {
  files: Map<string, CurrentFile>;
  /** Listing of each owned table that exists, by "family name". */
  nft: Map<string, string>;
  /** Rules in owned priority ranges, both families. */
  rules: CurrentRule[];
  /** Routes in owned tables, both families. */
  routes: CurrentRoute[];
  /** Current value of each sysctl egress wants or journaled (absent: key does not exist). */
  sysctls: Map<string, string>;
  links: Map<string, CurrentLink>;
  /** Unit name -> enabled. */
  units: Map<string, boolean>;
  systemd: boolean;
  journal: Journal;
  /** Whether the journal file exists. */
  journalFound?: boolean;
}

/** Whether a priority is in one of the owned ranges. */
export function priorityOwned(priority: number, ownership: Ownership): boolean {
  return ownership.rulePriorities.some(([lo, hi]) => priority >= lo && priority <= hi);
}

const LinkJson = z.array(z.object({ ifname: z.string(), mtu: z.number(), flags: z.array(z.string()).optional() }).loose());
const AddrJson = z.array(z.object({ addr_info: z.array(z.object({ local: z.string(), prefixlen: z.number(), scope: z.string().optional() }).loose()).default([]) }).loose());

function expect(r: RunResult | undefined, c: Command): RunResult {
  if (!r) throw new CommandError([...c.argv], -1, 'no result (batch stopped)');
  return r;
}

/** Parses the result of `cat FILE`: the content, undefined when absent; throws on other failures. */
function catResult(r: RunResult | undefined, path: string): string | undefined {
  if (!r) throw new CommandError(['cat', '--', path], -1, 'no result (batch stopped)');
  if (r.exitCode === 0) return r.stdout;
  if (/No such file or directory/.test(r.stderr)) return undefined;
  throw new CommandError(['cat', '--', path], r.exitCode, r.stderr);
}

/** Parses `stat -c '%a %F'`: kind and mode, undefined when absent. */
function statResult(r: RunResult | undefined, path: string): CurrentFile | undefined {
  if (!r) throw new CommandError(['stat', path], -1, 'no result (batch stopped)');
  if (r.exitCode !== 0) {
    if (/No such file or directory|Not a directory/.test(r.stderr)) return undefined;
    throw new CommandError(['stat', '-c', '%a %F', '--', path], r.exitCode, r.stderr);
  }
  const [mode, ...type] = r.stdout.trim().split(' ');
  return { kind: type.join(' ') === 'directory' ? 'dir' : 'file', mode: Number.parseInt(mode!, 8) };
}

/** What decides the engine's first read: the paths, sysctl keys, links and units a desired state names. */
export type ReadShape = { files: ReadonlyArray<{ path: string }>; sysctls: ReadonlyArray<{ key: string }>; links: ReadonlyArray<{ name: string }>; units: ReadonlyArray<{ name: string }> };

/**
 * The engine's first read batch for `desired` under `ownership`, with where each answer sits in it. `hashed`: paths
 * whose content is read as its sha256 (the verification after a write of known content: the file's bytes are not sent
 * back, which for a 1,000-peer server is ~240 KB of server.json and wg config per `peer add`).
 */
function firstRead(desired: ReadShape, ownership: Ownership, hashed: ReadonlySet<string> = new Set()) {
  const paths = [...new Set([...desired.files.map((f) => f.path), ...ownership.files])].sort();
  const sysctlKeys = [...new Set(desired.sysctls.map((s) => s.key))].sort();
  const linkNames = [...new Set([...ownership.links, ...desired.links.map((l) => l.name)])].sort();
  const unitNames = [...new Set([...ownership.units, ...desired.units.map((u) => u.name)])].sort();
  const commands: Command[] = [];
  const at = (c: Command): number => commands.push(c) - 1;
  const journalAt = at({ argv: ['cat', '--', ownership.journalPath] });
  // Content (or entries) of every path in the same batch as its stat: reading what exists costs no second round trip.
  const statAt = paths.map((p) => ({ stat: at({ argv: ['stat', '-c', '%a %F', '--', p] }), cat: at({ argv: [hashed.has(p) ? 'sha256sum' : 'cat', '--', p] }), ls: at({ argv: ['ls', '-A', '--', p] }) }));
  const nftAt = ownership.nftTables.map((t) => at({ argv: ['nft', 'list', 'table', t.family, t.name] }));
  const rulesAt = ([4, 6] as const).map((f) => at({ argv: ['ip', '-j', `-${f}`, 'rule', 'show'] }));
  const routesAt = ownership.routeTables.flatMap((t) => ([4, 6] as const).map((f) => ({ f, t, i: at({ argv: ['ip', '-j', `-${f}`, 'route', 'show', 'table', String(t)] }) })));
  const sysctlAt = sysctlKeys.map((k) => at({ argv: ['sysctl', '-n', k] }));
  const linksAt = linkNames.length ? at({ argv: ['ip', '-j', 'link', 'show'] }) : -1;
  const addrAt = linkNames.map((n) => at({ argv: ['ip', '-j', 'addr', 'show', 'dev', n] }));
  const wgAt = linkNames.map((n) => at({ argv: ['wg', 'show', n, 'dump'] }));
  const systemdAt = unitNames.length ? at({ argv: ['test', '-d', '/run/systemd/system'] }) : -1;
  const unitAt = unitNames.map((n) => at({ argv: ['systemctl', 'is-enabled', n] }));
  return { commands, paths, sysctlKeys, linkNames, unitNames, journalAt, statAt, nftAt, rulesAt, routesAt, sysctlAt, linksAt, addrAt, wgAt, systemdAt, unitAt };
}

/**
 * The commands of the engine's first read (all reads, no stdin), so a caller that reads facts anyway can send them in
 * its own batch and prime the host with the answers (SshHost.primeResults): the engine's read then costs no round trip.
 */
export function stateReadCommands(desired: ReadShape, ownership: Ownership, verify?: VerifyContents): Command[] {
  return firstRead(desired, ownership, hashedPaths(verify)).commands;
}

/** Desired file contents to verify by hash (path → content): apply's verification of what it just wrote. */
export type VerifyContents = ReadonlyMap<string, string>;

function hashedPaths(verify: VerifyContents | undefined): ReadonlySet<string> {
  return new Set(verify?.keys() ?? []);
}

/** The content a `sha256sum` answer stands for: `expected` when the hashes match, else a text that differs from it. */
export function contentFromHash(r: RunResult, path: string, expected: string): string | undefined {
  if (r.exitCode !== 0) return catResult(r, path);
  const hash = r.stdout.trim().split(/\s+/)[0] ?? '';
  return hash === sha256(expected) ? expected : `(content with sha256 ${hash || '?'}, not the one written)`;
}

/**
 * Reads the current state of everything egress owns or wants on `host` in one batch (one SSH round trip; a second only
 * for what just the journal names). `prefetched`: the answers of `stateReadCommands(desired, ownership)` already run.
 */
export async function readState(host: Host, desired: HostState, ownership: Ownership, prefetched?: readonly RunResult[], verify?: VerifyContents): Promise<CurrentState> {
  const { commands, paths, sysctlKeys, linkNames, unitNames, journalAt, statAt, nftAt, rulesAt, routesAt, sysctlAt, linksAt, addrAt, wgAt, systemdAt, unitAt } = firstRead(desired, ownership, hashedPaths(verify));
  const nftKeys = ownership.nftTables.map((t) => `${t.family} ${t.name}`);
  // Answers of exactly these commands, run after the last change in the same batch (apply's verification).
  const results = prefetched && prefetched.length === commands.length ? prefetched : await runAll(host, commands);
  const res = (i: number): RunResult => expect(results[i], commands[i]!);
  const fail = (i: number): never => {
    const r = res(i);
    throw new CommandError([...commands[i]!.argv], r.exitCode, r.stderr);
  };

  const journalText = catResult(results[journalAt], ownership.journalPath);
  const journal = journalText === undefined || !journalText.trim() ? emptyJournal() : parseJsonWith(Journal, journalText, ownership.journalPath);

  const files = new Map<string, CurrentFile>();
  paths.forEach((p, k) => {
    const f = statResult(results[statAt[k]!.stat], p);
    if (!f) return;
    if (f.kind === 'dir') {
      const r = res(statAt[k]!.ls);
      if (r.exitCode !== 0) throw new CommandError(['ls', '-A', '--', p], r.exitCode, r.stderr);
      f.entries = r.stdout.split('\n').filter(Boolean);
    } else {
      const expected = verify?.get(p);
      const r = results[statAt[k]!.cat];
      const content = expected !== undefined && r ? contentFromHash(r, p, expected) : catResult(r, p);
      if (content === undefined) return;
      f.content = content;
    }
    files.set(p, f);
  });
  // Second batch, only when the journal names more (files egress wrote, sysctls it changed) than this run reads.

  const extraPaths = journal.files.filter((p) => !paths.includes(p)).sort();
  // A per-interface key journaled as absent (its interface came later, e.g. a tunnel egress made) restores to the
  // value a new interface gets: the `default` key's, read here too.
  const defaults = Object.entries(journal.sysctls).flatMap(([k, v]) => (v === null && interfaceDefaultKey(k) ? [interfaceDefaultKey(k)!] : []));
  const extraKeys = [...new Set([...Object.keys(journal.sysctls), ...defaults])].filter((k) => !sysctlKeys.includes(k)).sort();
  const second: Command[] = [];
  const extraAt = extraPaths.map((p) => ({ p, stat: second.push({ argv: ['stat', '-c', '%a %F', '--', p] }) - 1, cat: second.push({ argv: ['cat', '--', p] }) - 1 }));
  const extraKeyAt = extraKeys.map((k) => second.push({ argv: ['sysctl', '-n', k] }) - 1);
  const more = second.length ? await runAll(host, second) : [];
  for (const { p, stat, cat } of extraAt) {
    const f = statResult(more[stat], p);
    if (!f) continue;
    files.set(p, f);
    if (f.kind === 'file') f.content = catResult(more[cat], p);
  }

  const nft = new Map<string, string>();
  nftKeys.forEach((key, k) => {
    const r = res(nftAt[k]!);
    if (r.exitCode === 0) nft.set(key, r.stdout);
    else if (!/No such file or directory/.test(r.stderr)) fail(nftAt[k]!);
  });

  const rules: CurrentRule[] = [];
  ([4, 6] as const).forEach((f, k) => {
    const r = res(rulesAt[k]!);
    if (r.exitCode !== 0) {
      if (f === 6 && /not supported/i.test(r.stderr)) return;
      fail(rulesAt[k]!);
    }
    for (const j of parseJsonWith(z.array(IpRuleJson), r.stdout || '[]', `ip -j -${f} rule show`)) {
      if (priorityOwned(j.priority, ownership)) rules.push(ruleFromJson(j, f));
    }
  });

  const routes: CurrentRoute[] = [];
  for (const { f, t, i } of routesAt) {
    const r = res(i);
    if (r.exitCode !== 0) {
      if (/FIB table does not exist|not supported/i.test(r.stderr)) continue;
      fail(i);
    }
    for (const j of parseJsonWith(z.array(IpRouteJson), r.stdout || '[]', `ip -j -${f} route show table ${t}`)) routes.push(routeFromJson(j, f, t));
  }

  const sysctls = new Map<string, string>();
  const sysctlValue = (key: string, r: RunResult | undefined): void => {
    if (!r) throw new CommandError(['sysctl', '-n', key], -1, 'no result (batch stopped)');
    if (r.exitCode === 0) sysctls.set(key, normalizeSysctl(r.stdout));
    else if (!/cannot stat|No such file/.test(r.stderr)) throw new CommandError(['sysctl', '-n', key], r.exitCode, r.stderr);
  };
  sysctlKeys.forEach((key, k) => sysctlValue(key, res(sysctlAt[k]!)));
  extraKeys.forEach((key, k) => sysctlValue(key, more[extraKeyAt[k]!]));

  const links = new Map<string, CurrentLink>();
  if (linksAt >= 0) {
    const all = parseJsonWith(LinkJson, res(linksAt).stdout || '[]', 'ip -j link show');
    linkNames.forEach((name, k) => {
      const l = all.find((x) => x.ifname === name);
      if (!l) return;
      const addrRun = res(addrAt[k]!);
      const addrs = addrRun.exitCode === 0 ? parseJsonWith(AddrJson, addrRun.stdout || '[]', `ip -j addr show dev ${name}`) : [];
      const addresses = addrs.flatMap((a) => a.addr_info.filter((i) => i.scope !== 'link').map((i) => `${i.local}/${i.prefixlen}`)).sort();
      const link: CurrentLink = { name, mtu: l.mtu, addresses, up: l.flags === undefined || l.flags.includes('UP') };
      const wgRun = res(wgAt[k]!);
      if (wgRun.exitCode === 0) link.wg = parseWgDump(wgRun.stdout);
      links.set(name, link);
    });
  }

  const systemd = systemdAt >= 0 && res(systemdAt).exitCode === 0;
  const units = new Map<string, boolean>();
  unitNames.forEach((n, k) => units.set(n, systemd && res(unitAt[k]!).stdout.trim() === 'enabled'));

  return { files, nft, rules, routes, sysctls, links, units, systemd, journal, journalFound: journalText !== undefined };
}

/** A sysctl value with whitespace runs collapsed ("32768\t60999\n" -> "32768 60999"). */
/** `net.ipv4.conf.default.KEY` for a per-interface `net.ipv4.conf.IF.KEY` (not all/default), else undefined. */
export function interfaceDefaultKey(key: string): string | undefined {
  const m = /^(net\.ipv[46]\.conf\.)([^.]+)\.(.+)$/.exec(key);
  return m && m[2] !== 'all' && m[2] !== 'default' ? `${m[1]}default.${m[3]}` : undefined;
}

export function normalizeSysctl(value: string): string {
  return value.trim().split(/\s+/).join(' ');
}

/** Parses `wg show NAME dump` keeping only listen port and peer public keys (the private key is dropped at once). */
export function parseWgDump(text: string): { listenPort: number; peers: string[] } {
  const [head, ...peers] = text.split('\n').filter(Boolean);
  const fields = (head ?? '').split('\t');
  return { listenPort: Number(fields[2] ?? 0), peers: peers.map((p) => p.split('\t')[0]!).sort() };
}
