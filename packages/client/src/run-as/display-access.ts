// run-as from a graphical session: the dedicated user gets the narrowest access to the invoking user's display (and
// audio) for the app's lifetime, and loses it afterwards. X11: `xhost +SI:localuser:NAME` run as the invoking user
// (only when not granted already; only what we added is taken back). Wayland, PulseAudio and PipeWire: an ACL entry
// for NAME on the socket (rw) and on the directories leading to it (x). Never `xhost +` (the display for everyone).
// A missing tool is refused with the exact command to run instead.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { EgressError } from '@egress/core/errors';

/** Who started run-as (through sudo or pkexec), as far as the display goes. */
export interface Invoker {
  uid: number;
  gid: number;
  name: string;
  home?: string;
}

export interface CommandResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program (argv, no shell), as `as` when given; tests pass a fake host. */
export type Runner = (argv: readonly string[], opts: { as?: Invoker; env?: NodeJS.ProcessEnv }) => CommandResult;

export interface DisplayHost {
  run: Runner;
  /** Whether a tool is installed (looked up on a fixed PATH, never the caller's). */
  has: (tool: string) => boolean;
  exists: (path: string) => boolean;
  isSocket: (path: string) => boolean;
}

/** One change made, and the command that undoes it. */
export interface Grant {
  what: string;
  undo: readonly string[];
  as?: Invoker;
  env?: NodeJS.ProcessEnv;
  /** Run after undo, failure ignored: drops the ACL mask our entry created (refused while other named entries exist). */
  tidy?: readonly string[];
}

export interface DisplayAccess {
  /** Variables the app needs to reach the display and audio (absolute socket paths). */
  env: Record<string, string>;
  grants: Grant[];
  /** Lines telling the user what was granted. */
  notes: string[];
}

const SAFE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The real host: spawnSync with a fixed PATH; `as` drops to the invoking user with setpriv. */
export const realDisplayHost: DisplayHost = {
  run: (argv, opts) => {
    const full = opts.as && opts.as.uid !== process.getuid?.() ? ['setpriv', `--reuid=${opts.as.uid}`, `--regid=${opts.as.gid}`, '--init-groups', '--', ...argv] : [...argv];
    const r = spawnSync(full[0]!, full.slice(1), { env: { PATH: SAFE_PATH, ...opts.env }, encoding: 'utf8', timeout: 10_000 });
    return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? String(r.error) : '') };
  },
  has: (tool) => SAFE_PATH.split(':').some((d) => existsSync(join(d, tool))),
  exists: (p) => existsSync(p),
  isSocket: (p) => {
    try {
      return statSync(p).isSocket();
    } catch {
      return false;
    }
  },
};

/** The invoking user of a root run-as: SUDO_UID/SUDO_GID/SUDO_USER, else PKEXEC_UID (looked up), else undefined. */
export function invokerFromEnv(env: NodeJS.ProcessEnv, lookup: (uid: number) => { name: string; gid: number; home: string } | undefined): Invoker | undefined {
  const num = (v: string | undefined) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined);
  const uid = num(env.SUDO_UID) ?? num(env.PKEXEC_UID);
  if (uid === undefined || uid === 0) return undefined;
  const entry = lookup(uid);
  const name = env.SUDO_UID !== undefined && env.SUDO_USER ? env.SUDO_USER : entry?.name;
  const gid = num(env.SUDO_GID) ?? entry?.gid;
  if (!name || gid === undefined) return undefined;
  return { uid, gid, name, ...(entry?.home ? { home: entry.home } : {}) };
}

/** A graphical session: DISPLAY or WAYLAND_DISPLAY in the invoking user's environment. */
export function isGraphical(env: NodeJS.ProcessEnv): boolean {
  return !!env.DISPLAY || !!env.WAYLAND_DISPLAY;
}

/** What the X server's access list already holds for `name` (`xhost` prints `SI:localuser:NAME`). */
export function xhostHasUser(listing: string, name: string): boolean {
  return listing.split('\n').some((l) => l.trim() === `SI:localuser:${name}`);
}

/** Whether `getfacl` output already has a named entry for user `name`. */
function aclHasUser(listing: string, name: string): boolean {
  return listing.split('\n').some((l) => l.startsWith(`user:${name}:`));
}

class Missing extends EgressError {
  constructor(tool: string, pkg: string, manual: string[], user: string) {
    super('E_DISPLAY_TOOL', `run-as: cannot give ${user} access to your display: ${tool} is not installed`, {
      hint: `install it (Debian/Ubuntu: sudo apt-get install ${pkg}), or grant the access yourself for this run: ${manual.join('  ;  ')}`,
    });
  }
}

/**
 * Grants `user` access to the invoker's display and audio. Returns what to undo (revokeDisplay). Refuses, before
 * changing anything, when a tool is missing. Undoes what it did when a step fails.
 */
export function grantDisplay(host: DisplayHost, env: NodeJS.ProcessEnv, invoker: Invoker | undefined, user: string): DisplayAccess {
  const out: DisplayAccess = { env: {}, grants: [], notes: [] };
  if (!isGraphical(env)) return out;
  const asInvoker = invoker ? { as: invoker } : {};
  const xenv: NodeJS.ProcessEnv = { DISPLAY: env.DISPLAY, ...(env.XAUTHORITY ? { XAUTHORITY: env.XAUTHORITY } : {}), ...(invoker?.home ? { HOME: invoker.home } : {}) };
  const runtime = invoker ? `/run/user/${invoker.uid}` : env.XDG_RUNTIME_DIR;
  const wayland = env.WAYLAND_DISPLAY && runtime ? (isAbsolute(env.WAYLAND_DISPLAY) ? env.WAYLAND_DISPLAY : join(runtime, env.WAYLAND_DISPLAY)) : undefined;
  const audio = runtime ? [join(runtime, 'pulse', 'native'), join(runtime, 'pipewire-0')].filter((p) => host.isSocket(p)) : [];
  const sockets = [...(wayland && host.isSocket(wayland) ? [wayland] : []), ...audio];

  // Refuse before changing anything when a tool is missing.
  if (env.DISPLAY && !host.has('xhost')) {
    throw new Missing('xhost', 'x11-xserver-utils', [`xhost +SI:localuser:${user}`, `(after the app) xhost -SI:localuser:${user}`], user);
  }
  if (sockets.length > 0 && (!host.has('setfacl') || !host.has('getfacl'))) {
    const cmds = sockets.flatMap((s) => [`setfacl -m u:${user}:x ${dirsTo(s, runtime!).join(' ')}`, `setfacl -m u:${user}:rw ${s}`]);
    throw new Missing('setfacl', 'acl', [...cmds, `(after the app) setfacl -x u:${user} ${[...new Set(sockets.flatMap((s) => [...dirsTo(s, runtime!), s]))].join(' ')}`], user);
  }

  try {
    if (env.DISPLAY) {
      const list = host.run(['xhost'], { ...asInvoker, env: xenv });
      if (list.status !== 0) {
        // The app may not need the display (run-as -- curl from a desktop terminal): say so, change nothing, go on.
        out.notes.push(
          `warning: cannot reach display ${env.DISPLAY} as ${invoker?.name ?? 'root'} (${(list.stderr || list.stdout).trim() || `xhost exited with ${list.status}`}): ${user} gets no access to it; if the app needs it, check DISPLAY and XAUTHORITY or run: xhost +SI:localuser:${user} (and xhost -SI:localuser:${user} after)`,
        );
      } else if (xhostHasUser(list.stdout, user)) {
        out.notes.push(`display ${env.DISPLAY}: ${user} already had access (SI:localuser:${user}); left as it is`);
      } else {
        const add = host.run(['xhost', `+SI:localuser:${user}`], { ...asInvoker, env: xenv });
        if (add.status !== 0) throw new EgressError('E_DISPLAY', `run-as: xhost +SI:localuser:${user} failed: ${(add.stderr || add.stdout).trim()}`);
        out.grants.push({ what: `X11 display ${env.DISPLAY}`, undo: ['xhost', `-SI:localuser:${user}`], ...asInvoker, env: xenv });
        out.notes.push(`display ${env.DISPLAY}: granted to ${user} alone (xhost +SI:localuser:${user}) until the app exits`);
      }
      if (list.status === 0) out.env.DISPLAY = env.DISPLAY;
    }
    for (const sock of sockets) {
      for (const [path, perm] of [...dirsTo(sock, runtime!).map((d) => [d, 'x'] as const), [sock, 'rw'] as const]) {
        if (out.grants.some((g) => g.undo[g.undo.length - 1] === path)) continue;
        const cur = host.run(['getfacl', '--omit-header', '--absolute-names', '--', path], {});
        if (cur.status === 0 && aclHasUser(cur.stdout, user)) continue;
        const hadMask = cur.status !== 0 || cur.stdout.split('\n').some((l) => l.startsWith('mask:'));
        const set = host.run(['setfacl', '-m', `u:${user}:${perm}`, '--', path], {});
        if (set.status !== 0) throw new EgressError('E_DISPLAY', `run-as: setfacl -m u:${user}:${perm} ${path} failed: ${(set.stderr || set.stdout).trim()}`);
        out.grants.push({ what: path, undo: ['setfacl', '-x', `u:${user}`, '--', path], ...(hadMask ? {} : { tidy: ['setfacl', '-x', 'm::', '--', path] }) });
      }
      if (sock === wayland) out.env.WAYLAND_DISPLAY = sock;
      else if (sock.endsWith('/pulse/native')) out.env.PULSE_SERVER = `unix:${sock}`;
      else out.env.PIPEWIRE_REMOTE = sock;
      out.notes.push(`${sock}: ${user} may use it (ACL) until the app exits`);
    }
  } catch (err) {
    revokeDisplay(host, out);
    throw err;
  }
  return out;
}

/** The directories from the runtime dir down to a socket's parent (each needs x for the user to reach the socket). */
function dirsTo(sock: string, runtime: string): string[] {
  const dirs: string[] = [];
  let d = sock.slice(0, sock.lastIndexOf('/'));
  while (d.length >= runtime.length && d.startsWith(runtime)) {
    dirs.unshift(d);
    d = d.slice(0, d.lastIndexOf('/'));
  }
  return dirs;
}

/** Takes back what grantDisplay added, last first; returns the failures (the run's result stands). */
export function revokeDisplay(host: DisplayHost, access: DisplayAccess): string[] {
  const failed: string[] = [];
  for (const g of [...access.grants].reverse()) {
    const r = host.run(g.undo, { ...(g.as ? { as: g.as } : {}), ...(g.env ? { env: g.env } : {}) });
    if (r.status !== 0) failed.push(`${g.what}: ${g.undo.join(' ')} failed: ${(r.stderr || r.stdout).trim()}`);
    else if (g.tidy) host.run(g.tidy, {});
  }
  access.grants.length = 0;
  return failed;
}
