// The selectors an enroll gives its egress: the user(s) and the egress's own cgroup, keeping what `select add`
// added to an egress enrolled before (a re-enroll never drops a unit, an interface or a source network).
import type { Selectors } from '@egress/core/model/client';
import { egressCgroupPath } from '@egress/core/render/client-paths';
import type { BuildChoices } from './pipeline.js';

/** Selectors of the egress a source builds from `c`. */
export function selectorsFor(c: Pick<BuildChoices, 'name' | 'users' | 'cgroup2' | 'existing'>): Selectors {
  const own = c.cgroup2 ? [egressCgroupPath(c.name)] : [];
  const kept = c.existing?.selectors;
  return {
    users: c.users,
    cgroups: [...own, ...(kept?.cgroups ?? []).filter((g) => !own.includes(g) && g !== egressCgroupPath(c.name))],
    shimSource: true,
    units: [...(kept?.units ?? [])],
    interfaces: [...(kept?.interfaces ?? [])],
    sources: [...(kept?.sources ?? [])],
  };
}
