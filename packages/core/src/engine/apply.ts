// apply(host, desired, ownership): read, plan, run steps, verify; on failure undo in reverse and report whether the host is restored.
import { ApplyError, EgressError } from '../errors.js';
import type { Host } from '../host/host.js';
import type { Output } from '../output.js';
import { formatJournal, journalIsEmpty, normalizeNftListing, sha256, type Journal } from './journal.js';
import { assertOwned, plan } from './plan.js';
import { readState, type CurrentState } from './read-state.js';
import { rollback } from './rollback.js';
import { describeAction, runAction, type Step } from './step.js';
import { emptyHostState, type HostState, type Ownership } from './types.js';

export interface ApplyOptions {
  /** Compute and print the plan; change nothing. */
  dryRun?: boolean;
  /** Step titles, the dry-run plan and notes go here. */
  output?: Output;
}

export interface ApplyResult {
  steps: Step[];
  changed: number;
  dryRun: boolean;
  /** Things skipped and why ("systemd not running: …"). */
  notes: string[];
}

async function writeJournal(host: Host, path: string, journal: Journal, existed: boolean): Promise<void> {
  if (journalIsEmpty(journal)) {
    if (existed) await host.removeFile(path);
    return;
  }
  await host.writeFile(path, formatJournal(journal), { mode: 0o600 });
}

/** The journal once `desired` is in place: originals kept for desired sysctls only, nft listings as seen after. */
function finalJournal(start: Journal, after: CurrentState, desired: HostState): Journal {
  const wantedSysctls = new Set(desired.sysctls.map((s) => s.key));
  const j: Journal = { version: 1, sysctls: {}, nft: {}, links: {}, files: desired.files.map((f) => f.path) };
  for (const [k, v] of Object.entries(start.sysctls)) if (wantedSysctls.has(k)) j.sysctls[k] = v;
  for (const t of desired.nft) {
    const key = `${t.family} ${t.name}`;
    j.nft[key] = { sha256: sha256(t.ruleset), listing: normalizeNftListing(after.nft.get(key) ?? '') };
  }
  for (const l of desired.links) j.links[l.name] = l.configPath;
  return j;
}

/** The journal written before the first change: original values of sysctls about to change. */
function startJournal(before: CurrentState, desired: HostState): Journal {
  const j: Journal = structuredClone(before.journal);
  for (const s of desired.sysctls) if (!(s.key in j.sysctls)) j.sysctls[s.key] = before.sysctls.get(s.key) ?? null;
  for (const l of desired.links) j.links[l.name] = l.configPath;
  j.files = [...new Set([...j.files, ...desired.files.map((f) => f.path)])];
  return j;
}

/** Prints a plan for --dry-run: titles and the actions, secrets shown as "(secret, N bytes)". */
export function formatPlan(steps: Step[]): string {
  if (!steps.length) return 'nothing to change';
  return steps.map((s, i) => `${i + 1}. ${s.title}\n${s.do.map((a) => `     ${describeAction(a).replace(/\n/g, '\n     ')}`).join('\n')}`).join('\n');
}

/** Converges the host to `desired` for what `ownership` covers; a second call with the same desired state changes nothing. */
export async function apply(host: Host, desired: HostState, ownership: Ownership, options: ApplyOptions = {}): Promise<ApplyResult> {
  assertOwned(desired, ownership);
  const out = options.output;
  const before = await readState(host, desired, ownership);
  const { steps, notes } = plan(before, desired, ownership);
  if (options.dryRun) {
    out?.info(formatPlan(steps));
    for (const n of notes) out?.info(`note: ${n}`);
    return { steps, changed: 0, dryRun: true, notes };
  }
  const journalExisted = !!before.journalFound;
  const journal = startJournal(before, desired);
  if (steps.length && formatJournal(journal) !== formatJournal(before.journal)) {
    try {
      await writeJournal(host, ownership.journalPath, journal, journalExisted);
    } catch (error) {
      const { restored, problems } = await rollback(host, desired, ownership, before, [], undefined);
      throw new ApplyError(
        `writing the journal ${ownership.journalPath} failed: ${(error as Error).message}\n${restored ? 'the previous state was restored (nothing else had changed)' : `the previous state was NOT fully restored:\n  ${problems.join('\n  ')}`}`,
        restored,
        { cause: error },
      );
    }
  }

  const done: Step[] = [];
  let failed: { step?: Step; error: unknown } | undefined;
  for (const step of steps) {
    out?.step(step.title);
    try {
      for (const a of step.do) await runAction(host, a);
      done.push(step);
    } catch (error) {
      failed = { step, error };
      break;
    }
  }
  if (!failed) {
    // Nothing ran: what was read is what is there.
    const after = steps.length ? await readState(host, desired, ownership) : before;
    const left = plan(after, desired, ownership, { verify: true }).steps;
    if (!left.length) {
      const final = finalJournal(journal, after, desired);
      const removedByStep = steps.some((s) => s.do.some((a) => a.kind === 'remove' && a.path === ownership.journalPath));
      const needed = journalIsEmpty(final) ? !removedByStep && (journalExisted || steps.length > 0) : formatJournal(final) !== formatJournal(before.journal);
      if (needed) {
        try {
          await writeJournal(host, ownership.journalPath, final, journalExisted || steps.length > 0);
        } catch (error) {
          // The host is converged; without the journal the next apply reloads the nft table once more.
          notes.push(`the journal ${ownership.journalPath} could not be updated: ${(error as Error).message}`);
          out?.warn(notes[notes.length - 1]!);
        }
      }
      for (const n of notes) out?.info(`note: ${n}`);
      return { steps, changed: steps.length, dryRun: false, notes };
    }
    failed = { error: new EgressError('E_VERIFY', `verification failed, the host still differs: ${left.map((s) => s.title).join('; ')}`) };
  }

  const { restored, problems } = await rollback(host, desired, ownership, before, done, failed.step);
  const what = failed.step ? `step "${failed.step.title}" failed: ${(failed.error as Error).message}` : (failed.error as Error).message;
  const how = restored
    ? `the previous state was restored (${done.length} completed step${done.length === 1 ? '' : 's'} undone)`
    : `the previous state was NOT fully restored:\n  ${problems.join('\n  ')}`;
  throw new ApplyError(`${what}\n${how}`, restored, {
    cause: failed.error,
    hint: restored ? 'fix the cause above and run the command again' : 'run the command again, or tear down to remove what egress owns',
  });
}

/** Removes exactly what egress owns: applies the empty state with the same ownership. */
export async function teardown(host: Host, ownership: Ownership, options: ApplyOptions = {}): Promise<ApplyResult> {
  return apply(host, emptyHostState(), ownership, options);
}
