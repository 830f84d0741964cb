// Files at paths a user gives (bundles, keys, configs): read only regular files of bounded size, never hang on a
// FIFO or stream a device; write outputs without ever replacing a device node, a symlink, a directory or a FIFO.
import { constants } from 'node:fs';
import { lstat, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Stats } from 'node:fs';
import { ConflictError, ValidationError } from '../errors.js';

/** Default size limit of a user-given input file (keys, small configs). */
export const USER_FILE_MAX_BYTES = 64 * 1024;

/** Size limit of an enrollment bundle: about 1 KiB, plus about 100 bytes per port forward it carries (10,000 → ~1 MiB). */
export const BUNDLE_MAX_BYTES = 8 * 1024 * 1024;

/** What kind of file `st` is, in words for messages. */
export function fileKind(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'a special file';
}

export interface ReadUserFileOptions {
  /** The field named in messages: "bundle", "--identity". */
  field: string;
  maxBytes?: number;
}

/**
 * Reads the regular file at `path` (symlinks to regular files are followed; devices, FIFOs, sockets and
 * directories are refused before they are opened, and again by fstat after the non-blocking open).
 * Undefined when nothing is at `path`.
 */
export async function readUserFile(path: string, options: ReadUserFileOptions): Promise<string | undefined> {
  const max = options.maxBytes ?? USER_FILE_MAX_BYTES;
  const refuse = (what: string): never => {
    throw new ValidationError(`${options.field}: '${path}' is ${what}; expected a regular file of at most ${max} bytes`, [{ path: options.field, message: what }]);
  };
  let before: Stats;
  try {
    before = await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') refuse('a symbolic link loop');
    if (code === 'ENOTDIR') return undefined;
    throw err;
  }
  if (!before.isFile()) refuse(fileKind(before));
  // O_NONBLOCK: should the path turn into a FIFO between stat and open, open returns at once instead of hanging.
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const st = await handle.stat();
    if (!st.isFile()) refuse(fileKind(st));
    if (st.dev !== before.dev || st.ino !== before.ino) throw new ConflictError(`${options.field}: '${path}' changed while it was being opened; try again`);
    if (st.size > max) refuse(`${st.size} bytes long`);
    const buf = Buffer.alloc(max + 1);
    let length = 0;
    while (length <= max) {
      const { bytesRead } = await handle.read(buf, length, max + 1 - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > max) refuse(`longer than ${max} bytes`);
    return buf.subarray(0, length).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** Deepest nesting of arrays/objects a JSON input may have (a bundle needs 4). */
export const JSON_MAX_DEPTH = 64;

/** Refuses JSON text nested deeper than `maxDepth` before JSON.parse sees it (no stack overflow on hostile input). */
export function checkJsonDepth(text: string, what: string, maxDepth = JSON_MAX_DEPTH): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) {
        throw new ValidationError(`${what}: JSON nested deeper than ${maxDepth} levels (at offset ${i}); expected a document of at most ${maxDepth} levels`, [{ path: what, message: 'too deep' }]);
      }
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
}

export interface OutputPathOptions {
  /** The flag named in messages: "--out". */
  field: string;
  /** Overwrite an existing regular file owned by the caller. */
  force?: boolean;
}

/**
 * Checks that `path` can take a new output file: its directory exists and is writable, and nothing is at
 * `path` (or, with force, a regular file the caller owns). Devices, directories, symlinks, FIFOs and sockets
 * are always refused. Returns whether a file will be replaced.
 */
export async function checkOutputPath(path: string, options: OutputPathOptions): Promise<{ replaces: boolean }> {
  const { access } = await import('node:fs/promises');
  const dir = dirname(path);
  const refuse = (what: string, allowed = `a path where nothing exists yet${options.force ? ', or a regular file you own' : ' (or an existing regular file you own, with --force)'}`): never => {
    throw new ValidationError(`${options.field}: '${path}' ${what}; expected ${allowed}; nothing was changed`, [{ path: options.field, message: what }]);
  };
  try {
    const d = await stat(dir);
    if (!d.isDirectory()) refuse(`is in '${dir}', which is ${fileKind(d)}`);
    await access(dir, constants.W_OK);
  } catch (err) {
    if (err instanceof ValidationError) throw err;
    refuse(`cannot be written (${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let st: Stats;
  try {
    st = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { replaces: false };
    throw err;
  }
  if (!st.isFile()) refuse(`is ${fileKind(st)}`);
  if (!options.force) refuse('exists');
  const uid = process.getuid?.() ?? 0;
  if (st.uid !== uid) refuse(`is owned by uid ${st.uid}, not by you (uid ${uid})`);
  if (st.nlink > 1) refuse(`has ${st.nlink} hard links`);
  return { replaces: true };
}

/**
 * Writes `content` to `path` with `mode`: a new temp file (O_EXCL, O_NOFOLLOW) in the same directory, fsync, then
 * rename — only when `path` is still nothing or a regular file (lstat right before the rename). The temp file
 * is removed when the write is refused or fails.
 */
export async function writeOutputFile(path: string, content: string, mode: number, options: OutputPathOptions): Promise<void> {
  await checkOutputPath(path, options);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  const handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    try {
      await handle.chmod(mode);
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    // Checked again right before the rename: never rename onto a device node, a directory or a symlink.
    await checkOutputPath(path, options);
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}
