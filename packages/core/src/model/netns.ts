// Named network namespaces whose only way out is an egress (`egress-client netns add NAME`), as saved in the client state.
import { z } from 'zod';
import { SafeName } from './primitives.js';

/** The veth /30 slots (10.239.0.0/16 holds 16384 of them). */
export const NETNS_SLOTS = 1 << 14;

/** A namespace name: /run/netns/NAME and /etc/netns/NAME; no prefix an `--isolate` run uses. */
export const NetnsName = z
  .string({ message: 'expected a namespace name' })
  .regex(/^[a-z][a-z0-9_-]{0,31}$/, { message: "expected a namespace name of 1-32 lowercase letters, digits, '_' or '-', starting with a letter" })
  .refine((s) => !s.startsWith('egiso'), { message: "expected a name not starting with 'egiso' (used by run --isolate)" });

/** One named namespace: which egress it leaves by, and its veth slot (addresses and interface names derive from it). */
export const NamedNetns = z
  .object({
    name: NetnsName,
    egress: SafeName,
    slot: z.number({ message: 'expected a slot number' }).int().min(0).max(NETNS_SLOTS - 1, { message: `expected a slot 0-${NETNS_SLOTS - 1}` }),
    /** The namespace has IPv6 (the egress has it and the kernel forwards it per interface). */
    ipv6: z.boolean({ message: 'expected true or false' }).default(false),
  })
  .strict();
export type NamedNetns = z.infer<typeof NamedNetns>;

/** Cross-checks of the namespaces against the egresses: unique names and slots, each egress enrolled and a tunnel. */
export function checkNamespaces(st: { egresses: ReadonlyArray<{ name: string; kind: string }>; namespaces?: readonly NamedNetns[] | undefined }, ctx: z.RefinementCtx): void {
  const names = new Set<string>();
  const slots = new Set<number>();
  (st.namespaces ?? []).forEach((n, i) => {
    if (names.has(n.name)) ctx.addIssue({ code: 'custom', path: ['namespaces', i, 'name'], message: `expected a namespace name used once ('${n.name}' is used twice)` });
    if (slots.has(n.slot)) ctx.addIssue({ code: 'custom', path: ['namespaces', i, 'slot'], message: `expected a slot used once (${n.slot} is used twice)` });
    names.add(n.name);
    slots.add(n.slot);
    const e = st.egresses.find((x) => x.name === n.egress);
    if (!e) ctx.addIssue({ code: 'custom', path: ['namespaces', i, 'egress'], message: `expected an enrolled egress, got '${n.egress}'` });
    else if (e.kind !== 'wireguard') ctx.addIssue({ code: 'custom', path: ['namespaces', i, 'egress'], message: `expected a tunnel (wireguard) egress, got '${n.egress}' (kind ${e.kind})` });
  });
}
