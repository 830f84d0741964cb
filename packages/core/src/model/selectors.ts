// Selector values beyond users and cgroups: systemd units and forwarded source networks (see Selectors in client.ts).
import { z } from 'zod';
import { Cidr4, IfaceName } from './primitives.js';

/** A systemd service unit: NAME.service (template instances NAME@INSTANCE.service), characters safe in a cgroup path. */
export const UnitName = z
  .string({ message: 'expected a unit name' })
  .regex(/^[A-Za-z0-9_.@-]{1,240}\.service$/, { message: "expected NAME.service of letters, digits, '_', '.', '@' or '-'" })
  .refine((s) => !s.startsWith('.') && !s.startsWith('@'), { message: 'expected NAME.service with a non-empty NAME' })
  .refine((s) => !s.includes('@') || !s.slice(0, s.indexOf('@')).includes('-'), { message: "expected a template prefix without '-' (its slice name is escaped by systemd; select it with --cgroup PATH)" });
export type UnitName = z.infer<typeof UnitName>;

/** A source network whose forwarded traffic is selected, and the interface it arrives on (its forwarding is turned on). */
export const ForwardedSource = z.object({ cidr: Cidr4, via: IfaceName }).strict();
export type ForwardedSource = z.infer<typeof ForwardedSource>;

/** The cgroup v2 path (relative to /sys/fs/cgroup) systemd gives a system service. */
export function unitCgroupPath(unit: string): string {
  const at = unit.indexOf('@');
  return at > 0 ? `system.slice/system-${unit.slice(0, at)}.slice/${unit}` : `system.slice/${unit}`;
}
