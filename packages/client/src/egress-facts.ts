// The selection and allocation facts of an egress as status, enroll --json and doctor print them.
import type { Egress } from '@egress/core/model/client';
import { hexMark } from '@egress/core/render/client-nft';

/** Users, cgroups, mark/mask (hex), table and priority range of an egress. */
export function selectionFacts(e: Egress) {
  return {
    users: e.selectors.users,
    cgroups: e.selectors.cgroups,
    units: e.selectors.units,
    interfaces: e.selectors.interfaces,
    sources: e.selectors.sources,
    mark: hexMark(e.mark),
    markMask: hexMark(e.markMask),
    table: e.table,
    priorities: [e.priority, e.priority + 9] as [number, number],
  };
}
