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

/** A finished run of `inTurn`: exit code and combined output. */
export interface TurnRun {
  exitCode: number | null;
  out: string;
}

/**
 * Runs A, and once its output shows it holds the lock (`held`), stops it (SIGSTOP) and starts B, which must then
 * wait for A (its output matches `waited`) or be refused; A goes on (SIGCONT) once B has said so. B's change
 * lands last. (A that ends before `held` or B that ends at once are returned as they are.)
 */
export async function inTurn(lab: Lab, host: LabHostName, a: string[], b: string[], marks: { held: RegExp; waited: RegExp }): Promise<{ a: TurnRun; b: TurnRun }> {
  const start = (argv: string[]) => {
    const p = lab.spawn(host, ['sh', '-c', 'echo "egress-pid $$" >&2; cd /root && exec "$@"', 'sh', ...argv]);
    let done = false;
    void p.exited.then(() => (done = true));
    return { p, done: () => done };
  };
  const until = async (cond: () => boolean) => {
    while (!cond()) await sleep(10);
  };
  const first = start(a);
  await until(() => marks.held.test(first.p.output()) || first.done());
  const pid = /egress-pid (\d+)/.exec(first.p.output())?.[1];
  const stopped = !first.done() && pid !== undefined && (await lab.exec(host, ['kill', '-STOP', pid])).exitCode === 0;
  const second = start(b);
  await until(() => marks.waited.test(second.p.output()) || second.done());
  if (stopped) await lab.exec(host, ['kill', '-CONT', pid!]);
  const [ea, eb] = await Promise.all([first.p.exited, second.p.exited]);
  return { a: { exitCode: ea.code, out: first.p.output() }, b: { exitCode: eb.code, out: second.p.output() } };
}
