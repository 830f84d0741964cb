// How a command ends: an exit code, or (run-as) the signal that killed the app, for the bin to re-raise.

/** The outcome bin.ts turns into the process's exit. */
export type ExitStatus = { code: number; signal?: undefined } | { signal: NodeJS.Signals; code?: undefined };

/** Exit with a code. */
export function exitCode(code: number): ExitStatus {
  return { code };
}
