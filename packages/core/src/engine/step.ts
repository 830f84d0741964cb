// Steps of a plan: a human title, the actions that make the change and the actions that undo it.
import type { Command, Host } from '../host/host.js';

/** One thing to do on a host. */
export type Action =
  | { kind: 'run'; argv: string[]; stdin?: string; secret?: boolean; fallback?: string[]; tolerate?: RegExp }
  | { kind: 'write'; path: string; content: string; mode: number; secret?: boolean }
  | { kind: 'remove'; path: string }
  | { kind: 'wg-sync'; name: string; configPath: string };

export type Resource = 'file' | 'dir' | 'link' | 'sysctl' | 'nft' | 'route' | 'rule' | 'unit';

/** One change of a plan with how to take it back. */
export interface Step {
  resource: Resource;
  title: string;
  do: Action[];
  /** Undone in reverse step order when a later step fails. */
  undo: Action[];
  /** Undone after every other undo (a link reloaded from a config file that must be restored first). */
  undoLate?: Action[];
  /** The link this step creates or re-creates (its routes and per-interface sysctls start empty). */
  recreates?: string;
  /** The link this step removes (its per-interface sysctls go with it: nothing to restore). */
  removes?: string;
}

/** Shows an action for a dry-run plan or a message; secret contents are never shown. */
export function describeAction(a: Action): string {
  switch (a.kind) {
    case 'run': {
      const argv = a.argv.join(' ');
      if (a.stdin === undefined) return argv;
      return a.secret ? `${argv} <<< (secret, ${Buffer.byteLength(a.stdin)} bytes)` : `${argv} <<EOF\n${a.stdin.replace(/\n$/, '')}\nEOF`;
    }
    case 'write':
      return a.secret
        ? `write ${a.path} mode ${a.mode.toString(8).padStart(4, '0')} (secret, ${Buffer.byteLength(a.content)} bytes)`
        : `write ${a.path} mode ${a.mode.toString(8).padStart(4, '0')} (${Buffer.byteLength(a.content)} bytes)`;
    case 'remove':
      return `rm -f ${a.path}`;
    case 'wg-sync':
      return `wg syncconf ${a.name} <(wg-quick strip ${a.configPath})`;
  }
}

/**
 * The text for `wg syncconf`: the stripped config plus the interface's current private key when the config has none
 * (syncconf replaces the whole device config, and egress's configs set the key in PostUp from a 0600 file).
 */
export async function syncconfInput(host: Host, name: string, configPath: string): Promise<{ stdin: string; secrets: string[] }> {
  const stripped = (await host.run(['wg-quick', 'strip', configPath], { check: true })).stdout;
  if (/^\s*PrivateKey\s*=/im.test(stripped)) return { stdin: stripped, secrets: [] };
  const key = (await host.run(['wg', 'show', name, 'private-key'], { check: true })).stdout.trim();
  if (!key || key === '(none)') return { stdin: stripped, secrets: [] };
  const withKey = /^\[Interface\]/im.test(stripped) ? stripped.replace(/^\[Interface\][^\n]*\n?/im, (m) => `${m.endsWith('\n') ? m : `${m}\n`}PrivateKey = ${key}\n`) : `[Interface]\nPrivateKey = ${key}\n${stripped}`;
  return { stdin: withKey, secrets: [key] };
}

/**
 * The action as one command of a batch (Host.runMany), or undefined when it must run on its own: a command with a
 * fallback or a tolerated failure, a removal, a syncconf, or a write on a host that cannot batch writes.
 */
export function batchCommand(host: Host, a: Action): Command | undefined {
  if (a.kind === 'run' && !a.fallback && !a.tolerate) {
    return { argv: a.argv, options: { change: true, ...(a.stdin !== undefined ? { stdin: a.stdin } : {}), secrets: a.secret && a.stdin ? [a.stdin] : [] } };
  }
  if (a.kind === 'write' && host.writeCommand) return host.writeCommand(a.path, a.content, { mode: a.mode, secret: a.secret });
  return undefined;
}

/** Runs one action on a host, echoing it as a change; throws CommandError on failure. */
export async function runAction(host: Host, a: Action): Promise<void> {
  switch (a.kind) {
    case 'run': {
      const secrets = a.secret && a.stdin ? [a.stdin] : [];
      const r = await host.run(a.argv, { stdin: a.stdin, change: true, check: !a.fallback && !a.tolerate, secrets });
      if (r.exitCode === 0) return;
      if (a.tolerate && a.tolerate.test(r.stderr)) return;
      if (a.fallback) {
        await host.run(a.fallback, { change: true, check: true });
        return;
      }
      await host.run(a.argv, { stdin: a.stdin, check: true, secrets });
      return;
    }
    case 'write':
      await host.writeFile(a.path, a.content, { mode: a.mode, secret: a.secret });
      return;
    case 'remove':
      await host.removeFile(a.path);
      return;
    case 'wg-sync': {
      await host.run(['wg', 'syncconf', a.name, '/dev/stdin'], { ...(await syncconfInput(host, a.name, a.configPath)), change: true, check: true });
      return;
    }
  }
}
