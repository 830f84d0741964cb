// The engine's journal (0600 JSON): original sysctl values, the nft tables it loaded, the wg config of each link it brought up.
import { createHash } from 'node:crypto';
import { numericNftPriorities } from '../render/nft-priority.js';
import { z } from 'zod';
import type { Host } from '../host/host.js';
import { parseJsonWith } from '../model/parse.js';
import type { Ownership } from './types.js';

export const Journal = z.object({
  version: z.literal(1),
  /** Original value of every sysctl egress sets (null: the key did not exist yet, e.g. its interface), restored on teardown. */
  sysctls: z.record(z.string(), z.string().nullable()).default({}),
  /** Per "family name": sha256 of the text loaded and the normalized listing seen right after. */
  nft: z.record(z.string(), z.object({ sha256: z.string(), listing: z.string() })).default({}),
  /** Per link name: the wg-quick config path it was brought up from. */
  links: z.record(z.string(), z.string()).default({}),
  /** Files the engine wrote (removed on teardown even when only their directory is listed as owned). */
  files: z.array(z.string()).default([]),
  /**
   * What the run in progress owns (written before its first change, dropped once it converged): a run killed half-way
   * leaves rules, routes, links or files the saved state may not name yet; the next run owns them too and converges.
   */
  pending: z
    .object({
      rulePriorities: z.array(z.tuple([z.number().int(), z.number().int()])),
      routeTables: z.array(z.number().int()),
      links: z.array(z.string()),
      files: z.array(z.string()),
    })
    .optional(),
});
export type Journal = z.infer<typeof Journal>;

/** An empty journal. */
export function emptyJournal(): Journal {
  return { version: 1, sysctls: {}, nft: {}, links: {}, files: [] };
}

/** Whether the journal records nothing (then its file is removed). */
export function journalIsEmpty(j: Journal): boolean {
  return !Object.keys(j.sysctls).length && !Object.keys(j.nft).length && !Object.keys(j.links).length && !j.files.length && !j.pending;
}

/** Reads the journal; an empty one when the file does not exist. */
export async function readJournal(host: Host, path: string): Promise<Journal> {
  const text = await host.readFile(path);
  if (text === undefined || !text.trim()) return emptyJournal();
  return parseJsonWith(Journal, text, path);
}

/** Serializes a journal (stable key order). */
export function formatJournal(j: Journal): string {
  const sort = <T>(r: Record<string, T>): Record<string, T> => Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b)));
  const pending = j.pending
    ? {
        pending: {
          rulePriorities: [...j.pending.rulePriorities].sort((a, b) => a[0] - b[0]),
          routeTables: [...new Set(j.pending.routeTables)].sort((a, b) => a - b),
          links: [...new Set(j.pending.links)].sort(),
          files: [...new Set(j.pending.files)].sort(),
        },
      }
    : {};
  return `${JSON.stringify({ version: 1, sysctls: sort(j.sysctls), nft: sort(j.nft), links: sort(j.links), files: [...new Set(j.files)].sort(), ...pending }, null, 2)}\n`;
}

/** sha256 hex of a text. */
export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Drops the `elements = { … }` of sets the kernel fills itself (`flags dynamic`): they are traffic, not configuration. */
function withoutDynamicElements(lines: string[]): string[] {
  const out: string[] = [];
  let inSet = false;
  let dynamic = false;
  let skipping = false;
  for (const line of lines) {
    const t = line.trim();
    if (skipping) {
      if (t.endsWith('}')) skipping = false;
      continue;
    }
    if (/^set \S+ \{$/.test(t)) [inSet, dynamic] = [true, false];
    else if (inSet && t === '}') inSet = false;
    else if (inSet && /^flags .*\bdynamic\b/.test(t)) dynamic = true;
    else if (inSet && dynamic && t.startsWith('elements = {')) {
      skipping = !t.endsWith('}');
      continue;
    }
    out.push(line);
  }
  return out;
}

/**
 * Normalizes `nft list table` output: drops counters' values, handles, timeouts, dynamic set elements and blank lines,
 * and writes named chain priorities as numbers (nft 1.1.x lists `priority -100` as `priority dstnat`).
 */
export function normalizeNftListing(text: string): string {
  return withoutDynamicElements(numericNftPriorities(text).split('\n'))
    .map((l) =>
      l
        .replace(/\bcounter packets \d+ bytes \d+/g, 'counter')
        .replace(/\s*# handle \d+/g, '')
        .replace(/\s+expires \S+/g, '')
        .replace(/\s+used \d+ \w*bytes/g, '')
        .trim(),
    )
    .filter((l) => l.length > 0)
    .join('\n');
}

/** The ownership of a run plus what an interrupted earlier run recorded as pending (the next run converges it). */
export function withPending(ownership: Ownership, pending: Journal['pending']): Ownership {
  if (!pending) return ownership;
  const key = (r: [number, number]): string => `${r[0]}-${r[1]}`;
  const ranges = new Map([...ownership.rulePriorities, ...pending.rulePriorities].map((r) => [key(r), r] as const));
  return {
    ...ownership,
    rulePriorities: [...ranges.values()],
    routeTables: [...new Set([...ownership.routeTables, ...pending.routeTables])],
    links: [...new Set([...ownership.links, ...pending.links])],
    files: [...new Set([...ownership.files, ...pending.files])],
  };
}

/** The pending record of a run owning `ownership`. */
export function pendingOf(ownership: Ownership): NonNullable<Journal['pending']> {
  return { rulePriorities: ownership.rulePriorities.map(([a, b]) => [a, b]), routeTables: [...ownership.routeTables], links: [...ownership.links], files: [...ownership.files] };
}
