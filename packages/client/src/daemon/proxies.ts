// The saved proxies (/etc/egress/proxies.json) as child processes of the supervisor: started, restarted with a
// back-off when they exit, stopped when removed from the file or when the supervisor stops. Each child is recorded
// (pid, start time, arguments) in /run/egress/proxies.json; a daemon that starts after one that was SIGKILLed finds
// the children it left (the same pid, start time and command line, never a pid alone) and stops them before it
// starts its own: never two on one port, never an orphan.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Host } from '@egress/core/host/host';
import { bootCommand } from '../apply-client.js';
import { loadProxies, proxyArgv, type SavedProxy } from '../proxy/persist.js';
import { loadRunRecords, PROXIES_RUN_PATH, RECORDED_LINE, recordOf, statusPathFor, stillRunning, stopRecorded, type RunRecord } from '../proxy/running.js';

const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30_000;
/** A child that ran this long before exiting starts again after the shortest back-off. */
const HEALTHY_RUN_MS = 60_000;

/** The back-off before the next start: doubled after each quick exit, reset after a long run. */
export function nextBackoff(previous: number | undefined, ranMs: number): number {
  if (previous === undefined || ranMs >= HEALTHY_RUN_MS) return BACKOFF_MIN_MS;
  return Math.min(previous * 2, BACKOFF_MAX_MS);
}

interface Slot {
  config: SavedProxy;
  key: string;
  child?: ChildProcess;
  record?: RunRecord;
  startedAt: number;
  backoff?: number;
  timer?: NodeJS.Timeout;
}

export interface ProxyRunner {
  /** Re-reads proxies.json and converges the children to it. */
  reload(): Promise<void>;
  stop(): Promise<void>;
}

export function startProxyRunner(host: Host, log: (line: string) => void, command: string[] = bootCommand()): ProxyRunner {
  const slots = new Map<string, Slot>();
  let stopped = false;
  let lastError: string | undefined;

  // One write at a time, each of the state when it runs: two overlapping writes could otherwise land out of order
  // and leave an older list (a running proxy unrecorded: not listed, and not found by the next daemon).
  let writing: Promise<void> = Promise.resolve();
  const writeRun = (): Promise<void> => {
    writing = writing.then(async () => {
      if (stopped) return;
      const records: Record<string, RunRecord> = {};
      for (const [id, s] of slots) if (s.record && s.child && s.child.exitCode === null && s.child.signalCode === null) records[id] = s.record;
      await host.writeFile(PROXIES_RUN_PATH, `${JSON.stringify(records)}\n`, { mode: 0o644 }).catch((err: Error) => log(`proxies: cannot write ${PROXIES_RUN_PATH}: ${err.message}`));
    });
    return writing;
  };

  const launch = (s: Slot): void => {
    s.timer = undefined;
    if (stopped || slots.get(s.config.id) !== s) return;
    const [exe, ...pre] = command as [string, ...string[]];
    const args = [...proxyArgv(s.config), '--status-file', statusPathFor(s.config.id)];
    // stdin is the go-ahead: the child serves only after RECORDED_LINE, written once its record is; if this daemon
    // dies before that, the child sees its stdin end and exits without serving (never an unrecorded proxy).
    const child = spawn(exe, [...pre, ...args], { stdio: ['pipe', 'inherit', 'inherit'], cwd: '/' });
    child.stdin?.on('error', () => undefined);
    s.child = child;
    s.record = undefined;
    s.startedAt = Date.now();
    child.on('error', (err) => log(`proxy ${s.config.id}: cannot start: ${err.message}`));
    child.on('exit', (code, signal) => {
      if (s.child === child) {
        s.child = undefined;
        s.record = undefined;
      }
      void writeRun();
      if (stopped || slots.get(s.config.id) !== s) return;
      s.backoff = nextBackoff(s.backoff, Date.now() - s.startedAt);
      log(`proxy ${s.config.id}: exited (${signal ?? `code ${code}`}); restarting in ${s.backoff / 1000} s`);
      s.timer = setTimeout(() => launch(s), s.backoff);
    });
    if (child.pid) {
      const pid = child.pid;
      log(`proxy ${s.config.id}: started, pid ${pid}`);
      // The start time is read once the child exists; a child already gone gets no record.
      void recordOf(pid, args).then((rec) => {
        if (rec && s.child === child) {
          s.record = rec;
          return writeRun().then(() => void child.stdin?.end(`${RECORDED_LINE}\n`));
        }
        child.stdin?.end();
      });
    }
  };

  /** Stops the proxies a previous daemon recorded that still run (it was killed without stopping them). */
  const stopLeftovers = async (): Promise<void> => {
    const ours = new Set([...slots.values()].map((s) => s.child?.pid));
    for (const [id, rec] of Object.entries(await loadRunRecords(host))) {
      if (ours.has(rec.pid) || !(await stillRunning(rec))) continue;
      log(`proxy ${id}: pid ${rec.pid} was left running by a previous daemon; stopping it`);
      await stopRecorded(rec);
    }
  };

  const halt = async (s: Slot): Promise<void> => {
    if (s.timer) clearTimeout(s.timer);
    const child = s.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const hard = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(hard);
  };

  let leftoversChecked = false;
  const converge = async (): Promise<void> => {
    if (stopped) return;
    if (!leftoversChecked) {
      leftoversChecked = true;
      await stopLeftovers();
    }
    let wanted: SavedProxy[];
    try {
      wanted = (await loadProxies(host)).proxies;
      if (lastError) log('proxies: file accepted again');
      lastError = undefined;
    } catch (err) {
      // An invalid file leaves the running proxies as they are until it is fixed.
      const msg = (err as Error).message;
      if (msg !== lastError) log(`proxies: file refused, running proxies kept: ${msg}`);
      lastError = msg;
      return;
    }
    const want = new Map(wanted.map((p) => [p.id, p]));
    for (const [id, s] of [...slots]) {
      const w = want.get(id);
      if (w && JSON.stringify(w) === s.key) continue;
      slots.delete(id);
      await halt(s);
      log(`proxy ${id}: ${w ? 'changed, restarting' : 'removed, stopped'}`);
    }
    for (const p of wanted) {
      if (slots.has(p.id)) continue;
      const s: Slot = { config: p, key: JSON.stringify(p), startedAt: 0 };
      slots.set(p.id, s);
      launch(s);
    }
    await writeRun();
  };

  // One convergence at a time: a reload while one runs waits for it.
  let queue: Promise<void> = Promise.resolve();
  return {
    reload() {
      const next = queue.then(converge);
      queue = next.catch(() => undefined);
      return next;
    },
    async stop() {
      stopped = true;
      await queue;
      await Promise.all([...slots.values()].map(halt));
      slots.clear();
      await writing;
      await host.removeFile(PROXIES_RUN_PATH);
    },
  };
}
