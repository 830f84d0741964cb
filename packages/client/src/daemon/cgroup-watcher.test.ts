// The selected-cgroup watcher: appearing, going and being made anew (a new cgroup id) each trigger a pass.
import { mkdirSync, mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { watchSelectedCgroups } from './cgroup-watcher.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('watchSelectedCgroups', () => {
  it('reports a cgroup that appears, goes away and comes back; a present one on first sight', async () => {
    const root = mkdtempSync(join(tmpdir(), 'cgw-'));
    const events: string[] = [];
    let paths: string[] = [];
    mkdirSync(join(root, 'there'));
    const w = watchSelectedCgroups(() => paths, (e) => events.push(e), 20, root);
    try {
      paths = ['a.slice/x.service', 'there'];
      await tick(60);
      expect(events).toEqual(['cgroup there appeared']);
      mkdirSync(join(root, 'a.slice/x.service'), { recursive: true });
      await tick(60);
      rmdirSync(join(root, 'a.slice/x.service'));
      await tick(60);
      expect(events).toEqual(['cgroup there appeared', 'cgroup a.slice/x.service appeared', 'cgroup a.slice/x.service went away']);
    } finally {
      w.stop();
      rmdirSync(join(root, 'a.slice'));
      rmdirSync(join(root, 'there'));
      rmdirSync(root);
    }
  });
});
