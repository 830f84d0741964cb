// Loads private keys for SSH authentication: ed25519/rsa/ecdsa files, a passphrase prompt on a TTY.
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import ssh2 from 'ssh2';
import { SshError, ValidationError, readUserFile } from '@egress/core';

/** A private key ready for ssh2, with the file it came from. */
export interface LoadedIdentity {
  path: string;
  key: Buffer;
  passphrase?: string;
}

/** Asks for a passphrase on the terminal without echoing it; undefined when there is no TTY. */
export async function promptPassphrase(path: string): Promise<string | undefined> {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return undefined;
  let muted = false;
  const sink = new Writable({
    write(chunk, _enc, done) {
      if (!muted) process.stderr.write(chunk);
      done();
    },
  });
  const rl = createInterface({ input: process.stdin, output: sink, terminal: true });
  try {
    const answer = new Promise<string>((resolve) => rl.question(`Enter passphrase for ${path}: `, resolve));
    muted = true;
    const value = await answer;
    process.stderr.write('\n');
    return value;
  } finally {
    rl.close();
  }
}

/**
 * Reads identity files that exist; an encrypted key asks for its passphrase on a TTY.
 * `explicit` files (from -i) must load: a missing or undecryptable one is an error, not a skip.
 */
export async function loadIdentities(paths: readonly string[], explicit: readonly string[], ask = promptPassphrase): Promise<LoadedIdentity[]> {
  const out: LoadedIdentity[] = [];
  for (const path of paths) {
    const required = explicit.includes(path);
    let key: Buffer;
    try {
      // Regular files only, at most 64 KiB: a FIFO, device or directory given as -i is refused, never read.
      const text = await readUserFile(path, { field: `-i ${path}` });
      if (text === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      key = Buffer.from(text);
    } catch (err) {
      if (required && err instanceof ValidationError) throw err;
      if (required) throw new SshError('E_SSH_AUTH', `-i ${path}: cannot read the identity file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
      continue;
    }
    let parsed = ssh2.utils.parseKey(key);
    if (parsed instanceof Error && /no passphrase given/i.test(parsed.message)) {
      const passphrase = await ask(path);
      if (passphrase === undefined) {
        if (required) throw new SshError('E_SSH_AUTH', `-i ${path}: the key is encrypted and there is no terminal to ask its passphrase`, { hint: 'add the key to ssh-agent (ssh-add) and retry' });
        continue;
      }
      parsed = ssh2.utils.parseKey(key, passphrase);
      if (parsed instanceof Error) throw new SshError('E_SSH_AUTH', `${path}: wrong passphrase or unreadable key (${parsed.message})`);
      out.push({ path, key, passphrase });
      continue;
    }
    if (parsed instanceof Error) {
      if (required) throw new SshError('E_SSH_AUTH', `-i ${path}: not a private key ssh2 can use (${parsed.message})`);
      continue;
    }
    out.push({ path, key });
  }
  return out;
}
