// The atomic write script SshHost runs on the VPS, run here by a real sh: content, mode (chmod skipped only for a fresh
// 0600 temp file), a stale temp file's mode not inherited, relative paths refused.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WRITE_SCRIPT } from './ssh-host.js';

const dir = mkdtempSync(join(tmpdir(), 'egress-write-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(path: string, mode: string, content: string): { code: number | null; stderr: string } {
  const r = spawnSync('sh', ['-c', WRITE_SCRIPT, 'egress-write', path, mode], { input: content, encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr };
}

const modeOf = (p: string) => (statSync(p).mode & 0o7777).toString(8).padStart(4, '0');

describe('WRITE_SCRIPT', () => {
  it('writes the content with the asked mode, 0600 without chmod and others with it, into new directories too', () => {
    expect(write(join(dir, 'a.json'), '0600', '{"x":1}\n').code).toBe(0);
    expect(readFileSync(join(dir, 'a.json'), 'utf8')).toBe('{"x":1}\n');
    expect(modeOf(join(dir, 'a.json'))).toBe('0600');
    expect(write(join(dir, 'sub/b.sh'), '0755', '#!/bin/sh\n').code).toBe(0);
    expect(modeOf(join(dir, 'sub/b.sh'))).toBe('0755');
    // Replacing a 0644 file with a 0600 one: the new mode, not the old file's.
    writeFileSync(join(dir, 'c.conf'), 'old\n', { mode: 0o644 });
    expect(write(join(dir, 'c.conf'), '0600', 'new\n').code).toBe(0);
    expect(modeOf(join(dir, 'c.conf'))).toBe('0600');
    expect(readFileSync(join(dir, 'c.conf'), 'utf8')).toBe('new\n');
  });

  it('refuses a relative path and leaves no temp file behind on failure', () => {
    const r = write('rel/path', '0600', 'x');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('egress-write: not an absolute path: rel/path');
    writeFileSync(join(dir, 'plain'), '');
    expect(write(join(dir, 'plain', 'x'), '0600', 'x').code).not.toBe(0); // the parent is a file: mkdir fails
    expect(readdirSync(dir).filter((f) => f.includes('.egress-'))).toEqual([]);
  });

  it('never keeps the mode of a stale temp file of the same name', () => {
    // The script's temp name uses its own pid; a stale file of any name is only reused when names collide, so the
    // collision is made certain: a wrapper sh that execs the script under a known pid ($$ of the exec'ing shell).
    const target = join(dir, 'd.json');
    const r = spawnSync('sh', ['-c', `t="${dir}/.d.json.egress-$$.tmp"; printf stale > "$t"; chmod 0644 "$t"; exec sh -c "$0" egress-write "$1" 0600`, WRITE_SCRIPT, target], { input: 'fresh\n', encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(target, 'utf8')).toBe('fresh\n');
    expect(modeOf(target)).toBe('0600');
  });
});

describe('WRITE_SCRIPT with the byte count', () => {
  it('keeps the old file when fewer bytes arrive than were sent (the sender killed mid-stream)', () => {
    const p = join(dir, 'journal.json');
    writeFileSync(p, '{"old":true}\n', { mode: 0o600 });
    const cut = spawnSync('sh', ['-c', WRITE_SCRIPT, 'egress-write', p, '0600', '100'], { input: '{"new":', encoding: 'utf8' });
    expect(cut.status).not.toBe(0);
    expect(cut.stderr).toContain(`egress-write: ${p}: got 7 of 100 bytes; the old file is kept`);
    expect(readFileSync(p, 'utf8')).toBe('{"old":true}\n');
    expect(readdirSync(dir).filter((f) => f.includes('.egress-'))).toEqual([]);
    const whole = spawnSync('sh', ['-c', WRITE_SCRIPT, 'egress-write', p, '0600', '13'], { input: '{"new":true}\n', encoding: 'utf8' });
    expect(whole.status).toBe(0);
    expect(readFileSync(p, 'utf8')).toBe('{"new":true}\n');
  });
});
