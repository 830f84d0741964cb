// `npm run demo` end to end: real lab, real CLIs (or an honest "not built yet"), and nothing left behind (needs root).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { labDir } from './paths.js';
import { nsOf } from './procs.js';
import { run } from './run.js';

const demo = fileURLToPath(new URL('../dist/demo.js', import.meta.url));

describe('demo', () => {
  it('tells the story with real addresses, never claims a step it could not run, and tears down', async () => {
    expect(process.getuid?.(), 'the demo test needs root: run it as root, as .ci/run does').toBe(0);
    const name = `demot-${process.pid}`;
    const r = await run([process.execPath, demo], { env: { ...process.env, EGRESS_DEMO_LAB: name, NO_COLOR: '1' }, timeoutMs: 240_000 });
    const out = r.stdout + r.stderr;
    expect(out).toContain('── step 1: start the lab');
    expect(out).toContain("root on the client     → seen as 192.0.2.2 ✓ the client's own address");
    expect(out).toContain("root on the client, v6 → seen as 2001:db8:2::2 ✓ the client's own address");
    expect(out).toContain('── step 6: tear everything down');
    const provision = /^ {2}2\. provision the VPS +(\S.*)$/m.exec(out)?.[1];
    // Once the CLIs are built (npm test builds them first) the demo must run every step for real.
    const built = existsSync(new URL('../../../packages/server/dist/bin.js', import.meta.url)) && existsSync(new URL('../../../packages/client/dist/bin.js', import.meta.url));
    expect(provision, out).toBe(built ? 'done' : 'not built yet');
    if (provision === 'done') {
      expect(out).toMatch(/\[#\] /);
      expect(out).toContain("appuser via run-as     → seen as 198.51.100.2 ✓ the VPS's address");
      expect(out).toContain("appuser via run-as, v6 → seen as 2001:db8:100::2 ✓ the VPS's address");
      expect(out).toContain('answer: hello from the client host, uid ');
    } else {
      expect(out).not.toContain('appuser via run-as');
    }
    expect(r.exitCode, out).toBe(0);
    expect(existsSync(labDir(name))).toBe(false);
  }, 300_000);

  it('tears the lab down on Ctrl-C in the middle of a step', async () => {
    const name = `demoi-${process.pid}`;
    const child = spawn(process.execPath, [demo], { env: { ...process.env, EGRESS_DEMO_LAB: name, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const closed = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    for (let i = 0; i < 1500 && !out.includes('── step 2'); i++) await new Promise((r) => setTimeout(r, 20));
    expect(out).toContain('── step 2');
    const state = JSON.parse(readFileSync(`${labDir(name)}/state.json`, 'utf8')) as { hosts: Record<string, { pid: number }> };
    child.kill('SIGINT');
    expect(await closed, out).toBe(130);
    expect(out).toContain('SIGINT: tearing the lab down…');
    expect(out).toContain('lab removed.');
    for (const h of Object.values(state.hosts)) expect(nsOf(h.pid, 'net')).toBeUndefined();
    expect(existsSync(labDir(name))).toBe(false);
  }, 120_000);
});
