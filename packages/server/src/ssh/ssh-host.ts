// SshHost: the Host seam over one ssh2 connection; argv quoted for the remote shell, batches in one exec.
import { StringDecoder } from 'node:string_decoder';
import type { Client } from 'ssh2';
import { CommandError, PermissionError, SshError, displayArgv, maskSecrets, stopsBatch, type BatchOptions, type Command, type Host, type Output, type RunOptions, type RunResult, type WriteOptions } from '@egress/core';
import { buildBatchScript, parseBatchOutput } from './batch-script.js';
import { quoteArgv } from './shell-quote.js';
import { span } from '../timing.js';

export interface SshHostOptions {
  /** Label for messages and the `[#host]` echo, e.g. "root@vps". */
  name: string;
  /** Wrap every command in `sudo -n --` (a sudoer without a password prompt). */
  sudo?: boolean;
  output?: Output;
  /** Alternative sink for change lines (tests). */
  onEcho?: (line: string) => void;
}

/** A remote command whose channel stays open (see SshHost.hold). */
export interface HeldChannel {
  end(): void;
  closed: Promise<{ code: number; stderr: string }>;
}

// Paths are absolute (the engine's); the directory and name come from parameter expansion, mkdir only when missing:
// a write costs cat, sync and mv on the VPS (chmod too unless the mode is the 0600 umask 077 gives a new file), and no
// subshell: a change batch writes several files, each process counts on a busy VPS.
export const WRITE_SCRIPT = [
  'umask 077',
  'case "$1" in /*) ;; *) echo "egress-write: not an absolute path: $1" >&2; exit 1 ;; esac',
  'd=${1%/*}; b=${1##*/}; [ -n "$d" ] || d=/',
  '[ -d "$d" ] || (umask 022; mkdir -p -- "$d") || exit 1',
  't="$d/.$b.egress-$$.tmp"',
  // A temp file left by an earlier run keeps its mode through `cat >`: then chmod, whatever the mode.
  'm=1; if [ "$2" = 0600 ] && [ ! -e "$t" ] && [ ! -L "$t" ]; then m=; fi',
  // $3 = the byte count sent: an operator killed while its content streams gives cat an early EOF, and a short file
  // must never replace the old one (a cut journal lost the sysctl originals a re-run needs).
  // (`if …; then exit 0; fi` would leave $? at 0 after a failed condition: a failed write must exit non-zero.)
  'cat >"$t" && { [ -z "$3" ] || { n=$(wc -c <"$t") && [ "$n" -eq "$3" ]; } || { echo "egress-write: $1: got $n of $3 bytes; the old file is kept" >&2; false; }; } && { [ -z "$m" ] || chmod "$2" "$t"; } && { sync "$t" 2>/dev/null || true; } && mv -f -- "$t" "$1" && exit 0',
  'rc=$?; rm -f -- "$t"; [ "$rc" -ne 0 ] || rc=1; exit "$rc"',
].join('\n');

/** Commands that change the kernel or services but never a file's content: they keep primed files valid. */
const FILE_NEUTRAL = new Set(['sysctl', 'nft', 'ip', 'wg', 'wg-quick', 'systemctl', 'iptables', 'ip6tables', 'modprobe']);

/** Whether a change command may have rewritten files (anything not known to leave files alone). */
export function mayChangeFiles(argv: readonly string[]): boolean {
  return !FILE_NEUTRAL.has(argv[0] ?? '');
}

/** Whether stderr is sudo refusing because it would need a password. */
export function isSudoPasswordError(stderr: string): boolean {
  return /sudo: (a password is required|a terminal is required|no tty present)/.test(stderr);
}

/**
 * What must happen before a session's first command (taking the VPS lock). It may run the first batch itself, in its
 * own exec (given only for a batch of plain reads: no stdin, nothing secret), and then returns that batch's result.
 */
export type SessionGate = (batch?: { script: string; marker: string }) => Promise<RunResult | undefined>;

/** Largest batch script a gate is offered (it travels as an argument of the lock's command line). */
const GATE_BATCH_MAX = 64 * 1024;

/** A VPS reached over SSH: every command and file operation is one exec on the shared connection. */
export class SshHost implements Host {
  readonly name: string;
  private readonly sudo: boolean;
  private readonly output: Output | undefined;
  private readonly onEcho: ((line: string) => void) | undefined;
  private closed = false;
  /** File contents read ahead in a batch; served by readFile until anything may have changed a file. */
  private readonly primed = new Map<string, string | undefined>();
  /** Answers of read commands sent ahead in another batch (by command line); served while nothing else ran. */
  private readonly primedResults = new Map<string, RunResult>();
  /** Number of SSH execs (round trips) made so far. */
  roundTrips = 0;
  /** Runs before the session's first command (the VPS lock; see setGate); settled once passed. */
  private gate: SessionGate | undefined;
  private gatePassed: Promise<RunResult | undefined> | undefined;
  private readonly afterGate: Array<() => void> = [];

  constructor(
    private readonly client: Client,
    options: SshHostOptions,
  ) {
    this.name = options.name;
    this.sudo = !!options.sudo;
    this.output = options.output;
    this.onEcho = options.onEcho;
  }

  private echo(line: string): void {
    this.onEcho?.(line);
    this.output?.echo(line, this.name);
  }

  /** The remote command line for argv, with `sudo -n --` when asked. */
  commandLine(argv: readonly string[]): string {
    return quoteArgv(this.sudo ? ['sudo', '-n', '--', ...argv] : argv);
  }

  /** One exec: sends `command`, writes stdin, collects stdout/stderr and the exit code. */
  private exec(command: string, stdin: string | undefined, timeoutMs?: number, commands = 1): Promise<RunResult> {
    if (this.closed) return Promise.reject(new SshError('E_SSH', `connection to ${this.name} is closed`));
    this.roundTrips++;
    const endExec = span(`exec ${this.roundTrips}`);
    if (process.env.EGRESS_SSH_TRACE) process.stderr.write(`[ssh ${this.roundTrips}] ${command.slice(0, 160).replace(/\n/g, ' ')}\n`);
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err, channel) => {
        if (err) {
          reject(new SshError('E_SSH', `ssh exec on ${this.name} failed: ${err.message}`, { cause: err }));
          return;
        }
        const out: Buffer[] = [];
        const errOut: Buffer[] = [];
        let timedOut = false;
        const timer = timeoutMs ? setTimeout(() => ((timedOut = true), channel.close()), timeoutMs) : undefined;
        channel.on('data', (d: Buffer) => out.push(d));
        channel.stderr.on('data', (d: Buffer) => errOut.push(d));
        channel.on('close', (code: number | null | undefined) => {
          if (timer) clearTimeout(timer);
          const stderr = Buffer.concat(errOut).toString('utf8');
          endExec({ commands, sent: Buffer.byteLength(stdin ?? ''), received: out.reduce((n, b) => n + b.length, 0) });
          resolve({ exitCode: timedOut ? 124 : typeof code === 'number' ? code : 255, stdout: Buffer.concat(out).toString('utf8'), stderr: timedOut ? `${stderr}timed out after ${timeoutMs} ms` : stderr });
        });
        channel.end(stdin ?? '');
      });
    });
  }

  private checkSudo(r: RunResult): void {
    if (this.sudo && r.exitCode !== 0 && isSudoPasswordError(r.stderr)) {
      throw new PermissionError(`sudo on ${this.name} needs a password; egress runs sudo non-interactively (sudo -n)`, {
        hint: 'allow the user passwordless sudo (NOPASSWD in /etc/sudoers.d) or connect as root',
      });
    }
  }

  /**
   * Remembers file contents read in a batch (undefined = absent), so the engine's reads cost no extra round trip.
   * Kept up to date by writeFile/removeFile; dropped by any other command that may touch files.
   */
  primeFiles(files: ReadonlyMap<string, string | undefined>): void {
    for (const [path, content] of files) this.primed.set(path, content);
  }

  /**
   * Remembers the answers of read commands (no stdin, no change) that ran in a batch, so a later runMany of only such
   * commands (the engine's first read after the facts) costs no round trip. Forgotten once anything else runs or
   * writes: they hold only while the host is exactly as it was read (the VPS lock is held the whole session).
   */
  primeResults(commands: ReadonlyArray<Command>, results: ReadonlyArray<RunResult>): void {
    commands.forEach((c, i) => {
      const r = results[i];
      if (r && c.options?.stdin === undefined && !c.options?.change && !c.options?.env) this.primedResults.set(this.commandLine(c.argv), r);
    });
  }

  /** Sets what runs before the first command of the session (once; the first runMany may hand it its batch). */
  setGate(gate: SessionGate): void {
    this.gate = gate;
  }

  /**
   * Runs `fn` once the gate has passed (the lock held), or returns false when no gate is pending (call it yourself):
   * "Reading the VPS" is said once the lock is held, as it was when the lock had an exec of its own.
   */
  deferUntilGated(fn: () => void): boolean {
    if (!this.gate || this.gatePassed) return false;
    this.afterGate.push(fn);
    return true;
  }

  /** Passes the gate (once; every other caller waits for it); the batch's result when the gate ran it. */
  private async passGate(batch?: { script: string; marker: string }): Promise<RunResult | undefined> {
    if (!this.gate) return undefined;
    if (this.gatePassed) {
      await this.gatePassed;
      return undefined;
    }
    this.gatePassed = this.gate(batch);
    const r = await this.gatePassed;
    for (const fn of this.afterGate.splice(0)) fn();
    return r;
  }

  /** Runs argv remotely; nonzero exit returned unless `check`. */
  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    if (argv.length === 0) throw new CommandError([], 127, 'empty argv');
    await this.passGate();
    this.primedResults.clear();
    if (options.change && mayChangeFiles(argv)) this.primed.clear();
    const secrets = options.secrets ?? [];
    if (options.change) this.echo(options.display ?? displayArgv(argv, secrets));
    const env = Object.entries(options.env ?? {});
    const full = env.length > 0 ? ['env', ...env.map(([k, v]) => `${k}=${v}`), ...argv] : argv;
    const r = await this.exec(this.commandLine(full), options.stdin, options.timeoutMs);
    this.checkSudo(r);
    if (options.check && r.exitCode !== 0) throw new CommandError(argv.map((a) => maskSecrets(a, secrets)), r.exitCode, maskSecrets(r.stderr, secrets));
    return r;
  }

  /** Runs all commands in ONE exec of `sh -s`, each with its own exit code; stops after a failure when asked. */
  async runMany(commands: ReadonlyArray<Command>, options: BatchOptions = {}): Promise<RunResult[]> {
    if (commands.length === 0) return [];
    const served = commands.map((c) => (c.options?.stdin === undefined && !c.options?.change && !c.options?.env ? this.primedResults.get(this.commandLine(c.argv)) : undefined));
    if (served.every((r) => r !== undefined)) {
      const bad = served.findIndex((r, i) => r!.exitCode !== 0 && stopsBatch(commands[i]!, options));
      return (bad < 0 ? served : served.slice(0, bad + 1)) as RunResult[];
    }
    const { script, marker } = buildBatchScript(
      commands.map((c) => ({ argv: c.argv, stops: !!c.options?.change, ...(c.options?.stdin !== undefined ? { stdin: c.options.stdin } : {}) })),
      options.stopOnError ?? false,
    );
    // Only plain reads ride in the gate's exec: its script is an argument there, visible in the VPS's process list.
    const plainReads = commands.every((c) => c.options?.stdin === undefined && !c.options?.change && !c.options?.secrets?.length) && script.length <= GATE_BATCH_MAX;
    const gated = await this.passGate(plainReads ? { script, marker } : undefined);
    this.primedResults.clear();
    if (commands.some((c) => c.options?.change && mayChangeFiles(c.argv))) this.primed.clear();
    for (const c of commands) if (c.options?.change) this.echo(c.options.display ?? displayArgv(c.argv, c.options.secrets ?? []));
    const r = gated ?? (await this.exec(this.commandLine(['sh', '-s']), script, undefined, commands.length));
    this.checkSudo(r);
    if (r.exitCode !== 0) throw new SshError('E_SSH', `batch of ${commands.length} commands on ${this.name} did not run (exit ${r.exitCode}): ${r.stderr.trim()}`);
    const results = parseBatchOutput(r.stdout, marker);
    results.forEach((res, i) => {
      const c = commands[i]!;
      if (c.options?.check && res.exitCode !== 0) {
        const secrets = c.options.secrets ?? [];
        throw new CommandError(c.argv.map((a) => maskSecrets(a, secrets)), res.exitCode, maskSecrets(res.stderr, secrets));
      }
    });
    return results;
  }

  /** Reads a remote file; undefined when it does not exist. */
  async readFile(path: string): Promise<string | undefined> {
    await this.passGate();
    if (this.primed.has(path)) return this.primed.get(path);
    const r = await this.run(['cat', '--', path]);
    if (r.exitCode === 0) return r.stdout;
    if (/No such file or directory/.test(r.stderr)) return undefined;
    throw new CommandError(['cat', '--', path], r.exitCode, r.stderr);
  }

  /** Writes a remote file atomically in one exec: content on stdin, temp file, chmod, rename. */
  async writeFile(path: string, content: string, options: WriteOptions): Promise<void> {
    await this.passGate();
    this.primed.delete(path);
    this.primedResults.clear();
    const { argv, options: o } = this.writeCommand(path, content, options);
    this.echo(o!.display!);
    const r = await this.exec(this.commandLine([...argv]), content);
    this.checkSudo(r);
    if (r.exitCode !== 0) throw new CommandError(['write', path], r.exitCode, r.stderr);
    this.primed.set(path, content);
  }

  /** The atomic write as one command (content on stdin), so the engine can batch a plan's writes with its commands. */
  writeCommand(path: string, content: string, options: WriteOptions): Command {
    const mode = options.mode.toString(8).padStart(4, '0');
    return {
      argv: ['sh', '-c', WRITE_SCRIPT, 'egress-write', path, mode, String(Buffer.byteLength(content))],
      options: { stdin: content, change: true, display: `write ${path} (mode ${mode}, ${Buffer.byteLength(content)} bytes${options.secret ? ', secret' : ''})`, secrets: options.secret ? [content] : [] },
    };
  }

  /** Removes a remote file; no error when it is already gone. */
  async removeFile(path: string): Promise<void> {
    await this.passGate();
    this.primedResults.clear();
    this.echo(`rm -f ${path}`);
    await this.run(['rm', '-f', '--', path], { check: true });
    this.primed.set(path, undefined);
  }

  /**
   * Starts argv and keeps its channel open (e.g. a lock held for the whole session): stdout goes to `onData` as it
   * comes; `end()` closes its stdin; `closed` resolves with its exit code. Closing the connection ends it too.
   */
  hold(argv: readonly string[], onData: (text: string) => void): Promise<HeldChannel> {
    if (this.closed) return Promise.reject(new SshError('E_SSH', `connection to ${this.name} is closed`));
    this.roundTrips++;
    return new Promise((resolve, reject) => {
      this.client.exec(this.commandLine(argv), (err, channel) => {
        if (err) return reject(new SshError('E_SSH', `ssh exec on ${this.name} failed: ${err.message}`, { cause: err }));
        let stderr = '';
        // A UTF-8 character split across two chunks (a batch's output rides here too) is decoded whole.
        const decoder = new StringDecoder('utf8');
        channel.on('data', (d: Buffer) => onData(decoder.write(d)));
        channel.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
        const closed = new Promise<{ code: number; stderr: string }>((done) => channel.on('close', (code: number | null | undefined) => done({ code: typeof code === 'number' ? code : 255, stderr })));
        resolve({ end: () => channel.end(), closed });
      });
    });
  }

  /** Closes the connection; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.end();
  }
}
