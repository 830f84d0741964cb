// One notice for every launcher (exec, run, run-as): an app that exits at once with status 0 may have handed its work
// to an instance of itself already running OUTSIDE the egress (Firefox's remote handoff, Chromium's singleton socket),
// so its pages load with this host's own address while the launcher reported success.
import { basename } from 'node:path';

/** An exit this soon (and with status 0) looks like a handoff rather than a finished run. */
export const HANDOFF_WINDOW_MS = 2000;

/** Programs that only pass arguments on and exec the real app: the app's name is the first word after them. */
const WRAPPERS = new Set(['env', 'nice', 'nohup', 'timeout', 'setsid', 'stdbuf', 'ionice', 'taskset', 'chrt', 'sudo', 'setpriv', 'runuser', 'flatpak']);
const FIREFOX = /^(firefox|firefox-esr|firefox-bin|librewolf|waterfox|icecat|iceweasel|thunderbird|seamonkey)$/;
const CHROMIUM = /^(chromium|chromium-browser|chrome|google-chrome(-stable|-beta|-unstable)?|brave(-browser)?|microsoft-edge(-stable)?|vivaldi(-stable)?|opera|thorium-browser)$/;
/** Other apps known to pass their arguments to a running instance of themselves. */
const SINGLE_INSTANCE = /^(code|codium|code-oss|libreoffice|soffice|telegram-desktop|signal-desktop|element-desktop|discord|slack|spotify|evolution|epiphany|falkon|qutebrowser|gnome-terminal|nautilus)$/;

/** The name of the app in argv, past wrappers, their options and VAR=value words (best effort, for the advice only). */
export function appName(argv: readonly string[]): string {
  let i = 0;
  while (i < argv.length) {
    const word = basename(argv[i]!);
    if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(argv[i]!) || (i > 0 && argv[i]!.startsWith('-'))) {
      i++;
      continue;
    }
    if (!WRAPPERS.has(word) || i === argv.length - 1) return word;
    i++;
    // timeout DURATION, nice -n N, taskset MASK...: a bare number or duration after a wrapper is its argument.
    while (i < argv.length && (argv[i]!.startsWith('-') || /^[0-9][0-9.]*[smhd]?$/.test(argv[i]!) || /^0x[0-9a-f]+$/i.test(argv[i]!))) i++;
  }
  return basename(argv[0] ?? '');
}

/** How to start a separate instance of the app inside the egress instead of reaching the running one. */
export function separateInstanceAdvice(name: string): string {
  if (FIREFOX.test(name)) return `start a separate instance with its own profile: ${name} --no-remote -P PROFILE (or --new-instance with a profile not in use)`;
  if (CHROMIUM.test(name)) return `start a separate instance with its own profile directory: ${name} --user-data-dir=DIR (a directory no running instance uses)`;
  return 'start a separate instance (Firefox: --no-remote -P PROFILE or --new-instance; Chromium: --user-data-dir=DIR), or close the running one first';
}

/**
 * The notice for an app that exited with `exitCode` after `elapsedMs`, or undefined when it does not look like a
 * handoff. Apps known to hand off (browsers and a few others) always get it; any other app only in a graphical
 * session (DISPLAY or WAYLAND_DISPLAY in `env`), where the handoff channels (X11, D-Bus, session sockets) live: a
 * quick `exec -- curl ...` over SSH or in a script stays quiet.
 */
export function handoffNotice(argv: readonly string[], exitCode: number, elapsedMs: number, egress?: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (exitCode !== 0 || elapsedMs >= HANDOFF_WINDOW_MS || argv.length === 0) return undefined;
  const name = appName(argv);
  const known = FIREFOX.test(name) || CHROMIUM.test(name) || SINGLE_INSTANCE.test(name);
  if (!known && !env.DISPLAY && !env.WAYLAND_DISPLAY) return undefined;
  const where = egress ? `egress '${egress}'` : 'the egress';
  return `note: ${name} exited with status 0 after ${(elapsedMs / 1000).toFixed(1)} s. If it is an app that hands its work to an instance of itself already running (a browser), that instance runs OUTSIDE ${where} and uses this host's own address; ${separateInstanceAdvice(name)}.`;
}

/** Prints the notice (if any) through `info`; returns whether it did. */
export function reportHandoff(out: { info(line: string): void }, run: { argv: readonly string[]; exitCode: number; elapsedMs: number; egress?: string; env?: NodeJS.ProcessEnv }): boolean {
  const notice = handoffNotice(run.argv, run.exitCode, run.elapsedMs, run.egress, run.env);
  if (notice) out.info(notice);
  return notice !== undefined;
}
