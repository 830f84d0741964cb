// Summary statistics for benchmark samples: median, min, max and nearest-rank percentiles.

/** A set of samples reduced to the figures the report shows. */
export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
}

function sorted(samples: readonly number[]): number[] {
  const bad = samples.find((s) => !Number.isFinite(s));
  if (bad !== undefined) throw new RangeError(`samples: expected finite numbers, got ${bad}`);
  return [...samples].sort((a, b) => a - b);
}

/** Median of samples (mean of the two middle values for an even count). */
export function median(samples: readonly number[]): number {
  const s = sorted(samples);
  if (s.length === 0) throw new RangeError('median: expected at least one sample, got none');
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Nearest-rank percentile (p in (0, 100]): the smallest sample with at least p% of samples at or below it. */
export function percentile(samples: readonly number[], p: number): number {
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile: expected p in (0, 100], got ${p}`);
  const s = sorted(samples);
  if (s.length === 0) throw new RangeError('percentile: expected at least one sample, got none');
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.max(0, rank - 1)]!;
}

/** Median, min and max of samples. */
export function summarize(samples: readonly number[]): Summary {
  const s = sorted(samples);
  if (s.length === 0) throw new RangeError('summarize: expected at least one sample, got none');
  return { n: s.length, median: median(s), min: s[0]!, max: s[s.length - 1]! };
}

/** Ratio a/b, or undefined when either side is missing or b is zero. */
export function ratio(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined || b === undefined || b === 0) return undefined;
  return a / b;
}

/** Relative spread of a summary: (max - min) / median, 0 for a single sample. */
export function spread(s: Summary): number {
  return s.median === 0 ? 0 : (s.max - s.min) / s.median;
}

/** The items rotated left by `by` (round r of a measurement starts with a different path, so no path always follows the same one). */
export function rotate<T>(items: readonly T[], by: number): T[] {
  if (items.length === 0) return [];
  const k = ((by % items.length) + items.length) % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/** ABBA order of `pairs` back-to-back pairs of A and B: pair j runs A then B when j is even, B then A when odd (A B B A A B …), so a steady drift favours neither side. */
export function abbaOrder<A, B>(a: A, b: B, pairs: number): Array<[A | B, A | B]> {
  return Array.from({ length: pairs }, (_, j) => (j % 2 === 0 ? [a, b] : [b, a]));
}

/** The items in order on even rounds and reversed on odd ones (A B C, C B A, …): over two rounds every pair of items is measured in ABBA order, and neighbours stay back to back. */
export function mirror<T>(items: readonly T[], round: number): T[] {
  return round % 2 === 0 ? [...items] : [...items].reverse();
}
