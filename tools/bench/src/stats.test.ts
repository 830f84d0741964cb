import { describe, expect, it } from 'vitest';
import { abbaOrder, median, mirror, percentile, ratio, rotate, spread, summarize } from './stats.js';

describe('median', () => {
  it('takes the middle sample of an odd count, whatever the order', () => {
    expect(median([9, 1, 5])).toBe(5);
  });
  it('averages the two middle samples of an even count', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
  it('refuses an empty list and non-finite samples', () => {
    expect(() => median([])).toThrow('expected at least one sample');
    expect(() => median([1, Number.NaN])).toThrow('expected finite numbers, got NaN');
  });
});

describe('percentile', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted on purpose
  it('uses the nearest rank', () => {
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 100)).toBe(100);
    expect(percentile([7, 3, 5], 50)).toBe(5);
    expect(percentile([7, 3, 5], 99)).toBe(7);
    expect(percentile([42], 1)).toBe(42);
  });
  it('p99 of 1,000 samples is the 990th smallest', () => {
    const thousand = Array.from({ length: 1000 }, (_, i) => i + 1);
    expect(percentile(thousand, 99)).toBe(990);
    expect(percentile(thousand, 50)).toBe(500);
  });
  it('refuses p outside (0, 100]', () => {
    expect(() => percentile([1], 0)).toThrow('expected p in (0, 100], got 0');
    expect(() => percentile([1], 101)).toThrow('got 101');
  });
});

describe('summarize', () => {
  it('gives count, median, min and max', () => {
    expect(summarize([3, 1, 2, 10])).toEqual({ n: 4, median: 2.5, min: 1, max: 10 });
  });
});

describe('ratio and spread', () => {
  it('divides, and is undefined when a side is missing or the divisor is zero', () => {
    expect(ratio(97, 100)).toBeCloseTo(0.97, 10);
    expect(ratio(undefined, 100)).toBeUndefined();
    expect(ratio(1, 0)).toBeUndefined();
  });
  it('spread is (max - min) / median', () => {
    expect(spread({ n: 3, median: 100, min: 90, max: 110 })).toBeCloseTo(0.2, 10);
    expect(spread({ n: 1, median: 0, min: 0, max: 0 })).toBe(0);
  });
});

describe('rotate', () => {
  it('starts each round with the next item', () => {
    expect(rotate(['a', 'b', 'c'], 0)).toEqual(['a', 'b', 'c']);
    expect(rotate(['a', 'b', 'c'], 1)).toEqual(['b', 'c', 'a']);
    expect(rotate(['a', 'b', 'c'], 4)).toEqual(['b', 'c', 'a']);
    expect(rotate([], 2)).toEqual([]);
  });
});

describe('abbaOrder and mirror', () => {
  it('alternates which side of a pair goes first: A B, B A, A B', () => {
    expect(abbaOrder('t', 'e', 3)).toEqual([['t', 'e'], ['e', 't'], ['t', 'e']]);
    expect(abbaOrder('t', 'e', 0)).toEqual([]);
  });
  it('reverses the order every other round, keeping neighbours back to back', () => {
    expect(mirror(['a', 'b', 'c'], 0)).toEqual(['a', 'b', 'c']);
    expect(mirror(['a', 'b', 'c'], 1)).toEqual(['c', 'b', 'a']);
    expect(mirror(['a', 'b', 'c'], 2)).toEqual(['a', 'b', 'c']);
  });
});
