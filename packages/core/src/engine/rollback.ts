// Rollback: undo completed steps in reverse, then converge what is still off back to the state read before the apply.
import type { Host } from '../host/host.js';
import { fingerprint, fingerprintDiff } from './fingerprint.js';
import { ruleKey } from './ip-format.js';
import { formatJournal, journalIsEmpty, normalizeNftListing } from './journal.js';
import { planFileWrites } from './plan-files.js';
import { nftReplaceScript, planRoutes, planRules } from './plan-kernel.js';
import { readState, type CurrentState } from './read-state.js';
import { describeAction, runAction, type Action, type Step } from './step.js';
import { emptyHostState, type HostState, type Ownership } from './types.js';

async function runAll(host: Host, actions: Action[], errors: string[]): Promise<void> {
  for (const a of actions) {
    try {
      await runAction(host, a);
    } catch (err) {
      errors.push(`${describeAction(a).split('\n')[0]}: ${(err as Error).message}`);
    }
  }
}

/** Steps that take `now` back to `before` for files, nft, sysctls, rules, routes and units (links are restored by undo). */
export function repairSteps(now: CurrentState, before: CurrentState, ownership: Ownership): Step[] {
  const steps: Step[] = [];
  const files = [...before.files].filter(([, f]) => f.kind === 'file').map(([path, f]) => ({ path, content: f.content ?? '', mode: f.mode, secret: true }));
  steps.push(...planFileWrites(now, { ...emptyHostState(), files }));
  const run = (title: string, resource: Step['resource'], argv: string[], stdin?: string): Step => ({ resource, title, do: [{ kind: 'run', argv, ...(stdin === undefined ? {} : { stdin }) }], undo: [] });
  for (const [p, f] of now.files) {
    if (before.files.has(p)) continue;
    if (f.kind === 'file') steps.push({ resource: 'file', title: `remove ${p}`, do: [{ kind: 'remove', path: p }], undo: [] });
  }
  for (const [p] of [...now.files].filter(([q, f]) => f.kind === 'dir' && !before.files.has(q)).sort(([a], [b]) => b.length - a.length)) {
    steps.push(run(`remove directory ${p}`, 'dir', ['rmdir', '--', p]));
  }
  for (const [p, f] of [...before.files].filter(([q, g]) => g.kind === 'dir' && !now.files.has(q)).sort(([a], [b]) => a.length - b.length)) {
    steps.push(run(`create directory ${p}`, 'dir', ['mkdir', '-p', '-m', f.mode.toString(8).padStart(4, '0'), '--', p]));
  }
  for (const [key, listing] of before.nft) {
    const cur = now.nft.get(key);
    if (cur !== undefined && normalizeNftListing(cur) === normalizeNftListing(listing)) continue;
    const [family, name] = key.split(' ');
    steps.push(run(`reload nft table ${key}`, 'nft', ['nft', '-f', '-'], nftReplaceScript(family!, name!, listing)));
  }
  for (const key of now.nft.keys()) if (!before.nft.has(key)) steps.push(run(`delete nft table ${key}`, 'nft', ['nft', 'delete', 'table', ...key.split(' ')]));
  for (const [key, value] of before.sysctls) {
    if (now.sysctls.has(key) && now.sysctls.get(key) !== value) steps.push(run(`restore ${key} = ${value}`, 'sysctl', ['sysctl', '-q', '-w', `${key}=${value}`]));
  }
  const keep = new Set(before.rules.filter((r) => r.unknown?.length).map(ruleKey));
  const target: HostState = { ...emptyHostState(), rules: before.rules.filter((r) => !r.unknown?.length), routes: before.routes.filter((r) => !r.unknown?.length) };
  const nowView: CurrentState = { ...now, rules: now.rules.filter((r) => !keep.has(ruleKey(r))) };
  const rules = planRules(nowView, target);
  const routes = planRoutes(nowView, target);
  steps.push(...routes.replaces, ...rules.adds, ...rules.deletes, ...routes.deletes);
  for (const [name, enabled] of before.units) {
    if (now.systemd && now.units.get(name) !== enabled) steps.push(run(`${enabled ? 'enable' : 'disable'} ${name}`, 'unit', ['systemctl', enabled ? 'enable' : 'disable', name]));
  }
  void ownership;
  return steps;
}

/** Undoes `done` (and the half-done `failed` step), restores the journal, repairs what is still off; says whether the host matches `before`. */
export async function rollback(
  host: Host,
  desired: HostState,
  ownership: Ownership,
  before: CurrentState,
  done: Step[],
  failed: Step | undefined,
): Promise<{ restored: boolean; problems: string[] }> {
  const errors: string[] = [];
  const undone = failed ? [failed, ...[...done].reverse()] : [...done].reverse();
  for (const s of undone) await runAll(host, s.undo, errors);
  for (const s of undone) if (s.undoLate) await runAll(host, s.undoLate, errors);
  try {
    if (journalIsEmpty(before.journal)) await host.removeFile(ownership.journalPath);
    else await host.writeFile(ownership.journalPath, formatJournal(before.journal), { mode: 0o600 });
  } catch (err) {
    errors.push(`journal: ${(err as Error).message}`);
  }
  const expected = fingerprint(before, [ownership.journalPath]);
  try {
    let now = await readState(host, desired, ownership);
    if (fingerprint(now, [ownership.journalPath]) !== expected) {
      for (const s of repairSteps(now, before, ownership)) await runAll(host, s.do, errors);
      now = await readState(host, desired, ownership);
    }
    const got = fingerprint(now, [ownership.journalPath]);
    if (got === expected) return { restored: true, problems: [] };
    return { restored: false, problems: [...fingerprintDiff(expected, got), ...errors] };
  } catch (err) {
    return { restored: false, problems: [...errors, `re-read: ${(err as Error).message}`] };
  }
}
