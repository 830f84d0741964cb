// A tiny helper process that cleans an isolated run up when its owner dies without doing it (SIGKILL): it waits for EOF on a pipe from the owner.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Path of the reaper's entry point (built code only). */
export function reaperScript(): string {
  return fileURLToPath(new URL('./reaper-main.js', import.meta.url));
}

/**
 * Starts the reaper of the run owned by `ownerPid` in its own session (a terminal's Ctrl-C does not reach it); it holds the
 * read end of a pipe whose write end only this process has, so it wakes when this process ends in any way.
 * Returns its pid, or undefined when running from sources (tests), where there is no built entry point.
 */
export function startReaper(ownerPid: number): number | undefined {
  const script = reaperScript();
  if (!existsSync(script)) return undefined;
  const child = spawn(process.execPath, [script, String(ownerPid)], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  child.on('error', () => undefined);
  child.stdin?.on('error', () => undefined);
  child.unref();
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return child.pid;
}
