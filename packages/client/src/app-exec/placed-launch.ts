// Launching without sudo: the app is forked stopped (a shell waiting on fd 3), the supervisor places that PID in the
// egress's cgroup, then it execs. The app keeps the caller's uid, environment, terminal and session.
import { type ChildProcess } from 'node:child_process';
import { userInfo } from 'node:os';
import { EgressError, PermissionError, ValidationError } from '@egress/core/errors';
import type { Output } from '@egress/core/output';
import type { PublicEgressFacts } from '@egress/core/model/client';
import { askSupervisor } from '../supervisor-client.js';
import { runChild } from './child-run.js';
import { assertEgressUp } from './egress-up.js';
import { readPublicFacts } from './public-facts.js';
import type { RunOptions } from './run.js';
import { resolveCommand } from './resolve-command.js';

/**
 * Waits for a line on fd 3, then becomes the app: `placed:CGROUP` (the supervisor placed it: EGRESS_CGROUP tells the
 * shim's exec guard that the kernel selects whatever it starts) or `go` (exec's fallback: the shim alone). Anything
 * else, or EOF, ends it with 126: the app never runs unplaced unless the launcher said so.
 */
const GATE = 'IFS= read -r go <&3 || exit 126; case "$go" in go) ;; placed:/*) EGRESS_CGROUP=${go#placed:}; export EGRESS_CGROUP ;; *) exit 126 ;; esac; exec 3<&-; exec "$@"';

/** A cgroup path as the supervisor reports it, safe to hand to the gate on one line. */
const CGROUP_PATH = /^\/[A-Za-z0-9_.@:+-]+(\/[A-Za-z0-9_.@:+-]+)*$/;

/** Whether a supervisor answers on its socket; an error when its socket is there but not for this user. */
export async function supervisorReachable(): Promise<{ running: boolean; error?: Error }> {
  try {
    return { running: (await askSupervisor({ op: 'ping' })) !== undefined };
  } catch (err) {
    return { running: false, error: err as Error };
  }
}

/** Refuses (with how to get allowed) a caller the egress's policy does not list; facts written before the policy pass. */
export function assertAllowed(facts: PublicEgressFacts, command: string, uid: number = process.getuid!()): void {
  if (!facts.allowedUids || facts.allowedUids.includes(uid)) return;
  let name = `uid ${uid}`;
  try {
    name = userInfo().username;
  } catch {
    // No passwd entry: keep the uid.
  }
  throw new PermissionError(
    `${command}: user ${name} (uid ${uid}) may not use egress '${facts.name}': only root, its bound users and those an administrator allowed may send through it (the kernel refuses other users' connections from ${[facts.address4, facts.address6].filter(Boolean).join(', ')})`,
    { hint: `ask an administrator to run: sudo egress-client allow --egress ${facts.name} --user ${name}` },
  );
}

/**
 * Runs file in the egress's cgroup through the supervisor; resolves undefined (nothing started) when no supervisor
 * runs. A refusal stops the waiting child before it ever runs the app and is thrown.
 */
export async function runPlaced(file: string, args: string[], o: { egress: string; env: NodeJS.ProcessEnv; argv0?: string; output: Output; fallback?: boolean }): Promise<number | undefined> {
  let ping;
  try {
    ping = await askSupervisor({ op: 'ping' });
  } catch (err) {
    // exec (fallback): a socket this user may not open yet (group egress takes a new login) leaves the shim alone.
    if (!o.fallback) throw err;
    o.output.info(`egress: not placed by the supervisor (${(err as Error).message}); the LD_PRELOAD shim alone selects the app`);
    return undefined;
  }
  if (!ping) return undefined;
  let refused: Error | undefined;
  const gate = (child: ChildProcess): void => {
    const pipe = child.stdio[3] as NodeJS.WritableStream;
    askSupervisor({ op: 'place', pid: child.pid!, egress: o.egress }).then(
      (r) => {
        if (r?.ok && r.cgroup && CGROUP_PATH.test(r.cgroup)) {
          o.output.info(`egress: placed in cgroup ${r.cgroup} by the supervisor`);
          pipe.end(`placed:${r.cgroup}\n`);
          return;
        }
        const why = `the supervisor refused to place the app in egress '${o.egress}': ${!r ? 'it stopped' : r.ok ? `it named no usable cgroup (${JSON.stringify(r.cgroup)})` : r.error}`;
        if (o.fallback) {
          o.output.warn(`${why}; the LD_PRELOAD shim alone selects it`);
          pipe.end('go\n');
          return;
        }
        refused = new EgressError('E_PLACE_REFUSED', why);
        child.kill('SIGKILL');
      },
      (err: Error) => {
        if (o.fallback) {
          o.output.warn(`the supervisor did not place the app (${err.message}); the LD_PRELOAD shim alone selects it`);
          pipe.end('go\n');
          return;
        }
        refused = err;
        child.kill('SIGKILL');
      },
    );
  };
  const code = await runChild('/bin/sh', ['-c', GATE, o.argv0 ?? file, file, ...args], { env: o.env, onSpawn: gate });
  if (refused) throw refused;
  return code;
}

export type UnprivilegedRunOptions = Omit<RunOptions, 'mountinfo'> & { command: 'run' | 'run-as' };

/** `run` (or `run-as` of one's own identity) without root: through the supervisor, or a clear refusal. */
export async function runUnprivileged(opts: UnprivilegedRunOptions): Promise<number> {
  const uid = process.getuid!();
  if (opts.user !== undefined && opts.user !== userInfo().username) {
    throw new PermissionError(`${opts.command} --user ${opts.user}: only root may start an app as another user`, { hint: `sudo egress-client run --user ${opts.user} -- ${opts.argv.join(' ')}` });
  }
  if (opts.argv.length === 0 || !opts.argv[0]) throw new ValidationError(`${opts.command}: expected a command after --, got none`, [{ path: 'cmd', message: 'required' }]);
  const facts = await readPublicFacts(opts.egress, opts.publicDir);
  // Without a supervisor root is needed whoever asks; with one, the policy decides (and the supervisor checks again).
  let running: boolean;
  try {
    running = (await askSupervisor({ op: 'ping' })) !== undefined;
  } catch (err) {
    // The socket is there but not for this user: say first whether the policy allows them at all (the facts may be
    // older than the policy the supervisor follows: then name the egress and how to be allowed all the same).
    if (!(err instanceof PermissionError)) throw err;
    assertAllowed(facts, opts.command, uid);
    throw new PermissionError(`${opts.command}: ${err.message}, so it cannot place your app in egress '${facts.name}'`, { hint: `ask an administrator to run: sudo egress-client allow --egress ${facts.name} --user ${userInfo().username}` });
  }
  if (running) {
    assertAllowed(facts, opts.command, uid);
    assertEgressUp(facts, opts.interfaces);
    const env = opts.env ?? process.env;
    const file = resolveCommand(opts.argv[0], env);
    opts.output.info(`egress: ${opts.argv[0]} through '${facts.name}' as uid ${uid}, placed by the supervisor`);
    const code = await runPlaced(file, opts.argv.slice(1), { egress: facts.name, env, argv0: opts.argv[0], output: opts.output });
    if (code !== undefined) return code;
  }
  const supervisor = 'the supervisor (egress-client daemon), which places an allowed user\'s own apps, is not running';
  const start = 'start it (sudo systemctl start egress-client, or sudo egress-client daemon), or';
  if (opts.command === 'run-as') {
    throw new PermissionError(`run-as must run as root: ${supervisor}`, { hint: `${start}: sudo egress-client run-as ${opts.user ?? userInfo().username} -- ${opts.argv.join(' ')}` });
  }
  throw new PermissionError(`run needs root: it moves the app into the egress's cgroup, and ${supervisor}`, {
    hint: `${start}: sudo egress-client run ${opts.egress ? `--egress ${opts.egress} ` : ''}-- ${opts.argv.join(' ')}`,
  });
}
