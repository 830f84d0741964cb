// The machines lab: real systemd Debian machines booted with `systemd-nspawn -b`, each in a network namespace the
// lab made, wired by veth to one router namespace that is also the "internet" (whoami and DNS). This host's PID 1
// is not systemd, so nspawn runs with --register=no --keep-unit in a cgroup of its own per machine
// (see ../../README.md, "Machines lab", and LAB-NOTES "Real systemd machines").
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LAB_ADDR, LAB_ZONE, LAB_ZONE_RECORDS } from '../addresses.js';
import { assetPath } from '../paths.js';
import { sleep } from '../procs.js';
import { run, type RunResult } from '../run.js';
import { ensureImage, type MachineImage, type MachineSuite } from './image.js';

export type MachineRole = 'vps' | 'client';

export interface MachineSpec {
  /** Short name, unique in the lab (letters and digits, at most 8): also the hostname. */
  name: string;
  role: MachineRole;
  suite: MachineSuite;
}

/** Addresses of each role's eth0 and its gateway on the router (documentation ranges, as in the namespace lab). */
export const ROLE_ADDR: Record<MachineRole, { v4: string; gw4: string; v6: string; gw6: string }> = {
  vps: { v4: LAB_ADDR.vpsV4, gw4: LAB_ADDR.vpsGwV4, v6: LAB_ADDR.vpsV6, gw6: LAB_ADDR.vpsGwV6 },
  client: { v4: LAB_ADDR.clientV4, gw4: LAB_ADDR.clientGwV4, v6: LAB_ADDR.clientV6, gw6: LAB_ADDR.clientGwV6 },
};

/** Root of every machines lab's files (overlays need a real filesystem, not tmpfs, for the installed .deb). */
export const MACHINES_ROOT = '/var/tmp/egress-machines';

const CG_V2 = '/sys/fs/cgroup/unified';
const CG_V1_SYSTEMD = '/sys/fs/cgroup/systemd';

export interface Capture {
  file: string;
  /** Stops tcpdump and returns the decoded packets (one line each, `tcpdump -nn -r`). */
  stop(): Promise<string[]>;
}

export class Machine {
  /** PID of the running systemd-nspawn (0 when stopped). */
  nspawnPid = 0;
  /** PID, in this host's PID namespace, of the machine's systemd (PID 1 inside). */
  pid1 = 0;
  boots = 0;
  netns = '';
  private exited: Promise<number> | undefined;

  constructor(readonly lab: MachinesLab, readonly spec: MachineSpec, readonly image: MachineImage) {}

  get name(): string { return this.spec.name; }
  get dir(): string { return join(this.lab.dir, this.spec.name); }
  /** The merged root filesystem (overlay of the image and this machine's upper dir). */
  get root(): string { return join(this.dir, 'root'); }
  get addr(): (typeof ROLE_ADDR)[MachineRole] { return ROLE_ADDR[this.spec.role]; }
  /** The router-side veth of this machine (in the router namespace): capture here to see its uplink. */
  get uplink(): string { return `u-${this.spec.name}`; }
  get cgroup(): string { return `egress-machines-${this.lab.name}-${this.spec.name}`; }

  /** Mounts the overlay and gives the machine its identity (machine-id, host keys, hostname, eth0, resolv.conf). */
  async create(): Promise<void> {
    for (const d of ['upper', 'work', 'root']) mkdirSync(join(this.dir, d), { recursive: true });
    await must(['mount', '-t', 'overlay', 'overlay', '-o',
      `lowerdir=${this.image.dir},upperdir=${join(this.dir, 'upper')},workdir=${join(this.dir, 'work')}`, this.root], 'mount overlay');
    const r = this.root;
    writeFileSync(join(r, 'etc/machine-id'), `${randomBytes(16).toString('hex')}\n`);
    writeFileSync(join(r, 'etc/hostname'), `${this.spec.name}\n`);
    writeFileSync(join(r, 'etc/hosts'), `127.0.0.1 localhost\n127.0.1.1 ${this.spec.name}\n::1 localhost\n`);
    rmSync(join(r, 'etc/resolv.conf'), { force: true });
    writeFileSync(join(r, 'etc/resolv.conf'), `nameserver ${LAB_ADDR.dnsV4}\nnameserver ${LAB_ADDR.dnsV6}\n`);
    await must(['ssh-keygen', '-A', '-f', r], 'ssh-keygen -A');
    mkdirSync(join(r, 'root/.ssh'), { recursive: true, mode: 0o700 });
    writeFileSync(join(r, 'root/.ssh/authorized_keys'), readFileSync(`${this.lab.keyFile}.pub`), { mode: 0o600 });
    const a = this.addr;
    writeFileSync(join(r, 'etc/systemd/network/10-eth0.network'),
      `[Match]\nName=eth0\n\n[Network]\nAddress=${a.v4}/24\nGateway=${a.gw4}\nAddress=${a.v6}/64\nGateway=${a.gw6}\nIPv6AcceptRA=no\nLinkLocalAddressing=ipv6\n`);
  }

  /** A fresh network namespace for this boot, with eth0 inside and its peer `u-NAME` in the router. */
  private async wire(): Promise<void> {
    this.netns = `eg-${this.lab.name}-${this.spec.name}-${this.boots}`;
    await must(['ip', 'netns', 'add', this.netns], 'netns add');
    const R = this.lab.routerNs;
    await run(['ip', '-n', R, 'link', 'del', this.uplink]);
    await must(['ip', '-n', R, 'link', 'add', this.uplink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.netns], 'veth');
    const a = this.addr;
    await must(['ip', '-n', R, 'addr', 'add', `${a.gw4}/24`, 'dev', this.uplink], 'addr');
    await must(['ip', '-n', R, 'addr', 'add', `${a.gw6}/64`, 'dev', this.uplink, 'nodad'], 'addr6');
    await must(['ip', '-n', R, 'link', 'set', this.uplink, 'up'], 'link up');
  }

  /** Boots the machine (a fresh netns each time); `beforeStart` runs once its uplink exists (start a capture there). */
  async boot(beforeStart?: () => Promise<void>): Promise<void> {
    if (this.nspawnPid) throw new Error(`machines: ${this.name} is already running`);
    this.boots += 1;
    await this.wire();
    if (beforeStart) await beforeStart();
    for (const h of [CG_V2, CG_V1_SYSTEMD]) if (existsSync(h)) mkdirSync(join(h, this.cgroup), { recursive: true });
    const log = openSync(join(this.dir, `boot-${this.boots}.log`), 'a');
    const cgJoin = [CG_V2, CG_V1_SYSTEMD].filter((h) => existsSync(h)).map((h) => `echo $$ > ${join(h, this.cgroup)}/cgroup.procs`).join('; ');
    const child = spawn('/bin/sh', ['-c', `${cgJoin}; exec "$@"`, 'sh',
      'systemd-nspawn', '-q', '-b', '-D', this.root, '-M', this.spec.name, '--register=no', '--keep-unit',
      '--private-network', `--network-namespace-path=/run/netns/${this.netns}`, '--resolv-conf=off', '--timezone=off',
      '--link-journal=no', '--console=pipe',
    ], { stdio: ['ignore', log, log], env: { ...process.env, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1' } });
    closeSync(log);
    this.nspawnPid = child.pid ?? 0;
    this.exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve(code ?? 128 + (sig === 'SIGKILL' ? 9 : 15))));
    this.pid1 = await this.findPid1();
  }

  /** The machine's PID 1: a descendant of nspawn whose innermost PID is 1. */
  private async findPid1(timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const pid of descendants(this.nspawnPid)) {
        const status = safeRead(`/proc/${pid}/status`);
        const nspid = /^NSpid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/);
        if (nspid && nspid.length > 1 && nspid[nspid.length - 1] === '1') return pid;
      }
      await sleep(50);
    }
    throw new Error(`machines: ${this.name}: no PID 1 within ${timeoutMs} ms; log:\n${this.bootLog()}`);
  }

  bootLog(): string {
    return safeRead(join(this.dir, `boot-${this.boots}.log`)).slice(-4000);
  }

  /** Runs argv inside the machine (all its namespaces), as root with a clean environment. */
  exec(argv: readonly string[], opts: { stdin?: string; timeoutMs?: number } = {}): Promise<RunResult> {
    if (!this.pid1) throw new Error(`machines: ${this.name} is not running`);
    return run(['nsenter', '-t', String(this.pid1), '-a', '--', '/usr/bin/env', '-i',
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOME=/root', 'LANG=C.UTF-8', ...argv],
    { stdin: opts.stdin, timeoutMs: opts.timeoutMs ?? 300_000 });
  }

  /** exec that throws with the output when the command fails. */
  async sh(script: string, opts: { stdin?: string; timeoutMs?: number } = {}): Promise<string> {
    const r = await this.exec(['/bin/sh', '-c', script], opts);
    if (r.exitCode !== 0) throw new Error(`machines: on ${this.name}: ${script}\nexit ${r.exitCode}\n${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  /** Waits for the boot to finish; returns what `systemctl is-system-running` said (running, degraded, …). */
  async waitBooted(timeoutMs = 180_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.exec(['systemctl', 'is-system-running', '--wait'], { timeoutMs: Math.max(1000, deadline - Date.now()) });
      const state = r.stdout.trim();
      if (state && !['starting', 'initializing', 'offline', 'unknown'].includes(state) && !/Failed to connect/.test(r.stderr)) return state;
      if (Date.now() > deadline) throw new Error(`machines: ${this.name} not booted within ${timeoutMs} ms (${state} ${r.stderr.trim()})`);
      await sleep(200);
    }
  }

  /** The units in failed state (empty when the system is running). */
  async failedUnits(): Promise<string[]> {
    const r = await this.exec(['systemctl', '--failed', '--plain', '--no-legend', '--no-pager']);
    return r.stdout.split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '').filter(Boolean);
  }

  /** Waits for nspawn to exit and cleans this boot's netns; returns nspawn's exit code (133 after a reboot). */
  private async reap(timeoutMs: number): Promise<number> {
    const timer = new Promise<number>((resolve) => setTimeout(() => resolve(-1), timeoutMs).unref());
    const code = await Promise.race([this.exited ?? Promise.resolve(0), timer]);
    if (code === -1) {
      for (const pid of [this.pid1, this.nspawnPid]) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      await this.exited;
    }
    this.nspawnPid = 0;
    this.pid1 = 0;
    await run(['ip', '-n', this.lab.routerNs, 'link', 'del', this.uplink]);
    await run(['ip', 'netns', 'del', this.netns]);
    return code;
  }

  /** `systemctl reboot` inside; nspawn exits 133; the machine boots again in a fresh netns (optionally capturing from power-on). */
  async reboot(beforeStart?: () => Promise<void>): Promise<number> {
    void this.exec(['systemctl', 'reboot']);
    const code = await this.reap(120_000);
    if (code !== 133) throw new Error(`machines: ${this.name}: nspawn exited ${code} after systemctl reboot (expected 133); log:\n${this.bootLog()}`);
    await this.boot(beforeStart);
    return code;
  }

  /** Powers the machine off (or kills it after a grace) and removes this boot's netns. */
  async stop(): Promise<void> {
    if (!this.nspawnPid) return;
    void this.exec(['systemctl', 'poweroff']);
    await this.reap(60_000);
  }

  /** Stops it and removes every trace: overlay, files, cgroups. */
  async destroy(): Promise<void> {
    await this.stop();
    if (existsSync(this.root)) await run(['umount', '-l', this.root]);
    rmSync(this.dir, { recursive: true, force: true });
    for (const h of [CG_V2, CG_V1_SYSTEMD]) rmdirTree(join(h, this.cgroup));
  }

  /** Starts tcpdump on this machine's uplink (router side); call it in boot/reboot's beforeStart to see from power-on. */
  async capture(filter = ''): Promise<Capture> {
    const file = join(this.dir, `uplink-${this.boots}-${Date.now()}.pcap`);
    const err = join(this.dir, `tcpdump-${Date.now()}.log`);
    const log = openSync(err, 'a');
    const child = spawn('nsenter', [`--net=/run/netns/${this.lab.routerNs}`, 'tcpdump', '-Z', 'root', '--immediate-mode', '-i', this.uplink, '-nn', '-U', '-w', file, ...(filter ? [filter] : [])],
      { stdio: ['ignore', log, log] });
    closeSync(log);
    const deadline = Date.now() + 15_000;
    while (!/listening on/.test(safeRead(err))) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`machines: tcpdump on ${this.uplink} did not start: ${safeRead(err)}`);
      await sleep(20);
    }
    const done = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    return {
      file,
      stop: async () => {
        child.kill('SIGINT');
        await done;
        const r = await run(['tcpdump', '-nn', '-r', file]);
        if (r.exitCode !== 0) throw new Error(`machines: tcpdump -r ${file}: ${r.stderr}`);
        return r.stdout.split('\n').filter(Boolean);
      },
    };
  }
}

/** The lab: one router/internet namespace and the machines wired to it. */
export class MachinesLab {
  readonly machines = new Map<string, Machine>();
  private daemons: number[] = [];

  constructor(readonly name: string) {}

  get dir(): string { return join(MACHINES_ROOT, this.name); }
  get routerNs(): string { return `eg-${this.name}-router`; }
  /** The lab's ssh key (root of every machine accepts it). */
  get keyFile(): string { return join(this.dir, 'id_ed25519'); }

  machine(name: string): Machine {
    const m = this.machines.get(name);
    if (!m) throw new Error(`machines: no machine ${name} in lab ${this.name}`);
    return m;
  }

  /** Creates the router (forwarding, internet addresses, whoami and DNS). */
  async start(): Promise<void> {
    if (existsSync(this.dir)) await downStaleMachinesLab(this.name);
    mkdirSync(this.dir, { recursive: true });
    await must(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', `egress-machines-${this.name}`, '-f', this.keyFile], 'ssh-keygen');
    const R = this.routerNs;
    await must(['ip', 'netns', 'add', R], 'router netns');
    const inR = (...a: string[]): Promise<string> => must(['ip', '-n', R, ...a], a.join(' '));
    await inR('link', 'set', 'lo', 'up');
    for (const a of [LAB_ADDR.internetV4, LAB_ADDR.whoamiV4, LAB_ADDR.dnsV4]) await inR('addr', 'add', `${a}/32`, 'dev', 'lo');
    for (const a of [LAB_ADDR.internetV6, LAB_ADDR.whoamiV6, LAB_ADDR.dnsV6]) await inR('addr', 'add', `${a}/128`, 'dev', 'lo');
    await must(['ip', 'netns', 'exec', R, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1'], 'forwarding');
    const zone = JSON.stringify({ zone: LAB_ZONE, records: LAB_ZONE_RECORDS });
    await this.daemon('whoami', [process.execPath, assetPath('whoami.mjs'), String(LAB_ADDR.whoamiPort), LAB_ADDR.whoamiV4, LAB_ADDR.whoamiV6]);
    await this.daemon('dns', [process.execPath, assetPath('dns.mjs'), zone, LAB_ADDR.dnsV4, LAB_ADDR.dnsV6]);
    writeFileSync(join(this.dir, 'state.json'), JSON.stringify({ pid: process.pid }) + '\n');
  }

  private async daemon(what: string, argv: string[]): Promise<void> {
    const out = join(this.dir, `${what}.out`);
    const err = join(this.dir, `${what}.err`);
    const o = openSync(out, 'a');
    const e = openSync(err, 'a');
    const child = spawn('nsenter', [`--net=/run/netns/${this.routerNs}`, '--', ...argv], { stdio: ['ignore', o, e], detached: true });
    closeSync(o);
    closeSync(e);
    child.unref();
    this.daemons.push(child.pid ?? 0);
    writeFileSync(join(this.dir, 'daemons'), this.daemons.join('\n') + '\n');
    const deadline = Date.now() + 15_000;
    while (!/READY/.test(safeRead(err))) {
      if (Date.now() > deadline) throw new Error(`machines: ${what} did not start: ${safeRead(err)}`);
      await sleep(20);
    }
  }

  /** Builds (or takes from the cache) the image and creates a machine; boot it with `machine.boot()`. */
  async add(spec: MachineSpec): Promise<Machine> {
    if (!/^[a-z][a-z0-9]{0,7}$/.test(spec.name)) throw new Error(`machines: name ${JSON.stringify(spec.name)}: 1–8 lowercase letters/digits, starting with a letter`);
    if ([...this.machines.values()].some((m) => m.spec.role === spec.role)) throw new Error(`machines: role ${spec.role} is taken in lab ${this.name} (one machine per role)`);
    const image = await ensureImage(spec.suite);
    const m = new Machine(this, spec, image);
    this.machines.set(spec.name, m);
    await m.create();
    return m;
  }

  /** Stops every machine and removes everything the lab made. */
  async down(): Promise<void> {
    for (const m of this.machines.values()) await m.destroy();
    this.machines.clear();
    for (const pid of this.daemons) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    this.daemons = [];
    await downStaleMachinesLab(this.name);
  }
}

/** Removes what a (possibly crashed) machines lab left: processes in its netns, mounts, netns, cgroups, files. */
export async function downStaleMachinesLab(name: string): Promise<void> {
  const dir = join(MACHINES_ROOT, name);
  for (const pid of safeRead(join(dir, 'daemons')).split('\n').map(Number).filter((p) => p > 0)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  for (const h of [CG_V2, CG_V1_SYSTEMD]) {
    let entries: string[] = [];
    try { entries = readdirSync(h).filter((e) => e.startsWith(`egress-machines-${name}-`)); } catch { /* no hierarchy */ }
    for (const e of entries) {
      // kill every process of a machine left running (its PID 1 first takes the whole PID namespace with it)
      for (const pid of safeRead(join(h, e, 'cgroup.procs')).split('\n').map(Number).filter((p) => p > 0)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      for (const pid of allProcs(join(h, e))) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    if (entries.length) await sleep(300);
    for (const e of entries) rmdirTree(join(h, e));
  }
  const mounts = safeRead('/proc/self/mountinfo').split('\n').map((l) => l.split(' ')[4] ?? '').filter((p) => p.startsWith(`${dir}/`));
  for (const p of mounts.sort().reverse()) await run(['umount', '-l', p]);
  const nss = (await run(['ip', 'netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(`eg-${name}-`));
  for (const n of nss) await run(['ip', 'netns', 'del', n]);
  rmSync(dir, { recursive: true, force: true });
  try { rmdirSync(MACHINES_ROOT); } catch { /* other labs */ }
}

/** Runs `body` with a fresh machines lab and always takes it down. */
export async function withMachinesLab<T>(name: string, body: (lab: MachinesLab) => Promise<T>): Promise<T> {
  const lab = new MachinesLab(name);
  try {
    await lab.start();
    return await body(lab);
  } finally {
    await lab.down();
  }
}

async function must(argv: string[], what: string): Promise<string> {
  const r = await run(argv, { timeoutMs: 120_000 });
  if (r.exitCode !== 0) throw new Error(`machines: ${what} failed (exit ${r.exitCode}): ${argv.join(' ')}\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

function safeRead(path: string): string {
  try { return readFileSync(path, 'utf8'); } catch { return ''; }
}

function descendants(pid: number): number[] {
  const out: number[] = [];
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift()!;
    for (const t of safeRead(`/proc/${p}/task/${p}/children`).split(/\s+/).filter(Boolean).map(Number)) { out.push(t); queue.push(t); }
  }
  return out;
}

function allProcs(cg: string): number[] {
  const pids = safeRead(join(cg, 'cgroup.procs')).split('\n').map(Number).filter((p) => p > 0);
  let subs: string[] = [];
  try { subs = readdirSync(cg, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name); } catch { /* gone */ }
  for (const s of subs) pids.push(...allProcs(join(cg, s)));
  return pids;
}

function rmdirTree(dir: string): void {
  let entries: string[];
  try { entries = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name); } catch { return; }
  for (const e of entries) rmdirTree(join(dir, e));
  try { rmdirSync(dir); } catch { /* populated or gone */ }
}
