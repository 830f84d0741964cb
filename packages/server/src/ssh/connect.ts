// Opens the one ssh2 connection of a run: host key checked against known_hosts, agent and key authentication.
import { appendFile, mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { AuthenticationType, Client, ConnectConfig } from 'ssh2';
import { SshError, readUserFile } from '@egress/core';
import { loadIdentities, promptPassphrase } from './identities.js';
import { fingerprintOf, keyTypeOfBlob, knownHostName, knownHostsLine, knownKeyTypes, parseKnownHosts, verifyHostKey, type HostKeyVerdict } from './known-hosts.js';
import type { SshTarget } from './target.js';
import { span } from '../timing.js';

export interface ConnectOptions {
  knownHostsFile?: string;
  acceptNewHostKey?: boolean;
  /** The -i file, which must load. */
  explicitIdentity?: string;
  /** Agent socket (default SSH_AUTH_SOCK). */
  agentSocket?: string;
  timeoutMs?: number;
  askPassphrase?: (path: string) => Promise<string | undefined>;
  /** Called once when a new host key was recorded. */
  onNewHostKey?: (line: string, fingerprint: string) => void;
}

const DEFAULT_HOST_KEY_ALGOS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];

/** Orders host key algorithms so the types known_hosts has for this host come first (as OpenSSH does). */
export function preferredHostKeyAlgorithms(knownTypes: readonly string[]): string[] {
  const known = DEFAULT_HOST_KEY_ALGOS.filter((a) => knownTypes.includes(a) || (a.startsWith('rsa-sha2') && knownTypes.includes('ssh-rsa')));
  return [...known, ...DEFAULT_HOST_KEY_ALGOS.filter((a) => !known.includes(a))];
}

function hostKeyError(name: string, verdict: HostKeyVerdict, blob: Buffer, file: string): SshError {
  const fp = fingerprintOf(blob);
  const type = keyTypeOfBlob(blob);
  if (verdict.status === 'changed') {
    const was = verdict.expected.map((e) => `${e.keyType} ${e.fingerprint} (${file}:${e.line})`).join(', ');
    return new SshError('E_SSH_HOSTKEY_CHANGED', `host key of ${name} has CHANGED: known ${was}, presented ${type} ${fp}. Someone may be intercepting the connection; nothing was changed.`, {
      hint: `if the VPS was reinstalled, check the new key out of band, then remove the old one: ssh-keygen -R ${JSON.stringify(name)} -f ${file}`,
    });
  }
  if (verdict.status === 'revoked') {
    return new SshError('E_SSH_HOSTKEY_CHANGED', `host key ${type} ${fp} of ${name} is marked @revoked in ${file}:${verdict.line}; refusing to connect`);
  }
  return new SshError('E_SSH_HOSTKEY_UNKNOWN', `host key of ${name} is not in ${file}: presented ${type} ${fp}; nothing was changed`, {
    hint: `check the fingerprint on the VPS (ssh-keygen -lf /etc/ssh/ssh_host_${type.replace(/^ssh-/, '').replace(/-sha2-.*$/, '')}_key.pub) and rerun with --accept-new-host-key, or add it to ${file}`,
  });
}

function connectError(target: SshTarget, err: Error & { code?: string; level?: string }, tried: string): SshError {
  const where = `${target.user}@${target.host}:${target.port}`;
  if (err.level === 'client-authentication' || /authentication methods failed/i.test(err.message)) {
    return new SshError('E_SSH_AUTH', `authentication as ${target.user} on ${where} failed (tried ${tried}); nothing was changed`, {
      hint: 'pass the key with -i, load it into ssh-agent, or check the user (user@host)',
      cause: err,
    });
  }
  if (err.level === 'client-timeout' || err.code === 'ETIMEDOUT') {
    return new SshError('E_SSH_CONNECT', `cannot reach ${where}: timed out; nothing was changed`, { hint: 'check the address, port (-p) and that sshd runs', cause: err });
  }
  return new SshError('E_SSH_CONNECT', `cannot reach ${where}: ${err.code ?? ''}${err.code ? ' ' : ''}${err.message}; nothing was changed`, { hint: 'check the address, port (-p) and that sshd runs', cause: err });
}

/** Connects, verifying the host key strictly (unknown refused unless accepted, changed always refused). */
export async function connectSsh(target: SshTarget, options: ConnectOptions = {}): Promise<Client> {
  const endPrep = span('ssh-prepare');
  const { default: ssh2 } = await import('ssh2');
  const file = options.knownHostsFile ?? join(homedir(), '.ssh', 'known_hosts');
  const knownText = (await readUserFile(file, { field: '--known-hosts', maxBytes: 16 * 1024 * 1024 })) ?? '';
  const entries = parseKnownHosts(knownText);
  const name = knownHostName(target.host, target.port);
  const identities = await loadIdentities(target.identityFiles, options.explicitIdentity ? [options.explicitIdentity] : [], options.askPassphrase ?? promptPassphrase);
  const agent = options.agentSocket ?? process.env.SSH_AUTH_SOCK;
  const methods: Array<AuthenticationType | Record<string, unknown>> = [];
  if (agent) methods.push({ type: 'agent', username: target.user, agent });
  for (const id of identities) methods.push({ type: 'publickey', username: target.user, key: id.key, ...(id.passphrase ? { passphrase: id.passphrase } : {}) });
  if (methods.length === 0) {
    throw new SshError('E_SSH_AUTH', `no SSH identity to authenticate as ${target.user}@${target.host}: no ssh-agent (SSH_AUTH_SOCK) and none of ${target.identityFiles.join(', ') || 'the default keys'} exists`, {
      hint: 'pass a key with -i FILE',
    });
  }
  let verdict: { result: HostKeyVerdict; blob: Buffer } | undefined;
  let newKeyLine: string | undefined;
  const client = new ssh2.Client();
  const config: ConnectConfig = {
    host: target.host,
    port: target.port,
    username: target.user,
    readyTimeout: options.timeoutMs ?? 20_000,
    keepaliveInterval: 15_000,
    algorithms: { serverHostKey: preferredHostKeyAlgorithms(knownKeyTypes(entries, name)) as never },
    authHandler: methods as never,
    hostVerifier: (key: Buffer) => {
      const result = verifyHostKey(entries, name, key);
      verdict = { result, blob: key };
      if (result.status === 'known') return true;
      if (result.status === 'unknown' && options.acceptNewHostKey) {
        newKeyLine = knownHostsLine(name, key);
        return true;
      }
      return false;
    },
  };
  endPrep();
  // EGRESS_TIMING: TCP connect, key exchange (to ssh2's 'handshake', with what was negotiated), then authentication.
  let endPhase = span('ssh-tcp');
  client.once('connect', () => {
    endPhase();
    endPhase = span('ssh-kex');
  });
  client.once('handshake', (negotiated: { kex?: string; serverHostKey?: string; cs?: { cipher?: string; mac?: string } }) => {
    endPhase({ kex: negotiated.kex ?? '?', hostKey: negotiated.serverHostKey ?? '?', cipher: negotiated.cs?.cipher ?? '?' });
    endPhase = span('ssh-auth');
  });
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => {
      endPhase();
      resolve();
    });
    client.once('error', (err: Error & { code?: string; level?: string }) => {
      client.end();
      if (verdict && verdict.result.status !== 'known' && !newKeyLine) reject(hostKeyError(name, verdict.result, verdict.blob, file));
      else reject(connectError(target, err, [agent ? 'ssh-agent' : '', ...identities.map((i) => i.path)].filter(Boolean).join(', ') || 'no key'));
    });
    client.connect(config);
    // No Nagle: every exec is a short request waiting for its answer, and without ssh2's native crypto binding (the
    // shipped single-file bundle has none) each packet goes out as several writes, so Nagle held a packet's last part
    // back until the VPS's delayed ACK (~40 ms per round trip, measured in the peers bench).
    client.setNoDelay(true);
  });
  if (newKeyLine && verdict) {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    await appendFile(file, `${knownText && !knownText.endsWith('\n') ? '\n' : ''}${newKeyLine}`, { mode: 0o600 });
    options.onNewHostKey?.(newKeyLine, fingerprintOf(verdict.blob));
  }
  return client;
}
