// The record of one isolated run (/run/egress/isolate/<pid>.json): what it made, so a crash can be undone by the next start.
import type { Host } from '@egress/core/host/host';
import { parseJsonWith } from '@egress/core/model/parse';
import { IfaceName, SafeName, TableId } from '@egress/core/model/primitives';
import { z } from 'zod';
import { ISOLATE_RUN_DIR, isolateNames, ownerPidOf } from './names.js';

/** One run's record. */
export const IsolateRecord = z
  .object({
    version: z.literal(1),
    pid: z.number().int().min(1),
    /** Start time of the owner (field 22 of /proc/PID/stat): a reused pid is not the owner. */
    startTime: z.string().regex(/^\d+$/),
    reaperPid: z.number().int().min(1).optional(),
    egress: SafeName,
    egressIface: IfaceName,
    table: TableId,
    net4: z.string(),
    net6: z.string().optional(),
    /** Shared sysctls this run holds (restored when the last holder ends). */
    shared: z.array(z.string().regex(/^net\.ipv[46]\.conf\.[A-Za-z0-9_./-]+\.(force_)?forwarding$/)).default([]),
    createdAt: z.string(),
  })
  .strict();
export type IsolateRecord = z.infer<typeof IsolateRecord>;

/** Saves a run's record (0600). */
export async function writeRecord(host: Host, record: IsolateRecord): Promise<void> {
  await host.writeFile(isolateNames(record.pid).recordPath, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
}

/** Reads the record of owner `pid`; undefined when there is none or it does not parse (a half-written leftover). */
export async function readRecord(host: Host, pid: number): Promise<IsolateRecord | undefined> {
  const text = await host.readFile(isolateNames(pid).recordPath);
  if (text === undefined) return undefined;
  try {
    return parseJsonWith(IsolateRecord, text, 'isolate record');
  } catch {
    return undefined;
  }
}

/** Owner pids that have a record. */
export async function listRecordPids(host: Host): Promise<number[]> {
  const r = await host.run(['ls', '-1', '--', ISOLATE_RUN_DIR]);
  if (r.exitCode !== 0) return [];
  return r.stdout
    .split('\n')
    .map((f) => ownerPidOf('record', f.trim()))
    .filter((p): p is number => p !== undefined);
}

/** The start time of a running process, or undefined when `pid` is not running (gone, or a zombie nobody reaped yet). */
export async function processStartTime(host: Host, pid: number): Promise<string | undefined> {
  const stat = await host.readFile(`/proc/${pid}/stat`).catch(() => undefined);
  if (stat === undefined) return undefined;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
  return fields[19];
}

/** Whether the owner of a run is still the process that made it (alive and same start time when known). */
export async function ownerAlive(host: Host, pid: number, record?: IsolateRecord): Promise<boolean> {
  const start = await processStartTime(host, pid);
  if (start === undefined) return false;
  return record ? record.startTime === start : true;
}
