// Finds the file a command name runs, the way execvp does (PATH search for names without '/').
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { NotFoundError } from '@egress/core/errors';

/** Absolute path of the executable `cmd` names; throws NotFoundError when there is none. */
export function resolveCommand(cmd: string, env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string {
  if (cmd === '') throw new NotFoundError('no command given', { hint: 'usage: egress-client exec -- CMD [ARGS...]' });
  if (cmd.includes('/')) {
    const abs = resolve(cwd, cmd);
    if (isExecutableFile(abs)) return abs;
    throw new NotFoundError(`command '${cmd}' is not an executable file`);
  }
  for (const dir of (env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
    // An empty PATH entry means the current directory; like a login shell's secure default, we skip it.
    if (!dir || !dir.startsWith('/')) continue;
    const candidate = join(dir, cmd);
    if (isExecutableFile(candidate)) return candidate;
  }
  throw new NotFoundError(`command '${cmd}' not found on PATH`);
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
