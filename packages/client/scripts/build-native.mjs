#!/usr/bin/env node
// Builds build/egress-cgroup-bpf from native/cgroup-bpf.c with the system C compiler.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileC } from '../../../tools/compile-c.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
compileC({
  pkg: '@egress/client',
  what: 'The cgroup BPF loader (egress-cgroup-bpf)',
  out: join(root, 'build', 'egress-cgroup-bpf'),
  args: ['-O2', '-Wall', '-Wextra', '-Werror'],
  sources: [join(root, 'native', 'cgroup-bpf.c')],
  packages: 'gcc libc6-dev linux-libc-dev',
});
