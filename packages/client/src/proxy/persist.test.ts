// Saved proxies: the file's schema, ids, add/remove/list bookkeeping through the CLI on a fake host, and the
// supervisor's runner (real child processes: a node that idles stands in for the proxy).
import { FakeHost } from '@egress/core/testing';
import { describe, expect, it, onTestFinished } from 'vitest';
import { runCli } from '../cli.js';
import { nextBackoff, startProxyRunner } from '../daemon/proxies.js';
import { sink } from '../testing/fake-cli.js';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { changesClient } from '../state/change-lock.js';
import { PassThrough } from 'node:stream';
import { liveRecords, loadRunRecords, ProxyStatus, PROXIES_RUN_PATH, RECORDED_LINE, recordedBySupervisor, recordOf, startStatusWriter, statusPathFor, stillRunning, stopRecordedProxies } from './running.js';
import { addProxy, dropProxiesOf, loadProxies, saveProxies, parseProxiesFile, PROXIES_PATH, proxyArgv, proxyId, removeProxy, savedProxyFrom, withoutEgresses } from './persist.js';

const cli = async (host: FakeHost, argv: string[], isRoot = true) => {
  const stdout = sink();
  const stderr = sink();
  const status = await runCli(argv, { host, isRoot, stdout, stderr });
  return { code: status.code, stdout: stdout.text, stderr: stderr.text };
};

describe('saved proxy entries', () => {
  it('derives the id from the listen addresses and the argv from the flags', () => {
    const p = savedProxyFrom({ listen: ['[::1]:1081', '127.0.0.1:1080'], egress: 'vps', allow: [] });
    expect(p.id).toBe('127.0.0.1-1080+___1_-1081');
    expect(proxyId(['127.0.0.1:1080'])).toBe('127.0.0.1-1080');
    expect(proxyArgv(p)).toEqual(['proxy', '--egress', 'vps', '--listen', '[::1]:1081', '--listen', '127.0.0.1:1080']);
    expect(savedProxyFrom({}).listen).toEqual(['127.0.0.1:1080']);
  });

  it('refuses what a foreground run refuses, and a relative auth file', () => {
    expect(() => savedProxyFrom({ listen: ['192.0.2.1:1080'] })).toThrow(/--listen: 192.0.2.1:1080 is not a loopback address/);
    expect(() => savedProxyFrom({ listen: ['nohost'] })).toThrow(/--listen/);
    expect(() => savedProxyFrom({ authFile: 'rel/users' })).toThrow(/--auth-file/);
  });

  it('parses the file strictly and names the field', () => {
    expect(parseProxiesFile(undefined)).toEqual({ version: 1, proxies: [] });
    expect(() => parseProxiesFile('{')).toThrow(/not JSON/);
    expect(() => parseProxiesFile('{"version":1,"proxies":[{"id":"a b","listen":["127.0.0.1:1"]}]}')).toThrow(/proxies\.0\.id/);
    expect(() => parseProxiesFile('{"version":2,"proxies":[]}')).toThrow(/version/);
    expect(() => parseProxiesFile('{"version":1,"proxies":[{"id":"a","listen":["127.0.0.1:1"],"extra":1}]}')).toThrow(/extra/);
  });

  it('refuses a duplicate listen address and an unknown id; uninstall drops the removed egress', () => {
    const a = savedProxyFrom({ listen: ['127.0.0.1:1080'], egress: 'a' });
    const b = savedProxyFrom({ listen: ['127.0.0.1:1081', '127.0.0.1:1080'], egress: 'b' });
    const doc = addProxy({ version: 1, proxies: [] }, a);
    expect(() => addProxy(doc, b)).toThrow("--listen: 127.0.0.1:1080 is already used by saved proxy '127.0.0.1-1080'");
    expect(() => removeProxy(doc, 'nope')).toThrow("no saved proxy 'nope' (saved: 127.0.0.1-1080)");
    expect(removeProxy(doc, a.id).proxies).toEqual([]);
    const two = addProxy(doc, savedProxyFrom({ listen: ['127.0.0.1:1082'], egress: 'c' }));
    expect(withoutEgresses(two, ['a'], 1).proxies.map((p) => p.egress)).toEqual(['c']);
    expect(withoutEgresses(two, ['c'], 0).proxies).toEqual([]);
  });
});

describe('uninstall', () => {
  it('drops the proxies of the removed egress, and the file with the last egress', async () => {
    const host = new FakeHost();
    let doc = addProxy({ version: 1, proxies: [] }, savedProxyFrom({ listen: ['127.0.0.1:1080'], egress: 'a' }));
    doc = addProxy(doc, savedProxyFrom({ listen: ['127.0.0.1:1081'], egress: 'b' }));
    await saveProxies(host, doc);
    expect(await dropProxiesOf(host, ['a'], 1)).toEqual(['127.0.0.1-1080']);
    expect((await loadProxies(host)).proxies.map((p) => p.egress)).toEqual(['b']);
    await host.writeFile(PROXIES_PATH, 'not json', { mode: 0o600 });
    expect(await dropProxiesOf(host, ['b'], 0)).toBe('*');
    expect(host.machine.files.has(PROXIES_PATH)).toBe(false);
  });
});

describe('proxy --persist / list / remove', () => {
  it('saves 0600, lists, refuses duplicates and non-root, removes the file with the last one', async () => {
    const host = new FakeHost();
    const saved = await cli(host, ['proxy', '--persist', '--listen', '127.0.0.1:1090', '--egress', 'vps']);
    expect(saved.code).toBe(0);
    expect(saved.stdout).toContain("saved proxy '127.0.0.1-1090'");
    expect(host.machine.files.get(PROXIES_PATH)?.mode).toBe(0o600);

    const dup = await cli(host, ['proxy', '--persist', '--listen', '127.0.0.1:1090']);
    expect(dup.code).not.toBe(0);
    expect(dup.stderr).toContain('--listen: 127.0.0.1:1090 is already used');

    const bad = await cli(host, ['proxy', '--persist', '--listen', '198.51.100.7:1090']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('not a loopback address');

    const notRoot = await cli(host, ['proxy', '--persist', '--listen', '127.0.0.1:1091'], false);
    expect(notRoot.stderr).toContain('must run as root');

    const list = await cli(host, ['proxy', 'list', '--json']);
    const doc = JSON.parse(list.stdout) as { proxies: Array<{ id: string; pid: number | null; egress: string }> };
    expect(doc.proxies).toEqual([expect.objectContaining({ id: '127.0.0.1-1090', egress: 'vps', pid: null })]);

    const unknown = await cli(host, ['proxy', 'remove', 'x']);
    expect(unknown.stderr).toContain("no saved proxy 'x'");
    const wrong = await cli(host, ['proxy', 'frob']);
    expect(wrong.stderr).toContain("unknown action 'frob'");

    expect((await cli(host, ['proxy', 'remove', '127.0.0.1-1090'])).code).toBe(0);
    expect(host.machine.files.has(PROXIES_PATH)).toBe(false);
  });
});

describe('supervisor proxy runner', () => {
  it('doubles the back-off on quick exits and resets it after a long run', () => {
    expect(nextBackoff(undefined, 10)).toBe(1000);
    expect(nextBackoff(1000, 10)).toBe(2000);
    expect(nextBackoff(16000, 10)).toBe(30000);
    expect(nextBackoff(30000, 10)).toBe(30000);
    expect(nextBackoff(30000, 120_000)).toBe(1000);
  });

  // Keeps its arguments in /proc/PID/cmdline (as the real proxy does), so the runner's records check out.
  const FAKE = [process.execPath, '-e', 'setInterval(() => undefined, 1e9)', '--'];
  const waitFor = async (cond: () => Promise<boolean>): Promise<void> => {
    for (let i = 0; i < 200 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await cond()).toBe(true);
  };
  const pidOf = async (host: FakeHost, id: string) => (await liveRecords(host))[id]?.pid;
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  it('starts saved proxies, restarts one that is killed, stops removed ones and all on stop', async () => {
    const host = new FakeHost();
    const lines: string[] = [];
    const runner = startProxyRunner(host, (l) => lines.push(l), FAKE);
    expect((await cli(host, ['proxy', '--persist', '--listen', '127.0.0.1:1090'])).code).toBe(0);
    await runner.reload();
    await waitFor(async () => (await pidOf(host, '127.0.0.1-1090')) !== undefined);
    const rec = (await loadRunRecords(host))['127.0.0.1-1090']!;
    expect(rec.args).toEqual(['proxy', '--listen', '127.0.0.1:1090', '--status-file', '/run/egress/proxies/127.0.0.1-1090.json']);
    const first = rec.pid;
    process.kill(first, 'SIGKILL');
    await waitFor(async () => {
      const pid = await pidOf(host, '127.0.0.1-1090');
      return pid !== undefined && pid !== first;
    });
    expect(lines.join('\n')).toContain('proxy 127.0.0.1-1090: exited (SIGKILL); restarting in 1 s');
    const second = (await pidOf(host, '127.0.0.1-1090'))!;
    // What the proxy writes with --status-file is shown by `proxy list` (and `status`) for its pid only.
    const counters = { active: 2, activeUdp: 1, connections: 7, refused: 0, failed: 1, bytesUp: 1500, bytesDown: 2_500_000, listening: ['127.0.0.1:1090'] };
    await host.writeFile(statusPathFor('127.0.0.1-1090'), JSON.stringify({ pid: second, at: new Date().toISOString(), ...counters }), { mode: 0o644 });
    const listed = await cli(host, ['proxy', 'list']);
    expect(listed.stdout).toContain(`running (pid ${second}; 2 active (1 UDP), 7 connections, 1.5 kB up / 2.5 MB down, 0 refused, 1 failed)`);
    await host.writeFile(statusPathFor('127.0.0.1-1090'), JSON.stringify({ pid: first, at: new Date().toISOString(), ...counters }), { mode: 0o644 });
    expect((await cli(host, ['proxy', 'list'])).stdout).toContain(`running (pid ${second})`);

    expect((await cli(host, ['proxy', 'remove', '127.0.0.1-1090'])).code).toBe(0);
    await runner.reload();
    expect(lines).toContain('proxy 127.0.0.1-1090: removed, stopped');
    expect(alive(second)).toBe(false);
    expect(await liveRecords(host)).toEqual({});

    expect((await cli(host, ['proxy', '--persist', '--listen', '127.0.0.1:1091'])).code).toBe(0);
    await runner.reload();
    await waitFor(async () => (await pidOf(host, '127.0.0.1-1091')) !== undefined);
    const third = (await pidOf(host, '127.0.0.1-1091'))!;
    await runner.stop();
    expect(alive(third)).toBe(false);
    expect(host.machine.files.has(PROXIES_RUN_PATH)).toBe(false);
  }, 20_000);

  it('a new daemon stops the proxies a killed one left running (checked by start time and command line), then runs its own', async () => {
    const host = new FakeHost();
    expect((await cli(host, ['proxy', '--persist', '--listen', '127.0.0.1:1092'])).code).toBe(0);
    // What a SIGKILLed daemon leaves: its child still running, and the record naming it.
    const args = ['proxy', '--listen', '127.0.0.1:1092', '--status-file', statusPathFor('127.0.0.1-1092')];
    const child = spawn(FAKE[0]!, [...FAKE.slice(1), ...args], { stdio: 'ignore' });
    onTestFinished(() => void child.kill('SIGKILL'));
    const orphan = (await recordOf(child.pid!, args))!;
    expect(orphan).toBeDefined();
    await host.writeFile(PROXIES_RUN_PATH, JSON.stringify({ '127.0.0.1-1092': orphan }), { mode: 0o644 });
    // The same pid with another start time (a reused pid) or another command line is not that process.
    expect(await stillRunning({ ...orphan, startTime: `${Number(orphan.startTime) + 1}` })).toBe(false);
    expect(await stillRunning({ ...orphan, args: ['proxy', '--listen', '127.0.0.1:1093'] })).toBe(false);
    expect(await stillRunning(orphan)).toBe(true);

    const lines: string[] = [];
    const next = startProxyRunner(host, (l) => lines.push(l), FAKE);
    await next.reload();
    expect(lines).toContain(`proxy 127.0.0.1-1092: pid ${orphan.pid} was left running by a previous daemon; stopping it`);
    expect(await stillRunning(orphan)).toBe(false);
    await waitFor(async () => {
      const pid = await pidOf(host, '127.0.0.1-1092');
      return pid !== undefined && pid !== orphan.pid;
    });
    expect(Object.keys(await liveRecords(host))).toEqual(['127.0.0.1-1092']);
    await next.stop();
    expect(await liveRecords(host)).toEqual({});

    // Uninstall with no daemon running: the recorded proxies it drops are stopped, the others are left.
    const keep = spawn(FAKE[0]!, [...FAKE.slice(1), 'proxy', '--listen', '127.0.0.1:1094'], { stdio: 'ignore' });
    const drop = spawn(FAKE[0]!, [...FAKE.slice(1), 'proxy', '--listen', '127.0.0.1:1095'], { stdio: 'ignore' });
    onTestFinished(() => void keep.kill('SIGKILL'));
    onTestFinished(() => void drop.kill('SIGKILL'));
    const keepRec = (await recordOf(keep.pid!, ['proxy', '--listen', '127.0.0.1:1094']))!;
    const dropRec = (await recordOf(drop.pid!, ['proxy', '--listen', '127.0.0.1:1095']))!;
    await host.writeFile(PROXIES_RUN_PATH, JSON.stringify({ k: keepRec, d: dropRec }), { mode: 0o644 });
    expect(await stopRecordedProxies(host, ['d'])).toEqual(['d']);
    expect(await stillRunning(dropRec)).toBe(false);
    expect(await stillRunning(keepRec)).toBe(true);
    expect(await stopRecordedProxies(host, '*')).toEqual(['k']);
    expect(await stillRunning(keepRec)).toBe(false);
  }, 20_000);
});

describe('go-ahead after the record', () => {
  it('a daemon child serves only after the recorded line; an input that ends first (the daemon died) means no', async () => {
    const ok = new PassThrough();
    const yes = recordedBySupervisor(ok);
    ok.write('rec');
    ok.write(`orded\n`);
    expect(await yes).toBe(true);
    const gone = new PassThrough();
    const no = recordedBySupervisor(gone);
    gone.end('recorded'); // no newline: a partial line is not the go-ahead
    expect(await no).toBe(false);
    const junk = new PassThrough();
    const noJunk = recordedBySupervisor(junk);
    junk.write('x'.repeat(2000));
    expect(await noJunk).toBe(false);
  });

  it('the runner sends the go-ahead only once the child is in the record file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'egress-go-'));
    const seen = join(dir, 'stdin');
    // Copies its stdin to a file, so the test sees what the daemon sent and when.
    const child = [process.execPath, '-e', `const fs=require('fs');process.stdin.on('data',(b)=>fs.appendFileSync(${JSON.stringify(seen)},b));setInterval(()=>undefined,1e9)`, '--'];
    const host = new FakeHost();
    const runner = startProxyRunner(host, () => undefined, child);
    onTestFinished(() => runner.stop());
    expect((await cli(host, ['proxy', '--persist', '--listen', '127.0.0.1:1096'])).code).toBe(0);
    await runner.reload();
    for (let i = 0; i < 200 && !existsSync(seen); i++) await new Promise((r) => setTimeout(r, 25));
    expect(readFileSync(seen, 'utf8')).toBe(`${RECORDED_LINE}\n`);
    const rec = (await loadRunRecords(host))['127.0.0.1-1096'];
    expect(rec && (await stillRunning(rec))).toBe(true);
  }, 20_000);
});

describe('proxy status file', () => {
  it('is written while the counters change and removed on stop', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'egress-proxy-status-'));
    const path = join(dir, 'sub', 'p.json');
    let n = 0;
    const w = startStatusWriter(path, () => ({ active: n, activeUdp: 0, connections: n, refused: 0, failed: 0, bytesUp: 10 * n, bytesDown: 0, listening: ['127.0.0.1:1'] }), 20);
    const read = () => {
      try {
        return ProxyStatus.parse(JSON.parse(readFileSync(path, 'utf8')));
      } catch {
        return undefined;
      }
    };
    for (let i = 0; i < 100 && read() === undefined; i++) await new Promise((r) => setTimeout(r, 10));
    expect(read()).toMatchObject({ pid: process.pid, active: 0, bytesUp: 0 });
    n = 3;
    for (let i = 0; i < 100 && read()?.active !== 3; i++) await new Promise((r) => setTimeout(r, 10));
    expect(read()).toMatchObject({ active: 3, connections: 3, bytesUp: 30 });
    await w.stop();
    expect(existsSync(path)).toBe(false);
  });
});

describe('change lock', () => {
  it('is taken by proxy --persist and proxy remove, not by a foreground proxy or proxy list', () => {
    expect(changesClient('proxy', [], { persist: true })).toBe(true);
    expect(changesClient('proxy', ['remove', 'x'], {})).toBe(true);
    expect(changesClient('proxy', [], {})).toBe(false);
    expect(changesClient('proxy', ['list'], {})).toBe(false);
    expect(changesClient('up', [], {})).toBe(true);
    expect(changesClient('status', [], {})).toBe(false);
  });
});
