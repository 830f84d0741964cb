// Test helper: run the client CLI in-process against a FakeHost and capture what it prints.
import { Writable } from 'node:stream';
import type { FakeHost } from '@egress/core/testing';
import { generateKeyPair } from '@egress/core/keys';
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

/** A valid enrollment bundle for the peer `laptop` (tunnel 10.77.0.0/24) with these keys (fresh ones by default). */
export function testBundle(server = generateKeyPair(), me = generateKeyPair()) {
  return {
    version: 1,
    kind: 'egress-bundle',
    name: 'laptop',
    server: { endpoint: '198.51.100.2:51820', publicKey: server.publicKey, publicAddress4: '198.51.100.2', address4: '10.77.0.1' },
    client: { address4: '10.77.0.2', publicKey: me.publicKey, privateKey: me.privateKey },
    tunnel: { subnet4: '10.77.0.0/24', mtu: 1420, persistentKeepalive: 25 },
    dns: ['203.0.113.53'],
    forwards: [],
  };
}
