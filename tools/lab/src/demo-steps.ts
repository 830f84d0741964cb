// How the demo judges one step's command: done, not built yet (the CLI or the command does not exist), or failed.

export type StepOutcome = 'ok' | 'not-built' | 'failed';

/** Output that means "this command does not exist yet" rather than "it ran and failed". */
const NOT_BUILT = /unknown command|not implemented|not yet implemented|E_NOT_IMPLEMENTED|Cannot find module .*\/dist\/bin\.js/i;

/** Classifies a step's command from whether its CLI is built, its exit code and its output. */
export function classifyStep(result: { cliBuilt: boolean; exitCode: number; output: string }): StepOutcome {
  if (!result.cliBuilt) return 'not-built';
  if (result.exitCode === 0) return 'ok';
  return NOT_BUILT.test(result.output) ? 'not-built' : 'failed';
}

/** Splits streamed text into whole lines, keeping a partial last line for the next chunk. */
export class LineSplitter {
  private rest = '';

  constructor(private readonly onLine: (line: string) => void) {}

  /** Feeds a chunk; calls onLine for every complete line in it. */
  push(chunk: string): void {
    const parts = (this.rest + chunk).split('\n');
    this.rest = parts.pop() ?? '';
    for (const p of parts) this.onLine(p);
  }

  /** Emits the partial last line, if any. */
  flush(): void {
    if (this.rest) this.onLine(this.rest);
    this.rest = '';
  }
}
