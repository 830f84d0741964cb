#!/usr/bin/env node
// Builds build/egress-cgroup-bpf (native/cgroup-bpf.c) and build/egress-peercred (native/peercred.c) with the system C compiler.
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
compileC({
  pkg: '@egress/client',
  what: "The supervisor socket's peer credential reader (egress-peercred)",
  out: join(root, 'build', 'egress-peercred'),
  args: ['-O2', '-Wall', '-Wextra', '-Werror'],
  sources: [join(root, 'native', 'peercred.c')],
  packages: 'gcc libc6-dev',
});
