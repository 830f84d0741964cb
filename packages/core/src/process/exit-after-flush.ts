// Ending a CLI process without losing output: process.exit() right after a large write to a pipe drops what is queued.

/** Resolves once each stream has handed everything written so far to the OS (or cannot take more: closed, EPIPE). */
export function flushStreams(streams: ReadonlyArray<NodeJS.WriteStream> = [process.stdout, process.stderr]): Promise<void> {
  return Promise.all(
    streams.map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.destroyed || !s.writable) return resolve();
          // A reader that went away (EPIPE) ends the wait instead of crashing the exit.
          const onError = (): void => resolve();
          s.once('error', onError);
          s.write('', () => {
            s.off('error', onError);
            resolve();
          });
        }),
    ),
  ).then(() => undefined);
}

/**
 * Exits with `code` once stdout and stderr are flushed (status --json of a 1,000-peer VPS, ~260 KB, arrived cut at
 * ~220 KB when the bin called process.exit at once). The one way the bins end with a code.
 */
export function exitAfterFlush(code: number): void {
  void flushStreams().then(() => process.exit(code));
}
