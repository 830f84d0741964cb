// Test helper: run the client CLI in-process against a FakeHost and capture what it prints.
import { Writable } from 'node:stream';
import type { FakeHost } from '@egress/core/testing';
import { runCli } from '../cli.js';

/** A writable that keeps everything written to it in `text`. */
export function sink(): Writable & { text: string } {
  const w = new Writable({
    write(chunk, _enc, cb) {
      w.text += String(chunk);
      cb();
    },
  }) as Writable & { text: string };
  w.text = '';
  return w;
}

/** Runs `egress-client ARGV` as root on `host`; returns the exit code and both streams. */
export async function runOn(host: FakeHost, argv: string[]): Promise<{ code: number | undefined; stdout: string; stderr: string }> {
  const stdout = sink();
  const stderr = sink();
  const status = await runCli(argv, { host, isRoot: true, handshakeTimeoutMs: 0, stdout, stderr });
  return { code: status.code, stdout: stdout.text, stderr: stderr.text };
}
