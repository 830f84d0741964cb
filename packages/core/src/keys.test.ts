// Keys made with node:crypto X25519 agree with wg(8): same public key from `wg pubkey`, and `wg genkey` keys derive the same way.
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors.js';
import { generateKeyPair, keysMatch, publicKeyOf } from './keys.js';
import { WgKey } from './model/primitives.js';

async function wg(args: string[], input?: string): Promise<string> {
  const r = await execa('wg', args, { input: input ?? '', env: { WG_HIDE_KEYS: 'never' } });
  return r.stdout.trim();
}

describe('WireGuard keys', () => {
  it('a key pair made in Node gives the same public key as `wg pubkey` (private key on stdin)', async () => {
    for (let i = 0; i < 5; i++) {
      const pair = generateKeyPair();
      expect(WgKey.safeParse(pair.privateKey).success).toBe(true);
      expect(pair.publicKey).toHaveLength(44);
      expect(await wg(['pubkey'], `${pair.privateKey}\n`)).toBe(pair.publicKey);
      expect(publicKeyOf(pair.privateKey)).toBe(pair.publicKey);
    }
  });

  it('a key made by `wg genkey` derives to the public key `wg pubkey` prints', async () => {
    for (let i = 0; i < 5; i++) {
      const priv = await wg(['genkey']);
      expect(publicKeyOf(priv)).toBe(await wg(['pubkey'], `${priv}\n`));
    }
  });

  it('derives the RFC 7748 test vector (Alice) exactly', () => {
    // RFC 7748 6.1: Alice's private scalar and public key, base64 of the hex given there.
    const priv = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex').toString('base64');
    const pub = Buffer.from('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a', 'hex').toString('base64');
    expect(publicKeyOf(priv)).toBe(pub);
    expect(keysMatch(priv, pub)).toBe(true);
  });

  it('keysMatch tells a tampered public key', () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    expect(keysMatch(a.privateKey, a.publicKey)).toBe(true);
    expect(keysMatch(a.privateKey, b.publicKey)).toBe(false);
  });

  it('refuses a malformed private key without echoing it', () => {
    const bad = 'c2VjcmV0LW5vdC1hLWtleQ==';
    expect(() => publicKeyOf(bad)).toThrow(ValidationError);
    try {
      publicKeyOf(bad);
    } catch (err) {
      expect((err as Error).message).toBe('privateKey: expected a WireGuard key: base64 of 32 bytes (value not shown)');
      expect((err as Error).message).not.toContain(bad);
    }
  });

  it('generates distinct keys', () => {
    const keys = new Set(Array.from({ length: 20 }, () => generateKeyPair().privateKey));
    expect(keys.size).toBe(20);
  });
});
