// A snapshot of the machine's own (root) namespace, to prove a lab leaves it exactly as it found it.
import { readFileSync } from 'node:fs';
import { runOk } from './run.js';

export interface RootSnapshot {
  netns: string;
  links: string;
  rules4: string;
  rules6: string;
  routes4: string;
  routes6: string;
  mounts: string;
}

/** Reads `ip netns`, links, rules, routes and mountinfo of the calling process's namespaces. */
export async function rootSnapshot(): Promise<RootSnapshot> {
  const ip = async (...args: string[]): Promise<string> => (await runOk(['ip', ...args])).stdout;
  const [netns, links, rules4, rules6, routes4, routes6] = await Promise.all([
    ip('netns', 'list'), ip('-j', 'link'), ip('-j', '-4', 'rule'), ip('-j', '-6', 'rule'),
    ip('-j', '-4', 'route', 'show', 'table', 'all'), ip('-j', '-6', 'route', 'show', 'table', 'all'),
  ]);
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
  return { netns, links, rules4, rules6, routes4, routes6, mounts };
}

/**
 * The snapshot without named network namespaces (`ip netns` lines and their /run/netns mounts) that `keep` rejects:
 * on a shared machine other tools add and remove their own netns while a lab runs; the lab itself never names one.
 */
export function withoutForeignNetns(s: RootSnapshot, keep: (netnsName: string) => boolean): RootSnapshot {
  const netns = s.netns.split('\n').filter((l) => !l || keep(l.split(' ')[0]!)).join('\n');
  const mounts = s.mounts
    .split('\n')
    .filter((l) => {
      const m = / \/run\/netns\/(\S+) /.exec(l);
      return !m || keep(m[1]!);
    })
    .join('\n');
  return { ...s, netns, mounts };
}
