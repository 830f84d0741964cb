// Compiles one C artifact of a package with the system C compiler ($CC, else cc, gcc or clang), echoing the
// command as `[#] …`; used by the build scripts of @egress/shim (the LD_PRELOAD library) and @egress/client (the
// cgroup BPF loader). Exits the process with a message that says what to install when it cannot.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';

function canRun(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Finds an executable by name on PATH (absolute paths are taken as they are). */
function which(name) {
  if (name.includes('/')) return canRun(name) ? name : undefined;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && canRun(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/**
 * Runs the compiler with `args` (which end with `-o OUT` handled here): `pkg` and `what` name the artifact in
 * messages, `sources` are named when compiling fails, `packages` is the Debian hint for the headers it needs.
 */
export function compileC({ pkg, what, out, args, sources, libs = [], packages }) {
  const candidates = process.env.CC ? [process.env.CC] : ['cc', 'gcc', 'clang'];
  const cc = candidates.map(which).find(Boolean);
  if (!cc) {
    process.stderr.write(
      `${pkg}: no C compiler found (looked for ${candidates.join(', ')} on PATH).\n` +
        `${what} is written in C and built with the system compiler.\n` +
        `Install one, e.g. \`apt-get install ${packages}\` (Debian/Ubuntu), or set CC.\n`,
    );
    process.exit(1);
  }
  mkdirSync(dirname(out), { recursive: true });
  const argv = [...args, '-o', out, ...sources, ...libs];
  process.stderr.write(`[#] ${cc} ${argv.join(' ')}\n`);
  const res = spawnSync(cc, argv, { stdio: 'inherit' });
  if (res.error || res.status !== 0) {
    process.stderr.write(`${pkg}: compiling ${sources.join(', ')} with ${cc} failed${res.error ? `: ${res.error.message}` : ` (exit ${res.status})`}.\n` +
      `A C compiler and its headers are required (Debian: ${packages}).\n`);
    process.exit(1);
  }
}
