// WireGuard keys with node:crypto X25519: no dependency on `wg` where the key is made.
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { ValidationError } from './errors.js';
import { WgKey } from './model/primitives.js';

export interface WgKeyPair {
  privateKey: string;
  publicKey: string;
}

// PKCS#8 / SPKI DER prefixes for a raw 32-byte X25519 key (RFC 8410).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX_LEN = 12;

/** Generates a WireGuard key pair (base64, 32 bytes each). */
export function generateKeyPair(): WgKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const priv = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length);
  const pub = publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX_LEN);
  return { privateKey: priv.toString('base64'), publicKey: pub.toString('base64') };
}

/** Derives the public key of a base64 WireGuard private key (same result as `wg pubkey`). */
export function publicKeyOf(privateKey: string): string {
  if (!WgKey.safeParse(privateKey).success) {
    throw new ValidationError('privateKey: expected a WireGuard key: base64 of 32 bytes (value not shown)', [{ path: 'privateKey', message: 'bad key' }]);
  }
  const raw = Buffer.from(privateKey, 'base64');
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
  return createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX_LEN).toString('base64');
}

/** Whether `publicKey` belongs to `privateKey` (detects a tampered bundle). */
export function keysMatch(privateKey: string, publicKey: string): boolean {
  return publicKeyOf(privateKey) === publicKey;
}
