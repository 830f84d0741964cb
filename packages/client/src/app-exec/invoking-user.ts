// Who an app started by `run` runs as: --user, else the sudo caller (SUDO_UID/SUDO_GID), else ourselves.
import { execFileSync } from 'node:child_process';
import { NotFoundError, ValidationError } from '@egress/core/errors';

export interface RunUser {
  uid: number;
  gid: number;
  name?: string;
  home?: string;
  shell?: string;
}

/** One passwd entry through NSS (`getent passwd`), or undefined when there is none. */
export function lookupUser(key: string | number): RunUser | undefined {
  let line: string;
  try {
    line = execFileSync('getent', ['passwd', String(key)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0] ?? '';
  } catch {
    return undefined;
  }
  const f = line.split(':');
  if (f.length < 7) return undefined;
  return { name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]!, shell: f[6]! };
}

/** The user to run as: explicit name, else SUDO_UID/SUDO_GID when we run as root through sudo, else the current user. */
export function invokingUser(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env, self: { uid: number; gid: number } = { uid: process.getuid!(), gid: process.getgid!() }): RunUser {
  if (explicit !== undefined) {
    const u = lookupUser(explicit);
    if (!u) throw new NotFoundError(`--user: no user named '${explicit}' on this host`);
    return u;
  }
  if (self.uid === 0 && env.SUDO_UID) {
    const uid = Number(env.SUDO_UID);
    const gid = Number(env.SUDO_GID ?? env.SUDO_UID);
    if (!Number.isInteger(uid) || uid < 0 || !Number.isInteger(gid) || gid < 0) {
      throw new ValidationError(`SUDO_UID/SUDO_GID: expected numeric ids, got '${env.SUDO_UID}'/'${env.SUDO_GID}'`, [{ path: 'SUDO_UID', message: 'not a number' }]);
    }
    const entry = lookupUser(uid);
    return { ...(entry ?? {}), uid, gid };
  }
  return { ...(lookupUser(self.uid) ?? {}), uid: self.uid, gid: self.gid };
}

/** The app's environment as `user`: HOME, USER, LOGNAME, SHELL, XDG_RUNTIME_DIR (and the session bus) follow the user when we switch to another one. */
export function envForUser(user: RunUser, env: NodeJS.ProcessEnv, selfUid: number, runtimeDirExists: (path: string) => boolean): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  if (user.uid === selfUid) return out;
  if (user.home) out.HOME = user.home;
  if (user.name) {
    out.USER = user.name;
    out.LOGNAME = user.name;
  }
  if (user.shell) out.SHELL = user.shell;
  const runtime = `/run/user/${user.uid}`;
  if (runtimeDirExists(runtime)) {
    out.XDG_RUNTIME_DIR = runtime;
    // GUI and desktop apps find the session bus there; sudo does not keep the variable.
    if (!out.DBUS_SESSION_BUS_ADDRESS && runtimeDirExists(`${runtime}/bus`)) out.DBUS_SESSION_BUS_ADDRESS = `unix:path=${runtime}/bus`;
  } else {
    delete out.XDG_RUNTIME_DIR;
  }
  return out;
}
