// Where another firewall's iptables FORWARD policy drops (Docker, ufw), the narrowest accepts the veth needs, tagged with the run's namespace name.
import type { Host } from '@egress/core/host/host';
import { ownerPidOf, type IsolateNames } from './names.js';

const TOOLS = ['iptables', 'ip6tables'] as const;
type Tool = (typeof TOOLS)[number];

/** `TOOL -S FORWARD`, or undefined when the tool is missing or has no such chain. */
async function forwardRules(host: Host, tool: Tool): Promise<string | undefined> {
  const r = await host.run([tool, '-w', '-S', 'FORWARD']);
  return r.exitCode === 0 ? r.stdout : undefined;
}

/** Adds `-i VETH` / `-o VETH` accepts (comment: the namespace name) to each FORWARD chain whose policy is DROP; returns the tools changed. */
export async function addForwardAccepts(host: Host, n: Pick<IsolateNames, 'vethHost' | 'ns'>, v6: boolean): Promise<Tool[]> {
  const changed: Tool[] = [];
  for (const tool of TOOLS) {
    if (tool === 'ip6tables' && !v6) continue;
    const rules = await forwardRules(host, tool);
    if (!rules || !/^-P FORWARD DROP$/m.test(rules)) continue;
    for (const dir of ['-i', '-o']) {
      await host.run([tool, '-w', '-I', 'FORWARD', dir, n.vethHost, '-m', 'comment', '--comment', n.ns, '-j', 'ACCEPT'], { check: true, change: true });
    }
    changed.push(tool);
  }
  return changed;
}

/** Every accept in a FORWARD chain that carries a comment, as its comment and the `-D` argv that removes it. */
export async function taggedForwardAccepts(host: Host): Promise<Array<{ tag: string; argv: string[] }>> {
  const out: Array<{ tag: string; argv: string[] }> = [];
  for (const tool of TOOLS) {
    for (const line of ((await forwardRules(host, tool)) ?? '').split('\n')) {
      const words = line.trim().split(/\s+/);
      const i = words.indexOf('--comment');
      if (words[0] !== '-A' || words[1] !== 'FORWARD' || i < 0) continue;
      out.push({ tag: words[i + 1]!.replace(/^"|"$/g, ''), argv: [tool, '-w', '-D', 'FORWARD', ...words.slice(2).map((w) => w.replace(/^"|"$/g, ''))] });
    }
  }
  return out;
}

/** The tagged accepts present for owner `pid` (or for every isolate owner when pid is undefined), as `-D` argv. */
export async function forwardAcceptsOf(host: Host, pid?: number): Promise<Array<{ owner: number; argv: string[] }>> {
  const out: Array<{ owner: number; argv: string[] }> = [];
  for (const a of await taggedForwardAccepts(host)) {
    const owner = ownerPidOf('ns', a.tag);
    if (owner !== undefined && (pid === undefined || owner === pid)) out.push({ owner, argv: a.argv });
  }
  return out;
}

/** Removes the tagged accepts of owner `pid`. */
export async function removeForwardAccepts(host: Host, pid: number): Promise<void> {
  for (const a of await forwardAcceptsOf(host, pid)) await host.run(a.argv, { change: true });
}
