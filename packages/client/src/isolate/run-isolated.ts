// `run --isolate`: runs an app in a fresh network namespace whose only way out is a veth into the egress, and removes it all afterwards.
import { EgressError, PermissionError, ValidationError } from '@egress/core/errors';
import type { Host } from '@egress/core/host/host';
import type { Egress } from '@egress/core/model/client';
import type { Output } from '@egress/core/output';
import { existsSync } from 'node:fs';
import { dnsViewPrefix } from '../dns-view/view.js';
import { z } from 'zod';
import { envForUser, invokingUser, type RunUser } from '../app-exec/invoking-user.js';
import { runChild } from '../app-exec/child-run.js';
import { reportHandoff } from '../app-exec/handoff.js';
import { loadClientState, selectEgresses } from '../state/store.js';
import { pickVethAddresses, type VethAddresses } from './address-plan.js';
import { isolateNames } from './names.js';
import { startReaper } from './reaper.js';
import { processStartTime, writeRecord, type IsolateRecord } from './record.js';
import { setupIsolation, sharedKeysFor } from './setup.js';
import { confKey, readSysctl } from './shared-sysctl.js';
import { sweepIsolations } from './sweep.js';
import { teardownIsolation } from './teardown.js';

export interface RunIsolatedOptions {
  host: Host;
  output: Output;
  /** `--egress NAME`; default: the only enrolled egress. */
  egress?: string;
  /** `--user NAME`; default: the sudo caller. */
  user?: string;
  command: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** The owner pid stamped on every object (default: this process). */
  pid?: number;
}

const Addr = z.array(z.object({ addr_info: z.array(z.object({ local: z.string(), prefixlen: z.number() }).passthrough()).default([]) }).passthrough());
const Routes = z.array(z.object({ dst: z.string() }).passthrough());

/** Networks in use on this host (addresses and main-table routes), which the veth must not overlap. */
export async function networksInUse(host: Host): Promise<string[]> {
  const out: string[] = [];
  const [a, r4, r6] = await Promise.all([
    host.run(['ip', '-j', 'addr', 'show'], { check: true }),
    host.run(['ip', '-j', '-4', 'route', 'show', 'table', 'main'], { check: true }),
    host.run(['ip', '-j', '-6', 'route', 'show', 'table', 'main'], { check: true }),
  ]);
  for (const l of Addr.parse(JSON.parse(a.stdout || '[]'))) for (const i of l.addr_info) out.push(`${i.local}/${i.prefixlen}`);
  for (const [family, r] of [[4, r4], [6, r6]] as const) {
    for (const rt of Routes.parse(JSON.parse(r.stdout || '[]'))) if (rt.dst !== 'default') out.push(rt.dst.includes('/') ? rt.dst : `${rt.dst}/${family === 4 ? 32 : 128}`);
  }
  return out;
}

/** Picks the egress: the named one or the only one; refuses an egress that cannot carry the app (no resolver, table without a route). */
export async function egressForIsolate(host: Host, name: string | undefined): Promise<Egress> {
  const state = await loadClientState(host);
  const all = selectEgresses(state, name, 'run --isolate --egress');
  if (all.length > 1) {
    throw new ValidationError(`--egress: several egresses are enrolled; expected one of: ${all.map((e) => e.name).join(', ')}`, [{ path: '--egress', message: 'missing' }], {
      hint: `egress-client run --isolate --egress ${all[0]!.name} -- CMD`,
    });
  }
  const e = all[0]!;
  if (e.dns.length === 0) throw new ValidationError(`egress '${e.name}' has no resolver for the namespace's resolv.conf`, [{ path: 'dns', message: 'empty' }], { hint: `enroll it again with --dns IP` });
  const r = await host.run(['ip', '-j', '-4', 'route', 'show', 'table', String(e.table), 'default']);
  if (r.exitCode !== 0 || Routes.parse(JSON.parse(r.stdout || '[]')).length === 0) {
    throw new EgressError('E_EGRESS_DOWN', `egress '${e.name}' is down: its table ${e.table} has no default route through ${e.interface}`, { hint: `sudo egress-client up ${e.name}` });
  }
  return e;
}

/** argv that runs `command` inside namespace `ns` as `user` (ip netns exec bind-mounts /etc/netns/NS/resolv.conf). */
export function isolatedArgv(ns: string, user: RunUser, command: readonly string[], view: readonly string[] = []): string[] {
  const drop = user.uid === 0 ? [] : ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, ...(user.name ? ['--init-groups'] : ['--clear-groups']), '--'];
  return ['netns', 'exec', ns, ...view, ...drop, ...command];
}

/** Runs the app isolated and returns its exit code (128+N when signal N ended it); the namespace is gone when this returns. */
export async function runIsolated(o: RunIsolatedOptions): Promise<number> {
  if (process.getuid?.() !== 0) {
    throw new PermissionError('run --isolate needs root (it creates a network namespace and a veth pair)', { hint: 'sudo egress-client run --isolate -- CMD' });
  }
  if (o.command.length === 0) throw new ValidationError('run --isolate: expected a command after --', [{ path: 'cmd', message: 'missing' }]);
  const { host, output } = o;
  const egress = await egressForIsolate(host, o.egress);
  const user = invokingUser(o.user, o.env ?? process.env);
  const [swept, inUse, force6] = await Promise.all([sweepIsolations(host), networksInUse(host), readSysctl(host, confKey(6, egress.interface, 'force_forwarding'))]);
  if (swept.length > 0) output.info(`removed what isolated runs of dead processes left behind (pids ${swept.join(', ')})`);

  const pid = o.pid ?? process.pid;
  const names = isolateNames(pid);
  // IPv6 needs per-interface forwarding (force_forwarding, Linux 6.17+); turning on global forwarding would stop the host accepting router advertisements.
  const v6 = !!egress.address6 && force6 !== undefined;
  const addrs: VethAddresses = pickVethAddresses(pid, inUse, v6);
  const record: IsolateRecord = {
    version: 1,
    pid,
    startTime: (await processStartTime(host, pid)) ?? '0',
    egress: egress.name,
    egressIface: egress.interface,
    table: egress.table,
    net4: addrs.net4,
    ...(addrs.net6 ? { net6: addrs.net6 } : {}),
    shared: sharedKeysFor(egress.interface, v6),
    createdAt: new Date().toISOString(),
  };
  await writeRecord(host, record);
  const reaperPid = pid === process.pid ? startReaper(pid) : undefined;
  if (reaperPid) await writeRecord(host, { ...record, reaperPid });
  try {
    await setupIsolation(host, { names, egress, addrs });
    output.info(`isolated in ${names.ns}: ${addrs.ns4}${addrs.ns6 ? ` ${addrs.ns6}` : ''} via ${egress.name} (${egress.interface})`);
    const env = envForUser(user, o.env ?? process.env, 0, existsSync);
    // ip netns exec binds /etc/netns/NS/{resolv,nsswitch}.conf; nscd's and resolved's sockets are hidden here.
    const view = dnsViewPrefix(egress.name, egress.dns, { etcHandled: true });
    const started = Date.now();
    const code = await runChild('ip', isolatedArgv(names.ns, user, o.command, view), { env });
    reportHandoff(output, { argv: o.command, exitCode: code, elapsedMs: Date.now() - started, egress: egress.name, env: o.env ?? process.env });
    return code;
  } finally {
    await teardownIsolation(host, pid);
  }
}
