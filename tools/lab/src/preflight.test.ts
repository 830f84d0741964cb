// lab up says exactly what is missing and which apt package provides it.
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { findTool, nodeProblem, preflightProblems } from './preflight.js';

describe('preflightProblems', () => {
  it('refuses a non-root user', () => {
    expect(preflightProblems({ uid: 1000 })[0]).toBe('the lab needs root (it creates network and mount namespaces): run it with sudo or as root');
  });

  it('names each missing tool with its package and one install command', () => {
    const dir = mkdtempSync(`${tmpdir()}/lab-preflight-`);
    try {
      for (const t of ['ip', 'ss', 'unshare', 'nsenter', 'setpriv', 'mount', 'hostname', 'useradd', 'getent', 'ssh', 'ssh-keygen', 'wg', 'wg-quick', 'nft', 'dig', 'ping']) {
        symlinkSync(findTool(t)!, `${dir}/${t}`);
      }
      const problems = preflightProblems({ uid: 0, dirs: [dir] });
      expect(problems).toEqual([
        'missing tools: sshd (apt package openssh-server), tcpdump (apt package tcpdump), wireguard-go (apt package wireguard-go); ' +
          'install them with: apt-get install -y --no-install-recommends openssh-server tcpdump wireguard-go',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('finds nothing to refuse on a prepared machine run as root', () => {
    expect(preflightProblems({ uid: 0 })).toEqual([]);
  });
});

describe('nodeProblem', () => {
  it('accepts a system-wide node and names the directory other users cannot enter', () => {
    expect(nodeProblem(process.execPath)).toBeUndefined();
    const dir = mkdtempSync(`${tmpdir()}/lab-node-`);
    try {
      mkdirSync(`${dir}/private/bin`, { recursive: true });
      copyFileSync('/bin/true', `${dir}/private/bin/node`);
      chmodSync(`${dir}/private/bin/node`, 0o755);
      chmodSync(`${dir}/private`, 0o700);
      chmodSync(dir, 0o755);
      expect(nodeProblem(`${dir}/private/bin/node`)).toBe(
        `node at ${dir}/private/bin/node is inside ${dir}/private, which other users cannot enter (appuser runs the probe with it): install node system-wide`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
