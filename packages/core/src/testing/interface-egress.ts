// A minimal egress of kind `interface` (wlan0, 192.0.2.130, appuser bound) for tests of the policy and its users.
import type { EgressInput } from '../model/client.js';

/** The egress `main`; pass fields to override (e.g. `access`, `selectors`). */
export function interfaceEgress(o: Partial<EgressInput> = {}): EgressInput {
  return {
    name: 'main',
    kind: 'interface',
    interface: 'wlan0',
    mark: 0x04000000,
    markMask: 0x04000000,
    table: 7102,
    priority: 7120,
    address4: '192.0.2.130',
    dns: [],
    selectors: { users: [{ name: 'appuser', uid: 1001 }] },
    uplink: {},
    ...o,
  } as EgressInput;
}
