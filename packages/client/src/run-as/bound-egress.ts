// Finds the egress a user is bound to from /etc/egress/client.json and whether it is up — without zod or the engine.
import { readFileSync } from 'node:fs';
import { EgressError, NotFoundError, PermissionError } from '@egress/core/errors';
import { CLIENT_PATHS } from '@egress/core/render/client-paths';
import { EGRESS_USER_COMMENT, FIRST_NORMAL_UID } from '../enroll/guards.js';

export interface BoundEgress {
  name: string;
  interface: string;
  kind: string;
  /** The egress's resolvers (its apps' DNS view names them). */
  dns: string[];
  priority: number;
  table: number;
  address4?: string;
  address6?: string;
  /** A wg-quick egress whose destinations outside AllowedIPs go direct (its fence has prohibit routes, not rules). */
  outsideDirect?: boolean;
}

interface SavedState {
  egresses?: Array<{ name: string; interface: string; kind: string; dns?: string[]; priority: number; table: number; address4?: string; address6?: string; wireguard?: { outsideAllowed?: string }; selectors?: { users?: Array<{ name: string; uid: number }> } }>;
}

/** Reads the saved client state (root only); throws a user error with the fix when it is missing. */
function readState(path: string): SavedState {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new NotFoundError(`no egress is enrolled on this machine (${path} does not exist)`, { hint: 'egress-client enroll BUNDLE --user USER' });
    if (code === 'EACCES') throw new PermissionError(`cannot read ${path}: run-as needs root`, { hint: 'sudo egress-client run-as USER -- CMD' });
    throw err;
  }
  try {
    return JSON.parse(text) as SavedState;
  } catch {
    throw new EgressError('E_STATE', `${path} is not valid JSON`, { hint: 'egress-client doctor' });
  }
}

/** The egress `user` is bound to; refuses with the enroll command when it is bound to none. */
export function boundEgressOf(user: { name: string; uid: number; gecos?: string }, path: string = CLIENT_PATHS.state): BoundEgress {
  const state = readState(path);
  for (const e of state.egresses ?? []) {
    if ((e.selectors?.users ?? []).some((u) => u.name === user.name || u.uid === user.uid)) return { name: e.name, interface: e.interface, kind: e.kind, dns: e.dns ?? [], priority: e.priority, table: e.table, ...(e.address4 ? { address4: e.address4 } : {}), ...(e.address6 ? { address6: e.address6 } : {}), ...(e.wireguard?.outsideAllowed === 'direct' ? { outsideDirect: true } : {}) };
  }
  const names = (state.egresses ?? []).map((e) => e.name);
  // A system account egress did not create (daemon, www-data…) is never the advice: enroll would refuse it.
  const system = user.uid < FIRST_NORMAL_UID && user.gecos !== EGRESS_USER_COMMENT;
  throw new NotFoundError(`user '${user.name}' is not bound to an egress${names.length ? ` (enrolled: ${names.join(', ')})` : ''}${system ? `; '${user.name}' is a system account (uid ${user.uid}) other services may use` : ''}`, {
    hint: system ? 'enroll a dedicated user: egress-client enroll BUNDLE --user NEWNAME --create-user' : `egress-client enroll BUNDLE --user ${user.name}`,
  });
}

/** Whether a network interface exists and is administratively up (read from /sys, no subprocess). */
export function interfaceIsUp(iface: string, sysNet = '/sys/class/net'): boolean {
  try {
    const flags = Number.parseInt(readFileSync(`${sysNet}/${iface}/flags`, 'utf8').trim(), 16);
    return (flags & 0x1) === 0x1;
  } catch {
    return false;
  }
}

/** Refuses up front when the egress is down: its kill switch would make every connection of the app fail. */
export function requireUp(e: BoundEgress, user: string, sysNet?: string): void {
  if (interfaceIsUp(e.interface, sysNet)) return;
  throw new EgressError('E_DOWN', `egress '${e.name}' is down (interface ${e.interface} is missing or down): its kill switch would refuse every connection ${user} makes`, {
    hint: `egress-client up ${e.name}`,
  });
}
