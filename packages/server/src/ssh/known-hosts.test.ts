// known_hosts: plain, hashed (as ssh-keygen -H writes them), [host]:port, patterns, @revoked, changed keys.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fingerprintOf, hostFieldMatches, keyTypeOfBlob, knownHostName, knownHostsLine, knownKeyTypes, parseKnownHosts, verifyHostKey } from './known-hosts.js';

const dir = mkdtempSync(join(tmpdir(), 'egress-kh-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function newKey(name: string, type = 'ed25519'): { blob: Buffer; line: string; fingerprint: string } {
  const path = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', path]);
  const pub = readFileSync(`${path}.pub`, 'utf8').trim().split(/\s+/);
  const fp = execFileSync('ssh-keygen', ['-lf', `${path}.pub`], { encoding: 'utf8' }).split(/\s+/)[1]!;
  return { blob: Buffer.from(pub[1]!, 'base64'), line: `${pub[0]} ${pub[1]}`, fingerprint: fp };
}

const a = newKey('a');
const b = newKey('b');
const rsa = newKey('r', 'rsa');

describe('known_hosts parsing', () => {
  it('reads plain, marker and comment lines, skipping junk', () => {
    const entries = parseKnownHosts(`# comment\n\nvps,198.51.100.2 ${a.line} c\n@revoked * ${b.line}\n@unknown x ${a.line}\nbroken\n`);
    expect(entries).toEqual([
      { hosts: 'vps,198.51.100.2', keyType: 'ssh-ed25519', key: a.blob.toString('base64'), line: 3 },
      { marker: '@revoked', hosts: '*', keyType: 'ssh-ed25519', key: b.blob.toString('base64'), line: 4 },
    ]);
  });

  it('names non-22 ports in brackets', () => {
    expect(knownHostName('198.51.100.2', 22)).toBe('198.51.100.2');
    expect(knownHostName('198.51.100.2', 2222)).toBe('[198.51.100.2]:2222');
  });

  it('computes fingerprints the way ssh-keygen -lf prints them', () => {
    expect(fingerprintOf(a.blob)).toBe(a.fingerprint);
    expect(fingerprintOf(rsa.blob)).toBe(rsa.fingerprint);
    expect(keyTypeOfBlob(rsa.blob)).toBe('ssh-rsa');
  });
});

describe('host matching', () => {
  it('matches hashed names written by ssh-keygen -H, including [host]:port', () => {
    const file = join(dir, 'kh');
    writeFileSync(file, `198.51.100.2 ${a.line}\n[198.51.100.2]:2222 ${b.line}\n`);
    execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    const entries = parseKnownHosts(readFileSync(file, 'utf8'));
    expect(entries.every((e) => e.hosts.startsWith('|1|'))).toBe(true);
    expect(verifyHostKey(entries, '198.51.100.2', a.blob)).toEqual({ status: 'known', line: 1 });
    expect(verifyHostKey(entries, '[198.51.100.2]:2222', b.blob)).toEqual({ status: 'known', line: 2 });
    expect(verifyHostKey(entries, '198.51.100.3', a.blob)).toEqual({ status: 'unknown', knownTypes: [] });
  });

  it('supports patterns with * ? and ! negation, case-insensitively', () => {
    expect(hostFieldMatches('*.example.com', 'VPS.example.com')).toBe(true);
    expect(hostFieldMatches('vps?', 'vps1')).toBe(true);
    expect(hostFieldMatches('*,!bad', 'bad')).toBe(false);
    expect(hostFieldMatches('198.51.100.2', '[198.51.100.2]:2222')).toBe(false);
    expect(hostFieldMatches('198.51.100.2', '198.51.100.20')).toBe(false);
  });
});

describe('verifyHostKey', () => {
  const entries = parseKnownHosts(`vps ${a.line}\nvps ${rsa.line}\n@revoked * ${b.line}\n`);

  it('accepts the recorded key', () => {
    expect(verifyHostKey(entries, 'vps', a.blob)).toEqual({ status: 'known', line: 1 });
  });

  it('reports a changed key with the expected fingerprint', () => {
    const c = newKey('c');
    expect(verifyHostKey(entries, 'vps', c.blob)).toEqual({ status: 'changed', expected: [{ keyType: 'ssh-ed25519', fingerprint: a.fingerprint, line: 1 }] });
  });

  it('refuses a revoked key even where it would otherwise be unknown', () => {
    expect(verifyHostKey(entries, 'other', b.blob)).toEqual({ status: 'revoked', line: 3 });
  });

  it('treats an unknown host as unknown and lists key types known for a host', () => {
    expect(verifyHostKey(entries, 'new', a.blob)).toEqual({ status: 'unknown', knownTypes: [] });
    expect(knownKeyTypes(entries, 'vps')).toEqual(['ssh-ed25519', 'ssh-rsa']);
  });

  it('writes a line that verifies afterwards', () => {
    const line = knownHostsLine('[vps]:2222', a.blob);
    expect(line).toBe(`[vps]:2222 ${a.line}\n`);
    expect(verifyHostKey(parseKnownHosts(line), '[vps]:2222', a.blob).status).toBe('known');
  });
});
