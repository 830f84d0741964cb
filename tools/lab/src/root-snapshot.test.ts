// withoutForeignNetns leaves out only other tools' named netns, never anything else.
import { describe, expect, it } from 'vitest';
import { withoutForeignNetns, type RootSnapshot } from './root-snapshot.js';

const snap: RootSnapshot = {
  netns: 'other-a (id: 3)\neg-labt-client\n',
  links: '[{"ifname":"lo"}]', rules4: '[]', rules6: '[]', routes4: '[]', routes6: '[]',
  mounts: [
    '42 27 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda rw',
    '43 42 0:4 net:[4026532177] /run/netns/other-a rw shared:2 - nsfs nsfs rw',
    '44 42 0:4 net:[4026532178] /run/netns/eg-labt-client rw shared:3 - nsfs nsfs rw',
    '45 27 0:50 / /mnt/x rw - tmpfs tmpfs rw',
  ].join('\n'),
};

describe('withoutForeignNetns', () => {
  it('drops the netns lines and nsfs mounts that keep() rejects and nothing else', () => {
    const s = withoutForeignNetns(snap, (n) => n.includes('labt'));
    expect(s.netns).toBe('eg-labt-client\n');
    expect(s.mounts.split('\n')).toEqual([
      '42 27 254:0 /run/netns /run/netns rw,relatime shared:1 - ext4 /dev/vda rw',
      '44 42 0:4 net:[4026532178] /run/netns/eg-labt-client rw shared:3 - nsfs nsfs rw',
      '45 27 0:50 / /mnt/x rw - tmpfs tmpfs rw',
    ]);
    expect(s.links).toBe(snap.links);
  });
});
