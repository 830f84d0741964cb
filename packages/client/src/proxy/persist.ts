// Saved proxies (`proxy --persist`): /etc/egress/proxies.json (0600), which the supervisor keeps running.
import { z } from 'zod';
import { ValidationError } from '@egress/core/errors';
import type { Host } from '@egress/core/host/host';
import { EGRESS_DIR } from '@egress/core/render/client-paths';
import { SafeName } from '@egress/core/model/primitives';
import { parseProxyConfig, type ListenAddress } from './options.js';

export const PROXIES_PATH = `${EGRESS_DIR}/proxies.json`;

export const SavedProxy = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9._+-]{1,200}$/),
    egress: SafeName.optional(),
    listen: z.array(z.string().min(1)).min(1),
    allow: z.array(z.string()).default([]),
    authFile: z.string().startsWith('/').optional(),
  })
  .strict();
export type SavedProxy = z.infer<typeof SavedProxy>;

export const ProxiesFile = z.object({ version: z.literal(1), proxies: z.array(SavedProxy) }).strict();
export type ProxiesFile = z.infer<typeof ProxiesFile>;

export function listenText(l: ListenAddress): string {
  return l.family === 6 ? `[${l.host}]:${l.port}` : `${l.host}:${l.port}`;
}

/** The id of a proxy: its listen addresses, e.g. 127.0.0.1-1080 or 127.0.0.1-1080+__1_-1080 for two. */
export function proxyId(listen: readonly string[]): string {
  return [...listen]
    .sort()
    .map((l) => l.replace(/:(\d+)$/, '-$1').replace(/[^A-Za-z0-9.-]/g, '_'))
    .join('+');
}

/** Checks the flags as a foreground run would (the auth file too), and makes the entry to save. */
export function savedProxyFrom(options: Record<string, unknown>): SavedProxy {
  const authFile = typeof options.authFile === 'string' ? options.authFile : undefined;
  if (authFile !== undefined && !authFile.startsWith('/')) {
    throw new ValidationError(`--auth-file: '${authFile}' must be an absolute path for --persist (the daemon runs it from /)`, [
      { path: '--auth-file', message: 'absolute path required with --persist' },
    ]);
  }
  const config = parseProxyConfig(options);
  const listen = config.listen.map(listenText);
  return SavedProxy.parse({ id: proxyId(listen), ...(config.egress ? { egress: config.egress } : {}), listen, allow: config.allow, ...(authFile ? { authFile } : {}) });
}

/** Parses the file's text; an invalid file is refused with the field named. */
export function parseProxiesFile(text: string | undefined): ProxiesFile {
  if (text === undefined) return { version: 1, proxies: [] };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`${PROXIES_PATH}: not JSON: ${(err as Error).message}`);
  }
  const r = ProxiesFile.safeParse(raw);
  if (!r.success) {
    const issues = r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    throw new ValidationError(`${PROXIES_PATH}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
  }
  return r.data;
}

/** Adds `p`; a listen address another saved proxy already uses is refused. */
export function addProxy(doc: ProxiesFile, p: SavedProxy): ProxiesFile {
  for (const other of doc.proxies) {
    const same = other.listen.find((l) => p.listen.includes(l));
    if (same) {
      throw new ValidationError(`--listen: ${same} is already used by saved proxy '${other.id}'; remove it first (egress-client proxy remove ${other.id})`, [
        { path: '--listen', message: `${same} already saved as proxy '${other.id}'` },
      ]);
    }
  }
  return { ...doc, proxies: [...doc.proxies, p] };
}

export function removeProxy(doc: ProxiesFile, id: string): ProxiesFile {
  if (!doc.proxies.some((p) => p.id === id)) {
    const known = doc.proxies.map((p) => p.id).join(', ') || 'none';
    throw new ValidationError(`proxy remove: no saved proxy '${id}' (saved: ${known})`, [{ path: 'id', message: `'${id}' not saved; saved: ${known}` }]);
  }
  return { ...doc, proxies: doc.proxies.filter((p) => p.id !== id) };
}

/** The proxies left once `removed` egresses are uninstalled (all of them when no egress remains). */
export function withoutEgresses(doc: ProxiesFile, removed: readonly string[], remaining: number): ProxiesFile {
  if (remaining === 0) return { ...doc, proxies: [] };
  return { ...doc, proxies: doc.proxies.filter((p) => !(p.egress && removed.includes(p.egress))) };
}

/** The argv after `egress-client` that runs `p` in the foreground. */
export function proxyArgv(p: SavedProxy): string[] {
  return [
    'proxy',
    ...(p.egress ? ['--egress', p.egress] : []),
    ...p.listen.flatMap((l) => ['--listen', l]),
    ...p.allow.flatMap((a) => ['--allow', a]),
    ...(p.authFile ? ['--auth-file', p.authFile] : []),
  ];
}

export async function loadProxies(host: Host): Promise<ProxiesFile> {
  return parseProxiesFile(await host.readFile(PROXIES_PATH));
}

/** Saves atomically (0600); an empty list removes the file. */
export async function saveProxies(host: Host, doc: ProxiesFile): Promise<void> {
  if (doc.proxies.length === 0) await host.removeFile(PROXIES_PATH);
  else await host.writeFile(PROXIES_PATH, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
}

/**
 * For uninstall: drops the proxies of `removed` (all once none remains); an unreadable file goes when none remains.
 * Returns the ids dropped, or '*' for all.
 */
export async function dropProxiesOf(host: Host, removed: readonly string[], remaining: number): Promise<string[] | '*'> {
  if (remaining === 0) {
    await host.removeFile(PROXIES_PATH);
    return '*';
  }
  const before = await loadProxies(host);
  const after = withoutEgresses(before, removed, remaining);
  await saveProxies(host, after);
  return before.proxies.filter((p) => !after.proxies.includes(p)).map((p) => p.id);
}
