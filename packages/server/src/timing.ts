// EGRESS_TIMING=1: where one run's time goes. Spans (SSH key exchange, authentication, the VPS lock, each exec) are
// recorded against the process's start and printed to stderr as ONE line `egress-timing {json}` when the run ends.
// Off by default: then every call here is a no-op.

/** One measured span, ms since the process started (performance.timeOrigin). */
export interface TimingSpan {
  name: string;
  start: number;
  ms: number;
  /** Side facts (commands in a batch, bytes sent and received, negotiated algorithms). */
  info?: Record<string, string | number>;
}

/** What `egress-timing` prints. */
export interface TimingReport {
  /** When the CLI's own code started running (Node start-up and module loading before it). */
  cliStart: number;
  /** When the report was printed (the run's end, before the process exits). */
  end: number;
  spans: TimingSpan[];
}

/** Whether EGRESS_TIMING asks for phase times (any value but empty and "0"). */
export function timingEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return !!env.EGRESS_TIMING && env.EGRESS_TIMING !== '0';
}

const spans: TimingSpan[] = [];
let cliStart: number | undefined;

/** Marks the start of the CLI's own code (run-cli calls it first). */
export function markCliStart(): void {
  if (timingEnabled() && cliStart === undefined) cliStart = performance.now();
}

/** Starts a span; the returned function ends it (adding side facts). No-op unless EGRESS_TIMING is set. */
export function span(name: string): (info?: Record<string, string | number>) => void {
  if (!timingEnabled()) return () => undefined;
  const start = performance.now();
  return (info) => {
    spans.push({ name, start: round(start), ms: round(performance.now() - start), ...(info ? { info } : {}) });
  };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/** The report so far (undefined when timing is off). */
export function timingReport(): TimingReport | undefined {
  if (!timingEnabled()) return undefined;
  return { cliStart: round(cliStart ?? 0), end: round(performance.now()), spans: [...spans].sort((a, b) => a.start - b.start) };
}

/** Prints the report to stderr as one `egress-timing {json}` line (nothing when timing is off). */
export function printTiming(stderr: { write(text: string): unknown } = process.stderr): void {
  const report = timingReport();
  if (report) stderr.write(`egress-timing ${JSON.stringify(report)}\n`);
}

/** Parses the `egress-timing` line out of a run's stderr (the bench reads it); undefined when there is none. */
export function parseTimingLine(stderr: string): TimingReport | undefined {
  const line = stderr.split('\n').find((l) => l.startsWith('egress-timing {'));
  if (!line) return undefined;
  return JSON.parse(line.slice('egress-timing '.length)) as TimingReport;
}
