// POSIX shell quoting: for argv sent over SSH, and for commands shown in hints that a person pastes into a shell.

/** Quotes one word for a POSIX shell: safe words stay bare, everything else goes in single quotes. */
export function quoteWord(word: string): string {
  if (word.includes('\0')) throw new TypeError('a shell word cannot contain a NUL byte');
  if (word !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Joins argv into one command line a POSIX shell splits back into exactly these words. */
export function quoteArgv(argv: readonly string[]): string {
  if (argv.length === 0) throw new TypeError('cannot quote an empty argv');
  return argv.map(quoteWord).join(' ');
}
