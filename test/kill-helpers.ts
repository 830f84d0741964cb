// Helpers for the interruption tests: run a CLI inside a lab host and SIGKILL it right after its n-th `[#` line.
import type { Lab, LabHostName } from '@egress/lab';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Lines that echo a change (`[#] …` locally, `[#root@vps] …` over SSH). */
export function changeLines(output: string): string[] {
  return output.split('\n').filter((l) => /^\[#/.test(l));
}

/**
 * Starts `argv` in `host` (cwd /root) and kills it with SIGKILL once its output holds `n` change lines.
 * Returns whether it was killed (false: it ended before reaching line n) and its output.
 */
export async function killAfterChangeLine(lab: Lab, host: LabHostName, argv: string[], n: number, env: Record<string, string> = {}): Promise<{ killed: boolean; output: string; lines: number }> {
  // The shell prints the pid the command keeps after exec, as seen inside the host, so the kill reaches egress itself.
  const proc = lab.spawn(host, ['sh', '-c', 'echo "egress-pid $$" >&2; cd /root && exec "$@"', 'sh', ...argv], { env });
  let done = false;
  void proc.exited.then(() => (done = true));
  for (;;) {
    const out = proc.output();
    const pid = /egress-pid (\d+)/.exec(out)?.[1];
    if (pid && changeLines(out).length >= n) {
      await lab.exec(host, ['kill', '-KILL', pid]);
      const end = await proc.exited;
      return { killed: end.code !== 0, output: proc.output(), lines: changeLines(proc.output()).length };
    }
    if (done) return { killed: false, output: out, lines: changeLines(out).length };
    await sleep(5);
  }
}
