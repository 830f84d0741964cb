// Starts, finds and removes labs: holders, then wiring and services; stale labs of dead processes are swept.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { LAB_HOSTS, type LabHostName } from './addresses.js';
import { startHolder, type HostIdentity } from './holder.js';
import { Lab, removeLabDir, type LabState } from './lab.js';
import { labDir, LABS_ROOT } from './paths.js';
import { assertCanStart } from './preflight.js';
import { isAlive, startTimeOf } from './procs.js';
import { addClientUsers, setUpSsh, startInternetServices } from './services.js';
import { wire } from './wire.js';
import { useWireguardGo, wireguardGoPath, type LabWireguardGo } from './wireguard-go.js';

export interface StartLabOptions {
  /** Unique per test file (lowercase letters, digits, dashes; at most 20 characters). */
  name: string;
  /** Leave the lab running when this process exits (the CLI's `lab up`); default false: exit tears it down. */
  keep?: boolean;
  /** Progress lines (the CLI and the demo print them). */
  log?: (line: string) => void;
  /** wireguard-go on the hosts' PATH: the offload-capable backports build (default) or the system's (0.0.20220316 on Debian 12). */
  wireguardGo?: LabWireguardGo;
  /** MTU of the client's main uplink (both veth ends), to test path-MTU handling; default 1500. */
  uplinkMtu?: number;
}

/** Valid lab names: they end up in paths and process titles. */
export const LAB_NAME = /^[a-z0-9][a-z0-9-]{0,19}$/;

const COMMON_SYSCTLS = ['net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0'];
const ROUTER_SYSCTLS = [
  'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1',
  'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0',
];

/** EGRESS_LAB_WIREGUARD_GO=system|backports picks the lab's wireguard-go for a whole test run (default backports). */
function wireguardGoFromEnv(): LabWireguardGo {
  const v = process.env.EGRESS_LAB_WIREGUARD_GO;
  if (v === undefined || v === '') return 'backports';
  if (v === 'system' || v === 'backports') return v;
  throw new Error(`EGRESS_LAB_WIREGUARD_GO: expected system or backports, got '${v}'`);
}

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
    await wire(lab, { uplinkMtu: options.uplinkMtu });
    const wgGo = wireguardGoPath(options.wireguardGo ?? wireguardGoFromEnv());
    if (wgGo.note) log(wgGo.note);
    await useWireguardGo(lab, ['vps', 'client'], wgGo.path);
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
    let lab: Lab | undefined;
    try {
      lab = attachLab(name);
    } catch (e) {
      log(`skipping lab ${name}: ${(e as Error).message}`);
      continue;
    }
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
  let state: LabState;
  try {
    state = JSON.parse(readFileSync(file, 'utf8')) as LabState;
  } catch (e) {
    throw new Error(`lab ${name}: cannot read ${file}: ${(e as Error).message}`);
  }
  return new Lab(name, state, { ownsProcessExit: false });
}
