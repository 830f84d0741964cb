// Checks, without privileges, that an egress's interface is present with its address (the egress is up).
import { networkInterfaces } from 'node:os';
import { EgressError } from '@egress/core/errors';
import { type PublicEgressFacts } from '@egress/core/model/client';

/** Addresses currently on each interface of this network namespace. */
export type InterfaceAddresses = Record<string, string[]>;

/** Reads the interfaces and their addresses of the current network namespace. */
export function currentInterfaces(): InterfaceAddresses {
  const out: InterfaceAddresses = {};
  for (const [name, addrs] of Object.entries(networkInterfaces())) out[name] = (addrs ?? []).map((a) => a.address);
  return out;
}

/** Throws E_EGRESS_DOWN when the egress's interface is missing or lacks the egress's address. */
export function assertEgressUp(facts: PublicEgressFacts, interfaces: InterfaceAddresses = currentInterfaces()): void {
  const have = interfaces[facts.interface];
  const hint = `bring it up: sudo egress-client up ${facts.name}`;
  if (!have) throw new EgressError('E_EGRESS_DOWN', `egress '${facts.name}' is down: interface ${facts.interface} does not exist`, { hint });
  for (const want of [facts.address4, facts.address6]) {
    if (want && !have.includes(want)) {
      throw new EgressError('E_EGRESS_DOWN', `egress '${facts.name}' is not ready: interface ${facts.interface} does not have its address ${want}`, { hint });
    }
  }
  if (!facts.address4 && !facts.address6) {
    throw new EgressError('E_EGRESS_DOWN', `egress '${facts.name}' has no source address to bind applications to`, { hint: 'check it with: egress-client status' });
  }
}
