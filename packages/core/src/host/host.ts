// The one way out of the process: run an argv, read a file, write a file atomically.

export interface RunOptions {
  /** Data written to the command's stdin (secrets go here, never on argv). */
  stdin?: string;
  /** When false (default) a nonzero exit is returned, not thrown. */
  check?: boolean;
  /** Parts of argv or stdin to show as `***` in the `[#]` echo and in errors. */
  secrets?: readonly string[];
  /** Echo this command as a change (`[#] …` on stderr). Reads are not echoed. */
  change?: boolean;
  /** Extra environment for the command. */
  env?: Record<string, string>;
  /** Kill the command after this many milliseconds. */
  timeoutMs?: number;
  /** What the `[#]` echo shows instead of argv (a file write shows as `write PATH …`, not its script). */
  display?: string;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface WriteOptions {
  /** File mode, e.g. 0o600. */
  mode: number;
  /** Content is secret: never echoed, masked in dry-run output. */
  secret?: boolean;
}

/** A machine egress configures: the local one (execa) or a VPS over SSH (ssh2). */
export interface Host {
  /** Short label for messages: "local", "root@vps". */
  readonly name: string;
  /** Runs argv (never a shell string). */
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** Reads a file; undefined when it does not exist. */
  readFile(path: string): Promise<string | undefined>;
  /** Writes a file atomically (temp file in the same directory, fsync, rename) with `mode`; creates parent dirs 0755. */
  writeFile(path: string, content: string, options: WriteOptions): Promise<void>;
  /** Removes a file; no error when it is already gone. */
  removeFile(path: string): Promise<void>;
  /**
   * Runs several commands in order in as few round trips as the host allows (one SSH exec for the SSH host).
   * With stopOnError, stops after the first nonzero exit; the result has one entry per command that ran.
   * Optional: use `runAll()` which falls back to sequential `run`.
   */
  runMany?(commands: ReadonlyArray<Command>, options?: BatchOptions): Promise<RunResult[]>;
  /**
   * The command that does what writeFile does, for hosts whose runMany saves round trips (SSH): the engine then
   * sends a plan's writes and commands in one batch. Hosts without it get writeFile calls.
   */
  writeCommand?(path: string, content: string, options: WriteOptions): Command;
  /** Closes connections; idempotent. */
  close(): Promise<void>;
}

/**
 * How a batch treats a failure: `stopOnError: true` stops after the first nonzero exit; `'changes'` only after a
 * failing change (a command run with `change`), so reads that follow the changes (the engine's verification) may fail.
 */
export interface BatchOptions {
  stopOnError?: boolean | 'changes';
}

/** One argv with its options, for batches. */
export interface Command {
  argv: readonly string[];
  options?: RunOptions;
}

/** Runs commands in order, batched when the host supports it; stops after the first failure when asked. */
export async function runAll(host: Host, commands: ReadonlyArray<Command>, options: BatchOptions = {}): Promise<RunResult[]> {
  if (host.runMany) return host.runMany(commands, options);
  return runSequentially(host, commands, options);
}

/** Runs commands one by one through `host.run` (never throwing on a nonzero exit); the plain `runMany`. */
export async function runSequentially(host: Pick<Host, 'run'>, commands: ReadonlyArray<Command>, options: BatchOptions = {}): Promise<RunResult[]> {
  const results: RunResult[] = [];
  for (const c of commands) {
    const r = await host.run(c.argv, { ...c.options, check: false });
    results.push(r);
    if (r.exitCode !== 0 && stopsBatch(c, options)) break;
  }
  return results;
}

/** Whether a failure of `c` ends a batch run with `options`. */
export function stopsBatch(c: Command, options: BatchOptions): boolean {
  return options.stopOnError === 'changes' ? !!c.options?.change : !!options.stopOnError;
}

/** Replaces every secret in `text` with `***`. */
export function maskSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('***');
  return out;
}

/** Quotes one argv word for display (not for a shell to run). */
export function displayWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Formats argv for the `[#]` echo with secrets masked. */
export function displayArgv(argv: readonly string[], secrets: readonly string[] = []): string {
  return maskSecrets(argv.map(displayWord).join(' '), secrets);
}
