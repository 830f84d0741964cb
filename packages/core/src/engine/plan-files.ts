// Plans file writes/removals and the removal of owned directories left empty.
import type { CurrentState } from './read-state.js';
import type { Step } from './step.js';
import type { FileSpec, HostState, Ownership } from './types.js';

function modeText(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

function sizeText(f: FileSpec): string {
  const n = Buffer.byteLength(f.content);
  return f.secret ? `secret, ${n} bytes` : `${n} bytes`;
}

/** Steps writing desired files whose content or mode differ. */
export function planFileWrites(current: CurrentState, desired: HostState): Step[] {
  const steps: Step[] = [];
  for (const f of [...desired.files].sort((a, b) => a.path.localeCompare(b.path))) {
    const cur = current.files.get(f.path);
    if (cur?.kind === 'file' && cur.content === f.content && cur.mode === f.mode) continue;
    const verb = !cur ? 'create' : cur.content === f.content ? 'chmod' : 'update';
    steps.push({
      resource: 'file',
      title: `${verb} ${f.path} (${modeText(f.mode)}, ${sizeText(f)})`,
      do: [{ kind: 'write', path: f.path, content: f.content, mode: f.mode, secret: f.secret }],
      undo: cur?.kind === 'file' ? [{ kind: 'write', path: f.path, content: cur.content ?? '', mode: cur.mode, secret: f.secret }] : [{ kind: 'remove', path: f.path }],
    });
  }
  return steps;
}

/** Steps removing owned files that are not desired, then owned directories that end up empty (deepest first). */
export function planFileRemovals(current: CurrentState, desired: HostState, ownership: Ownership, journalGoesAway: boolean): Step[] {
  const steps: Step[] = [];
  const wanted = new Set(desired.files.map((f) => f.path));
  const gone = new Set<string>();
  if (journalGoesAway) gone.add(ownership.journalPath);
  for (const p of [...new Set([...ownership.files, ...current.journal.files])].sort()) {
    const cur = current.files.get(p);
    if (!cur || cur.kind !== 'file' || wanted.has(p)) continue;
    gone.add(p);
    steps.push({
      resource: 'file',
      title: `remove ${p}`,
      do: [{ kind: 'remove', path: p }],
      undo: [{ kind: 'write', path: p, content: cur.content ?? '', mode: cur.mode, secret: true }],
    });
  }
  const dirs = [...ownership.files].filter((p) => current.files.get(p)?.kind === 'dir').sort((a, b) => b.length - a.length);
  for (const d of dirs) {
    if (desired.files.some((f) => f.path.startsWith(`${d}/`))) continue;
    const entries = current.files.get(d)!.entries ?? [];
    if (!entries.every((e) => gone.has(`${d}/${e}`))) continue;
    gone.add(d);
    const mode = current.files.get(d)!.mode;
    steps.push({
      resource: 'dir',
      title: `remove directory ${d}`,
      do: [...(journalGoesAway && ownership.journalPath.startsWith(`${d}/`) ? [{ kind: 'remove' as const, path: ownership.journalPath }] : []), { kind: 'run', argv: ['rmdir', '--', d] }],
      undo: [{ kind: 'run', argv: ['mkdir', '-p', '-m', modeText(mode), '--', d] }],
    });
  }
  return steps;
}
