// Removes everything one isolated run made (processes, namespace, veth, rules, nft table, /etc/netns, record, shared sysctls); safe to repeat.
import type { Host } from '@egress/core/host/host';
import { IpRuleJson } from '@egress/core/engine/ip-format';
import { z } from 'zod';
import { removeForwardAccepts } from './iptables-accept.js';
import { withIsolateLock } from './lock.js';
import { isolateNames } from './names.js';
import { removeVethNamespace } from './plumbing.js';
import { listRecordPids, ownerAlive, readRecord } from './record.js';
import { releaseSysctl } from './shared-sysctl.js';
import { sysctlsTheStateSets } from './state-sysctls.js';

const RuleJson = z.array(IpRuleJson);

/** ip rules (family, priority) whose input interface is `iif`. */
export async function rulesOfIif(host: Host, family: 4 | 6, iif: string): Promise<number[]> {
  const r = await host.run(['ip', '-j', `-${family}`, 'rule', 'show']);
  if (r.exitCode !== 0) return [];
  const parsed = RuleJson.safeParse(JSON.parse(r.stdout || '[]'));
  return parsed.success ? parsed.data.filter((x) => x.iif === iif).map((x) => x.priority) : [];
}

/** Shared sysctls still held by a live run other than `pid`. */
async function heldByOthers(host: Host, pid: number): Promise<Set<string>> {
  const held = new Set<string>();
  for (const other of await listRecordPids(host)) {
    if (other === pid) continue;
    const rec = await readRecord(host, other);
    if (rec && (await ownerAlive(host, other, rec))) rec.shared.forEach((k) => held.add(k));
  }
  return held;
}

/** Undoes the run owned by `pid`: idempotent, each step tolerates an object that is already gone. */
export async function teardownIsolation(host: Host, pid: number): Promise<void> {
  const n = isolateNames(pid);
  // Read what exists in one go (independent reads), then remove only that.
  const [record, pids, rules4, rules6, table] = await Promise.all([
    readRecord(host, pid),
    host.run(['ip', 'netns', 'pids', n.ns]),
    rulesOfIif(host, 4, n.vethHost),
    rulesOfIif(host, 6, n.vethHost),
    host.run(['nft', 'list', 'table', 'inet', n.nftTable]),
  ]);
  const inside = pids.exitCode === 0 ? pids.stdout.split('\n').map((s) => s.trim()).filter((s) => /^\d+$/.test(s)) : [];
  if (inside.length > 0) await host.run(['kill', '-KILL', ...inside], { change: true });
  await removeVethNamespace(host, n);
  for (const [family, priorities] of [[4, rules4], [6, rules6]] as const) {
    for (const priority of priorities) await host.run(['ip', `-${family}`, 'rule', 'del', 'priority', String(priority), 'iif', n.vethHost], { change: true });
  }
  if (table.exitCode === 0) await host.run(['nft', 'delete', 'table', 'inet', n.nftTable], { change: true });
  await removeForwardAccepts(host, pid);
  // The record goes and the shared sysctls are released under the lock, so a run starting now sees a consistent original.
  if (!record && (await host.readFile(n.recordPath)) === undefined) return;
  await withIsolateLock(host, async () => {
    if (record || (await host.readFile(n.recordPath)) !== undefined) await host.removeFile(n.recordPath);
    if (record && record.shared.length > 0) {
      const [held, keepOn] = await Promise.all([heldByOthers(host, pid), sysctlsTheStateSets(host)]);
      for (const key of record.shared) if (!held.has(key)) await releaseSysctl(host, key, keepOn);
    }
  });
}
