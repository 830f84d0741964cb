// Finds isolate objects whose owner died without cleaning up (SIGKILL, power cut of the process) and removes them.
import type { Host } from '@egress/core/host/host';
import { IpRuleJson } from '@egress/core/engine/ip-format';
import { z } from 'zod';
import { forwardAcceptsOf } from './iptables-accept.js';
import { withIsolateLock } from './lock.js';
import { ISOLATE_PRIORITY, ownerPidOf } from './names.js';
import { listRecordPids, ownerAlive, readRecord } from './record.js';
import { releaseSysctl, savedSysctls } from './shared-sysctl.js';
import { sysctlsTheStateSets } from './state-sysctls.js';
import { teardownIsolation } from './teardown.js';

const Named = z.array(z.object({ name: z.string() }).passthrough());
const Links = z.array(z.object({ ifname: z.string() }).passthrough());
const Rules = z.array(IpRuleJson);
const Tables = z.object({ nftables: z.array(z.record(z.string(), z.unknown())) });

async function json<T>(host: Host, argv: string[], schema: z.ZodType<T>, fallback: T): Promise<T> {
  const r = await host.run(argv);
  if (r.exitCode !== 0) return fallback;
  try {
    const p = schema.safeParse(JSON.parse(r.stdout || 'null'));
    return p.success ? p.data : fallback;
  } catch {
    return fallback;
  }
}

/** Owner pids stamped on every isolate object that exists now (records, namespaces, veths, rules, nft tables, /etc/netns dirs). */
export async function isolateOwners(host: Host): Promise<number[]> {
  const [records, namespaces, links, rules4, rules6, tables, etc, accepts] = await Promise.all([
    listRecordPids(host),
    json(host, ['ip', '-j', 'netns', 'list'], Named, []),
    json(host, ['ip', '-j', 'link', 'show'], Links, []),
    json(host, ['ip', '-j', '-4', 'rule', 'show'], Rules, []),
    json(host, ['ip', '-j', '-6', 'rule', 'show'], Rules, []),
    json(host, ['nft', '-j', 'list', 'tables', 'inet'], Tables, { nftables: [] }),
    host.run(['ls', '-1', '--', '/etc/netns']),
    forwardAcceptsOf(host),
  ]);
  const pids = new Set<number>(records);
  const add = (p: number | undefined): void => {
    if (p !== undefined) pids.add(p);
  };
  for (const ns of namespaces) add(ownerPidOf('ns', ns.name));
  for (const l of links) add(ownerPidOf('vethHost', l.ifname));
  for (const r of [...rules4, ...rules6]) {
    if (r.iif && (r.priority === ISOLATE_PRIORITY.lookup || r.priority === ISOLATE_PRIORITY.fallback)) add(ownerPidOf('vethHost', r.iif));
  }
  for (const t of tables.nftables) {
    const table = t.table as { name?: string } | undefined;
    if (table?.name) add(ownerPidOf('nftTable', table.name));
  }
  if (etc.exitCode === 0) for (const d of etc.stdout.split('\n')) add(ownerPidOf('ns', d.trim()));
  for (const a of accepts) add(a.owner);
  return [...pids].sort((a, b) => a - b);
}

/** Removes the objects of every run whose owner is dead, then restores shared sysctls no live run holds; returns the pids swept. */
export async function sweepIsolations(host: Host): Promise<number[]> {
  const swept: number[] = [];
  for (const pid of await isolateOwners(host)) {
    const record = await readRecord(host, pid);
    if (await ownerAlive(host, pid, record)) continue;
    await teardownIsolation(host, pid);
    swept.push(pid);
  }
  // Originals no record holds any more (a crash between release steps) are restored too.
  if ((await savedSysctls(host)).length === 0) return swept;
  await withIsolateLock(host, async () => {
    const held = new Set<string>();
    for (const pid of await listRecordPids(host)) {
      const rec = await readRecord(host, pid);
      if (rec) rec.shared.forEach((k) => held.add(k));
    }
    const keepOn = await sysctlsTheStateSets(host);
    for (const key of await savedSysctls(host)) if (!held.has(key)) await releaseSysctl(host, key, keepOn);
  });
  return swept;
}
