// A local Debian archive mirror for the machines lab: genuine .deb files from the lab's cache, indexed with
// dpkg-scanpackages, a Release signed with a key made for this lab (gpg), served over HTTP from the router namespace
// (the lab's "internet"), so apt inside a machine installs packages without the real internet. The mirror can be told
// to stop serving packages (indexes still served) to test what a failure after `apt-get update` leaves behind.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { LAB_ADDR } from '../addresses.js';
import { sleep } from '../procs.js';
import { run } from '../run.js';
import type { MachinesLab } from './lab.js';

/** One suite of the mirror (component main, amd64 and all). */
export interface MirrorSuite {
  suite: string;
  /** .deb files to serve in it (copied into the pool). */
  debs: string[];
  /** Like Debian's backports: NotAutomatic + ButAutomaticUpgrades in the Release file. */
  notAutomatic?: boolean;
}

export interface AptMirror {
  /** The archive URL machines use (like http://deb.debian.org/debian). */
  url: string;
  /** The same archive at the router's IPv6 address. */
  url6: string;
  /** The mirror's signing key (OpenPGP binary): add it to a machine's keyring to trust the mirror. */
  keyFile: string;
  /** Makes the mirror answer 503 for every .deb (indexes are still served) or serve them again. */
  setServingDebs(on: boolean): void;
  /** Request lines seen so far ("GET /debian/... 200"). */
  requests(): string[];
  stop(): void;
}

const PORT = 8080;

async function must(argv: string[], what: string, opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const r = await run(argv, { timeoutMs: 120_000, ...opts });
  if (r.exitCode !== 0) throw new Error(`apt mirror: ${what} failed (exit ${r.exitCode}): ${argv.join(' ')}\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Builds the archive under `dir/debian` and signs it with a fresh key kept in `dir/gnupg`. */
async function buildArchive(dir: string, suites: readonly MirrorSuite[]): Promise<string> {
  const root = join(dir, 'debian');
  const gnupg = join(dir, 'gnupg');
  mkdirSync(gnupg, { recursive: true, mode: 0o700 });
  const env = { ...process.env, GNUPGHOME: gnupg };
  await must(['gpg', '--batch', '--quiet', '--passphrase', '', '--quick-gen-key', 'egress machines lab mirror <mirror@egress.test>', 'ed25519', 'sign', '1d'], 'gpg key', { env });
  const keyFile = join(dir, 'mirror-key.gpg');
  await must(['gpg', '--batch', '--yes', '--export', '-o', keyFile], 'gpg export', { env });
  for (const s of suites) {
    const pool = join(root, 'pool', s.suite);
    mkdirSync(pool, { recursive: true });
    for (const d of s.debs) {
      if (!existsSync(d)) throw new Error(`apt mirror: ${d} is missing (run tools/setup.sh, which downloads it from the Debian archive)`);
      copyFileSync(d, join(pool, basename(d)));
    }
    const bin = join(root, 'dists', s.suite, 'main', 'binary-amd64');
    mkdirSync(bin, { recursive: true });
    const packages = await must(['dpkg-scanpackages', '-m', `pool/${s.suite}`, '/dev/null'], 'dpkg-scanpackages', { cwd: root });
    writeFileSync(join(bin, 'Packages'), packages);
    writeFileSync(join(bin, 'Packages.gz'), gzipSync(packages));
    const files = ['main/binary-amd64/Packages', 'main/binary-amd64/Packages.gz'].map((f) => {
      const data = readFileSync(join(root, 'dists', s.suite, f));
      return ` ${createHash('sha256').update(data).digest('hex')} ${data.length} ${f}`;
    });
    const release = [
      `Origin: ${s.notAutomatic ? 'Debian Backports' : 'Debian'}`,
      `Label: ${s.notAutomatic ? 'Debian Backports' : 'Debian'}`,
      `Suite: ${s.suite}`,
      `Codename: ${s.suite}`,
      `Date: ${new Date().toUTCString()}`,
      ...(s.notAutomatic ? ['NotAutomatic: yes', 'ButAutomaticUpgrades: yes'] : []),
      'Architectures: amd64 all',
      'Components: main',
      'Description: egress machines lab mirror (genuine .deb files from the Debian archive)',
      'SHA256:',
      ...files,
      '',
    ].join('\n');
    const dist = join(root, 'dists', s.suite);
    writeFileSync(join(dist, 'Release'), release);
    await must(['gpg', '--batch', '--yes', '--clearsign', '-o', join(dist, 'InRelease'), join(dist, 'Release')], 'gpg clearsign', { env });
  }
  return keyFile;
}

/** The static file server (run by node in the router namespace): serves ROOT, 503 for .deb while FLAG exists. */
const SERVER = String.raw`
const http = require('node:http'); const fs = require('node:fs'); const path = require('node:path');
const [root, flag, log, port, ...addrs] = process.argv.slice(1);
const handle = (req, res) => {
  const url = decodeURIComponent(req.url.split('?')[0]);
  const file = path.join(root, path.normalize(url).replace(/^(\.\.[\/\\])+/, ''));
  let code = 200;
  if (!file.startsWith(root + '/')) code = 403;
  else if (file.endsWith('.deb') && fs.existsSync(flag)) code = 503;
  else if (!fs.existsSync(file) || !fs.statSync(file).isFile()) code = 404;
  fs.appendFileSync(log, req.method + ' ' + url + ' ' + code + '\n');
  if (code !== 200) { res.writeHead(code); res.end(); return; }
  const st = fs.statSync(file);
  res.writeHead(200, { 'content-length': st.size, 'last-modified': st.mtime.toUTCString() });
  if (req.method === 'HEAD') { res.end(); return; }
  fs.createReadStream(file).pipe(res);
};
let up = 0;
for (const a of addrs) http.createServer(handle).listen(Number(port), a, () => { if (++up === addrs.length) console.error('READY'); });
`;

/**
 * Builds the mirror in the lab's directory and serves it at http://203.0.113.1:8080/debian (and at
 * http://[2001:db8:113::1]:8080/debian) from the router namespace
 * (reachable from every machine); stops with the lab.
 */
export async function startAptMirror(lab: MachinesLab, suites: readonly MirrorSuite[]): Promise<AptMirror> {
  const dir = join(lab.dir, 'apt-mirror');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const keyFile = await buildArchive(dir, suites);
  const flag = join(dir, 'no-debs');
  const log = join(dir, 'requests.log');
  writeFileSync(log, '');
  const err = join(dir, 'server.err');
  const e = openSync(err, 'a');
  const child = spawn('nsenter', [`--net=/run/netns/${lab.routerNs}`, '--', process.execPath, '-e', SERVER, dir, flag, log, String(PORT), LAB_ADDR.internetV4, LAB_ADDR.internetV6],
    { stdio: ['ignore', 'ignore', e], detached: true });
  closeSync(e);
  child.unref();
  const pid = child.pid ?? 0;
  // The lab's teardown (also of a crashed run) kills what is listed here.
  appendFileSync(join(lab.dir, 'daemons'), `${pid}\n`);
  const deadline = Date.now() + 15_000;
  while (!/READY/.test(readFileSync(err, 'utf8'))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`apt mirror: the server did not start: ${readFileSync(err, 'utf8')}`);
    await sleep(20);
  }
  return {
    url: `http://${LAB_ADDR.internetV4}:${PORT}/debian`,
    url6: `http://[${LAB_ADDR.internetV6}]:${PORT}/debian`,
    keyFile,
    setServingDebs: (on) => { if (on) rmSync(flag, { force: true }); else writeFileSync(flag, ''); },
    requests: () => readFileSync(log, 'utf8').split('\n').filter(Boolean),
    stop: () => { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } },
  };
}
