// The fake host's `nft`: whole-table transactions (add/create/delete/flush table, `table F N {…}`), listings with counters.
import type { RunResult } from '../host.js';
import type { FakeMachine } from './state.js';

const ok = (stdout = ''): RunResult => ({ exitCode: 0, stdout, stderr: '' });
const fail = (stderr: string): RunResult => ({ exitCode: 1, stdout: '', stderr: stderr.endsWith('\n') ? stderr : `${stderr}\n` });
const FAMILIES = new Set(['inet', 'ip', 'ip6', 'arp', 'bridge', 'netdev']);

type Statement = { op: 'add' | 'create' | 'delete' | 'flush'; family: string; name: string } | { op: 'block'; family: string; name: string; body: string };

/** Splits an nft script into table statements; returns an error text for anything the fake does not model. */
export function parseNftScript(text: string): Statement[] | string {
  const out: Statement[] = [];
  const src = text.replace(/#[^\n]*/g, '');
  let i = 0;
  while (i < src.length) {
    while (i < src.length && /[\s;]/.test(src[i]!)) i++;
    if (i >= src.length) break;
    const lineEnd = src.indexOf('\n', i) < 0 ? src.length : src.indexOf('\n', i);
    const line = src.slice(i, lineEnd);
    const m = /^(add|create|delete|flush)\s+table\s+(\S+)\s+([^\s;{]+)\s*;?\s*$/.exec(line.trim());
    if (m) {
      if (!FAMILIES.has(m[2]!)) return `Error: unknown address family '${m[2]}'`;
      out.push({ op: m[1] as 'add', family: m[2]!, name: m[3]! });
      i = lineEnd;
      continue;
    }
    const t = /^table\s+(\S+)\s+([^\s{]+)\s*\{/.exec(src.slice(i));
    if (t) {
      if (!FAMILIES.has(t[1]!)) return `Error: unknown address family '${t[1]}'`;
      let depth = 0;
      let j = i + t[0].length - 1;
      for (; j < src.length; j++) {
        if (src[j] === '{') depth++;
        else if (src[j] === '}' && --depth === 0) break;
      }
      if (depth !== 0) return 'Error: syntax error, unexpected end of file';
      const body = src.slice(i + t[0].length, j).replace(/^\n+|\s+$/g, '');
      out.push({ op: 'block', family: t[1]!, name: t[2]!, body });
      i = j + 1;
      continue;
    }
    return `Error: fake nft does not model this statement: ${line.trim()}`;
  }
  return out;
}

/** Prints a table the way `nft list table` does: tab-indented, counters with packets/bytes. */
export function listTable(family: string, name: string, body: string): string {
  const lines = body
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  let depth = 1;
  const out = [`table ${family} ${name} {`];
  for (const l of lines) {
    if (l.startsWith('}')) depth--;
    out.push(`${'\t'.repeat(Math.max(depth, 1))}${l.replace(/\bcounter(?! packets)/g, 'counter packets 0 bytes 0')}`);
    if (l.endsWith('{')) depth++;
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}

/** Runs `nft …` against the machine (`stdin` for `-f -`). */
export function fakeNft(m: FakeMachine, args: string[], stdin: string | undefined): RunResult {
  let json = false;
  let check = false;
  let file: string | undefined;
  const words: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-j' || a === '--json') json = true;
    else if (a === '-c' || a === '--check') check = true;
    else if (a === '-f' || a === '--file') file = args[++i];
    else if (a === '-a' || a === '-n' || a === '-s') continue;
    else words.push(a);
  }
  if (file !== undefined) {
    const text = file === '-' || file === '/dev/stdin' ? (stdin ?? '') : m.files.get(file)?.content;
    if (text === undefined) return fail(`Error: Could not process rule: No such file or directory\n${file}`);
    return runScript(m, text, check);
  }
  const [verb, what, family, name] = words;
  if (verb === 'list' && what === 'ruleset') {
    const text = [...m.nft.values()].map((t) => listTable(t.family, t.name, t.body)).join('');
    if (json) return ok(JSON.stringify({ nftables: [metainfo(), ...[...m.nft.values()].map((t) => ({ table: { family: t.family, name: t.name, handle: t.handle } }))] }) + '\n');
    return ok(text);
  }
  if ((verb === 'list' || verb === 'delete' || verb === 'flush') && what === 'table' && family && name) {
    const t = m.nft.get(`${family} ${name}`);
    if (!t) return fail(`Error: No such file or directory\n${verb} table ${family} ${name}\n${' '.repeat(verb.length + 7)}${'^'.repeat(family.length + name.length + 1)}`);
    if (verb === 'delete') {
      m.nft.delete(`${family} ${name}`);
      return ok();
    }
    if (verb === 'flush') {
      t.body = t.body.replace(/^\s*(?!type |policy |chain |set |map |\}|elements).*$/gm, '');
      return ok();
    }
    if (json) {
      const chains = [...t.body.matchAll(/chain\s+(\S+)\s*\{/g)].map((c, k) => ({ chain: { family, table: name, name: c[1], handle: k + 1 } }));
      return ok(JSON.stringify({ nftables: [metainfo(), { table: { family, name, handle: t.handle } }, ...chains] }) + '\n');
    }
    return ok(listTable(t.family, t.name, t.body));
  }
  return fail(`Error: fake nft does not model: nft ${args.join(' ')}`);
}

function metainfo(): Record<string, unknown> {
  return { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } };
}

/** Applies a script as one transaction: all statements or none. */
function runScript(m: FakeMachine, text: string, check: boolean): RunResult {
  const parsed = parseNftScript(text);
  if (typeof parsed === 'string') return fail(parsed);
  const next = new Map([...m.nft].map(([k, v]) => [k, { ...v }]));
  let handle = m.nextHandle;
  for (const s of parsed) {
    const key = `${s.family} ${s.name}`;
    const cur = next.get(key);
    if (s.op === 'add') {
      if (!cur) next.set(key, { family: s.family, name: s.name, body: '', handle: handle++ });
    } else if (s.op === 'create') {
      if (cur) return fail(`Error: Could not process rule: File exists\ncreate table ${key}`);
      next.set(key, { family: s.family, name: s.name, body: '', handle: handle++ });
    } else if (s.op === 'delete') {
      if (!cur) return fail(`Error: Could not process rule: No such file or directory\ndelete table ${key}`);
      next.delete(key);
    } else if (s.op === 'flush') {
      if (!cur) return fail(`Error: Could not process rule: No such file or directory\nflush table ${key}`);
      cur.body = '';
    } else if (s.op === 'block') {
      if (cur) cur.body = cur.body ? `${cur.body}\n${s.body}` : s.body;
      else next.set(key, { family: s.family, name: s.name, body: s.body, handle: handle++ });
    }
  }
  if (!check) {
    m.nft = next;
    m.nextHandle = handle;
  }
  return ok();
}

/** Bumps every counter of every table (traffic happened): listings change, the rules do not. */
export function bumpCounters(m: FakeMachine, packets = 3, bytes = 180): void {
  for (const t of m.nft.values()) {
    t.body = t.body.replace(/\bcounter( packets \d+ bytes \d+)?/g, (_s, existing?: string) => {
      const nums = existing ? existing.match(/\d+/g)!.map(Number) : [0, 0];
      return `counter packets ${nums[0]! + packets} bytes ${nums[1]! + bytes}`;
    });
  }
}
