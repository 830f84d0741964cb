// Saved proxies: the file's schema, ids, add/remove/list bookkeeping through the CLI on a fake host, and the
// supervisor's runner (real child processes: a shell that sleeps stands in for the proxy).
import { FakeHost } from '@egress/core/testing';
import { describe, expect, it } from 'vitest';
import { runCli } from '../cli.js';
import { nextBackoff, startProxyRunner } from '../daemon/proxies.js';
import { sink } from '../testing/fake-cli.js';
import { addProxy, dropProxiesOf, loadProxies, loadRunning, saveProxies, parseProxiesFile, PROXIES_PATH, proxyArgv, proxyId, removeProxy, savedProxyFrom, withoutEgresses } from './persist.js';

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
    await dropProxiesOf(host, ['a'], 1);
    expect((await loadProxies(host)).proxies.map((p) => p.egress)).toEqual(['b']);
    await host.writeFile(PROXIES_PATH, 'not json', { mode: 0o600 });
    await dropProxiesOf(host, ['b'], 0);
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

  it('starts saved proxies, restarts one that is killed, stops removed ones and all on stop', async () => {
    const host = new FakeHost();
    const lines: string[] = [];
    const runner = startProxyRunner(host, (l) => lines.push(l), ['/bin/sh', '-c', 'exec sleep 60', 'fake-proxy']);
    const waitFor = async (cond: () => Promise<boolean>): Promise<void> => {
      for (let i = 0; i < 200 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 50));
      expect(await cond()).toBe(true);
    };
    expect((await cli(host, ['proxy', '--persist', '--listen', '127.0.0.1:1090'])).code).toBe(0);
    await runner.reload();
    await waitFor(async () => (await loadRunning(host))['127.0.0.1-1090'] !== undefined);
    const first = (await loadRunning(host))['127.0.0.1-1090']!;
    process.kill(first, 'SIGKILL');
    await waitFor(async () => {
      const pid = (await loadRunning(host))['127.0.0.1-1090'];
      return pid !== undefined && pid !== first;
    });
    expect(lines.join('\n')).toContain('proxy 127.0.0.1-1090: exited (SIGKILL); restarting in 1 s');
    const second = (await loadRunning(host))['127.0.0.1-1090']!;

    expect((await cli(host, ['proxy', 'remove', '127.0.0.1-1090'])).code).toBe(0);
    await runner.reload();
    expect(lines).toContain('proxy 127.0.0.1-1090: removed, stopped');
    expect(() => process.kill(second, 0)).toThrow();
    expect(await loadRunning(host)).toEqual({});

    expect((await cli(host, ['proxy', '--persist', '--listen', '127.0.0.1:1091'])).code).toBe(0);
    await runner.reload();
    const third = (await loadRunning(host))['127.0.0.1-1091']!;
    await runner.stop();
    expect(() => process.kill(third, 0)).toThrow();
  }, 20_000);
});
