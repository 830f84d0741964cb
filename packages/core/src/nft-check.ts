// checkNftRuleset: validates nft text with `nft -c -f -` in a throwaway network namespace, never touching the machine's ruleset.

/** Checks an nftables ruleset with the real parser inside `unshare -n`; ok or the error nft printed. */
export async function checkNftRuleset(text: string): Promise<{ ok: boolean; error?: string }> {
  const { execa } = await import('execa');
  const r = await execa('unshare', ['-n', 'nft', '-c', '-f', '-'], { input: text, reject: false, encoding: 'utf8' });
  if (r.exitCode === 0) return { ok: true };
  const error = String(r.stderr || r.shortMessage || 'nft -c failed').trim();
  return { ok: false, error };
}
