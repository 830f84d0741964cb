// Finds the built LD_PRELOAD library next to this package (never in the current directory).
import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** File name of the shim library that the package's build step produces. */
export const SHIM_FILE = 'libegress-shim.so';

/** Absolute path the build step writes the shim to: <package>/build/libegress-shim.so. */
export function shimBuildPath(): string {
  return fileURLToPath(new URL(`../build/${SHIM_FILE}`, import.meta.url));
}

/** The shim library has not been built (or is unreadable); callers turn it into their own user error. */
export class ShimMissingError extends Error {
  readonly code = 'E_SHIM_MISSING';
  readonly hint = 'build it with `npm run build -w @egress/shim` (needs a C compiler, gcc or clang, and the libc headers)';
  constructor(readonly path: string) {
    super(`the LD_PRELOAD shim is not built: ${path} is missing or unreadable`);
    this.name = 'ShimMissingError';
  }
}

/** Absolute path of the built shim; throws ShimMissingError when it is not there. */
export function locateShim(): string {
  const path = shimBuildPath();
  try {
    accessSync(path, constants.R_OK);
  } catch {
    throw new ShimMissingError(path);
  }
  return path;
}
