// apply(host, desired, ownership): read, plan, run steps, verify; on failure undo in reverse and report whether the host is restored.
import { ApplyError, CommandError, EgressError } from '../errors.js';
import { displayArgv, maskSecrets, type Command, type Host, type RunResult } from '../host/host.js';
import type { Output } from '../output.js';
import { formatJournal, journalIsEmpty, normalizeNftListing, pendingOf, readJournal, sha256, withPending, type Journal } from './journal.js';
import { assertOwned, plan } from './plan.js';
import { readState, stateReadCommands, type CurrentState } from './read-state.js';
import { rollback } from './rollback.js';
import { batchCommand, describeAction, runAction, type Step } from './step.js';
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

/** The journal's write as a step of the run (not shown as a step of its own; the host echoes the write). */
function journalStep(path: string, journal: Journal): Step {
  return { resource: 'file', title: `record ${path}`, do: [{ kind: 'write', path, content: formatJournal(journal), mode: 0o600 }], undo: [] };
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

/** The journal written before the first change: original values of sysctls about to change, and what this run owns. */
function startJournal(before: CurrentState, desired: HostState, ownership: Ownership): Journal {
  const j: Journal = structuredClone(before.journal);
  j.pending = pendingOf(ownership);
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
export async function apply(host: Host, desired: HostState, given: Ownership, options: ApplyOptions = {}): Promise<ApplyResult> {
  assertOwned(desired, given);
  // What a run killed half-way had started to own is owned by this one too, so it converges (and teardown removes it).
  const ownership = withPending(given, (await readJournal(host, given.journalPath).catch(() => undefined))?.pending);
  const out = options.output;
  const before = await readState(host, desired, ownership);
  const { steps, notes } = plan(before, desired, ownership);
  if (options.dryRun) {
    out?.info(formatPlan(steps));
    for (const n of notes) out?.info(`note: ${n}`);
    return { steps, changed: 0, dryRun: true, notes };
  }
  const journalExisted = !!before.journalFound;
  const journal = startJournal(before, desired, ownership);
  // The journal goes to the host in the steps' own batch: first (what the run owns, before any change) and, when it
  // can be known ahead (no nft table reloaded, nothing removes the journal), last in its final form once every step
  // succeeded: no round trip of its own on SSH. It is checked against what verification saw and rewritten if off.
  const startStep = steps.length && formatJournal(journal) !== formatJournal(before.journal) ? journalStep(ownership.journalPath, journal) : undefined;
  const removesJournal = steps.some((s) => s.do.some((a) => a.kind === 'remove' && a.path === ownership.journalPath));
  const predicted = steps.length && !removesJournal && !steps.some((s) => s.resource === 'nft') ? finalJournal(journal, before, desired) : undefined;
  const endStep = predicted && !journalIsEmpty(predicted) && formatJournal(predicted) !== formatJournal(startStep ? journal : before.journal) ? journalStep(ownership.journalPath, predicted) : undefined;
  const internal = new Set([startStep, endStep].filter((x): x is Step => !!x));
  // The verification's read rides at the end of the last batch (run only if every change before it succeeded).
  // Desired files are verified by their sha256, not read back whole: the same verdict (equal content ⇔ equal hash) for
  // O(1) bytes, where a 1,000-peer server's state and wg config are ~240 KB each `peer add`.
  const verifyContents = new Map(desired.files.map((f) => [f.path, f.content]));
  const verifyReads = stateReadCommands(desired, ownership, verifyContents);
  const run = await runSteps(host, [...(startStep ? [startStep] : []), ...steps, ...(endStep ? [endStep] : [])], out, internal, verifyReads);
  const done = run.done.filter((s) => !internal.has(s));
  let failed = run.failed;
  if (failed?.step && failed.step === startStep) {
    const { restored, problems } = await rollback(host, desired, ownership, before, [], undefined);
    const error = failed.error;
    throw new ApplyError(
      `writing the journal ${ownership.journalPath} failed: ${(error as Error).message}\n${restored ? 'the previous state was restored (nothing else had changed)' : `the previous state was NOT fully restored:\n  ${problems.join('\n  ')}`}`,
      restored,
      { cause: error },
    );
  }
  // The journal as it is on the host now.
  const onHost = endStep && run.done.includes(endStep) ? predicted! : startStep && run.done.includes(startStep) ? journal : before.journal;
  if (failed?.step && failed.step === endStep) {
    // Every change is made; only the journal's final form did not land: verification and the write below decide.
    failed = undefined;
  }
  if (!failed) {
    // Nothing ran: what was read is what is there.
    const after = steps.length ? await readState(host, desired, ownership, run.verified, verifyContents) : before;
    const left = plan(after, desired, ownership, { verify: true }).steps;
    if (!left.length) {
      const final = finalJournal(journal, after, desired);
      const needed = journalIsEmpty(final) ? !removesJournal && (journalExisted || steps.length > 0) : formatJournal(final) !== formatJournal(onHost);
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

/**
 * Runs steps in order and stops at the first failure. Consecutive steps whose actions can all be batched go to the
 * host in one runMany (one SSH round trip for a whole provision); the rest run action by action.
 */
async function runSteps(
  host: Host,
  steps: readonly Step[],
  out: Output | undefined,
  quiet: ReadonlySet<Step>,
  reads: readonly Command[],
): Promise<{ done: Step[]; failed?: { step?: Step; error: unknown }; verified?: RunResult[] }> {
  const done: Step[] = [];
  let k = 0;
  while (k < steps.length) {
    const batch: Array<{ step: Step; commands: Command[] }> = [];
    for (let j = k; j < steps.length && host.runMany; j++) {
      const commands = steps[j]!.do.map((a) => batchCommand(host, a));
      if (commands.some((c) => !c)) break;
      batch.push({ step: steps[j]!, commands: commands as Command[] });
    }
    // The last batch carries the verification's reads after its changes: a failed change stops it before them.
    const last = batch.length > 0 && k + batch.length === steps.length ? reads : [];
    const changes = batch.reduce((n, b) => n + b.commands.length, 0);
    if (changes + last.length > 1) {
      for (const b of batch) if (!quiet.has(b.step)) out?.step(b.step.title);
      let results: RunResult[];
      try {
        results = await host.runMany!([...batch.flatMap((b) => b.commands), ...last], { stopOnError: last.length ? 'changes' : true });
      } catch (error) {
        return { done, failed: { step: batch[0]!.step, error } };
      }
      const verified = results.length === changes + last.length && last.length ? results.slice(changes) : undefined;
      results = results.slice(0, changes);
      let at = 0;
      for (const b of batch) {
        const mine = results.slice(at, at + b.commands.length);
        at += b.commands.length;
        const bad = mine.findIndex((r) => r.exitCode !== 0);
        if (bad < 0 && mine.length === b.commands.length) {
          done.push(b.step);
          continue;
        }
        const cmd = b.commands[bad < 0 ? mine.length : bad]!;
        const secrets = cmd.options?.secrets ?? [];
        const error = bad < 0
          ? new EgressError('E_BATCH', `the batch stopped before '${cmd.options?.display ?? displayArgv(cmd.argv, secrets)}' ran`)
          : new CommandError(cmd.options?.display ? [cmd.options.display] : cmd.argv.map((w) => maskSecrets(w, secrets)), mine[bad]!.exitCode, maskSecrets(mine[bad]!.stderr, secrets));
        return { done, failed: { step: b.step, error } };
      }
      k += batch.length;
      if (verified) return { done, verified };
      continue;
    }
    const step = steps[k]!;
    if (!quiet.has(step)) out?.step(step.title);
    try {
      for (const a of step.do) await runAction(host, a);
      done.push(step);
    } catch (error) {
      return { done, failed: { step, error } };
    }
    k++;
  }
  return { done };
}

/** Removes exactly what egress owns: applies the empty state with the same ownership. */
export async function teardown(host: Host, ownership: Ownership, options: ApplyOptions = {}): Promise<ApplyResult> {
  return apply(host, emptyHostState(), ownership, options);
}
