#!/usr/bin/env node
// Builds build/egress-cgroup-bpf from native/cgroup-bpf.c with the system C compiler ($CC, else cc, gcc or clang).
import { spawnSync } from 'node:child_process';
import { mkdirSync, accessSync, constants } from 'node:fs';
import { delimiter, join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Finds an executable by name on PATH (absolute paths are taken as they are). */
function which(name) {
  if (name.includes('/')) return canRun(name) ? name : undefined;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && canRun(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

function canRun(path) {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const candidates = process.env.CC ? [process.env.CC] : ['cc', 'gcc', 'clang'];
const cc = candidates.map(which).find(Boolean);
if (!cc) {
  process.stderr.write(
    `@egress/client: no C compiler found (looked for ${candidates.join(', ')} on PATH).\n` +
      'The cgroup BPF loader (egress-cgroup-bpf) is written in C and built with the system compiler.\n' +
      'Install one, e.g. `apt-get install gcc libc6-dev linux-libc-dev` (Debian/Ubuntu), or set CC.\n',
  );
  process.exit(1);
}

mkdirSync(join(root, 'build'), { recursive: true });
const argv = ['-O2', '-Wall', '-Wextra', '-Werror', '-o', join(root, 'build', 'egress-cgroup-bpf'), join(root, 'native', 'cgroup-bpf.c')];
process.stderr.write(`[#] ${cc} ${argv.join(' ')}\n`);
const res = spawnSync(cc, argv, { stdio: 'inherit' });
if (res.error || res.status !== 0) {
  process.stderr.write(`@egress/client: compiling native/cgroup-bpf.c with ${cc} failed${res.error ? `: ${res.error.message}` : ` (exit ${res.status})`}.\n` +
    'A C compiler and the kernel UAPI headers are required (Debian: gcc libc6-dev linux-libc-dev).\n');
  process.exit(1);
}
