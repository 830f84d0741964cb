// Debian package versions ([epoch:]upstream[-revision]) compared as dpkg does (deb-version(7), dpkg's verrevcmp),
// and the upstream part, to tell whether a distribution's package carries a feature released upstream.

/** A parsed Debian version. */
export interface DebianVersion {
  epoch: number;
  upstream: string;
  revision: string;
}

/** Splits `[epoch:]upstream[-revision]`; undefined when it is not a Debian version. */
export function parseDebianVersion(text: string): DebianVersion | undefined {
  const v = text.trim();
  const m = /^(?:(\d+):)?([0-9][A-Za-z0-9.+~:-]*?)(?:-([A-Za-z0-9.+~]+))?$/.exec(v);
  if (!m) return undefined;
  const upstream = m[2]!;
  // A colon in the upstream part needs an epoch, a hyphen needs a revision (the last hyphen splits them).
  if (upstream.includes(':') && m[1] === undefined) return undefined;
  return { epoch: Number(m[1] ?? 0), upstream, revision: m[3] ?? '' };
}

// dpkg's order of one character: ~ before everything (even the end), then the end, then letters, then the rest.
function order(c: string | undefined): number {
  if (c === undefined) return 0;
  if (c === '~') return -1;
  if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

// dpkg's verrevcmp: alternating non-digit and digit runs; non-digits by `order`, digits as numbers.
function compareFragment(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let first = 0;
    while ((i < a.length && !/\d/.test(a[i]!)) || (j < b.length && !/\d/.test(b[j]!))) {
      const ac = i < a.length && !/\d/.test(a[i]!) ? order(a[i]) : 0;
      const bc = j < b.length && !/\d/.test(b[j]!) ? order(b[j]) : 0;
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a[i] === '0') i++;
    while (b[j] === '0') j++;
    while (i < a.length && /\d/.test(a[i]!) && j < b.length && /\d/.test(b[j]!)) {
      if (!first) first = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (i < a.length && /\d/.test(a[i]!)) return 1;
    if (j < b.length && /\d/.test(b[j]!)) return -1;
    if (first) return first;
  }
  return 0;
}

/** Compares two Debian versions like `dpkg --compare-versions` (<0, 0, >0); throws on a string that is not one. */
export function compareDebianVersions(a: string, b: string): number {
  const [x, y] = [parseDebianVersion(a), parseDebianVersion(b)];
  if (!x || !y) throw new Error(`not a Debian version: '${!x ? a : b}'`);
  if (x.epoch !== y.epoch) return x.epoch - y.epoch;
  return Math.sign(compareFragment(x.upstream, y.upstream)) || Math.sign(compareFragment(x.revision, y.revision)) || 0;
}

/** The upstream release of a package version ("1:0.0.20231211-1+b9" → "0.0.20231211"), or undefined. */
export function upstreamVersion(text: string): string | undefined {
  return parseDebianVersion(text)?.upstream;
}
