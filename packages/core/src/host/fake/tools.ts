// The fake host's wg, wg-quick, sysctl, systemctl and the few coreutils egress calls.
import { createHash } from 'node:crypto';
import { publicKeyOf } from '../../keys.js';
import type { RunResult } from '../host.js';
import { removeLink } from './ip.js';
import type { FakeLink, FakeMachine, FakeWgPeer } from './state.js';

const ok = (stdout = ''): RunResult => ({ exitCode: 0, stdout, stderr: '' });
const fail = (stderr: string, exitCode = 1): RunResult => ({ exitCode, stdout: '', stderr: stderr.endsWith('\n') ? stderr : `${stderr}\n` });

/** A wg-quick config as the fake understands it. */
export interface ParsedWgConfig {
  addresses: string[];
  mtu?: number;
  listenPort?: number;
  privateKey?: string;
  postUp: string[];
  peers: FakeWgPeer[];
}

const QUICK_ONLY = new Set(['address', 'dns', 'mtu', 'table', 'preup', 'postup', 'predown', 'postdown', 'saveconfig']);

/** Parses the [Interface]/[Peer] sections of a wg-quick config. */
export function parseWgConfig(text: string): ParsedWgConfig {
  const cfg: ParsedWgConfig = { addresses: [], postUp: [], peers: [] };
  let peer: FakeWgPeer | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    if (/^\[peer\]$/i.test(line)) {
      peer = { publicKey: '', allowedIps: [] };
      cfg.peers.push(peer);
      continue;
    }
    if (/^\[interface\]$/i.test(line)) continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim().toLowerCase();
    const value = line.slice(eq + 1).trim();
    const list = value.split(',').map((v) => v.trim()).filter(Boolean);
    if (peer) {
      if (key === 'publickey') peer.publicKey = value;
      else if (key === 'allowedips') peer.allowedIps.push(...list);
      else if (key === 'endpoint') peer.endpoint = value;
    } else if (key === 'address') cfg.addresses.push(...list);
    else if (key === 'mtu') cfg.mtu = Number(value);
    else if (key === 'listenport') cfg.listenPort = Number(value);
    else if (key === 'privatekey') cfg.privateKey = value;
    else if (key === 'postup') cfg.postUp.push(value);
  }
  return cfg;
}

/** What `wg-quick strip` prints: the config without wg-quick-only keys. */
export function stripWgConfig(text: string): string {
  return (
    text
      .split('\n')
      .filter((raw) => {
        const line = raw.replace(/#.*/, '').trim();
        const eq = line.indexOf('=');
        return line && (eq < 0 || !QUICK_ONLY.has(line.slice(0, eq).trim().toLowerCase()));
      })
      .join('\n') + '\n'
  );
}

function configPathOf(arg: string): { path: string; name: string } {
  if (arg.includes('/')) {
    const base = arg.split('/').pop()!;
    return { path: arg, name: base.replace(/\.conf$/, '') };
  }
  return { path: `/etc/wireguard/${arg}.conf`, name: arg };
}

/** Sets a device from a config like `wg setconf`/`syncconf` (the private key is replaced, also by nothing); `postUp` runs its `wg set %i private-key FILE`. */
function applyWgConfig(m: FakeMachine, link: FakeLink, cfg: ParsedWgConfig, iface: string, postUp: boolean): void {
  const wg = link.wg ?? { peers: [] };
  wg.listenPort = cfg.listenPort;
  wg.peers = cfg.peers.map((p) => ({ ...p, allowedIps: [...p.allowedIps] }));
  let priv = cfg.privateKey;
  for (const cmd of postUp ? cfg.postUp : []) {
    const mm = /wg set %i private-key (\S+)/.exec(cmd.replace(/\$\{?iface\}?/g, iface));
    if (mm) priv = m.files.get(mm[1]!)?.content.trim();
  }
  wg.privateKey = priv;
  try {
    wg.publicKey = priv ? publicKeyOf(priv) : undefined;
  } catch {
    wg.publicKey = undefined;
  }
  link.wg = wg;
}

/** `wg-quick up|down|strip CONFIG-or-NAME`. */
export function fakeWgQuick(m: FakeMachine, args: string[]): RunResult {
  const [verb, arg] = args;
  if (!verb || !arg) return fail('Usage: wg-quick [ up | down | save | strip ] [ CONFIG_FILE | INTERFACE ]');
  const { path, name } = configPathOf(arg);
  const file = m.files.get(path);
  if (verb === 'strip') return file ? ok(stripWgConfig(file.content)) : fail(`wg-quick: \`${path}' does not exist`);
  if (verb === 'up') {
    if (!file) return fail(`wg-quick: \`${path}' does not exist`);
    if (m.links.has(name)) return fail(`wg-quick: \`${name}' already exists`);
    const cfg = parseWgConfig(file.content);
    const link: FakeLink = { name, kind: 'wireguard', mtu: cfg.mtu ?? 1420, addresses: [...cfg.addresses] };
    applyWgConfig(m, link, cfg, name, true);
    m.links.set(name, link);
    return { exitCode: 0, stdout: '', stderr: `[#] ip link add ${name} type wireguard\n` };
  }
  if (verb === 'down') {
    const link = m.links.get(name);
    if (!link || link.kind !== 'wireguard') return fail(`wg-quick: \`${name}' is not a WireGuard interface`);
    removeLink(m, name);
    return { exitCode: 0, stdout: '', stderr: `[#] ip link delete dev ${name}\n` };
  }
  return fail(`Usage: wg-quick [ up | down | save | strip ] [ CONFIG_FILE | INTERFACE ]`);
}

/** `wg show IF dump|peers|listen-port`, `wg show interfaces`, `wg syncconf IF FILE`, `wg pubkey`. */
export function fakeWg(m: FakeMachine, args: string[], stdin: string | undefined): RunResult {
  const [verb, iface, what] = args;
  if (verb === 'pubkey') {
    try {
      return ok(`${publicKeyOf((stdin ?? '').trim())}\n`);
    } catch {
      return fail('Key is not the correct length or format');
    }
  }
  if (verb === 'show' && (iface === 'interfaces' || iface === undefined)) {
    const names = [...m.links.values()].filter((l) => l.kind === 'wireguard').map((l) => l.name);
    return ok(names.length ? `${names.join(' ')}\n` : '');
  }
  const link = iface ? m.links.get(iface) : undefined;
  if (!link || link.kind !== 'wireguard' || !link.wg) return fail(`Unable to access interface: No such device`);
  const wg = link.wg;
  if (verb === 'show') {
    if (what === 'dump') {
      const head = `${wg.privateKey ?? '(none)'}\t${wg.publicKey ?? '(none)'}\t${wg.listenPort ?? 0}\toff`;
      const peers = wg.peers.map((p) => `${p.publicKey}\t(none)\t${p.endpoint ?? '(none)'}\t${p.allowedIps.join(',') || '(none)'}\t0\t0\t0\toff`);
      return ok([head, ...peers].join('\n') + '\n');
    }
    if (what === 'peers') return ok(wg.peers.map((p) => `${p.publicKey}\n`).join(''));
    if (what === 'listen-port') return ok(`${wg.listenPort ?? 0}\n`);
    if (what === 'private-key') return ok(`${wg.privateKey ?? '(none)'}\n`);
    if (what === 'public-key') return ok(`${wg.publicKey ?? '(none)'}\n`);
    return fail(`Invalid subcommand: \`${what ?? ''}'`);
  }
  if (verb === 'set') return fakeWgSet(wg, args.slice(2), stdin);
  if (verb === 'syncconf' || verb === 'setconf') {
    const text = what === '/dev/stdin' || what === '-' ? stdin : what ? m.files.get(what)?.content : undefined;
    if (text === undefined) return fail(`fopen: No such file or directory`);
    const cfg = parseWgConfig(text);
    if (cfg.addresses.length || cfg.mtu !== undefined) return fail('Line unrecognized: `Address=...\'\nConfiguration parsing error');
    applyWgConfig(m, link, cfg, link.name, false);
    return ok();
  }
  return fail(`Invalid subcommand: \`${verb ?? ''}'`);
}

/** `wg set IF peer KEY remove` / `wg set IF peer KEY [allowed-ips LIST] [endpoint E] [persistent-keepalive N] [preshared-key FILE]` (one peer). */
function fakeWgSet(wg: NonNullable<FakeLink['wg']>, words: string[], stdin: string | undefined): RunResult {
  if (words[0] !== 'peer' || !words[1]) return fail(`fake wg set: only 'peer KEY ...' is modelled, got ${words.join(' ')}`);
  const key = words[1];
  if (!/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(key)) return fail(`Key is not the correct length or format: \`${key}'\nInvalid argument`);
  const opts = words.slice(2);
  if (opts[0] === 'remove') {
    wg.peers = wg.peers.filter((p) => p.publicKey !== key);
    return ok();
  }
  let peer = wg.peers.find((p) => p.publicKey === key);
  if (!peer) wg.peers.push((peer = { publicKey: key, allowedIps: [] }));
  for (let i = 0; i < opts.length; i += 2) {
    const [name, value] = [opts[i], opts[i + 1] ?? ''];
    if (name === 'allowed-ips') {
      const ips = value.split(',').map((v) => v.trim()).filter(Boolean);
      // The kernel moves an allowed IP from any other peer to this one.
      for (const p of wg.peers) if (p !== peer) p.allowedIps = p.allowedIps.filter((a) => !ips.includes(a));
      peer.allowedIps = ips;
    } else if (name === 'endpoint') peer.endpoint = value;
    else if (name === 'preshared-key') {
      if (value !== '/dev/stdin' || !stdin?.trim()) return fail('fake wg set: preshared-key only from /dev/stdin');
    } else if (name !== 'persistent-keepalive') return fail(`Invalid argument: ${name}`);
  }
  return ok();
}

function sysctlExists(m: FakeMachine, key: string): boolean {
  if (m.sysctls.has(key)) return true;
  const parts = key.split('.');
  return /^net\.ipv[46]\.conf$/.test(parts.slice(0, 3).join('.')) && m.links.has(parts[3] ?? '');
}

/** `sysctl -n KEY`, `sysctl -w KEY=VALUE` (also `-q`). */
export function fakeSysctl(m: FakeMachine, args: string[]): RunResult {
  const flags = new Set(args.filter((a) => a.startsWith('-')));
  const words = args.filter((a) => !a.startsWith('-'));
  const out: string[] = [];
  for (const w of words) {
    const eq = w.indexOf('=');
    const key = (eq < 0 ? w : w.slice(0, eq)).replace(/\//g, '.');
    if (!sysctlExists(m, key)) return fail(`sysctl: cannot stat /proc/sys/${key.replace(/\./g, '/')}: No such file or directory`, 255);
    if (eq >= 0 || flags.has('-w')) {
      if (eq < 0) return fail(`sysctl: "${w}" must be of the form name=value`, 255);
      m.sysctls.set(key, w.slice(eq + 1));
      if (!flags.has('-q')) out.push(`${key} = ${w.slice(eq + 1)}`);
    } else {
      const value = m.sysctls.get(key) ?? '0';
      out.push(flags.has('-n') ? value : `${key} = ${value}`);
    }
  }
  return ok(out.length ? `${out.join('\n')}\n` : '');
}

/** `systemctl enable|disable|is-enabled|start|stop|restart|is-active|daemon-reload NAME`. */
export function fakeSystemctl(m: FakeMachine, args: string[]): RunResult {
  if (!m.systemd) return fail('System has not been booted with systemd as init system (PID 1). Can\'t operate.\nFailed to connect to bus: Host is down');
  const words = args.filter((a) => !a.startsWith('-'));
  const [verb, name] = words;
  if (verb === 'daemon-reload') return ok();
  if (!name) return fail(`Too few arguments.`);
  const unitFile = [...m.files.keys()].some((p) => p.endsWith(`/${name}`)) || m.installedUnits.has(name) || m.installedUnits.has(name.replace(/@[^.]*\./, '@.'));
  const unit = m.units.get(name) ?? { enabled: false, active: false };
  if (verb === 'is-enabled') return unit.enabled ? ok('enabled\n') : unitFile ? { exitCode: 1, stdout: 'disabled\n', stderr: '' } : fail(`Failed to get unit file state for ${name}: No such file or directory`);
  if (verb === 'is-active') return unit.active ? ok('active\n') : { exitCode: 3, stdout: 'inactive\n', stderr: '' };
  if (!unitFile && (verb === 'enable' || verb === 'start' || verb === 'restart')) return fail(`Failed to ${verb} unit: Unit file ${name} does not exist.`);
  // wg-quick@IF.service runs `wg-quick up IF` / `down IF`, as the real template unit does (a failed start fails).
  const wgIface = /^wg-quick@(.+)\.service$/.exec(name)?.[1];
  if (wgIface && (verb === 'start' || verb === 'restart' || verb === 'stop')) {
    if ((verb === 'stop' || verb === 'restart') && unit.active) fakeWgQuick(m, ['down', wgIface]);
    if (verb !== 'stop') {
      const r = unit.active && verb === 'start' ? ok() : fakeWgQuick(m, ['up', wgIface]);
      if (r.exitCode !== 0) return fail(`Job for ${name} failed because the control process exited with error code.\n${r.stderr}`);
    }
  }
  if (verb === 'enable') unit.enabled = true;
  else if (verb === 'disable') unit.enabled = false;
  else if (verb === 'start' || verb === 'restart') unit.active = true;
  else if (verb === 'stop') unit.active = false;
  else return fail(`Unknown command verb ${verb}.`);
  if (args.includes('--now')) unit.active = verb === 'enable';
  if (unit.enabled || unit.active) m.units.set(name, unit);
  else m.units.delete(name);
  return ok();
}

function parentDirs(path: string): string[] {
  const parts = path.split('/').filter(Boolean);
  return parts.slice(0, -1).map((_p, i) => `/${parts.slice(0, i + 1).join('/')}`);
}

/** Whether a path is a directory on the fake machine (explicit, or a parent of a file). */
export function isDir(m: FakeMachine, path: string): boolean {
  const p = path.replace(/\/+$/, '') || '/';
  if (m.dirs.has(p)) return true;
  for (const f of m.files.keys()) if (f.startsWith(`${p}/`)) return true;
  return false;
}

/** `test -e|-f|-d PATH`, `stat -c %a PATH`, `cat PATH`, `rm -f PATH`, `rmdir PATH`, `mkdir -p PATH`, `true`. */
export function fakeCoreutils(m: FakeMachine, cmd: string, args: string[]): RunResult | undefined {
  const paths = args.filter((a) => !a.startsWith('-') && a !== '%a' && a !== '--');
  if (cmd === 'true') return ok();
  if (cmd === 'test' || cmd === '[') {
    const [flag, path] = args;
    const exists = flag === '-d' ? isDir(m, path!) : flag === '-f' ? m.files.has(path!) : m.files.has(path!) || isDir(m, path!);
    return { exitCode: exists ? 0 : 1, stdout: '', stderr: '' };
  }
  if (cmd === 'stat') {
    const ci = args.indexOf('-c');
    const format = ci >= 0 ? args[ci + 1]! : '%a';
    const files = args.filter((a, i) => !a.startsWith('-') && i !== ci + 1);
    const out: string[] = [];
    for (const p of files) {
      const f = m.files.get(p);
      if (!f && !isDir(m, p)) return { exitCode: 1, stdout: out.join(''), stderr: `stat: cannot statx '${p}': No such file or directory\n` };
      const type = f ? (f.content.length ? 'regular file' : 'regular empty file') : 'directory';
      out.push(`${format.replace(/%a/g, (f ? f.mode : 0o755).toString(8)).replace(/%F/g, type).replace(/%n/g, p)}\n`);
    }
    return ok(out.join(''));
  }
  if (cmd === 'ls') {
    const dir = paths[0] ?? '/';
    if (!isDir(m, dir)) return fail(`ls: cannot access '${dir}': No such file or directory`, 2);
    const names = new Set<string>();
    for (const p of [...m.files.keys(), ...m.dirs]) if (p.startsWith(`${dir}/`)) names.add(p.slice(dir.length + 1).split('/')[0]!);
    return ok([...names].sort().map((n) => `${n}\n`).join(''));
  }
  if (cmd === 'cat') {
    const f = m.files.get(paths[0] ?? '');
    return f ? ok(f.content) : fail(`cat: ${paths[0]}: No such file or directory`);
  }
  if (cmd === 'sha256sum') {
    const f = m.files.get(paths[0] ?? '');
    return f ? ok(`${createHash('sha256').update(f.content).digest('hex')}  ${paths[0]}\n`) : fail(`sha256sum: ${paths[0]}: No such file or directory`);
  }
  if (cmd === 'rm') {
    for (const p of paths) m.files.delete(p);
    return ok();
  }
  if (cmd === 'rmdir') {
    for (const p of paths) {
      if ([...m.files.keys()].some((f) => f.startsWith(`${p}/`)) || [...m.dirs].some((d) => d.startsWith(`${p}/`))) return fail(`rmdir: failed to remove '${p}': Directory not empty`);
      if (!m.dirs.has(p)) return fail(`rmdir: failed to remove '${p}': No such file or directory`);
      m.dirs.delete(p);
    }
    return ok();
  }
  if (cmd === 'mkdir') {
    for (const p of args.filter((a, i) => !a.startsWith('-') && args[i - 1] !== '-m')) {
      for (const d of [...parentDirs(p), p]) m.dirs.add(d);
    }
    return ok();
  }
  return undefined;
}

export { parentDirs };
