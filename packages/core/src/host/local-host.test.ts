// LocalHost: argv only, stdin, check errors with masked argv, [#] echo with secrets masked, atomic writes with modes, prefix mode.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandError } from '../errors.js';
import { Output } from '../output.js';
import { runAll } from './host.js';
import { LocalHost } from './local-host.js';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'eg-localhost-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('LocalHost.run', () => {
  it('runs argv without a shell and feeds stdin', async () => {
    const host = new LocalHost();
    const r = await host.run(['printf', '%s|', 'a b', '$HOME', ';', 'rm -rf /']);
    expect(r).toEqual({ exitCode: 0, stdout: 'a b|$HOME|;|rm -rf /|', stderr: '' });
    expect((await host.run(['cat'], { stdin: 'line1\nline2\n' })).stdout).toBe('line1\nline2\n');
    expect((await host.run(['tr', 'a-z', 'A-Z'], { stdin: 'abc' })).stdout).toBe('ABC');
  });

  it('returns a nonzero exit unless check, then throws CommandError with secrets masked', async () => {
    const host = new LocalHost();
    const r = await host.run(['sh', '-c', 'echo oops >&2; exit 3']);
    expect(r).toEqual({ exitCode: 3, stdout: '', stderr: 'oops\n' });
    const secret = 'c2VjcmV0LXByaXZhdGUta2V5LXZhbHVlLTMyYnl0ZXM=';
    const err = (await host.run(['sh', '-c', `echo "bad ${secret}" >&2; exit 4`, secret], { check: true, secrets: [secret] }).catch((e: unknown) => e)) as CommandError;
    expect(err).toBeInstanceOf(CommandError);
    expect(err.exitCode).toBe(4);
    expect(err.argv).toEqual(['sh', '-c', 'echo "bad ***" >&2; exit 4', '***']);
    expect(err.stderr).toBe('bad ***\n');
    expect(err.message).not.toContain(secret);
  });

  it('reports a missing program as exit 127 instead of crashing', async () => {
    const r = await new LocalHost().run(['egress-no-such-program-x']);
    expect(r.exitCode).toBe(127);
    expect(r.stderr).toMatch(/ENOENT|not found/i);
  });

  it('echoes changes as [#] lines on stderr with secrets masked; reads are not echoed', async () => {
    const chunks: string[] = [];
    const stderr = { write: (s: string) => chunks.push(s), isTTY: false } as unknown as NodeJS.WritableStream;
    const output = new Output({ stderr, env: {} });
    const lines: string[] = [];
    const host = new LocalHost({ output, onEcho: (l) => lines.push(l) });
    await host.run(['true', 'private-key', 'SECRETVALUE'], { change: true, secrets: ['SECRETVALUE'] });
    await host.run(['true', 'read-only']);
    await host.run(['true', 'with space'], { change: true });
    expect(lines).toEqual(['true private-key ***', "true 'with space'"]);
    expect(chunks.join('')).toBe("[#] true private-key ***\n[#] true 'with space'\n");
  });

  it('runMany runs in order and stops after a failure when asked', async () => {
    const host = new LocalHost();
    const all = await runAll(host, [{ argv: ['echo', 'a'] }, { argv: ['false'] }, { argv: ['echo', 'c'] }]);
    expect(all.map((r) => [r.exitCode, r.stdout])).toEqual([[0, 'a\n'], [1, ''], [0, 'c\n']]);
    const stopped = await runAll(host, [{ argv: ['echo', 'a'] }, { argv: ['false'] }, { argv: ['echo', 'c'] }], { stopOnError: true });
    expect(stopped).toHaveLength(2);
  });

  it('feeds /dev/stdin readers from a file (node gives children a socket)', async () => {
    const r = await new LocalHost().run(['cat', '/dev/stdin'], { stdin: 'via file\n' });
    expect(r).toEqual({ exitCode: 0, stdout: 'via file\n', stderr: '' });
    expect((await readdir(tmpdir())).filter((n) => n.startsWith('egress-stdin-'))).toEqual([]);
  });
});

describe('LocalHost files', () => {
  it('writes atomically with the mode, creating parents 0755, and leaves no temp file', async () => {
    const lines: string[] = [];
    const host = new LocalHost({ onEcho: (l) => lines.push(l) });
    const path = join(dir, 'etc', 'egress', 'client.json');
    await host.writeFile(path, '{"a":1}\n', { mode: 0o600, secret: true });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'etc', 'egress'))).mode & 0o777).toBe(0o755);
    expect(await host.readFile(path)).toBe('{"a":1}\n');
    await host.writeFile(path, 'public\n', { mode: 0o644 });
    expect((await stat(path)).mode & 0o777).toBe(0o644);
    expect(await readdir(join(dir, 'etc', 'egress'))).toEqual(['client.json']);
    expect(lines).toEqual([`write ${path} (mode 0600, 8 bytes, secret)`, `write ${path} (mode 0644, 7 bytes)`]);
    expect(lines.join('')).not.toContain('"a"');
  });

  it('a reader never sees a half-written file: the old or the new content only', async () => {
    const host = new LocalHost();
    const path = join(dir, 'atomic.txt');
    const big = (c: string): string => c.repeat(2_000_000);
    await host.writeFile(path, big('a'), { mode: 0o600 });
    const seen = new Set<string>();
    let writing = true;
    const writer = (async () => {
      for (let i = 0; i < 4; i++) await host.writeFile(path, big(i % 2 ? 'a' : 'b'), { mode: 0o600 });
      writing = false;
    })();
    while (writing) {
      const text = (await host.readFile(path))!;
      seen.add(`${text.length}:${text[0]}${text[text.length - 1]}`);
    }
    await writer;
    for (const s of seen) expect(['2000000:aa', '2000000:bb']).toContain(s);
  });

  it('readFile is undefined for a missing file; removeFile is idempotent', async () => {
    const host = new LocalHost();
    expect(await host.readFile(join(dir, 'missing'))).toBeUndefined();
    const p = join(dir, 'gone.txt');
    await writeFile(p, 'x');
    await host.removeFile(p);
    await host.removeFile(p);
    expect(await host.readFile(p)).toBeUndefined();
  });
});

describe('LocalHost with a namespace prefix', () => {
  it('runs commands inside the namespace and handles files through commands', async () => {
    if (process.getuid?.() !== 0) throw new Error('this test needs root (ip netns): run the tests as root');
    const ns = `eg-core-${randomBytes(4).toString('hex')}`;
    await execa('ip', ['netns', 'add', ns]);
    try {
      const host = new LocalHost({ prefix: ['ip', 'netns', 'exec', ns] });
      const links = JSON.parse((await host.run(['ip', '-j', 'link', 'show'], { check: true })).stdout) as Array<{ ifname: string }>;
      expect(links.map((l) => l.ifname)).toEqual(['lo']);
      const path = join(dir, 'ns', 'deep', 'key');
      await host.writeFile(path, 'k3y\n', { mode: 0o600, secret: true });
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect(await host.readFile(path)).toBe('k3y\n');
      expect(await readdir(join(dir, 'ns', 'deep'))).toEqual(['key']);
      expect(await host.readFile(join(dir, 'ns', 'missing'))).toBeUndefined();
      await host.removeFile(path);
      expect(await host.readFile(path)).toBeUndefined();
    } finally {
      await execa('ip', ['netns', 'del', ns], { reject: false });
    }
  });
});
