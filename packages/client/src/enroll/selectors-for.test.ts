// A re-enroll keeps what `select add` added; a first enroll gets the user and the egress's own cgroup.
import type { Egress } from '@egress/core/model/client';
import { describe, expect, it } from 'vitest';
import { selectorsFor } from './selectors-for.js';

describe('selectorsFor', () => {
  it('first enroll: the users and the egress cgroup only', () => {
    expect(selectorsFor({ name: 'vps', users: [{ name: 'appuser', uid: 1001 }], cgroup2: true })).toEqual({
      users: [{ name: 'appuser', uid: 1001 }], cgroups: ['egress/vps'], shimSource: true, units: [], interfaces: [], sources: [],
    });
  });

  it('re-enroll: units, interfaces, sources and extra cgroups are kept', () => {
    const existing = { selectors: { users: [], cgroups: ['egress/vps', 'app.slice/x.scope'], shimSource: true, units: ['web.service'], interfaces: ['docker0'], sources: [{ cidr: '192.168.50.0/24', via: 'lan0' }] } } as unknown as Egress;
    expect(selectorsFor({ name: 'vps', users: [], cgroup2: true, existing })).toEqual({
      users: [], cgroups: ['egress/vps', 'app.slice/x.scope'], shimSource: true, units: ['web.service'], interfaces: ['docker0'], sources: [{ cidr: '192.168.50.0/24', via: 'lan0' }],
    });
  });
});
