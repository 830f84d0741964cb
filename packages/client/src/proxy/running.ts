// Which saved proxies run and what they carry: the daemon records each child it starts (pid, start time, argv) in
// /run/egress/proxies.json, and each child writes its counters to /run/egress/proxies/ID.json about once a second.
// A record is trusted only while the pid still has the same start time and command line (a pid alone can be reused).
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import type { Host } from '@egress/core/host/host';

// The processes are this machine's (the daemon's children): /proc is read directly, not through the Host.
const readProc = (pid: number, what: string): Promise<string | undefined> => readFile(`/proc/${pid}/${what}`, 'utf8').catch(() => undefined);

/** Field 22 of /proc/PID/stat, or undefined when `pid` is not running (gone, or a zombie). */
async function startTimeOf(pid: number): Promise<string | undefined> {
  const stat = await readProc(pid, 'stat');
  if (stat === undefined) return undefined;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[0] === 'Z' || fields[0] === 'X' ? undefined : fields[19];
}

/** Which pid runs which saved proxy; written by the daemon. */
export const PROXIES_RUN_PATH = '/run/egress/proxies.json';
/** One status file per running saved proxy, written by the proxy itself. */
export const PROXY_STATUS_DIR = '/run/egress/proxies';

export const RunRecord = z
  .object({
    pid: z.number().int().positive(),
    /** Field 22 of /proc/PID/stat when the daemon started it. */
    startTime: z.string().regex(/^\d+$/),
    /** The arguments after the program (`proxy --listen …`): the tail of /proc/PID/cmdline. */
    args: z.array(z.string()).min(1),
  })
  .strict();
export type RunRecord = z.infer<typeof RunRecord>;
export const ProxiesRun = z.record(z.string(), RunRecord);

export const ProxyStatus = z.object({
  pid: z.number().int().positive(),
  at: z.string(),
  active: z.number().int().nonnegative(),
  activeUdp: z.number().int().nonnegative(),
  connections: z.number().int().nonnegative(),
  refused: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  bytesUp: z.number().nonnegative(),
  bytesDown: z.number().nonnegative(),
  listening: z.array(z.string()),
});
export type ProxyStatus = z.infer<typeof ProxyStatus>;

export function statusPathFor(id: string): string {
  return `${PROXY_STATUS_DIR}/${id}.json`;
}

/** The records as the daemon wrote them (an unreadable file is no record). */
export async function loadRunRecords(host: Host): Promise<Record<string, RunRecord>> {
  const text = await host.readFile(PROXIES_RUN_PATH);
  if (text === undefined) return {};
  try {
    const r = ProxiesRun.safeParse(JSON.parse(text));
    return r.success ? r.data : {};
  } catch {
    return {};
  }
}

/** The record of a process just started with `args`; undefined when it is already gone. */
export async function recordOf(pid: number, args: string[]): Promise<RunRecord | undefined> {
  const startTime = await startTimeOf(pid);
  return startTime === undefined ? undefined : { pid, startTime, args };
}

/** Whether the record's pid is still that process: same start time, and its command line ends with the args. */
export async function stillRunning(rec: RunRecord): Promise<boolean> {
  if ((await startTimeOf(rec.pid)) !== rec.startTime) return false;
  const cmdline = await readProc(rec.pid, 'cmdline');
  if (cmdline === undefined) return false;
  const argv = cmdline.split('\0');
  if (argv.at(-1) === '') argv.pop();
  const tail = argv.slice(-rec.args.length);
  return tail.length === rec.args.length && tail.every((a, i) => a === rec.args[i]);
}

/** The running records only (checked one by one). */
export async function liveRecords(host: Host): Promise<Record<string, RunRecord>> {
  const out: Record<string, RunRecord> = {};
  for (const [id, rec] of Object.entries(await loadRunRecords(host))) if (await stillRunning(rec)) out[id] = rec;
  return out;
}

/**
 * Stops a recorded process that is not our child (so no exit event): SIGTERM, then SIGKILL after `graceMs`, checking
 * before every signal that the pid is still that process. Resolves once it is gone.
 */
export async function stopRecorded(rec: RunRecord, graceMs = 5000): Promise<void> {
  const signal = async (sig: NodeJS.Signals): Promise<boolean> => {
    if (!(await stillRunning(rec))) return false;
    try {
      process.kill(rec.pid, sig);
    } catch {
      return false;
    }
    return true;
  };
  if (!(await signal('SIGTERM'))) return;
  const deadline = Date.now() + graceMs;
  while (await stillRunning(rec)) {
    if (Date.now() > deadline) {
      await signal('SIGKILL');
      // A SIGKILLed process leaves at once (a zombie counts as gone).
      for (let i = 0; i < 100 && (await stillRunning(rec)); i++) await new Promise((r) => setTimeout(r, 20));
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * For uninstall: stops the recorded proxies among `ids` ('*': all) that still run. The daemon stops them too once it
 * sees the file change; this covers a daemon that is not running (killed), whose proxies would otherwise stay.
 */
export async function stopRecordedProxies(host: Host, ids: readonly string[] | '*'): Promise<string[]> {
  const stopped: string[] = [];
  for (const [id, rec] of Object.entries(await liveRecords(host))) {
    if (ids !== '*' && !ids.includes(id)) continue;
    await stopRecorded(rec);
    stopped.push(id);
  }
  return stopped;
}

/** The status a running proxy wrote, when it is this pid's. */
export async function readProxyStatus(host: Host, id: string, pid: number): Promise<ProxyStatus | undefined> {
  const text = await host.readFile(statusPathFor(id)).catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const r = ProxyStatus.safeParse(JSON.parse(text));
    return r.success && r.data.pid === pid ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** "2 active (1 UDP), 14 connections, 1.2 MB up / 30.5 MB down" */
export function formatProxyStatus(s: ProxyStatus): string {
  const mb = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`);
  return `${s.active} active${s.activeUdp ? ` (${s.activeUdp} UDP)` : ''}, ${s.connections} connections, ${mb(s.bytesUp)} up / ${mb(s.bytesDown)} down${s.refused || s.failed ? `, ${s.refused} refused, ${s.failed} failed` : ''}`;
}

/**
 * In the proxy: writes `snapshot()` to `path` (atomically) every `intervalMs` while it changes. The timer does not
 * keep the process alive; stop() removes the file.
 */
export function startStatusWriter(path: string, snapshot: () => Omit<ProxyStatus, 'pid' | 'at'>, intervalMs = 1000): { stop(): Promise<void> } {
  let last = '';
  let writing: Promise<unknown> = mkdir(dirname(path), { recursive: true, mode: 0o755 }).catch(() => undefined);
  const write = () => {
    const body = JSON.stringify(snapshot());
    if (body === last) return;
    last = body;
    const text = `${JSON.stringify({ pid: process.pid, at: new Date().toISOString(), ...(JSON.parse(body) as object) })}\n`;
    const tmp = `${path}.${process.pid}.tmp`;
    writing = writing.then(() => writeFile(tmp, text, { mode: 0o644 }).then(() => rename(tmp, path))).catch(() => undefined);
  };
  write();
  const timer = setInterval(write, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await writing;
      await unlink(path).catch(() => undefined);
    },
  };
}

/** The go-ahead line the daemon writes on the child's stdin once its record is written. */
export const RECORDED_LINE = 'recorded';

/** True once `input` carries the go-ahead line; false when it ends (or fails) before that. */
export function recordedBySupervisor(input: NodeJS.ReadableStream & { destroy?: () => void }): Promise<boolean> {
  return new Promise((resolve) => {
    let text = '';
    const finish = (ok: boolean) => {
      input.removeListener('data', onData);
      input.removeListener('end', onEnd);
      input.removeListener('error', onEnd);
      input.destroy?.();
      resolve(ok);
    };
    const onData = (b: Buffer | string) => {
      text += b.toString();
      if (text.split('\n').slice(0, -1).includes(RECORDED_LINE)) finish(true);
      else if (text.length > 1024) finish(false);
    };
    const onEnd = () => finish(false);
    input.on('data', onData);
    input.once('end', onEnd);
    input.once('error', onEnd);
  });
}
