// Small helpers around the lab: run-or-throw with a readable reason, timing, waiting for a port, asset paths.
import { fileURLToPath } from 'node:url';
import { hostPath, type Lab, type LabHostName, type LabProcess } from '@egress/lab';

/** A command that failed inside a lab host; its message is short enough for an "n/a: …" reason. */
export class StepError extends Error {}

/** Path, inside lab hosts, of a file in tools/bench/assets (hosts see the repository at HOST_REPO_DIR). */
export function assetPath(name: string): string {
  return hostPath(fileURLToPath(new URL(`../assets/${name}`, import.meta.url)));
}

/** First meaningful line of a command's error output, trimmed to one line. */
export function firstLine(text: string): string {
  const line = text.split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? '';
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

/** A short reason for an error, for the "n/a" of a figure. */
export function reasonOf(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return firstLine(msg) || 'failed without a message';
}

/** Runs argv in a lab host and returns stdout; throws a StepError naming the command and its stderr when it fails. */
export async function must(
  lab: Lab,
  host: LabHostName,
  argv: string[],
  opts: { user?: string; stdin?: string; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<string> {
  const r = await lab.exec(host, argv, { timeoutMs: 120_000, ...opts });
  if (r.exitCode !== 0) {
    const what = argv.slice(0, 4).map((a) => a.split('/').pop()).join(' ');
    throw new StepError(`${what}: exit ${r.exitCode}: ${firstLine(r.stderr) || firstLine(r.stdout)}`);
  }
  return r.stdout;
}

/** Runs fn and returns its result with the wall time in milliseconds. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = process.hrtime.bigint();
  const value = await fn();
  return { value, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}

/** Waits until a process prints `marker` (or exits, or the time runs out). */
export async function waitForOutput(proc: LabProcess, marker: RegExp, timeoutMs = 10_000): Promise<void> {
  let exited = false;
  void proc.exited.then(() => { exited = true; });
  const deadline = Date.now() + timeoutMs;
  while (!marker.test(proc.output())) {
    if (exited) throw new StepError(`exited before it was ready: ${firstLine(proc.output())}`);
    if (Date.now() > deadline) throw new StepError(`not ready within ${timeoutMs} ms: ${firstLine(proc.output())}`);
    await sleep(50);
  }
}

/** Waits until a TCP port listens in a lab host. */
export async function waitForListen(lab: Lab, host: LabHostName, port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await lab.exec(host, ['ss', '-Htln', `sport = :${port}`]);
    if (r.exitCode === 0 && r.stdout.trim()) return;
    if (Date.now() > deadline) throw new StepError(`nothing listens on port ${port} in ${host} after ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** Stops a process the bench started (by its handle, so by PID) and waits for it to exit. */
export async function stop(proc: LabProcess | undefined): Promise<void> {
  if (!proc) return;
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
  await proc.exited;
  clearTimeout(t);
}

/** Resolves after ms. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
