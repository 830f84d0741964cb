// LocalHost: the Host seam on this machine through execa (argv only, never a shell), optionally inside a namespace prefix.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile as fsReadFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { CommandError } from '../errors.js';
import type { Output } from '../output.js';
import { displayArgv, maskSecrets, runSequentially, type BatchOptions, type Command, type Host, type RunOptions, type RunResult, type WriteOptions } from './host.js';

export interface LocalHostOptions {
  /** Label for messages (default "local"). */
  name?: string;
  /** Argv put before every command, e.g. `['ip','netns','exec','lab-a']`; files are then read and written through commands in that prefix. */
  prefix?: readonly string[];
  /** Where `[#] …` change lines go. */
  output?: Output;
  /** Alternative sink for change lines (tests); called with the masked line without the `[#] ` marker. */
  onEcho?: (line: string) => void;
}

/** Formats the mode of a file for messages and argv (e.g. "0600"). */
export function formatMode(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

/** A temp name next to `path` (same directory, so rename is atomic); it names the writer's pid, so one left by a killed run can be told apart. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.egress-${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
}

/** The pid in a temp name made by tempPathFor, or undefined for any other name. */
export function tempWriterPid(name: string): number | undefined {
  const m = /^\..+\.egress-(\d+)-[0-9a-f]{12}\.tmp$/.exec(basename(name));
  return m ? Number(m[1]) : undefined;
}

/** Writes stdin content to a private temp file (dir 0700, file 0600) that is removed right after the command. */
async function stdinTempFile(content: string): Promise<{ fd: number; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'egress-stdin-'));
  const path = join(dir, 'stdin');
  await writeFile(path, content, { mode: 0o600 });
  const handle = await open(path, 'r');
  return {
    fd: handle.fd,
    remove: async () => {
      await handle.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Runs commands on this machine (or inside `prefix`) and reads/writes its files atomically. */
export class LocalHost implements Host {
  readonly name: string;
  private readonly prefix: readonly string[];
  private readonly output: Output | undefined;
  private readonly onEcho: ((line: string) => void) | undefined;

  constructor(options: LocalHostOptions = {}) {
    this.name = options.name ?? 'local';
    this.prefix = options.prefix ?? [];
    this.output = options.output;
    this.onEcho = options.onEcho;
  }

  /** Echoes one change line (already masked). */
  private echo(line: string): void {
    this.onEcho?.(line);
    this.output?.echo(line, this.name);
  }

  /** Runs argv with optional stdin; nonzero exit is returned unless `check`. */
  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    if (argv.length === 0) throw new CommandError([], 127, 'empty argv');
    const secrets = options.secrets ?? [];
    if (options.change) this.echo(options.display ?? displayArgv(argv, secrets));
    const full = [...this.prefix, ...argv];
    // Node gives children a socket as stdin; programs that open /dev/stdin (wg syncconf, install) need a file there.
    const viaFile = options.stdin !== undefined && argv.includes('/dev/stdin');
    const stdinFile = viaFile ? await stdinTempFile(options.stdin!) : undefined;
    // execa is loaded on first use: a CLI that only drives a VPS over SSH (egress-server) never pays its ~75 ms load.
    const { execa } = await import('execa');
    const result = await execa(full[0]!, full.slice(1), {
      // A numeric fd is handed to the child as is (execa's types omit it; `{ file }` would be piped through a socket again).
      ...(stdinFile ? { stdin: stdinFile.fd as unknown as 'ignore' } : { input: options.stdin ?? '' }),
      reject: false,
      stripFinalNewline: false,
      env: options.env,
      timeout: options.timeoutMs,
      encoding: 'utf8',
    }).finally(() => stdinFile?.remove());
    let exitCode = typeof result.exitCode === 'number' ? result.exitCode : 1;
    let stderr = String(result.stderr ?? '');
    if (result.failed && result.exitCode === undefined) {
      // Spawn failure or timeout: no exit code from the process itself.
      exitCode = result.timedOut ? 124 : 127;
      stderr = `${stderr}${stderr ? '\n' : ''}${result.shortMessage ?? 'command could not run'}`;
    }
    const out: RunResult = { exitCode, stdout: String(result.stdout ?? ''), stderr };
    if (options.check && exitCode !== 0) {
      throw new CommandError(
        argv.map((a) => maskSecrets(a, secrets)),
        exitCode,
        maskSecrets(stderr, secrets),
      );
    }
    return out;
  }

  /** Runs commands one after another (a local host has no round trips to save). */
  async runMany(commands: ReadonlyArray<Command>, options: BatchOptions = {}): Promise<RunResult[]> {
    return runSequentially(this, commands, options);
  }

  /** Reads a file; undefined when it does not exist. */
  async readFile(path: string): Promise<string | undefined> {
    if (this.prefix.length > 0) {
      const r = await this.run(['cat', '--', path]);
      if (r.exitCode === 0) return r.stdout;
      if (/No such file or directory/.test(r.stderr)) return undefined;
      throw new CommandError(['cat', '--', path], r.exitCode, r.stderr);
    }
    try {
      return await fsReadFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Writes a file atomically: temp file in the same directory with `mode`, fsync, rename; parents created 0755. */
  async writeFile(path: string, content: string, options: WriteOptions): Promise<void> {
    const mode = formatMode(options.mode);
    this.echo(`write ${path} (mode ${mode}, ${Buffer.byteLength(content)} bytes${options.secret ? ', secret' : ''})`);
    const tmp = tempPathFor(path);
    if (this.prefix.length > 0) {
      await this.run(['mkdir', '-p', '-m', '0755', '--', dirname(path)], { check: true });
      try {
        await this.run(['install', '-m', mode, '/dev/stdin', tmp], { check: true, stdin: content, secrets: options.secret ? [content] : [] });
        await this.run(['sync', '--', tmp], { check: true });
        await this.run(['mv', '-f', '-T', '--', tmp, path], { check: true });
      } catch (err) {
        await this.run(['rm', '-f', '--', tmp]);
        throw err;
      }
      return;
    }
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    const handle = await open(tmp, 'wx', options.mode);
    try {
      await handle.chmod(options.mode);
      await handle.writeFile(content, 'utf8');
      await handle.sync();
      await handle.close();
      await rename(tmp, path);
    } catch (err) {
      await handle.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
  }

  /** Removes a file; no error when it is already gone. */
  async removeFile(path: string): Promise<void> {
    this.echo(`rm -f ${path}`);
    if (this.prefix.length > 0) {
      await this.run(['rm', '-f', '--', path], { check: true });
      return;
    }
    await rm(path, { force: true });
  }

  /** Nothing to close for a local host. */
  async close(): Promise<void> {}
}
