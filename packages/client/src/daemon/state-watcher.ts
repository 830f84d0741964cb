// Watches the state directory (/etc/egress): an edit of client.json triggers a reconcile pass.
import { watch, type FSWatcher } from 'node:fs';
import { dirname, basename } from 'node:path';

export interface StateWatcher {
  stop(): void;
}

/** Calls `onChange` when `path` is written, replaced or removed (watches its directory, so renames are seen). */
export function watchStateFile(path: string, onChange: () => void, log: (line: string) => void): StateWatcher {
  let w: FSWatcher | undefined;
  try {
    w = watch(dirname(path), (_event, file) => {
      if (file === null || file === basename(path)) onChange();
    });
    w.on('error', (err) => log(`state watcher: ${err.message}`));
  } catch (err) {
    log(`state watcher: cannot watch ${dirname(path)}: ${(err as Error).message} (the periodic backstop still re-reads it)`);
  }
  return { stop: () => w?.close() };
}
