// The engine's journal (0600 JSON): original sysctl values, the nft tables it loaded, the wg config of each link it brought up.
import { createHash } from 'node:crypto';
import { numericNftPriorities } from '../render/nft-priority.js';
import { z } from 'zod';
import type { Host } from '../host/host.js';
import { parseJsonWith } from '../model/parse.js';

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
});
export type Journal = z.infer<typeof Journal>;

/** An empty journal. */
export function emptyJournal(): Journal {
  return { version: 1, sysctls: {}, nft: {}, links: {}, files: [] };
}

/** Whether the journal records nothing (then its file is removed). */
export function journalIsEmpty(j: Journal): boolean {
  return !Object.keys(j.sysctls).length && !Object.keys(j.nft).length && !Object.keys(j.links).length && !j.files.length;
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
  return `${JSON.stringify({ version: 1, sysctls: sort(j.sysctls), nft: sort(j.nft), links: sort(j.links), files: [...new Set(j.files)].sort() }, null, 2)}\n`;
}

/** sha256 hex of a text. */
export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Normalizes `nft list table` output: drops counters' values, handles, timeouts and blank lines, and writes named
 * chain priorities as numbers (nft 1.1.x lists `priority -100` as `priority dstnat`).
 */
export function normalizeNftListing(text: string): string {
  return numericNftPriorities(text)
    .split('\n')
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
