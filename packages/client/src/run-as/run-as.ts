// run-as: run an app as the user bound to an egress, with stdio/TTY inherited, signals forwarded, exit status returned.
import { spawn } from 'node:child_process';
import { PermissionError, ValidationError, NotFoundError } from '@egress/core/errors';
import type { Invocation } from '../cli.js';
import { exitCode, type ExitStatus } from '../exit-status.js';
import { dnsViewPrefix } from '../dns-view/view.js';
import { quoteArgv } from '@egress/core/shell-quote';
import { boundEgressOf, requireUp } from './bound-egress.js';
import { requireFence } from './fence-check.js';
import { checkRunAsUser } from './user-hints.js';
import { getentPasswd, type PasswdEntry } from './passwd.js';
import { reportHandoff } from '../app-exec/handoff.js';
import { lookupUser } from '../app-exec/invoking-user.js';
import { grantDisplay, invokerFromEnv, realDisplayHost, revokeDisplay } from './display-access.js';
import { fileHolderStore, holdDisplay, releaseDisplay } from './display-holders.js';

/** Environment names that would hand the app some of the caller's privilege. */
const PRIVILEGED_ENV = [/^SUDO_/, /^SSH_AUTH_SOCK$/, /^SSH_AGENT_PID$/, /^KRB5CCNAME$/, /^XDG_RUNTIME_DIR$/, /^DBUS_SESSION_BUS_ADDRESS$/, /^MAIL$/, /^XAUTHORITY$/];

/** The app's environment: the caller's minus privileged variables, with the user's identity set. */
export function appEnvironment(env: NodeJS.ProcessEnv, user: PasswdEntry): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !PRIVILEGED_ENV.some((re) => re.test(k))) out[k] = v;
  return { ...out, HOME: user.home, USER: user.name, LOGNAME: user.name, SHELL: user.shell };
}

/** The setpriv argv that becomes USER (uid, gid, supplementary groups) with no inheritable capabilities. */
export function setprivArgv(user: PasswdEntry, command: readonly string[]): string[] {
  return ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--inh-caps=-all', '--', ...command];
}

const FORWARDED: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP'];
/** Signals a terminal sends to the whole foreground group: the app got them already when stdin is a TTY. */
const TERMINAL: NodeJS.Signals[] = ['SIGINT', 'SIGQUIT'];

/** Spawns argv with inherited stdio, forwards signals, resolves with its exit code or signal. */
export function spawnForwarding(argv: readonly string[], env: NodeJS.ProcessEnv, tty: boolean = !!process.stdin.isTTY): Promise<ExitStatus> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit', env });
    const handlers = [...FORWARDED, ...TERMINAL].map((sig) => {
      const forward = !tty || !TERMINAL.includes(sig);
      const h = (): void => {
        if (forward && child.exitCode === null && child.signalCode === null) child.kill(sig);
      };
      process.on(sig, h);
      return [sig, h] as const;
    });
    const cleanup = (): void => {
      for (const [sig, h] of handlers) process.off(sig, h);
    };
    child.once('error', (err) => {
      cleanup();
      reject(new NotFoundError(`cannot start ${argv[0]}: ${err.message}`, { cause: err }));
    });
    child.once('exit', (code, signal) => {
      cleanup();
      resolve(signal ? { signal } : { code: code ?? 1 });
    });
  });
}

/** `egress-client run-as USER -- CMD [ARGS...]`. */
export async function runAsCommand(inv: Invocation): Promise<ExitStatus> {
  const [userName] = inv.args;
  if (!userName) throw new ValidationError('run-as: expected USER, got nothing', [{ path: 'user', message: 'missing' }]);
  checkRunAsUser(userName);
  if (inv.rest.length === 0) {
    throw new ValidationError(`run-as: expected a command after '${userName} --', got nothing`, [{ path: 'cmd', message: 'missing' }], { hint: `egress-client run-as ${quoteArgv([userName])} -- CMD [ARGS...]` });
  }
  if (process.getuid?.() !== 0 && getentPasswd(userName)?.uid === process.getuid?.()) {
    // One's own identity: no switch needed; the supervisor places the app (as `run` does) or it says root is needed.
    const { runUnprivileged } = await import('../app-exec/placed-launch.js');
    const { Output } = await import('@egress/core/output');
    return exitCode(await runUnprivileged({ argv: inv.rest, user: userName, output: new Output({ stdout: process.stderr }), command: 'run-as' }));
  }
  if (process.getuid?.() !== 0) {
    throw new PermissionError('run-as must run as root to switch to the bound user', { hint: `sudo egress-client run-as ${quoteArgv([userName, '--', ...inv.rest])}` });
  }
  const user = getentPasswd(userName);
  if (!user) throw new NotFoundError(`run-as: user '${userName}' does not exist`, { hint: `egress-client enroll BUNDLE --user ${quoteArgv([userName])} --create-user` });
  if (user.uid === 0) throw new ValidationError(`run-as: USER: '${userName}' is uid 0 (root); egress never routes root, and run-as only starts apps as a user bound to an egress`, [{ path: 'user', message: 'root' }], { hint: 'enroll a dedicated user: egress-client enroll BUNDLE --user NEWNAME --create-user' });
  const egress = boundEgressOf(user);
  requireUp(egress, user.name);
  await requireFence(egress, user);
  // Where nscd or systemd-resolved would answer the app's lookups (and send them by the normal route), or resolv.conf
  // names a loopback stub, the app starts in a mount namespace whose `hosts:` resolves through the egress's DNS.
  const view = dnsViewPrefix(egress.name, egress.dns);
  // From a graphical session: the user may use the invoker's display (and audio) while the app runs, no longer.
  const say = (line: string): void => void process.stderr.write(`${line}\n`);
  const invoker = invokerFromEnv(process.env, (uid) => {
    const u = lookupUser(uid);
    return u?.name ? { name: u.name, gid: u.gid, home: u.home ?? '' } : undefined;
  });
  const display = grantDisplay(realDisplayHost, process.env, invoker, user.name);
  try {
    holdDisplay(fileHolderStore, user.name, process.pid, display);
  } catch (err) {
    revokeDisplay(realDisplayHost, display);
    throw err;
  }
  for (const note of display.notes) say(`egress: ${note}`);
  try {
    const started = Date.now();
    const status = await spawnForwarding([...view, ...setprivArgv(user, inv.rest)], { ...appEnvironment(process.env, user), ...display.env });
    if (status.code !== undefined) reportHandoff({ info: say }, { argv: inv.rest, exitCode: status.code, elapsedMs: Date.now() - started, egress: egress.name, env: process.env });
    return status;
  } finally {
    for (const failure of releaseDisplay(realDisplayHost, fileHolderStore, user.name, process.pid, display)) say(`warning: run-as: could not take back display access: ${failure}`);
  }
}
