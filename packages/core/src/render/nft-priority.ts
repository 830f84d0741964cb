// nftables prints a chain's standard priority by name or by number depending on its version (1.0.6 lists
// `priority -100` in a nat output chain as written; 1.1.x lists it as `priority dstnat`). Comparisons of listings
// with rendered text go through numbers on both sides.

/** Standard priorities of the ip, ip6 and inet families (nft(8), "CHAINS"). */
export const NFT_STANDARD_PRIORITIES: Readonly<Record<string, number>> = {
  raw: -300,
  mangle: -150,
  dstnat: -100,
  filter: 0,
  security: 50,
  srcnat: 100,
};

/** Rewrites every `priority NAME`, `priority NAME + N` and `priority NAME - N` to `priority <number>`. */
export function numericNftPriorities(text: string): string {
  return text.replace(/\bpriority (raw|mangle|dstnat|filter|security|srcnat)(?: ([+-]) (\d+))?(?=[\s;]|$)/g, (_m, name: string, sign?: string, n?: string) => {
    const base = NFT_STANDARD_PRIORITIES[name]!;
    const value = sign === undefined ? base : sign === '+' ? base + Number(n) : base - Number(n);
    return `priority ${value}`;
  });
}
