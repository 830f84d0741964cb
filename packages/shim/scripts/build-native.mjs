#!/usr/bin/env node
// Builds build/libegress-shim.so from the sources in sources.mjs (src/*.c) with the system C compiler.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileC } from '../../../tools/compile-c.mjs';
import { SHIM_SOURCES } from './sources.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
compileC({
  pkg: '@egress/shim',
  what: 'The LD_PRELOAD shim',
  out: join(root, 'build', 'libegress-shim.so'),
  args: ['-shared', '-fPIC', '-O2', '-Wall', '-Wextra', '-Werror', '-fvisibility=hidden', '-pthread'],
  sources: SHIM_SOURCES.map((f) => join(root, 'src', f)),
  libs: ['-ldl'],
  packages: 'gcc libc6-dev',
});
