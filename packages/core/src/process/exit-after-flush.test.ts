// A CLI that writes a large document to a pipe and exits: every byte arrives (the built module, in a child process).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const built = fileURLToPath(new URL('../../dist/process/exit-after-flush.js', import.meta.url));
const SIZE = 8 * 1024 * 1024;

/** Runs a child that writes SIZE bytes to stdout (a pipe read by this process) and then ends with `ending`. */
function child(ending: string): { bytes: number; status: number | null } {
  const script = `const { exitAfterFlush } = await import(${JSON.stringify(built)}); process.stdout.write('x'.repeat(${SIZE})); ${ending};`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { maxBuffer: 2 * SIZE });
  return { bytes: r.stdout.length, status: r.status };
}

describe('exitAfterFlush', () => {
  it('is built (npm run build runs before the tests)', () => {
    expect(existsSync(built), `${built} is missing: run npm run build`).toBe(true);
  });

  it('delivers all of a large piped output and exits with the code', () => {
    expect(child('exitAfterFlush(3)')).toEqual({ bytes: SIZE, status: 3 });
  });

  it('is needed: process.exit right after the write cuts the piped output', () => {
    const plain = child('void exitAfterFlush; process.exit(3)');
    expect(plain.status).toBe(3);
    expect(plain.bytes).toBeLessThan(SIZE);
  });
});
