#!/usr/bin/env node
// Adds package-lock entries for platform-specific optional packages the registry mirror does not serve.
//
// Why: the npm registry these machines reach serves only some platform builds (for rollup: linux x64/arm64 glibc).
// `npm install` then leaves the other platforms' optional packages out of package-lock.json, and npm 11's `npm ci`
// refuses the lock ("Missing: @rollup/rollup-android-arm-eabi@ from lock file"). An entry with its os/cpu/libc lets
// `npm ci` see the lock as complete and skip the package on this platform, as it would with a full lock.
// Run after any `npm install` that changes the lock: `node tools/complete-lock.mjs`.
import { readFileSync, writeFileSync } from 'node:fs';

const OS = ['android', 'darwin', 'freebsd', 'linux', 'openbsd', 'openharmony', 'win32', 'sunos', 'aix', 'netbsd'];
const CPU = { arm: 'arm', arm64: 'arm64', x64: 'x64', ia32: 'ia32', loong64: 'loong64', ppc64: 'ppc64', riscv64: 'riscv64', s390x: 's390x' };

/** os/cpu/libc of a platform package from its conventional `<scope>/<name>-<os>-<cpu>[-<abi>]` name; undefined if it has none. */
function platformOf(name) {
  const parts = name.split('/').pop().split('-');
  for (let i = 0; i < parts.length - 1; i++) {
    if (!OS.includes(parts[i]) || !CPU[parts[i + 1]]) continue;
    const abi = parts[i + 2] ?? '';
    const entry = { cpu: [CPU[parts[i + 1]]], os: [parts[i]] };
    if (parts[i] === 'linux' && /^gnu/.test(abi)) entry.libc = ['glibc'];
    if (parts[i] === 'linux' && /^musl/.test(abi)) entry.libc = ['musl'];
    return entry;
  }
  return undefined;
}

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
let added = 0;
for (const [key, pkg] of Object.entries(lock.packages)) {
  for (const [dep, version] of Object.entries(pkg.optionalDependencies ?? {})) {
    const at = `${key ? `${key}/` : ''}node_modules/${dep}`;
    const hoisted = `node_modules/${dep}`;
    if (lock.packages[at] || lock.packages[hoisted]) continue;
    const platform = platformOf(dep);
    if (!platform || !/^\d+\.\d+\.\d+/.test(version)) continue;
    lock.packages[hoisted] = { version, ...platform, ...(pkg.dev ? { dev: true } : {}), license: pkg.license ?? 'MIT', optional: true };
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))));
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lock: added ${added} platform-specific optional entr${added === 1 ? 'y' : 'ies'}`);
