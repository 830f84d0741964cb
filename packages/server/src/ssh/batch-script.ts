// Batches several argvs into one `sh -c` script with per-command delimiters and exit codes (one SSH round trip).
import { randomBytes } from 'node:crypto';
import type { RunResult } from '@egress/core';
import { quoteArgv } from './shell-quote.js';

/** One command of a batch: its quoted command line and its stdin, if any. */
export interface BatchCommand {
  argv: readonly string[];
  stdin?: string;
  /** With stopOnError 'changes': whether a failure of this command ends the batch. */
  stops?: boolean;
}

/** A batch script and the marker its output is split on. */
export interface BatchScript {
  script: string;
  marker: string;
}

function heredoc(stdin: string, tag: string): string {
  return `<<'${tag}'\n${stdin}${stdin.endsWith('\n') ? '' : '\n'}${tag}\n`;
}

/**
 * The shell text of one command. `ls -A -- PATH` (the engine reads every owned path with it, to list directories) runs
 * ls only for a directory or a missing path; for anything else it prints the path as ls would, with the shell's own
 * printf: no process for each of a server's owned files, twice per change (its read and its verification).
 */
function commandLine(argv: readonly string[]): string {
  if (argv.length === 4 && argv[0] === 'ls' && argv[1] === '-A' && argv[2] === '--' && argv[3]!.startsWith('/')) {
    const p = quoteArgv([argv[3]!]);
    return `{ if [ ! -d ${p} ] && { [ -e ${p} ] || [ -L ${p} ]; }; then printf '%s\\n' ${p}; else ${quoteArgv(argv)}; fi; }`;
  }
  return quoteArgv(argv);
}

/**
 * Builds a script that prints `MARKER <index>`, the command's stdout, `MARKER E <exit>` and its stderr for each
 * command. stdin is passed as a quoted here-document (no expansion); content
 * without a final newline gets one (use writeFile for exact bytes).
 */
export function buildBatchScript(commands: readonly BatchCommand[], stopOnError: boolean | 'changes', marker = `EGRESS${randomBytes(8).toString('hex')}`): BatchScript {
  const lines = ['set +e', 'umask 077', `t=$(mktemp -d) || exit 97`, `trap 'rm -rf "$t"' EXIT`];
  commands.forEach((c, i) => {
    const tag = `${marker}_IN${i}`;
    if (c.stdin !== undefined && c.stdin.split('\n').includes(tag)) throw new Error('stdin contains the batch delimiter');
    const input = c.stdin !== undefined ? heredoc(c.stdin, tag) : '</dev/null\n';
    // stdout goes straight out after the command's header; stderr is kept aside and printed only when there is any,
    // so a command costs one process of its own (a batch of 40 reads is 40 processes on the VPS, not 120).
    lines.push(`printf '\\n%s %s\\n' '${marker}' ${i}`);
    lines.push(`${commandLine(c.argv)} 2>"$t/e" ${input.trimEnd()}`);
    lines.push(`rc=$?`);
    lines.push(`printf '\\n%s E %s\\n' '${marker}' "$rc"; if [ -s "$t/e" ]; then cat "$t/e"; fi`);
    if (stopOnError === true || (stopOnError === 'changes' && c.stops)) lines.push(`[ "$rc" -eq 0 ] || exit 0`);
  });
  lines.push(`printf '\\n%s END\\n' '${marker}'`);
  return { script: `${lines.join('\n')}\n`, marker };
}

/** Splits the output of a batch script into one result per command that ran. */
export function parseBatchOutput(stdout: string, marker: string): RunResult[] {
  const results: RunResult[] = [];
  const head = new RegExp(`\\n${marker} (\\d+)\\n`, 'g');
  const starts: Array<{ index: number; at: number; end: number }> = [];
  for (let m = head.exec(stdout); m; m = head.exec(stdout)) starts.push({ index: Number(m[1]), at: m.index, end: m.index + m[0].length });
  starts.forEach((s, k) => {
    const stop = k + 1 < starts.length ? starts[k + 1]!.at : stdout.lastIndexOf(`\n${marker} END\n`) >= 0 ? stdout.lastIndexOf(`\n${marker} END\n`) : stdout.length;
    const body = stdout.slice(s.end, stop);
    const tail = [...body.matchAll(new RegExp(`\\n${marker} E (\\d+)\\n`, 'g'))].pop();
    // A command still running when the batch was cut off (no exit line) is not a result.
    if (!tail && k === starts.length - 1) return;
    if (!tail || s.index !== k) throw new Error(`malformed batch output near command ${k}`);
    results.push({ exitCode: Number(tail[1]), stdout: body.slice(0, tail.index), stderr: body.slice(tail.index! + tail[0].length) });
  });
  return results;
}
