// Table-driven: hostile input paths are refused without hanging; output paths never replace what is not ours.
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, chownSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkJsonDepth, readUserFile, writeOutputFile } from './user-file.js';
import { parseJsonWith } from '../model/parse.js';
import { z } from 'zod';

const root = process.getuid?.() === 0;
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'egress-user-file-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Makes one kind of thing at `p`; returns a description used in the refusal check. */
function make(kind: string, p: string): void {
  if (kind === 'file') writeFileSync(p, 'old content\n', { mode: 0o644 });
  else if (kind === 'dir') mkdirSync(p);
  else if (kind === 'symlink') {
    writeFileSync(`${p}.target`, 'target\n');
    symlinkSync(`${p}.target`, p);
  } else if (kind === 'dangling-symlink') symlinkSync(`${p}.nowhere`, p);
  else if (kind === 'fifo') execFileSync('mkfifo', [p]);
  else if (kind === 'chardev') execFileSync('mknod', [p, 'c', '1', '3']);
  else if (kind === 'socket') execFileSync('/usr/bin/python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(p)})`]);
  else if (kind === 'hardlinked') {
    writeFileSync(`${p}.other`, 'other\n');
    execFileSync('ln', [`${p}.other`, p]);
  } else if (kind === 'foreign-file') {
    writeFileSync(p, 'someone else\n');
    chownSync(p, 65534, 65534);
  }
}

const signature = (p: string) => {
  const st = lstatSync(p);
  return { ino: st.ino, mode: st.mode, size: st.size, rdev: st.rdev };
};

describe('writeOutputFile', () => {
  const cases: Array<{ kind: string; force: boolean; ok: boolean; reason?: RegExp }> = [
    { kind: 'none', force: false, ok: true },
    { kind: 'file', force: false, ok: false, reason: /exists; expected a path where nothing exists yet .*--force/ },
    { kind: 'file', force: true, ok: true },
    { kind: 'dir', force: true, ok: false, reason: /is a directory/ },
    { kind: 'symlink', force: true, ok: false, reason: /is a symbolic link/ },
    { kind: 'dangling-symlink', force: true, ok: false, reason: /is a symbolic link/ },
    { kind: 'fifo', force: true, ok: false, reason: /is a FIFO/ },
    { kind: 'chardev', force: true, ok: false, reason: /is a character device/ },
    { kind: 'socket', force: true, ok: false, reason: /is a socket/ },
    { kind: 'hardlinked', force: true, ok: false, reason: /has 2 hard links/ },
    { kind: 'foreign-file', force: true, ok: false, reason: /is owned by uid 65534/ },
  ];
  for (const c of cases) {
    it(`${c.kind}${c.force ? ' with --force' : ''}: ${c.ok ? 'written' : 'refused, untouched'}`, async () => {
      if (!root && ['chardev', 'foreign-file'].includes(c.kind)) throw new Error('this case needs root (mknod, chown): run the unit tests as root');
      const p = join(dir, `out-${c.kind}-${c.force}`);
      if (c.kind !== 'none') make(c.kind, p);
      const before = c.kind === 'none' ? undefined : signature(p);
      const run = writeOutputFile(p, 'SECRET\n', 0o600, { field: '--out', force: c.force });
      if (c.ok) {
        await run;
        const st = lstatSync(p);
        expect(st.isFile()).toBe(true);
        expect(st.mode & 0o777).toBe(0o600);
        expect(readFileSync(p, 'utf8')).toBe('SECRET\n');
      } else {
        const err = await run.then(() => undefined, (e: Error) => e);
        expect(err?.message).toMatch(new RegExp(`^--out: '${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}'`));
        expect(err?.message).toMatch(c.reason!);
        expect(err?.message).toMatch(/nothing was changed$/);
        expect(signature(p)).toEqual(before);
        if (c.kind === 'symlink') expect(readFileSync(`${p}.target`, 'utf8')).toBe('target\n');
      }
      // No temp file is left next to it either way.
      expect(execFileSync('ls', ['-A', dir], { encoding: 'utf8' })).not.toMatch(/\.tmp/);
    });
  }

  it('refuses a path whose directory is missing or is a file', async () => {
    await expect(writeOutputFile(join(dir, 'no/such/dir/b.json'), 'x', 0o600, { field: '--out' })).rejects.toThrow(/^--out: '.*b\.json' cannot be written \(.*ENOENT\)/);
    writeFileSync(join(dir, 'plain'), 'x');
    await expect(writeOutputFile(join(dir, 'plain/b.json'), 'x', 0o600, { field: '--out' })).rejects.toThrow(/is in '.*plain', which is a regular file/);
  });
});

describe('readUserFile', () => {
  it('reads a regular file and a symlink to one; undefined when nothing is there', async () => {
    const p = join(dir, 'in.json');
    writeFileSync(p, '{"a":1}');
    symlinkSync(p, join(dir, 'in-link.json'));
    expect(await readUserFile(p, { field: 'bundle' })).toBe('{"a":1}');
    expect(await readUserFile(join(dir, 'in-link.json'), { field: 'bundle' })).toBe('{"a":1}');
    expect(await readUserFile(join(dir, 'missing.json'), { field: 'bundle' })).toBeUndefined();
  });
  const refused: Array<{ what: string; path: () => string; reason: RegExp }> = [
    { what: 'a directory', path: () => dir, reason: /is a directory; expected a regular file of at most 65536 bytes/ },
    { what: '/dev/zero', path: () => '/dev/zero', reason: /is a character device/ },
    { what: 'a FIFO (no writer: must not hang)', path: () => { const p = join(dir, 'in-fifo'); execFileSync('mkfifo', [p]); return p; }, reason: /is a FIFO/ },
    { what: 'a file over 64 KiB', path: () => { const p = join(dir, 'big.json'); writeFileSync(p, 'x'.repeat(70_000)); return p; }, reason: /is 70000 bytes long/ },
    { what: 'a symlink loop', path: () => { const p = join(dir, 'loop'); symlinkSync(p, p); return p; }, reason: /is a symbolic link loop/ },
  ];
  for (const c of refused) {
    it(`refuses ${c.what}, naming field and path`, async () => {
      const p = c.path();
      await expect(readUserFile(p, { field: 'bundle' })).rejects.toThrow(c.reason);
      await expect(readUserFile(p, { field: 'bundle' })).rejects.toThrow(`bundle: '${p}'`);
    });
  }
});

describe('checkJsonDepth', () => {
  it('refuses deeply nested JSON cleanly (no RangeError), before JSON.parse', () => {
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    expect(() => parseJsonWith(z.unknown(), deep, 'bundle')).toThrow(/^bundle: JSON nested deeper than 64 levels \(at offset 64\)/);
    expect(() => checkJsonDepth('{"a":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"["}', 'x')).not.toThrow();
    expect(() => checkJsonDepth('[[[1]]]', 'x', 2)).toThrow(/nested deeper than 2/);
  });
});
