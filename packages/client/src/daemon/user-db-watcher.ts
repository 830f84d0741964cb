// Watches /etc/group and /etc/passwd: allowed groups are expanded to uids, so a membership change re-renders.
import { USER_DB_FILES } from '../policy/group-members.js';
import { watchStateFile, type StateWatcher } from './state-watcher.js';

/** Calls `onChange` when either user database file is written or replaced. */
export function watchUserDb(onChange: (file: string) => void, log: (line: string) => void): StateWatcher {
  const ws = USER_DB_FILES.map((f) => watchStateFile(f, () => onChange(f), log));
  return { stop: () => ws.forEach((w) => w.stop()) };
}
