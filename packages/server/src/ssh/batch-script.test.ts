// The batch script runs through a real `sh -s` (as over SSH) and splits back into one result per command.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildBatchScript, parseBatchOutput } from './batch-script.js';

function runLocally(commands: Parameters<typeof buildBatchScript>[0], stopOnError = false) {
  const { script, marker } = buildBatchScript(commands, stopOnError);
  const stdout = execFileSync('sh', ['-s'], { input: script, encoding: 'utf8' });
  return parseBatchOutput(stdout, marker);
}

describe('batch script', () => {
  it('returns stdout, stderr and exit code of each command exactly', () => {
    const r = runLocally([
      { argv: ['printf', 'a\nb\n'] },
      { argv: ['sh', '-c', 'echo oops >&2; exit 3'] },
      { argv: ['printf', 'no newline'] },
      { argv: ['true'] },
    ]);
    expect(r).toEqual([
      { exitCode: 0, stdout: 'a\nb\n', stderr: '' },
      { exitCode: 3, stdout: '', stderr: 'oops\n' },
      { exitCode: 0, stdout: 'no newline', stderr: '' },
      { exitCode: 0, stdout: '', stderr: '' },
    ]);
  });

  it('answers `ls -A -- PATH` of a file without running ls, exactly as ls does; directories and missing paths still run ls', () => {
    const dir = mkdtempSync(join(tmpdir(), 'egress-batch-ls-'));
    try {
      writeFileSync(join(dir, "a file's name"), 'x');
      writeFileSync(join(dir, '.hidden'), '');
      symlinkSync(join(dir, 'nowhere'), join(dir, 'dangling'));
      const paths = [join(dir, "a file's name"), dir, join(dir, 'missing'), join(dir, 'dangling')];
      const batched = runLocally(paths.map((p) => ({ argv: ['ls', '-A', '--', p] })));
      const real = paths.map((p) => {
        const r = spawnSync('ls', ['-A', '--', p], { encoding: 'utf8' });
        return { exitCode: r.status, stdout: r.stdout, stderr: r.stderr };
      });
      expect(batched).toEqual(real);
      expect(batched[1]!.stdout).toBe(".hidden\na file's name\ndangling\n");
      // The file case really runs no ls: with only the batch's own tools (mktemp, rm, cat) on the PATH it still answers.
      const bin = join(dir, 'bin');
      mkdirSync(bin);
      for (const tool of ['mktemp', 'rm', 'cat']) symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(bin, tool));
      const { script, marker } = buildBatchScript([{ argv: ['ls', '-A', '--', paths[0]!] }, { argv: ['ls', '-A', '--', dir] }], false);
      const noLs = parseBatchOutput(execFileSync('/bin/sh', ['-s'], { input: script, encoding: 'utf8', env: { PATH: bin } }), marker);
      expect(noLs[1]!.exitCode).toBe(127); // a directory does run ls (absent here)
      noLs.pop();
      expect(noLs).toEqual([real[0]]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('feeds stdin as a literal here-document and keeps the script away from commands without stdin', () => {
    const r = runLocally([{ argv: ['cat'], stdin: '$HOME `id` \\ \'"\nline2\n' }, { argv: ['cat'] }, { argv: ['echo', 'after'] }]);
    expect(r[0]).toEqual({ exitCode: 0, stdout: '$HOME `id` \\ \'"\nline2\n', stderr: '' });
    expect(r[1]).toEqual({ exitCode: 0, stdout: '', stderr: '' });
    expect(r[2]!.stdout).toBe('after\n');
  });

  it('stops after the first failure with stopOnError', () => {
    const r = runLocally([{ argv: ['echo', 'one'] }, { argv: ['false'] }, { argv: ['echo', 'never'] }], true);
    expect(r.map((x) => x.exitCode)).toEqual([0, 1]);
  });

  it('passes words with shell characters literally', () => {
    const r = runLocally([{ argv: ['printf', '%s|', 'a b', '$(id)', "it's"] }]);
    expect(r[0]!.stdout).toBe("a b|$(id)|it's|");
  });

  it('costs one process per command that writes no stderr (no temp-file copies of stdout)', () => {
    const { script } = buildBatchScript([{ argv: ['true'] }, { argv: ['echo', 'x'] }], false, 'M');
    expect(script).not.toContain('$t/o');
    expect(script.match(/cat "\$t\/e"/g)).toHaveLength(2);
    expect(script).toContain('if [ -s "$t/e" ]; then cat "$t/e"; fi');
  });

  it('leaves out a command cut off before its exit line, and keeps the ones before it', () => {
    const r = parseBatchOutput('\nM 0\none\nM E 0\n\nM 1\npartial', 'M');
    expect(r).toEqual([{ exitCode: 0, stdout: 'one', stderr: '' }]);
  });

  it('refuses stdin that contains its own delimiter', () => {
    expect(() => buildBatchScript([{ argv: ['cat'], stdin: 'x\nM_IN0\n' }], false, 'M')).toThrow(/delimiter/);
  });
});
