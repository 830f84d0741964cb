// Runs a parsed command line: output module, lazily imported command, one JSON document with --json.
import { Output, type OutputOptions } from '@egress/core';
import type { SessionOpener } from '../session.js';
import { markCliStart, printTiming, span } from '../timing.js';
import { parseCli, type ParsedCli } from './parse-cli.js';

export interface RunCliOptions extends OutputOptions {
  /** Opens the SSH session (tests pass a FakeHost opener). */
  open?: SessionOpener;
}

/** Dispatches one parsed invocation to its command and returns the command's report. */
export async function runParsed(parsed: Extract<ParsedCli, { kind: 'run' }>, output: Output, open: SessionOpener): Promise<unknown> {
  const { command, target, arg, options } = parsed;
  switch (command) {
    case 'provision':
      return (await import('../commands/provision.js')).provision(target, options, output, open);
    case 'peer add':
    case 'peer remove':
    case 'peer list':
      return (await import('../commands/peer.js')).peerCommand(command.split(' ')[1] as 'add' | 'remove' | 'list', target, arg, options, output, open);
    case 'forward add':
    case 'forward remove':
    case 'forward list':
      return (await import('../commands/forward.js')).forwardCommand(command.split(' ')[1] as 'add' | 'remove' | 'list', target, arg, options, output, open);
    case 'status':
      return (await import('../commands/status.js')).statusCommand(target, options, output, open);
    case 'deprovision':
      return (await import('../commands/deprovision.js')).deprovisionCommand(target, options, output, open);
  }
}

/** Parses argv and runs it; returns the exit code (0 ok, 2 bad input, 1 other failures). Only bin.ts exits. */
export async function runCli(argv: readonly string[], options: RunCliOptions = {}): Promise<number> {
  markCliStart();
  try {
    return await runCliTimed(argv, options);
  } finally {
    printTiming(options.stderr ?? process.stderr);
  }
}

async function runCliTimed(argv: readonly string[], options: RunCliOptions): Promise<number> {
  const endLoad = span('load');
  const { exitCodeFor } = await import('@egress/core');
  endLoad();
  let output = new Output(options);
  try {
    const parsed = parseCli(argv);
    if (parsed.kind !== 'run') {
      (options.stdout ?? process.stdout).write(parsed.text);
      return 0;
    }
    output = new Output({ ...options, json: !!parsed.options.json });
    const open = options.open ?? (await import('../session.js')).openSshSession;
    const { lockingOpener, withVpsLock } = await import('../vps-lock.js');
    const dryRun = !!parsed.options.dryRun;
    const report = await withVpsLock(parsed.command, parsed.target, dryRun, output, () => runParsed(parsed, output, lockingOpener(parsed.command, parsed.target, dryRun, output, open)));
    output.document(report);
    return 0;
  } catch (err) {
    output.error(err);
    if (output.json) output.document({ error: { code: (err as { code?: string }).code ?? 'E_INTERNAL', message: (err as Error).message } });
    return exitCodeFor(err);
  }
}
