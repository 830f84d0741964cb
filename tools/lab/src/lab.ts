// A running lab: three simulated hosts, each entered with nsenter (network + mount + UTS namespaces).
import { spawn as spawnChild, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { LAB_ADDR, LAB_HOSTS, type LabAddresses, type LabHostName } from './addresses.js';
import { labCgroupParent, removeLabCgroups } from './cgroups.js';
import type { HostIdentity } from './holder.js';
import { HOST_PROBE_PATH, hostPath, labDir, LABS_ROOT, REPO_DIR } from './paths.js';
import { killNamespaces, killNamespacesSync, nsOf } from './procs.js';
import { run, TIMEOUT_EXIT, type RunResult } from './run.js';

export interface LabExecOptions {
  /** Run as this user (looked up in the host's own /etc/passwd); root when absent. */
  user?: string;
  stdin?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Throw when the command exits nonzero (default false: the result carries the exit code). */
  check?: boolean;
  /** Working directory inside the host (default `/`). */
  cwd?: string;
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
}

export interface LabProcess {
  readonly pid: number;
  /** Everything the process printed so far (stdout and stderr interleaved). */
  output(): string;
  kill(signal?: NodeJS.Signals): void;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface LabProbeArgs {
  v6?: boolean;
  udp?: boolean;
  host?: string;
  port?: number;
}

export interface LabSsh {
  target: 'root@198.51.100.2';
  identity: '/root/.ssh/id_ed25519';
  knownHosts: '/root/.ssh/known_hosts';
  /** The vps host key as a known_hosts line (`198.51.100.2 ssh-ed25519 AAAA…`). */
  hostKeyLine: string;
}

export interface DnsQuery {
  from: string;
  name: string;
  type: string;
  proto: 'udp' | 'tcp';
}

/** What a lab writes to state.json so another process (the CLI) can use and remove it. */
export interface LabState {
  name: string;
  createdAt: string;
  hosts: Record<LabHostName, HostIdentity>;
  hostKeyLine: string;
  /** The process whose exit removes the lab; null for a lab left running on purpose (`lab up`). */
  owner: { pid: number; start: string } | null;
  /** The wireguard-go binary first on the vps's and client's PATH (absent in labs from before this field). */
  wireguardGo?: string;
}

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const PASSTHROUGH_ENV = ['TERM', 'NO_COLOR', 'CI', 'LANG'];

/** The lab as tests and the CLI see it (tools/lab/README.md documents hosts and addresses). */
export class Lab {
  readonly addr: LabAddresses = LAB_ADDR;
  readonly egressClientArgv: string[] = [process.execPath, hostPath(`${REPO_DIR}/packages/client/dist/bin.js`)];
  readonly egressServerArgv: string[] = [process.execPath, hostPath(`${REPO_DIR}/packages/server/dist/bin.js`)];
  readonly dir: string;
  private readonly users = new Map<string, { uid: number; gid: number; home: string }>();
  private readonly processes = new Set<LabProcess>();
  private downing: Promise<void> | undefined;
  private readonly exitHandler = (): void => this.downSync();

  constructor(
    readonly name: string,
    private readonly state: LabState,
    options: { ownsProcessExit: boolean },
  ) {
    this.dir = labDir(name);
    if (options.ownsProcessExit) process.once('exit', this.exitHandler);
  }

  /** How to reach the vps over SSH from inside the client host. */
  get ssh(): LabSsh {
    return { target: 'root@198.51.100.2', identity: '/root/.ssh/id_ed25519', knownHosts: '/root/.ssh/known_hosts', hostKeyLine: this.state.hostKeyLine };
  }

  /** The process whose exit removes this lab; null when it was left running on purpose. */
  get owner(): LabState['owner'] {
    return this.state.owner ?? null;
  }

  /** The wireguard-go binary first on the vps's and client's PATH (wg-quick runs it). */
  get wireguardGo(): string {
    return this.state.wireguardGo ?? '/usr/bin/wireguard-go';
  }

  /** Records which wireguard-go the hosts run (start sets it once). */
  setWireguardGo(path: string): void {
    this.state.wireguardGo = path;
  }

  /** The namespaces and holder PID of each host. */
  get hosts(): Readonly<Record<LabHostName, HostIdentity>> {
    return this.state.hosts;
  }

  /** Records the state file (used by the CLI's later commands and by stale-lab cleanup). */
  saveState(hostKeyLine?: string): void {
    if (hostKeyLine !== undefined) this.state.hostKeyLine = hostKeyLine;
    const file = `${this.dir}/state.json`;
    writeFileSync(`${file}.tmp`, `${JSON.stringify(this.state, null, 2)}\n`, { mode: 0o600 });
    renameSync(`${file}.tmp`, file); // atomic: another process never reads half a state
  }

  /** argv prefix that enters a host (network, mount and UTS namespaces of its holder). */
  enterArgv(host: LabHostName): string[] {
    const id = this.identity(host);
    return ['nsenter', `--net=/proc/${id.pid}/ns/net`, `--mount=/proc/${id.pid}/ns/mnt`, `--uts=/proc/${id.pid}/ns/uts`, '--'];
  }

  /** Runs argv inside a host as root or `user`; resolves with exit code and output. */
  async exec(host: LabHostName, argv: string[], opts: LabExecOptions = {}): Promise<RunResult> {
    const full = this.fullArgv(host, argv, opts.user, opts.cwd);
    const r = await run(full, {
      stdin: opts.stdin,
      env: this.envFor(host, opts.user, opts.env),
      timeoutMs: opts.timeoutMs,
      onStdout: opts.onStdout,
      onStderr: opts.onStderr,
    });
    if (opts.check && r.exitCode !== 0) {
      const who = opts.user ? ` as ${opts.user}` : '';
      const why = r.exitCode === TIMEOUT_EXIT ? `timed out after ${opts.timeoutMs} ms` : `exited ${r.exitCode}`;
      throw new Error(`lab ${this.name}: \`${argv.join(' ')}\` in ${host}${who} ${why}: ${r.stderr.trim() || r.stdout.trim()}`);
    }
    return r;
  }

  /** Starts a long-running process inside a host; down() kills it (and everything else in the host). */
  spawn(host: LabHostName, argv: string[], opts: { user?: string; env?: Record<string, string>; cwd?: string } = {}): LabProcess {
    const [cmd, ...args] = this.fullArgv(host, argv, opts.user, opts.cwd);
    const child = spawnChild(cmd!, args, { cwd: '/', env: this.envFor(host, opts.user, opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.on('error', (e) => { out += `${e.message}\n`; resolve({ code: 127, signal: null }); });
      child.on('close', (code, signal) => resolve({ code, signal }));
    });
    const proc: LabProcess = {
      pid: child.pid ?? -1,
      output: () => out,
      kill: (signal: NodeJS.Signals = 'SIGTERM') => { child.kill(signal); },
      exited,
    };
    this.processes.add(proc);
    void exited.then(() => this.processes.delete(proc));
    return proc;
  }

  /** Runs argv inside a host, detached from this process, with output to files in the lab dir (daemons the lab owns). */
  startDaemon(host: LabHostName, argv: string[], logName: string): { pid: number; stdoutFile: string; stderrFile: string } {
    const stdoutFile = `${this.dir}/logs/${logName}.out`;
    const stderrFile = `${this.dir}/logs/${logName}.err`;
    const full = [...this.enterArgv(host), ...argv];
    const child = spawnChild(
      'sh',
      ['-c', 'exec "$@" >"$OUT" 2>"$ERR" </dev/null', 'lab-daemon', ...full],
      { cwd: '/', detached: true, stdio: 'ignore', env: { ...this.baseEnv('root', '/root'), OUT: stdoutFile, ERR: stderrFile } },
    );
    child.unref();
    return { pid: child.pid ?? -1, stdoutFile, stderrFile };
  }

  /** argv of the probe program: prints the address the whoami service saw (wrap it with run-as etc.). */
  probeArgv(opts: LabProbeArgs = {}): string[] {
    const host = opts.host ?? (opts.v6 ? LAB_ADDR.whoamiV6 : LAB_ADDR.whoamiV4);
    return [process.execPath, HOST_PROBE_PATH, host, String(opts.port ?? LAB_ADDR.whoamiPort), opts.udp ? 'udp' : 'tcp'];
  }

  /** Runs prefix + probe inside a host and returns the source address the whoami service saw. */
  async probe(host: LabHostName, opts: { user?: string; v6?: boolean; udp?: boolean; prefix?: string[] } = {}): Promise<string> {
    const argv = [...(opts.prefix ?? []), ...this.probeArgv({ v6: opts.v6, udp: opts.udp })];
    const r = await this.exec(host, argv, { user: opts.user, timeoutMs: 20_000 });
    const lines = r.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
    const seen = lines[lines.length - 1];
    if (r.exitCode !== 0 || !seen) {
      const who = opts.user ? ` as ${opts.user}` : '';
      throw new Error(`lab ${this.name}: probe from ${host}${who} (${opts.udp ? 'udp' : 'tcp'}${opts.v6 ? ', v6' : ''}) failed with exit ${r.exitCode}: ${r.stderr.trim()}`);
    }
    return seen;
  }

  /** Every query the lab DNS server answered so far, oldest first. */
  async dnsQueries(): Promise<DnsQuery[]> {
    const file = `${this.dir}/logs/dns.out`;
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as DnsQuery & { at: string })
      .map(({ from, name, type, proto }) => ({ from, name, type, proto }));
  }

  /** Starts tcpdump on `iface` inside a host; stop() returns the packet lines it printed. */
  async capture(host: LabHostName, iface: string, filter = ''): Promise<{ stop(): Promise<string[]> }> {
    const argv = ['tcpdump', '-l', '-n', '-U', '-i', iface, ...(filter ? [filter] : [])];
    const proc = this.spawn(host, argv);
    const deadline = Date.now() + 10_000;
    while (!/listening on/.test(proc.output())) {
      const done = await Promise.race([proc.exited.then(() => true), sleep(20).then(() => false)]);
      if (done || Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`lab ${this.name}: tcpdump on ${host}/${iface} did not start: ${proc.output().trim()}`);
      }
    }
    return {
      stop: async () => {
        await sleep(100); // let the last packets reach tcpdump's output
        proc.kill('SIGINT');
        await proc.exited;
        return proc
          .output()
          .split('\n')
          .filter((l) => /^\d\d:\d\d:\d\d/.test(l));
      },
    };
  }

  /** Writes a file inside a host (parent dirs created), with an octal mode like '0600'. */
  async writeFile(host: LabHostName, path: string, content: string, mode = '0644'): Promise<void> {
    await this.exec(host, ['sh', '-c', 'umask 077 && mkdir -p "$(dirname "$1")" && cat >"$1" && chmod "$2" "$1"', 'write', path, mode], {
      stdin: content,
      check: true,
    });
  }

  /** Reads a file inside a host; undefined when it does not exist. */
  async readFile(host: LabHostName, path: string): Promise<string | undefined> {
    const r = await this.exec(host, ['cat', '--', path]);
    return r.exitCode === 0 ? r.stdout : undefined;
  }

  /** Removes everything: every process inside any host, the namespaces (they go with their last process), the lab dir. */
  down(): Promise<void> {
    this.downing ??= (async () => {
      process.off('exit', this.exitHandler);
      await killNamespaces(this.namespaceIds());
      await Promise.all([...this.processes].map((p) => p.exited));
      removeLabCgroups(this.name);
      removeLabDir(this.name);
    })();
    return this.downing;
  }

  /** down() for process-exit handlers: SIGKILL and remove, synchronously. */
  downSync(): void {
    killNamespacesSync(this.namespaceIds());
    removeLabCgroups(this.name);
    removeLabDir(this.name);
  }

  private namespaceIds(): Set<string> {
    const ids = new Set<string>();
    for (const h of LAB_HOSTS) {
      const id = this.state.hosts[h];
      if (!id) continue;
      // A namespace id is only trusted while its holder still carries it (ids are reused once a namespace is freed).
      if (nsOf(id.pid, 'net') === id.net) ids.add(id.net);
      if (nsOf(id.pid, 'mnt') === id.mnt) ids.add(id.mnt);
    }
    return ids;
  }

  private identity(host: LabHostName): HostIdentity {
    const id = this.state.hosts[host];
    if (!id) throw new Error(`lab ${this.name}: unknown host '${host}' (hosts: ${LAB_HOSTS.join(', ')})`);
    if (nsOf(id.pid, 'net') !== id.net || nsOf(id.pid, 'mnt') !== id.mnt) {
      throw new Error(`lab ${this.name}: host ${host} is gone (its holder process ${id.pid} exited); run lab down and up again`);
    }
    return id;
  }

  /** The argv and environment that run `argv` inside a host as `user` (the CLI uses it to run with the terminal attached). */
  prepare(host: LabHostName, argv: string[], opts: { user?: string; env?: Record<string, string>; cwd?: string } = {}): { argv: string[]; env: NodeJS.ProcessEnv } {
    return { argv: this.fullArgv(host, argv, opts.user, opts.cwd), env: this.envFor(host, opts.user, opts.env) };
  }

  private fullArgv(host: LabHostName, argv: string[], user?: string, cwd?: string): string[] {
    if (argv.length === 0) throw new Error('lab exec: empty command');
    const enter = this.enterArgv(host);
    if (cwd) enter.splice(enter.length - 1, 0, `--wd=${cwd}`);
    if (!user || user === 'root') return [...enter, ...argv];
    const u = this.lookupUser(host, user);
    return [...enter, 'setpriv', `--reuid=${u.uid}`, `--regid=${u.gid}`, '--init-groups', '--', ...argv];
  }

  private envFor(host: LabHostName, user: string | undefined, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    if (!user || user === 'root') return { ...this.baseEnv('root', '/root'), ...extra };
    const u = this.lookupUser(host, user);
    return { ...this.baseEnv(user, u.home), ...extra };
  }

  private baseEnv(user: string, home: string): NodeJS.ProcessEnv {
    // EGRESS_CGROUP_PARENT: this lab's own cgroup sub-tree, so labs sharing the kernel never share egress cgroups.
    const env: NodeJS.ProcessEnv = { PATH, HOME: home, USER: user, LOGNAME: user, SHELL: '/bin/sh', EGRESS_CGROUP_PARENT: labCgroupParent(this.name) };
    for (const k of PASSTHROUGH_ENV) if (process.env[k] !== undefined) env[k] = process.env[k];
    env.LANG ??= 'C.UTF-8';
    return env;
  }

  private lookupUser(host: LabHostName, user: string): { uid: number; gid: number; home: string } {
    const key = `${host}/${user}`;
    const cached = this.users.get(key);
    if (cached) return cached;
    if (!/^[a-z_][a-z0-9_-]*\$?$/.test(user)) throw new Error(`lab exec: user '${user}' is not a valid user name`);
    const [cmd, ...args] = [...this.enterArgv(host), 'getent', 'passwd', user];
    const r = spawnSync(cmd!, args, { encoding: 'utf8', cwd: '/', timeout: 10_000 });
    const f = (r.stdout ?? '').trim().split(':');
    if (r.status !== 0 || f.length < 7) throw new Error(`lab ${this.name}: user '${user}' does not exist in host ${host}`);
    const u = { uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '/' };
    this.users.set(key, u);
    return u;
  }
}

/** Removes a lab's state dir, and the parent when it was the last lab. */
export function removeLabDir(name: string): void {
  rmSync(labDir(name), { recursive: true, force: true });
  try {
    rmdirSync(LABS_ROOT);
  } catch {
    /* other labs still running, or already gone */
  }
}

/** Resolves after ms milliseconds. */
function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
