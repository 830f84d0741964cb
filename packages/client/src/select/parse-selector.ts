// One selector from the command line (`--user U | --cgroup PATH | --unit NAME.service | --interface IF | --source
// CIDR`), validated before anything changes: the field, the value and what is allowed are named on refusal.
import { ValidationError } from '@egress/core/errors';
import { CgroupPath, Cidr4, IfaceName } from '@egress/core/model/primitives';
import { UnitName } from '@egress/core/model/selectors';
import ipaddr from 'ipaddr.js';
import type { z } from 'zod';
import { checkUserName } from '../users.js';

/** A selector as given, before it is resolved against the host (user → uid, network → interface). */
export type SelectorInput =
  | { kind: 'user'; value: string }
  | { kind: 'cgroup'; value: string }
  | { kind: 'unit'; value: string }
  | { kind: 'interface'; value: string }
  | { kind: 'source'; value: string };

export const SELECTOR_FLAGS = ['user', 'cgroup', 'unit', 'interface', 'source'] as const;

function check<T>(schema: z.ZodType<T>, flag: string, value: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new ValidationError(`--${flag}: ${r.error.issues[0]?.message ?? 'invalid'}, got '${value}'`, [{ path: `--${flag}`, message: r.error.issues[0]?.message ?? 'invalid' }]);
  return r.data;
}

/** The one selector of `select add|remove` (exactly one of the flags), syntax-checked. */
export function parseSelector(options: Record<string, unknown>): SelectorInput {
  const given = SELECTOR_FLAGS.filter((f) => options[f] !== undefined);
  if (given.length !== 1) {
    throw new ValidationError(`selector: expected exactly one of --user, --cgroup, --unit, --interface, --source, got ${given.length ? given.map((f) => `--${f}`).join(', ') : 'none'}`, [{ path: 'selector', message: 'one selector' }]);
  }
  const kind = given[0]!;
  const value = String(options[kind]);
  switch (kind) {
    case 'user':
      return { kind, value: checkUserName(value) };
    case 'cgroup': {
      const path = check(CgroupPath, kind, value.replace(/^\/sys\/fs\/cgroup\//, '').replace(/^\//, ''));
      if (!path.includes('/')) throw new ValidationError(`--cgroup: '${value}' is a top-level cgroup (every process under it would be selected); expected a path like system.slice/NAME.service or app.slice/NAME`, [{ path: '--cgroup', message: 'top-level cgroup' }]);
      return { kind, value: path };
    }
    case 'unit':
      return { kind, value: check(UnitName, kind, value) };
    case 'interface': {
      const name = check(IfaceName, kind, value);
      if (name === 'lo') throw new ValidationError("--interface: 'lo' carries no forwarded traffic; expected a bridge or LAN interface (e.g. docker0, br-1a2b3c, virbr0)", [{ path: '--interface', message: 'loopback' }]);
      return { kind, value: name };
    }
    case 'source': {
      const cidr = check(Cidr4, kind, value.includes('/') ? value : `${value}/32`);
      const [addr, len] = ipaddr.parseCIDR(cidr);
      const network = `${ipaddr.IPv4.networkAddressFromCIDR(cidr).toString()}/${len}`;
      if (network !== cidr) throw new ValidationError(`--source: '${value}' has host bits set; expected the network address ${network}`, [{ path: '--source', message: 'host bits set' }]);
      if (len < 8) throw new ValidationError(`--source: '${value}' is wider than a /8; expected the network of the hosts behind this machine`, [{ path: '--source', message: 'too wide' }]);
      const range = (addr as ipaddr.IPv4).range();
      if (['loopback', 'multicast', 'broadcast', 'unspecified'].includes(range)) throw new ValidationError(`--source: '${value}' is a ${range} network; expected the network of hosts behind this machine`, [{ path: '--source', message: range }]);
      return { kind, value: cidr };
    }
  }
}

/** How a selector is shown: `user appuser`, `interface br0`, … */
export function describeSelector(s: SelectorInput): string {
  return `${s.kind} ${s.value}`;
}
