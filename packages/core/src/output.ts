// The one output module: colors only on a TTY (never in CI or with NO_COLOR), `[#]` change echo and progress on stderr.
import { EgressError } from './errors.js';

export interface OutputOptions {
  /** `--json`: stdout carries one JSON document only. */
  json?: boolean;
  /** Suppress progress and echo lines. */
  quiet?: boolean;
  stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  stderr?: NodeJS.WritableStream & { isTTY?: boolean };
  env?: NodeJS.ProcessEnv;
}

const CODES = { bold: [1, 22], dim: [2, 22], red: [31, 39], green: [32, 39], yellow: [33, 39], cyan: [36, 39] } as const;
export type Style = keyof typeof CODES;

/** Whether to color a stream: never with NO_COLOR or in CI; else FORCE_COLOR, else only on a TTY. */
export function colorEnabled(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined || (env.CI && env.CI !== 'false' && env.CI !== '0')) return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  return !!stream.isTTY;
}

export class Output {
  readonly json: boolean;
  readonly quiet: boolean;
  private readonly out: NodeJS.WritableStream;
  private readonly err: NodeJS.WritableStream;
  private readonly color: boolean;

  constructor(options: OutputOptions = {}) {
    this.json = !!options.json;
    this.quiet = !!options.quiet;
    this.out = options.stdout ?? process.stdout;
    this.err = options.stderr ?? process.stderr;
    this.color = colorEnabled(options.stderr ?? process.stderr, options.env ?? process.env);
  }

  /** Applies a style when colors are on. */
  style(style: Style, text: string): string {
    if (!this.color) return text;
    const [open, close] = CODES[style];
    return `\u001b[${open}m${text}\u001b[${close}m`;
  }

  /** Echoes a change made to a host: `[#] nft -f -` (argv already masked). */
  echo(line: string, host?: string): void {
    if (this.quiet) return;
    const prefix = host && host !== 'local' ? `[#${host}]` : '[#]';
    this.err.write(`${this.style('dim', prefix)} ${line}\n`);
  }

  /** A named step of a long operation. */
  step(name: string): void {
    if (this.quiet) return;
    this.err.write(`${this.style('cyan', '==>')} ${this.style('bold', name)}\n`);
  }

  /** Progress or an informational line (stderr, so --json stdout stays clean). */
  info(line: string): void {
    if (this.quiet) return;
    this.err.write(`${line}\n`);
  }

  warn(line: string): void {
    this.err.write(`${this.style('yellow', 'warning:')} ${line}\n`);
  }

  /** The command's result for people: stdout when not --json. */
  result(text: string): void {
    if (!this.json) this.out.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** The command's result as the one JSON document on stdout (only with --json). */
  document(value: unknown): void {
    if (this.json) this.out.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** Prints an error: user errors as message + hint, internal ones with the stack and where to report. */
  error(err: unknown): void {
    if (err instanceof EgressError && err.userError) {
      this.err.write(`${this.style('red', 'error:')} ${err.message}\n`);
      if (err.hint) this.err.write(`${this.style('dim', 'hint:')} ${err.hint}\n`);
      return;
    }
    const e = err as Error;
    this.err.write(`${this.style('red', 'internal error:')} ${e?.stack ?? String(err)}\n`);
    if (e && 'cause' in e && e.cause) this.err.write(`caused by: ${(e.cause as Error)?.stack ?? String(e.cause)}\n`);
    this.err.write('This is a bug in egress; please report it with the command you ran and the output above.\n');
  }
}

/** Exit code for an error: 2 for bad input, 1 for everything else. Only bins call process.exit. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof EgressError && err.code === 'E_INVALID') return 2;
  return 1;
}
