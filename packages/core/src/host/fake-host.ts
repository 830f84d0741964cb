// FakeHost: an in-memory Host that models files, nft, ip rules/routes/links, sysctls, wg and systemd, records calls and fails on demand.
import { CommandError } from '../errors.js';
import { routeKey, ruleKey } from '../engine/ip-format.js';
import type { Output } from '../output.js';
import { fakeIp } from './fake/ip.js';
import { bumpCounters, fakeNft, listTable } from './fake/nft.js';
import { cloneMachine, defaultMachine, type FakeMachine } from './fake/state.js';
import { fakeCoreutils, fakeSysctl, fakeSystemctl, fakeWg, fakeWgQuick, parentDirs } from './fake/tools.js';
import { fakeGroups } from './fake/groups.js';
import { displayArgv, maskSecrets, runSequentially, type BatchOptions, type Command, type Host, type RunOptions, type RunResult, type WriteOptions } from './host.js';

/** One recorded call: a command, or a file write/remove (argv `['write', path]` / `['rm', path]`). */
export interface FakeCall {
  argv: readonly string[];
  stdin?: string;
  change: boolean;
  exitCode: number;
}

export interface FailRule {
  pattern: RegExp | string;
  /** Fail the Nth matching call (1 = the first). */
  nth: number;
  stderr: string;
  exitCode: number;
  seen: number;
  /** Count only changes (commands run with `change`, file writes and removals). */
  changesOnly: boolean;
}

/** Handler for a command the fake does not model (or to override one); return undefined to fall through. */
export type FakeHandler = (argv: readonly string[], stdin: string | undefined, machine: FakeMachine) => RunResult | undefined;

export interface FakeHostOptions {
  name?: string;
  machine?: FakeMachine;
  /** Whether /run/systemd/system exists (default true). */
  systemd?: boolean;
  output?: Output;
  onEcho?: (line: string) => void;
}

/** An in-memory machine behind the Host seam, answering like the real tools (same JSON shapes, same error texts). */
export class FakeHost implements Host {
  readonly name: string;
  machine: FakeMachine;
  readonly calls: FakeCall[] = [];
  private readonly failures: FailRule[] = [];
  private readonly handlers = new Map<string, FakeHandler>();
  private readonly output: Output | undefined;
  private readonly onEcho: ((line: string) => void) | undefined;
  closed = false;

  constructor(options: FakeHostOptions = {}) {
    this.name = options.name ?? 'fake';
    this.machine = options.machine ?? defaultMachine({ systemd: options.systemd });
    this.output = options.output;
    this.onEcho = options.onEcho;
  }

  /** Makes the Nth call whose text (`displayArgv`, or `write PATH` / `rm PATH`) matches fail without effect. */
  failOn(pattern: RegExp | string, options: { nth?: number; stderr?: string; exitCode?: number; changesOnly?: boolean } = {}): void {
    this.failures.push({ pattern, nth: options.nth ?? 1, stderr: options.stderr ?? 'injected failure', exitCode: options.exitCode ?? 1, seen: 0, changesOnly: !!options.changesOnly });
  }

  /** Forgets failure rules that have not fired. */
  clearFailures(): void {
    this.failures.length = 0;
  }

  /** Registers a handler for a command name (argv[0]). */
  on(command: string, handler: FakeHandler): void {
    this.handlers.set(command, handler);
  }

  /** The change lines echoed so far (`[#]` lines without the marker). */
  changes(): string[] {
    return this.calls.filter((c) => c.change).map((c) => displayArgv(c.argv));
  }

  /** A snapshot of the machine to compare with later (`restoredExactly`). */
  snapshot(): FakeMachine {
    return cloneMachine(this.machine);
  }

  /** Simulates traffic: every nft counter goes up. */
  bumpCounters(): void {
    bumpCounters(this.machine);
  }

  private injected(text: string, change: boolean): FailRule | undefined {
    let fired: FailRule | undefined;
    for (const f of this.failures) {
      if (f.changesOnly && !change) continue;
      const hit = typeof f.pattern === 'string' ? text.includes(f.pattern) : f.pattern.test(text);
      if (!hit) continue;
      f.seen++;
      if (f.seen === f.nth) fired ??= f;
    }
    return fired;
  }

  private echo(line: string): void {
    this.onEcho?.(line);
    this.output?.echo(line, this.name);
  }

  /** Runs argv against the in-memory machine. */
  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const secrets = options.secrets ?? [];
    const text = displayArgv(argv);
    if (options.change) this.echo(options.display ?? displayArgv(argv, secrets));
    const injected = this.injected(text, !!options.change);
    const result: RunResult = injected ? { exitCode: injected.exitCode, stdout: '', stderr: `${injected.stderr}\n` } : this.dispatch(argv, options.stdin);
    this.calls.push({ argv: [...argv], stdin: options.stdin, change: !!options.change, exitCode: result.exitCode });
    if (options.check && result.exitCode !== 0) {
      throw new CommandError(argv.map((a) => maskSecrets(a, secrets)), result.exitCode, maskSecrets(result.stderr, secrets));
    }
    return result;
  }

  private dispatch(argv: readonly string[], stdin: string | undefined): RunResult {
    const [cmd, ...args] = argv;
    const handler = this.handlers.get(cmd ?? '');
    if (handler) {
      const r = handler(argv, stdin, this.machine);
      if (r) return r;
    }
    const m = this.machine;
    switch (cmd) {
      case 'ip':
        return fakeIp(m, args);
      case 'nft':
        return fakeNft(m, args, stdin);
      case 'wg':
        return fakeWg(m, args, stdin);
      case 'wg-quick':
        return fakeWgQuick(m, args);
      case 'sysctl':
        return fakeSysctl(m, args);
      case 'systemctl':
        return fakeSystemctl(m, args);
      default: {
        const r = fakeCoreutils(m, cmd ?? '', args) ?? fakeGroups(m, cmd ?? '', args);
        if (r) return r;
        return { exitCode: 127, stdout: '', stderr: `fake host: command not modelled: ${displayArgv(argv)}\n` };
      }
    }
  }

  /** Runs commands in order (one "round trip"). */
  async runMany(commands: ReadonlyArray<Command>, options: BatchOptions = {}): Promise<RunResult[]> {
    return runSequentially(this, commands, options);
  }

  /** Reads a file; undefined when it does not exist. */
  async readFile(path: string): Promise<string | undefined> {
    return this.machine.files.get(path)?.content;
  }

  /** Writes a file with its mode (atomic by construction); parents become directories. */
  async writeFile(path: string, content: string, options: WriteOptions): Promise<void> {
    const line = `write ${path} (mode ${options.mode.toString(8).padStart(4, '0')}, ${Buffer.byteLength(content)} bytes${options.secret ? ', secret' : ''})`;
    this.echo(line);
    const injected = this.injected(`write ${path}`, true);
    this.calls.push({ argv: ['write', path], change: true, exitCode: injected ? injected.exitCode : 0 });
    if (injected) throw new CommandError(['write', path], injected.exitCode, injected.stderr);
    for (const d of parentDirs(path)) this.machine.dirs.add(d);
    this.machine.files.set(path, { content, mode: options.mode });
  }

  /** Removes a file; no error when it is already gone. */
  async removeFile(path: string): Promise<void> {
    this.echo(`rm -f ${path}`);
    const injected = this.injected(`rm ${path}`, true);
    this.calls.push({ argv: ['rm', path], change: true, exitCode: injected ? injected.exitCode : 0 });
    if (injected) throw new CommandError(['rm', '-f', path], injected.exitCode, injected.stderr);
    this.machine.files.delete(path);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** The whole machine as text, sorted, for exact comparisons in table-driven tests. */
  dump(): string {
    return dumpMachine(this.machine);
  }
}

/** Formats a machine as stable text: files (mode, content), nft tables, rules, routes, sysctls, links, units. */
export function dumpMachine(m: FakeMachine): string {
  const out: string[] = [];
  for (const [path, f] of [...m.files].sort(([a], [b]) => a.localeCompare(b))) {
    out.push(`file ${path} ${f.mode.toString(8).padStart(4, '0')}`);
    for (const l of f.content.replace(/\n$/, '').split('\n')) out.push(`  | ${l}`);
  }
  for (const d of [...m.dirs].sort()) out.push(`dir ${d}`);
  for (const t of [...m.nft.values()].sort((a, b) => `${a.family} ${a.name}`.localeCompare(`${b.family} ${b.name}`))) {
    out.push(...listTable(t.family, t.name, t.body).trimEnd().split('\n').map((l) => `nft ${l.replace(/\t/g, '  ')}`));
  }
  for (const r of [...m.rules].sort((a, b) => a.family - b.family || a.priority - b.priority || ruleKey(a).localeCompare(ruleKey(b)))) out.push(`rule ${ruleKey(r)}`);
  for (const r of [...m.routes].map((x) => routeKey(x)).sort()) out.push(`route ${r}`);
  for (const [k, v] of [...m.sysctls].sort(([a], [b]) => a.localeCompare(b))) out.push(`sysctl ${k} = ${v}`);
  for (const l of [...m.links.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    const wg = l.wg ? ` listen ${l.wg.listenPort ?? 0} peers ${l.wg.peers.map((p) => `${p.publicKey}[${p.allowedIps.join(',')}]`).join(' ') || '-'}` : '';
    out.push(`link ${l.name} ${l.kind} mtu ${l.mtu} ${l.addresses.join(',') || '-'}${wg}`);
  }
  for (const [n, u] of [...m.units].sort(([a], [b]) => a.localeCompare(b))) out.push(`unit ${n} ${u.enabled ? 'enabled' : 'disabled'} ${u.active ? 'active' : 'inactive'}`);
  return `${out.join('\n')}\n`;
}
