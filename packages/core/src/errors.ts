// Errors people can act on: one base class with a stable code, a hint and a cause.
import type { ZodError } from 'zod';

export interface EgressErrorOptions {
  hint?: string;
  cause?: unknown;
}

/** Base error of every egress failure; `code` is stable and documented, `hint` says what to do. */
export class EgressError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  /** True for mistakes of the user (bad input, missing state): printed without a stack. */
  readonly userError: boolean = true;

  constructor(code: string, message: string, options: EgressErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint;
  }
}

/** Bad input: a flag, a bundle, a state file; raised before anything changes. */
export class ValidationError extends EgressError {
  readonly issues: ReadonlyArray<{ path: string; message: string }>;
  constructor(message: string, issues: ReadonlyArray<{ path: string; message: string }> = [], options: EgressErrorOptions = {}) {
    super('E_INVALID', message, options);
    this.issues = issues;
  }
}

/** Something the command needs does not exist (an egress, a peer, a user, a state file). */
export class NotFoundError extends EgressError {
  constructor(message: string, options: EgressErrorOptions = {}) {
    super('E_NOT_FOUND', message, options);
  }
}

/** The request conflicts with what is already there (user bound twice, duplicate public port, subnet overlap). */
export class ConflictError extends EgressError {
  constructor(message: string, options: EgressErrorOptions = {}) {
    super('E_CONFLICT', message, options);
  }
}

/** The command needs a privilege it does not have (root, sudo without password). */
export class PermissionError extends EgressError {
  constructor(message: string, options: EgressErrorOptions = {}) {
    super('E_PERMISSION', message, options);
  }
}

/** A command run on a host failed; carries argv (secrets masked) and its output. */
export class CommandError extends EgressError {
  readonly argv: readonly string[];
  readonly exitCode: number;
  readonly stderr: string;
  constructor(argv: readonly string[], exitCode: number, stderr: string, options: EgressErrorOptions = {}) {
    super('E_COMMAND', `command failed (exit ${exitCode}): ${argv.join(' ')}${stderr.trim() ? `\n${stderr.trim()}` : ''}`, options);
    this.argv = argv;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
  override readonly userError = false;
}

/** Applying a plan failed; `restored` says whether the previous state came back. */
export class ApplyError extends EgressError {
  readonly restored: boolean;
  constructor(message: string, restored: boolean, options: EgressErrorOptions = {}) {
    super('E_APPLY', message, options);
    this.restored = restored;
  }
}

/** SSH connection, authentication or host-key failure. */
export class SshError extends EgressError {
  constructor(code: 'E_SSH_CONNECT' | 'E_SSH_AUTH' | 'E_SSH_HOSTKEY_UNKNOWN' | 'E_SSH_HOSTKEY_CHANGED' | 'E_SSH', message: string, options: EgressErrorOptions = {}) {
    super(code, message, options);
  }
}

/** A bug or an unexpected state: printed with its stack and how to report it. */
export class InternalError extends EgressError {
  override readonly userError = false;
  constructor(message: string, options: EgressErrorOptions = {}) {
    super('E_INTERNAL', message, options);
  }
}

function renderPath(prefix: string, path: ReadonlyArray<PropertyKey>): string {
  let out = prefix;
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || '(root)';
}

function valueAt(input: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let cur: unknown = input;
  for (const part of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[part];
  }
  return cur;
}

/** Shows a value the way a message quotes it; long or secret-looking values are shortened. */
export function quoteValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  let text: string;
  if (typeof value === 'string') text = `'${value}'`;
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * Turns zod issues into "bundle.server.endpoint: expected host:port, got 'x'".
 * `secretPaths` lists field names whose values must never be echoed (private keys).
 */
export function fromZodError(error: ZodError, prefix: string, input: unknown, secretFields: readonly string[] = ['privateKey']): ValidationError {
  const issues = error.issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      // One message per unknown key, naming it as a field of its own.
      return issue.keys.map((key) => {
        const path = renderPath(prefix, [...issue.path, key]);
        const value = secretFields.includes(key) ? '(secret, not shown)' : quoteValue(valueAt(input, [...issue.path, key]));
        return { path, message: `${path}: expected no such field (unknown to this version of egress), got ${value}` };
      });
    }
    const path = renderPath(prefix, issue.path);
    const last = issue.path[issue.path.length - 1];
    const secret = typeof last === 'string' && secretFields.includes(last);
    const value = secret ? '(secret, not shown)' : quoteValue(valueAt(input, issue.path));
    return { path, message: `${path}: ${issue.message}, got ${value}` };
  });
  const message = issues.length === 1 ? issues[0]!.message : `invalid ${prefix || 'input'}:\n  ${issues.map((i) => i.message).join('\n  ')}`;
  return new ValidationError(message, issues);
}
