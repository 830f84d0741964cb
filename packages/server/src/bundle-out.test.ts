// --out: a provision re-run may overwrite this peer's own earlier bundle, also a large one (many port forwards).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from '@egress/core';
import { afterAll, describe, expect, it } from 'vitest';
import { checkOut, readOutBundle } from './bundle-out.js';

const dir = mkdtempSync(join(tmpdir(), 'egress-out-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A bundle of peer `name` with `n` TCP forwards (each ~100 bytes of pretty JSON). */
function bundleText(name: string, n: number): string {
  const server = generateKeyPair();
  const me = generateKeyPair();
  const forwards = Array.from({ length: n }, (_, i) => ({ proto: 'tcp', publicPort: 10000 + i, peer: name, targetPort: 10000 + i }));
  return `${JSON.stringify({
    version: 1,
    kind: 'egress-bundle',
    name,
    server: { endpoint: '198.51.100.2:51820', publicKey: server.publicKey, publicAddress4: '198.51.100.2', address4: '10.77.0.1' },
    client: { address4: '10.77.0.2', publicKey: me.publicKey, privateKey: me.privateKey },
    tunnel: { subnet4: '10.77.0.0/24', mtu: 1420, persistentKeepalive: 25 },
    dns: ['203.0.113.53'],
    forwards,
  }, null, 2)}\n`;
}

describe('checkOut', () => {
  it("accepts this peer's own earlier bundle of 10,000 forwards (over 1 MiB) and refuses another peer's", async () => {
    const out = join(dir, 'big.json');
    const text = bundleText('laptop', 10_000);
    expect(text.length).toBeGreaterThan(1024 * 1024);
    writeFileSync(out, text, { mode: 0o600 });
    expect((await readOutBundle(out))?.forwards).toHaveLength(10_000);
    await expect(checkOut(out, 'laptop', false)).resolves.toBeUndefined();
    await expect(checkOut(out, 'desktop', false)).rejects.toThrow(/--out: '.*big\.json' exists/);
  });
});
