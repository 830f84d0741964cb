// quoteArgv must make a POSIX shell see each word as one literal word, whatever it contains.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { quoteArgv, quoteWord } from './shell-quote.js';

/** Runs the quoted line through a real sh and returns the words it saw (NUL-separated by printf). */
function roundTrip(argv: string[]): string[] {
  const out = execFileSync('sh', ['-c', `printf '%s\\0' ${quoteArgv(argv)}`], { encoding: 'utf8' });
  return out.split('\0').slice(0, -1);
}

const nasty = [
  'plain',
  '',
  ' ',
  'two words',
  "it's",
  "'",
  "''",
  '"double"',
  '$HOME',
  '${IFS}',
  '`id`',
  '$(touch /tmp/egress-pwned)',
  'a;b',
  'a&&b',
  'a|b',
  'a\nb',
  'tab\there',
  '*',
  '?',
  '[a-z]',
  '~',
  '~root',
  '-n',
  '--',
  'back\\slash',
  '!bang',
  '#comment',
  'a=b',
  'é ünicode ✓',
  "x'; rm -rf / #",
  '\\\'',
];

describe('quoteWord', () => {
  it('leaves safe words bare and quotes the rest', () => {
    expect(quoteWord('egress0')).toBe('egress0');
    expect(quoteWord('/etc/egress/server.json')).toBe('/etc/egress/server.json');
    expect(quoteWord('a b')).toBe("'a b'");
    expect(quoteWord("it's")).toBe("'it'\\''s'");
    expect(quoteWord('')).toBe("''");
    expect(quoteWord('~')).toBe("'~'");
  });

  it('refuses a NUL byte (a shell word cannot hold one)', () => {
    expect(() => quoteWord('a\0b')).toThrow(/NUL/);
  });
});

describe('quoteArgv through a real sh', () => {
  it.each(nasty.map((w) => [JSON.stringify(w), w]))('%s arrives as one literal word', (_label, word) => {
    expect(roundTrip([word])).toEqual([word]);
  });

  it('keeps every word of a mixed argv apart and in order', () => {
    expect(roundTrip(nasty)).toEqual(nasty);
  });

  it('does not run command substitutions', () => {
    roundTrip(['$(touch /tmp/egress-quote-test-pwned)', '`touch /tmp/egress-quote-test-pwned`']);
    expect(() => execFileSync('test', ['-e', '/tmp/egress-quote-test-pwned'])).toThrow();
  });

  it('refuses an empty argv', () => {
    expect(() => quoteArgv([])).toThrow(/empty/);
  });
});
