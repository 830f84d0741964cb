// The lab CLI end to end: up, probe, exec, dns, down, and refusing to start without root (needs root).
import { chmodSync, cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { labDir } from './paths.js';
import { rootSnapshot, withoutForeignNetns } from './root-snapshot.js';
import { run } from './run.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const lab = (...args: string[]) => run([process.execPath, cli, ...args], { timeoutMs: 60_000 });

describe('egress-lab CLI', () => {
  it('needs root and a built dist', () => {
    expect(process.getuid?.(), 'the lab tests need root: run them as root, as .ci/run does').toBe(0);
    expect(existsSync(cli), `${cli} missing: run npm run build first`).toBe(true);
  });

  it('refuses to start when not root, saying why', async () => {
    // A world-readable copy of the built CLI, so the check does not depend on where the repo lives (e.g. under /root).
    const copy = mkdtempSync(`${tmpdir()}/lab-cli-`);
    chmodSync(copy, 0o755);
    cpSync(fileURLToPath(new URL('../dist', import.meta.url)), `${copy}/tools/lab/dist`, { recursive: true });
    cpSync(fileURLToPath(new URL('../package.json', import.meta.url)), `${copy}/tools/lab/package.json`);
    cpSync(commanderDir(), `${copy}/node_modules/commander`, { recursive: true });
    const r = await run(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, `${copy}/tools/lab/dist/cli.js`, 'up', '--name', 'notroot']);
    rmSync(copy, { recursive: true, force: true });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('lab up refused: the lab needs root');
    expect(existsSync(labDir('notroot'))).toBe(false);
  });

  it('refuses a bad name and an unknown host, naming the allowed values', async () => {
    const bad = await lab('up', '--name', 'Bad_Name');
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toContain("lab name 'Bad_Name' is not allowed");
  });

  it('up, probe, exec, dns and down work from a shell and leave the root namespace as it was', async () => {
    const name = `clit-${process.pid}`;
    const before = await rootSnapshot();
    const up = await lab('up', '--name', name);
    try {
      expect(up.exitCode, up.stderr).toBe(0);
      expect(up.stdout).toContain(`lab ${name} is up`);
      expect((await lab('list')).stdout.split('\n')).toContain(`${name}\tkept (lab up)`);
      expect((await lab('probe', 'client', '--name', name)).stdout).toBe('192.0.2.2\n');
      expect((await lab('probe', 'vps', '--name', name, '--v6', '--udp')).stdout).toBe('2001:db8:100::2\n');
      expect((await lab('probe', 'client', '--name', name, '--user', 'appuser')).stdout).toBe('192.0.2.2\n');
      const id = await lab('exec', 'client', '--name', name, '--user', 'appuser', '--', 'id', '-un');
      expect(id.stdout).toBe('appuser\n');
      expect((await lab('exec', 'vps', '--name', name, '--', 'sh', '-c', 'exit 7')).exitCode).toBe(7);
      const nohost = await lab('exec', 'mars', '--name', name, '--', 'true');
      expect(nohost.stderr).toContain("host 'mars' is not a lab host: use one of internet, vps, client");
      await lab('exec', 'client', '--name', name, '--', 'dig', '+short', '+time=2', 'vps.egress.test');
      expect((await lab('dns', '--name', name)).stdout).toContain('192.0.2.2\tudp\tA\tvps.egress.test\n');
    } finally {
      const down = await lab('down', '--name', name);
      expect(down.exitCode, down.stderr).toBe(0);
    }
    expect(existsSync(labDir(name))).toBe(false);
    const ours = (netns: string) => netns.includes(name);
    expect(withoutForeignNetns(await rootSnapshot(), ours)).toEqual(withoutForeignNetns(before, ours));
    const gone = await lab('probe', 'client', '--name', name);
    expect(gone.stderr).toContain(`no lab named ${name} is running`);
  });
});

/** The installed commander package's directory (its exports hide package.json, so walk up from its entry). */
function commanderDir(): string {
  let dir = dirname(createRequire(import.meta.url).resolve('commander'));
  while (!existsSync(`${dir}/package.json`)) dir = dirname(dir);
  return dir;
}
