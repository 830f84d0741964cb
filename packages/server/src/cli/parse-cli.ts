// parseCli(argv): commander 14 turned into a pure parser (no process.exit, no I/O) that tests call directly.
import { Command, CommanderError, Option } from 'commander';
import { ValidationError } from '@egress/core';
import { optionsFor, type CommandName, type OptionSpec } from './options.js';

/** Parsed options of any command (only the ones the command declares are set). */
export interface CliOptions {
  port?: number;
  identity?: string;
  knownHosts?: string;
  acceptNewHostKey?: boolean;
  sudo?: boolean;
  json?: boolean;
  name?: string;
  subnet?: string[];
  listenPort?: number;
  publicInterface?: string;
  dns?: string[];
  forward?: string[];
  out?: string;
  force?: boolean;
  dryRun?: boolean;
  publicKey?: string;
  wgQuick?: string;
  qr?: boolean;
  peer?: string;
  purge?: boolean;
  userspaceWireguard?: string;
  backportsMirror?: string;
}

/** A parsed command line: which command, its target and positional argument, its options. */
export type ParsedCli = { kind: 'run'; command: CommandName; target: string; arg?: string; options: CliOptions } | { kind: 'help'; text: string } | { kind: 'version'; text: string };

const DESCRIPTIONS: Record<CommandName, { args: string; text: string }> = {
  provision: { args: '<[user@]host>', text: 'set up the VPS as an egress server over SSH and write the first client bundle' },
  'peer add': { args: '<[user@]host> <NAME>', text: 'enroll another client: next free address, bundle written locally' },
  'peer remove': { args: '<[user@]host> <NAME>', text: 'remove a client, free its address and its forwards' },
  'peer list': { args: '<[user@]host>', text: 'list the clients' },
  'forward add': { args: '<[user@]host> <SPEC>', text: 'forward a public port (PUBLIC[-END][/tcp|/udp][:[LAN_HOST:]TARGET]) to a client or a host on its LAN' },
  'forward remove': { args: '<[user@]host> <SPEC>', text: 'stop forwarding a public port' },
  'forward list': { args: '<[user@]host>', text: 'list port forwards' },
  status: { args: '<[user@]host>', text: 'show interface, peers and handshakes, forwards, nft table, forwarding and boot unit' },
  deprovision: { args: '<[user@]host>', text: 'remove everything egress added to the VPS, and nothing else' },
};

function parsePortValue(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < 1 || n > 65535) throw new ValidationError(`${flag}: expected a port 1-65535, got '${value}'`, [{ path: flag, message: 'bad port' }]);
    return n;
  };
}

function addOption(cmd: Command, spec: OptionSpec): void {
  const long = /--[a-z-]+/.exec(spec.flags)![0];
  const desc = spec.defaultText ? `${spec.description} (default: ${spec.defaultText})` : spec.description;
  const opt = new Option(spec.flags, desc);
  if (spec.kind === 'list') opt.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
  if (spec.kind === 'port') opt.argParser(parsePortValue(long));
  cmd.addOption(opt);
}

/** Builds the commander program; `onRun` receives each parsed invocation. */
export function buildProgram(onRun: (parsed: ParsedCli) => void, write: (text: string) => void): Command {
  const program = new Command('egress-server')
    .description('Drive a stock Linux VPS over SSH so it carries egress tunnel traffic and forwards chosen ports back.')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeOut: write, writeErr: write, outputError: () => undefined })
    .showHelpAfterError(false)
    .addHelpText(
      'after',
      '\nSPEC is PUBLIC[-PUBLIC_END][/tcp|/udp][:[LAN_HOST:]TARGET_PORT]; tcp when omitted; a range maps onto a range of the same size.\nWith LAN_HOST (e.g. 443/tcp:192.168.1.10:443) the client passes it on to that host on its LAN; for one added later, run the printed egress-client command on the client.\nThe bundle (./egress-<name>.bundle.json by default, mode 0600) is read by `egress-client enroll`.',
    );
  const groups = new Map<string, Command>();
  for (const name of Object.keys(DESCRIPTIONS) as CommandName[]) {
    const words = name.split(' ');
    let parent = program;
    if (words.length === 2) {
      let group = groups.get(words[0]!);
      if (!group) {
        group = program.command(words[0]!).description(`${words[0]} add|remove|list`).exitOverride().configureOutput({ writeOut: write, writeErr: write, outputError: () => undefined });
        groups.set(words[0]!, group);
      }
      parent = group;
    }
    const d = DESCRIPTIONS[name];
    const cmd = parent.command(`${words[words.length - 1]} ${d.args}`).description(d.text).exitOverride().configureOutput({ writeOut: write, writeErr: write, outputError: () => undefined });
    for (const spec of optionsFor(name)) addOption(cmd, spec);
    cmd.action((target: string, second: unknown) => {
      const arg = typeof second === 'string' ? second : undefined;
      onRun({ kind: 'run', command: name, target, ...(arg !== undefined ? { arg } : {}), options: cmd.opts<CliOptions>() });
    });
  }
  return program;
}

/** Parses argv (without node and script) into a command, or help/version text; bad usage throws ValidationError. */
export function parseCli(argv: readonly string[]): ParsedCli {
  let result: ParsedCli | undefined;
  let text = '';
  const program = buildProgram((p) => (result = p), (t) => (text += t));
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help') return { kind: 'help', text };
      if (err.code === 'commander.version') return { kind: 'version', text };
      throw new ValidationError(err.message.replace(/^error: /, ''), [{ path: 'argv', message: err.code }], { hint: 'see egress-server --help' });
    }
    throw err;
  }
  if (!result) {
    return { kind: 'help', text: program.helpInformation() };
  }
  return result;
}
