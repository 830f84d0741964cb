// Builds a lab: hosts, links, addresses, routes, users, SSH keys and the services of `internet` and `vps`.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import {
  INTERNET_SERVICE_ADDRS, LAB_ADDR, LAB_HOSTS, LAB_LINKS, LAB_USERS, LAB_ZONE, LAB_ZONE_RECORDS, type LabHostName,
} from './addresses.js';
import { startHolder, type HostIdentity } from './holder.js';
import { Lab, removeLabDir, type LabState } from './lab.js';
import { assetPath, HOST_PROBE_PATH, labDir, LABS_ROOT } from './paths.js';
import { dirname } from 'node:path';
import { assertCanStart } from './preflight.js';
import { isAlive, sleep, startTimeOf } from './procs.js';
import { runOk } from './run.js';

export interface StartLabOptions {
  /** Unique per test file (lowercase letters, digits, dashes; at most 20 characters). */
  name: string;
  /** Leave the lab running when this process exits (the CLI's `lab up`); default false: exit tears it down. */
  keep?: boolean;
  /** Progress lines (the CLI and the demo print them). */
  log?: (line: string) => void;
}

/** Valid lab names: they end up in paths and process titles. */
export const LAB_NAME = /^[a-z0-9][a-z0-9-]{0,19}$/;

const COMMON_SYSCTLS = ['net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0'];
const ROUTER_SYSCTLS = [
  'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1',
  'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0',
];

/** Starts a fresh lab named `name` (a stale one with the same name is removed first). */
export async function startLab(options: StartLabOptions): Promise<Lab> {
  const log = options.log ?? (() => {});
  if (!LAB_NAME.test(options.name)) {
    throw new Error(`lab name '${options.name}' is not allowed: use 1-20 lowercase letters, digits or dashes, starting with a letter or digit`);
  }
  assertCanStart();
  await sweepStaleLabs(log);
  const name = freeName(options, log);
  removeLabDir(name); // a half-made dir without state.json
  const dir = labDir(name);
  mkdirSync(`${dir}/logs`, { recursive: true, mode: 0o700 });
  mkdirSync(`${dir}/keys`, { recursive: true, mode: 0o700 });

  log('starting hosts internet, vps, client');
  const started = await Promise.allSettled(
    LAB_HOSTS.map((h) => startHolder(dir, h, h === 'internet' ? [...COMMON_SYSCTLS, ...ROUTER_SYSCTLS] : COMMON_SYSCTLS)),
  );
  const hosts = {} as Record<LabHostName, HostIdentity>;
  started.forEach((s, i) => { if (s.status === 'fulfilled') hosts[LAB_HOSTS[i]!] = s.value; });
  const owner = options.keep ? null : { pid: process.pid, start: startTimeOf(process.pid) ?? '' };
  const lab = new Lab(name, { name, createdAt: new Date().toISOString(), hosts, hostKeyLine: '', owner }, { ownsProcessExit: !options.keep });
  lab.saveState();
  try {
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    log('wiring links and addresses');
    await wire(lab);
    log('starting whoami, DNS, sshd; adding users');
    const [, , hostKeyLine] = await Promise.all([startInternetServices(lab), addClientUsers(lab), setUpSsh(lab)]);
    lab.saveState(hostKeyLine);
    log(`lab ${name} is up`);
    return lab;
  } catch (e) {
    await lab.down().catch(() => {});
    throw e;
  }
}

/**
 * The name to use: `options.name`, or — when another process's test run holds it (the same test file run twice at
 * once) — that name with this process's PID appended. A name held by this process, or by a `lab up` lab, is refused.
 */
function freeName(options: StartLabOptions, log: (line: string) => void): string {
  const existing = attachLab(options.name);
  if (!existing) return options.name;
  const owner = existing.owner;
  if (!owner) {
    throw new Error(`lab '${options.name}' is already up (started with \`lab up\`): remove it with \`npm run lab -- down --name ${options.name}\` or pick another name`);
  }
  const alternative = `${options.name}-${process.pid}`;
  if (options.keep || owner.pid === process.pid || attachLab(alternative)) {
    throw new Error(`lab name '${options.name}' is in use by process ${owner.pid}: pick another name (unique per test file)`);
  }
  log(`lab name ${options.name} is in use by process ${owner.pid}; using ${alternative}`);
  return alternative;
}

/** Removes every lab whose owning process has died without removing it (a killed test run), and half-made lab dirs. */
export async function sweepStaleLabs(log: (line: string) => void = () => {}): Promise<void> {
  const names = existsSync(LABS_ROOT) ? readdirSync(LABS_ROOT) : [];
  for (const name of names) {
    const lab = attachLab(name);
    if (lab) {
      if (lab.owner && !isAlive(lab.owner)) {
        log(`removing lab ${name}, left behind by process ${lab.owner.pid} which is gone`);
        await lab.down();
      }
    } else if (Date.now() - statSync(labDir(name)).mtimeMs > 5 * 60_000) {
      removeLabDir(name);
    }
  }
}

/** Removes a lab by name (the CLI's `down`): every process in it, and its files. */
export async function downStaleLab(name: string): Promise<void> {
  const lab = attachLab(name);
  if (lab) await lab.down();
  else removeLabDir(name);
}

/** A handle on a lab started by another process (the CLI); undefined when there is none. */
export function attachLab(name: string): Lab | undefined {
  const file = `${labDir(name)}/state.json`;
  if (!existsSync(file)) return undefined;
  const state = JSON.parse(readFileSync(file, 'utf8')) as LabState;
  return new Lab(name, state, { ownsProcessExit: false });
}

async function wire(lab: Lab): Promise<void> {
  const enterInternet = lab.enterArgv('internet');
  for (const link of LAB_LINKS) {
    const peerPid = lab.hosts[link.host].pid;
    await runOk([...enterInternet, 'ip', 'link', 'add', link.inetSide, 'type', 'veth', 'peer', 'name', link.hostSide, 'netns', String(peerPid)]);
  }
  const inet: string[] = INTERNET_SERVICE_ADDRS.map((a) => `address add ${a} dev lo${a.includes(':') ? ' nodad' : ''}`);
  const perHost: Record<string, string[]> = { vps: [], client: [] };
  for (const link of LAB_LINKS) {
    inet.push(`link set ${link.inetSide} up`);
    for (const a of link.inetAddrs) inet.push(`address add ${a} dev ${link.inetSide}${a.includes(':') ? ' nodad' : ''}`);
    const lines = perHost[link.host]!;
    lines.push(`link set ${link.hostSide} up`);
    for (const a of link.hostAddrs) lines.push(`address add ${a} dev ${link.hostSide}${a.includes(':') ? ' nodad' : ''}`);
  }
  // Routes last: a gateway must be on a link that is up and addressed.
  const routes: Record<string, string[]> = { vps: [], client: [] };
  for (const link of LAB_LINKS) {
    for (const d of link.defaults) {
      routes[link.host]!.push(`route add ${d.via.includes(':') ? '::/0' : '0.0.0.0/0'} via ${d.via} dev ${link.hostSide} metric ${d.metric}`);
    }
  }
  await lab.exec('internet', ['ip', '-batch', '-'], { stdin: `${inet.join('\n')}\n`, check: true });
  await Promise.all(
    (['vps', 'client'] as const).map((h) =>
      lab.exec(h, ['ip', '-batch', '-'], { stdin: `${[...perHost[h]!, ...routes[h]!].join('\n')}\n`, check: true }),
    ),
  );
  const resolv = `nameserver ${LAB_ADDR.dnsV4}\nnameserver ${LAB_ADDR.dnsV6}\n`;
  const probe = readFileSync(assetPath('probe.mjs'), 'utf8');
  await Promise.all(
    LAB_HOSTS.map(async (h) => {
      await lab.writeFile(h, '/etc/hosts', `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${h}\n`);
      await lab.writeFile(h, '/etc/hostname', `${h}\n`);
      await lab.writeFile(h, '/etc/resolv.conf', resolv);
      await lab.exec(h, ['install', '-d', '-m', '0755', dirname(HOST_PROBE_PATH)], { check: true });
      await lab.writeFile(h, HOST_PROBE_PATH, probe, '0644');
    }),
  );
}

async function startInternetServices(lab: Lab): Promise<void> {
  const whoami = lab.startDaemon(
    'internet',
    [process.execPath, assetPath('whoami.mjs'), String(LAB_ADDR.whoamiPort), LAB_ADDR.whoamiV4, LAB_ADDR.whoamiV6],
    'whoami',
  );
  const zone = JSON.stringify({ zone: LAB_ZONE, records: LAB_ZONE_RECORDS });
  const dns = lab.startDaemon('internet', [process.execPath, assetPath('dns.mjs'), zone, LAB_ADDR.dnsV4, LAB_ADDR.dnsV6], 'dns');
  await Promise.all([waitForLine(whoami.stderrFile, /READY/, 'whoami'), waitForLine(dns.stderrFile, /READY/, 'dns')]);
}

async function addClientUsers(lab: Lab): Promise<void> {
  for (const user of [LAB_USERS.app, LAB_USERS.other]) {
    await lab.exec('client', ['useradd', '--create-home', '--shell', '/bin/bash', user], { check: true });
  }
}

/** Generates the lab's host and client keys, configures and starts sshd in vps; returns the known_hosts line. */
async function setUpSsh(lab: Lab): Promise<string> {
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
  await lab.writeFile('client', '/root/.ssh/id_ed25519', clientKey, '0600');
  await lab.writeFile('client', '/root/.ssh/id_ed25519.pub', clientPub, '0644');
  await lab.writeFile('client', '/root/.ssh/known_hosts', `${hostKeyLine}\n${LAB_ADDR.vpsV6} ${hostPub}\n`, '0644');

  const sshd = lab.startDaemon('vps', ['/usr/sbin/sshd', '-D', '-e', '-f', '/etc/ssh/sshd_config'], 'sshd');
  await waitForLine(sshd.stderrFile, /Server listening on 0\.0\.0\.0 port 22/, 'sshd');
  return hostKeyLine;
}

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
