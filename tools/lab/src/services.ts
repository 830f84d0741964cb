// The lab's services: whoami and DNS in internet, sshd with lab keys in vps, users in client.
import { existsSync, readFileSync } from 'node:fs';
import { LAB_ADDR, LAB_USERS, LAB_ZONE, LAB_ZONE_RECORDS } from './addresses.js';
import type { Lab } from './lab.js';
import { assetPath, hostPath } from './paths.js';
import { sleep } from './procs.js';
import { runOk } from './run.js';

/** Starts whoami and the DNS server in internet and waits until both listen. */
export async function startInternetServices(lab: Lab): Promise<void> {
  const whoami = lab.startDaemon(
    'internet',
    [process.execPath, hostPath(assetPath('whoami.mjs')), String(LAB_ADDR.whoamiPort), LAB_ADDR.whoamiV4, LAB_ADDR.whoamiV6],
    'whoami',
  );
  const zone = JSON.stringify({ zone: LAB_ZONE, records: LAB_ZONE_RECORDS });
  const dns = lab.startDaemon('internet', [process.execPath, hostPath(assetPath('dns.mjs')), zone, LAB_ADDR.dnsV4, LAB_ADDR.dnsV6], 'dns');
  await Promise.all([waitForLine(whoami.stderrFile, /READY/, 'whoami'), waitForLine(dns.stderrFile, /READY/, 'dns')]);
}

/** Adds appuser and otheruser to the client's own /etc (with homes on its private /home). */
export async function addClientUsers(lab: Lab): Promise<void> {
  for (const user of [LAB_USERS.app, LAB_USERS.other]) {
    await lab.exec('client', ['useradd', '--create-home', '--shell', '/bin/bash', user], { check: true });
  }
}

/** Generates the lab's host and client keys, configures and starts sshd in vps; returns the known_hosts line. */
export async function setUpSsh(lab: Lab): Promise<string> {
  const keys = `${lab.dir}/keys`;
  await Promise.all([
    runOk(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `egress-lab-${lab.name}-vps`, '-f', `${keys}/host_ed25519`]),
    runOk(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `egress-lab-${lab.name}-client`, '-f', `${keys}/client_ed25519`]),
  ]);
  const hostKey = readFileSync(`${keys}/host_ed25519`, 'utf8');
  const hostPub = readFileSync(`${keys}/host_ed25519.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
  const clientKey = readFileSync(`${keys}/client_ed25519`, 'utf8');
  const clientPub = readFileSync(`${keys}/client_ed25519.pub`, 'utf8');
  const hostKeyLine = `${LAB_ADDR.vpsV4} ${hostPub}`;

  await lab.writeFile('vps', '/etc/ssh/ssh_host_ed25519_key', hostKey, '0600');
  await lab.writeFile('vps', '/etc/ssh/ssh_host_ed25519_key.pub', `${hostPub}\n`, '0644');
  await lab.writeFile('vps', '/etc/ssh/sshd_config', SSHD_CONFIG, '0644');
  await lab.writeFile('vps', '/root/.ssh/authorized_keys', clientPub, '0600');
  // sshd runs every exec through root's shell, and Debian's bash sources ~/.bashrc for it: the vps gets a fresh Debian
  // VPS's root dotfiles, not this machine's (/root is an overlay of it), whose tool set-up would run at every exec.
  await lab.writeFile('vps', '/root/.bashrc', VPS_ROOT_BASHRC, '0644');
  await lab.writeFile('vps', '/root/.profile', VPS_ROOT_PROFILE, '0644');
  await lab.writeFile('client', '/root/.ssh/id_ed25519', clientKey, '0600');
  await lab.writeFile('client', '/root/.ssh/id_ed25519.pub', clientPub, '0644');
  await lab.writeFile('client', '/root/.ssh/known_hosts', `${hostKeyLine}\n${LAB_ADDR.vpsV6} ${hostPub}\n`, '0644');

  const sshd = lab.startDaemon('vps', ['/usr/sbin/sshd', '-D', '-e', '-f', '/etc/ssh/sshd_config'], 'sshd');
  await waitForLine(sshd.stderrFile, /Server listening on 0\.0\.0\.0 port 22/, 'sshd');
  return hostKeyLine;
}

/** /root/.bashrc and /root/.profile as Debian 12 installs them (comments trimmed). */
const VPS_ROOT_BASHRC = `# ~/.bashrc: executed by bash(1) for non-login shells (the lab vps's root, as on a fresh Debian VPS).
`;
const VPS_ROOT_PROFILE = `# ~/.profile: executed by Bourne-compatible login shells.
if [ "$BASH" ]; then
  if [ -f ~/.bashrc ]; then
    . ~/.bashrc
  fi
fi
mesg n 2> /dev/null || true
`;

const SSHD_CONFIG = `# egress lab: the vps's sshd (root login by key only)
Port 22
ListenAddress 0.0.0.0
ListenAddress ::
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile /root/.ssh/authorized_keys
UsePAM no
UseDNS no
PidFile /run/sshd.pid
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
`;

/** Waits until a daemon's log file shows `pattern` (its ready line). */
async function waitForLine(file: string, pattern: RegExp, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    if (pattern.test(text)) return;
    if (Date.now() > deadline) throw new Error(`lab: ${what} did not start within ${timeoutMs} ms: ${text.trim()}`);
    await sleep(20);
  }
}
