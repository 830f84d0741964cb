// Resolves `[user@]host` with -p/-i and ~/.ssh/config (Host aliases, HostName, User, Port, IdentityFile).
import { readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import SSHConfig from 'ssh-config';
import { ValidationError } from '@egress/core';

/** Where and as whom to connect, after ~/.ssh/config. */
export interface SshTarget {
  /** What the user typed (alias or address), for messages and the endpoint fallback. */
  alias: string;
  /** Host to connect to and to look up in known_hosts. */
  host: string;
  port: number;
  user: string;
  /** Identity files to try, explicit `-i` first. */
  identityFiles: string[];
  /** Whether identities came from -i or IdentitiesOnly (then default keys are not tried). */
  identitiesOnly: boolean;
}

export interface ResolveOptions {
  port?: number;
  identity?: string;
  /** Text of the ssh config (default: ~/.ssh/config when it exists). */
  configText?: string;
  home?: string;
  localUser?: string;
}

function expandHome(path: string, home: string): string {
  return path.startsWith('~/') ? join(home, path.slice(2)) : path;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Splits `[user@]host`; refuses what cannot be a host. */
export function splitTarget(target: string): { user?: string; host: string } {
  const m = /^(?:([^@\s]+)@)?([^@\s]+)$/.exec(target);
  const host = m?.[2]?.replace(/^\[(.*)\]$/, '$1');
  if (!m || !host || host.startsWith('-')) {
    throw new ValidationError(`target: expected [user@]host like root@203.0.113.7 or an ~/.ssh/config alias, got '${target}'`, [{ path: 'target', message: 'bad target' }]);
  }
  return { ...(m[1] ? { user: m[1] } : {}), host };
}

/** Resolves the SSH target the way ssh(1) does for the options egress supports. */
export function resolveTarget(target: string, options: ResolveOptions = {}): SshTarget {
  const home = options.home ?? homedir();
  const { user, host } = splitTarget(target);
  let text = options.configText;
  if (text === undefined) {
    try {
      text = readFileSync(join(home, '.ssh', 'config'), 'utf8');
    } catch {
      text = '';
    }
  }
  const computed = SSHConfig.parse(text).compute(host);
  const hostName = first(computed.HostName)?.replace(/%h/g, host) ?? host;
  const cfgPort = first(computed.Port);
  const port = options.port ?? (cfgPort ? Number(cfgPort) : 22);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ValidationError(`--port: expected a port 1-65535, got '${options.port ?? cfgPort}'`, [{ path: '--port', message: 'bad port' }]);
  }
  const fromConfig = ([] as string[]).concat(computed.IdentityFile ?? []).map((p) => expandHome(p, home));
  const identitiesOnly = !!options.identity || /^yes$/i.test(first(computed.IdentitiesOnly) ?? '');
  const defaults = ['id_ed25519', 'id_ecdsa', 'id_rsa'].map((f) => join(home, '.ssh', f));
  const identityFiles = [...(options.identity ? [expandHome(options.identity, home)] : []), ...fromConfig, ...(identitiesOnly ? [] : defaults)];
  return {
    alias: host,
    host: hostName,
    port,
    user: user ?? first(computed.User) ?? options.localUser ?? userInfo().username,
    identityFiles: [...new Set(identityFiles)],
    identitiesOnly,
  };
}
