// Identity loading: plain and encrypted keys (ed25519, rsa, ecdsa), passphrase asked only when needed.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadIdentities } from './identities.js';

const dir = mkdtempSync(join(tmpdir(), 'egress-ids-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function key(name: string, type: string, passphrase = ''): string {
  const path = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', passphrase, '-f', path]);
  return path;
}

const ed = key('ed', 'ed25519');
const rsa = key('rsa', 'rsa');
const ecdsa = key('ecdsa', 'ecdsa');
const enc = key('enc', 'ed25519', 'correct horse');

describe('loadIdentities', () => {
  it('loads ed25519, rsa and ecdsa keys and skips missing default files', async () => {
    const ids = await loadIdentities([ed, rsa, ecdsa, join(dir, 'missing')], [], async () => undefined);
    expect(ids.map((i) => i.path)).toEqual([ed, rsa, ecdsa]);
  });

  it('asks the passphrase of an encrypted key and uses it', async () => {
    const asked: string[] = [];
    const ids = await loadIdentities([enc], [enc], async (p) => (asked.push(p), 'correct horse'));
    expect(asked).toEqual([enc]);
    expect(ids).toHaveLength(1);
    expect(ids[0]!.passphrase).toBe('correct horse');
  });

  it('refuses a wrong passphrase, and an explicit encrypted key without a terminal', async () => {
    await expect(loadIdentities([enc], [enc], async () => 'wrong')).rejects.toThrow(`${enc}: wrong passphrase or unreadable key`);
    await expect(loadIdentities([enc], [enc], async () => undefined)).rejects.toThrow(`-i ${enc}: the key is encrypted and there is no terminal to ask its passphrase`);
    expect(await loadIdentities([enc], [], async () => undefined)).toEqual([]);
  });

  it('refuses an explicit file that is missing or not a key', async () => {
    const junk = join(dir, 'junk');
    writeFileSync(junk, 'not a key\n');
    await expect(loadIdentities([join(dir, 'nope')], [join(dir, 'nope')])).rejects.toThrow(`-i ${join(dir, 'nope')}: cannot read the identity file (ENOENT)`);
    await expect(loadIdentities([junk], [junk])).rejects.toThrow(`-i ${junk}: not a private key ssh2 can use`);
  });
});
