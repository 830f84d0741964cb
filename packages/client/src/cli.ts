// The egress-client command line: parse argv (callable from tests, no process), then run the command lazily.
import { Command, CommanderError } from 'commander';
import { ValidationError } from '@egress/core/errors';
import { Output } from '@egress/core/output';
import type { Host } from '@egress/core/host/host';
import { COMMANDS, type CommandSpec } from './cli-spec.js';
import { exitCode, type ExitStatus } from './exit-status.js';
import { changesClient, withChangeLock } from './state/change-lock.js';

/** A parsed command line: which command, its positional arguments and its options. */
export interface Invocation {
  command: string;
  args: string[];
  /** App argv for run-as / exec / run. */
  rest: string[];
  options: Record<string, unknown>;
}

export type ParseResult = { kind: 'run'; invocation: Invocation } | { kind: 'text'; text: string; exitCode: number };

/** What a command gets: output, a host (injectable for tests) and the caller's identity. */
export interface CommandContext {
  output: Output;
  /** The host to act on; created on first use (LocalHost) unless injected. */
  host(): Promise<Host>;
  isRoot: boolean;
  /** How long enroll/up wait for a first WireGuard handshake. */
  handshakeTimeoutMs: number;
}

export const VERSION = '0.1.0';

function build(onInvoke: (inv: Invocation) => void, write: (text: string) => void): Command {
  const program = new Command('egress-client')
    .description("Route one user's (or one app's) traffic through a WireGuard egress, the rest of the machine untouched.")
    .version(VERSION)
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeOut: write, writeErr: write })
    .showHelpAfterError(false);
  for (const spec of COMMANDS) register(program, spec, onInvoke);
  return program;
}

function register(program: Command, spec: CommandSpec, onInvoke: (inv: Invocation) => void): void {
  const cmd = program.command(spec.name).description(spec.summary);
  for (const a of spec.args) cmd.argument(a);
  for (const o of spec.options) cmd.option(o.flags, o.description);
  if (spec.details) cmd.addHelpText('after', `\n${spec.details}`);
  if (spec.passThrough) cmd.passThroughOptions();
  cmd.exitOverride();
  cmd.action((...params: unknown[]) => {
    const values = params.slice(0, spec.args.length);
    const options = (params[spec.args.length] ?? {}) as Record<string, unknown>;
    const args: string[] = [];
    let rest: string[] = [];
    spec.args.forEach((a, i) => {
      const v = values[i];
      // Commander keeps the `--` that ends our options; the app's argv is what follows it.
      if (a.endsWith('...>') || a.endsWith('...]')) rest = ((v as string[] | undefined) ?? []).filter((x, j) => !(j === 0 && x === '--'));
      else if (typeof v === 'string') args.push(v);
    });
    onInvoke({ command: spec.name, args, rest, options });
  });
}

/** Parses argv (without node and script) into an invocation, or the help/version text to print. */
export function parseCli(argv: readonly string[]): ParseResult {
  let invocation: Invocation | undefined;
  let text = '';
  const program = build(
    (inv) => (invocation = inv),
    (t) => (text += t),
  );
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return { kind: 'text', text, exitCode: 0 };
      if (err.code === 'commander.executeSubCommandAsync') throw err;
      const message = err.message.replace(/^error: /, '');
      throw new ValidationError(`${message}`, [{ path: 'argv', message }], { hint: "run 'egress-client --help' for the commands and their options" });
    }
    throw err;
  }
  if (!invocation) return { kind: 'text', text: program.helpInformation(), exitCode: argv.length === 0 ? 0 : 2 };
  return { kind: 'run', invocation };
}

export interface RunCliOptions {
  host?: Host;
  /** Tests: act as (non-)root regardless of the real uid. */
  isRoot?: boolean;
  handshakeTimeoutMs?: number;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

/** Runs one command line to its end; never exits the process (bin.ts does). */
export async function runCli(argv: readonly string[], options: RunCliOptions = {}): Promise<ExitStatus> {
  const json = argv.includes('--json') && !['run-as', 'exec', 'run'].includes(argv[0] ?? '');
  const output = new Output({ json, ...(options.stdout ? { stdout: options.stdout } : {}), ...(options.stderr ? { stderr: options.stderr } : {}) });
  try {
    const parsed = parseCli(argv);
    if (parsed.kind === 'text') {
      (options.stdout ?? process.stdout).write(parsed.text);
      return exitCode(parsed.exitCode);
    }
    let host = options.host;
    const ctx: CommandContext = {
      output,
      isRoot: options.isRoot ?? process.getuid?.() === 0,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? 15_000,
      host: async () => {
        if (!host) {
          const { LocalHost } = await import('@egress/core/host/local-host');
          host = new LocalHost({ output });
        }
        return host;
      },
    };
    try {
      const inv = parsed.invocation;
      // Changes on this machine take the one change lock (an injected test host has no machine to lock; a caller
      // who is not root is refused by the command itself, before anything changes).
      if (!options.host && ctx.isRoot && changesClient(inv.command, inv.args, inv.options) && !inv.options.dryRun) {
        return await withChangeLock([inv.command, ...(inv.command === 'forward' || inv.command === 'proxy' ? inv.args.slice(0, 1) : [])].join(' '), output, () => dispatch(inv, ctx));
      }
      return await dispatch(inv, ctx);
    } finally {
      if (host && !options.host) await host.close();
    }
  } catch (err) {
    output.error(err);
    const { exitCodeFor } = await import('@egress/core/output');
    return exitCode(exitCodeFor(err));
  }
}

/** Imports the command's module only now, so run-as never loads the engine. */
async function dispatch(inv: Invocation, ctx: CommandContext): Promise<ExitStatus> {
  switch (inv.command) {
    case 'run-as':
      return (await import('./run-as/run-as.js')).runAsCommand(inv);
    case 'exec':
    case 'run':
      return (await import('./commands/app-exec.js')).appExecCommand(inv, ctx);
    case 'enroll':
      return (await import('./commands/enroll.js')).enrollCommand(inv, ctx);
    case 'up':
    case 'down':
      return (await import('./commands/up-down.js')).upDownCommand(inv, ctx);
    case 'status':
      return (await import('./commands/status.js')).statusCommand(inv, ctx);
    case 'doctor':
      return (await import('./commands/doctor.js')).doctorCommand(inv, ctx);
    case 'forward':
      return (await import('./commands/forward.js')).forwardCommand(inv, ctx);
    case 'select':
      return (await import('./commands/select.js')).selectCommand(inv, ctx);
    case 'proxy':
      return (await import('./proxy/command.js')).proxyCommand(inv, ctx);
    case 'daemon':
      return (await import('./commands/daemon.js')).daemonCommand(inv, ctx);
    case 'allow':
    case 'disallow':
      return (await import('./commands/allow.js')).allowCommand(inv, ctx);
    case 'attach':
    case 'detach':
      return (await import('./commands/attach.js')).attachCommand(inv, ctx);
    case 'netns':
      return (await import('./netns/command.js')).netnsCommand(inv, ctx);
    case 'uninstall':
      return (await import('./commands/uninstall.js')).uninstallCommand(inv, ctx);
    default:
      throw new ValidationError(`unknown command '${inv.command}'`);
  }
}
