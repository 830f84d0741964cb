// SshHost over a stand-in ssh2 client that runs each exec'd command line with `sh -c`, as sshd does.
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { PermissionError, emptyHostState, readState, serverOwnership } from '@egress/core';
import { readFacts } from '../remote/facts.js';
import { SshHost } from './ssh-host.js';

const dir = mkdtempSync(join(tmpdir(), 'egress-sshhost-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A minimal ssh2 Client: exec(command) runs `sh -c command` locally with the channel's stdin. */
function localClient(env: NodeJS.ProcessEnv = process.env) {
  const commands: string[] = [];
  const client = {
    exec(command: string, cb: (err: Error | undefined, channel: EventEmitter) => void) {
      commands.push(command);
      const child = spawn('sh', ['-c', command], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      child.stdin.on('error', () => undefined); // a command that exits without reading its stdin
      const channel = Object.assign(new EventEmitter(), {
        stderr: new PassThrough(),
        end: (data: string) => child.stdin.end(data),
        close: () => child.kill(),
      });
      child.stdout.on('data', (d: Buffer) => channel.emit('data', d));
      child.stderr.on('data', (d: Buffer) => channel.stderr.emit('data', d));
      child.on('close', (code) => channel.emit('close', code));
      cb(undefined, channel);
      return client;
    },
    end() {},
  };
  return { client: client as never, commands };
}

describe('SshHost', () => {
  it('runs argv with shell characters as literal words, one exec each', async () => {
    const { client, commands } = localClient();
    const host = new SshHost(client, { name: 'test' });
    const r = await host.run(['printf', '%s|', 'a b', '$(id)', "it's", ';', '*'], {});
    expect(r).toEqual({ exitCode: 0, stdout: "a b|$(id)|it's|;|*|", stderr: '' });
    expect((await host.run(['sh', '-c', 'exit 7'])).exitCode).toBe(7);
    expect(host.roundTrips).toBe(2);
    expect(commands).toHaveLength(2);
  });

  it('batches commands into one exec with exit codes and stopOnError', async () => {
    const { client, commands } = localClient();
    const host = new SshHost(client, { name: 'test' });
    const r = await host.runMany([{ argv: ['echo', 'one'] }, { argv: ['cat'], options: { stdin: 'in put\n' } }, { argv: ['false'] }, { argv: ['echo', 'never'] }], { stopOnError: true });
    expect(r.map((x) => [x.exitCode, x.stdout])).toEqual([[0, 'one\n'], [0, 'in put\n'], [1, '']]);
    expect(commands).toEqual(['sh -s']);
  });

  it('writes files atomically with the mode, content on stdin, parents created', async () => {
    const { client } = localClient();
    const host = new SshHost(client, { name: 'test' });
    const path = join(dir, 'sub dir', 'f.conf');
    const content = "secret 'quoted' $HOME\nno final newline";
    await host.writeFile(path, content, { mode: 0o600 });
    expect(readFileSync(path, 'utf8')).toBe(content);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    await host.writeFile(path, 'x\n', { mode: 0o644 });
    expect(statSync(path).mode & 0o777).toBe(0o644);
    expect(await host.readFile(path)).toBe('x\n');
    expect(await host.readFile(join(dir, 'missing'))).toBeUndefined();
    await host.removeFile(path);
    await host.removeFile(path);
    expect(await host.readFile(path)).toBeUndefined();
    await expect(host.writeFile('relative/f', 'x', { mode: 0o600 })).rejects.toThrow(/not an absolute path/);
  });

  it('serves primed files until something changes', async () => {
    const { client, commands } = localClient();
    const host = new SshHost(client, { name: 'test' });
    host.primeFiles(new Map([['/nonexistent/egress', 'primed']]));
    expect(await host.readFile('/nonexistent/egress')).toBe('primed');
    expect(commands).toHaveLength(0);
    await host.run(['sysctl', '-n', 'kernel.ostype'], { change: true });
    expect(await host.readFile('/nonexistent/egress')).toBe('primed');
    await host.run(['true'], { change: true });
    expect(await host.readFile('/nonexistent/egress')).toBeUndefined();
    const path = join(dir, 'written');
    await host.writeFile(path, 'new\n', { mode: 0o600 });
    const execs = commands.length;
    expect(await host.readFile(path)).toBe('new\n');
    await host.removeFile(path);
    expect(await host.readFile(path)).toBeUndefined();
    expect(commands.length).toBe(execs + 1);
  });

  it('answers a batch of primed reads without a round trip, until anything else runs', async () => {
    const { client, commands } = localClient();
    const host = new SshHost(client, { name: 'test' });
    const reads = [{ argv: ['echo', 'a'] }, { argv: ['sh', '-c', 'echo b; exit 3'] }];
    host.primeResults(reads, await host.runMany(reads));
    expect(commands).toHaveLength(1);
    expect(await host.runMany([reads[1]!, reads[0]!])).toEqual([{ exitCode: 3, stdout: 'b\n', stderr: '' }, { exitCode: 0, stdout: 'a\n', stderr: '' }]);
    expect(await host.runMany(reads, { stopOnError: true })).toHaveLength(2);
    expect(commands).toHaveLength(1);
    // A command it was not primed with runs the whole batch; a write (or any run) forgets every primed answer.
    await host.runMany([reads[0]!, { argv: ['echo', 'c'] }]);
    expect(commands).toHaveLength(2);
    host.primeResults(reads, await host.runMany(reads));
    await host.writeFile(join(dir, 'primed-w'), 'x', { mode: 0o600 });
    const before = commands.length;
    await host.runMany(reads);
    expect(commands.length).toBe(before + 1);
    // Commands with stdin or changes are never primed.
    host.primeResults([{ argv: ['cat'], options: { stdin: 'x' } }], [{ exitCode: 0, stdout: 'x', stderr: '' }]);
    await host.runMany([{ argv: ['cat'], options: { stdin: 'y' } }]);
    expect(commands.length).toBe(before + 2);
  });

  it("sends the engine's first read with the facts: the engine then reads this machine without a round trip", async () => {
    const { client, commands } = localClient();
    const host = new SshHost(client, { name: 'test' });
    await readFacts(host, 'egress0', true);
    expect(host.roundTrips).toBe(1);
    const own = serverOwnership({ interface: 'egress0' });
    const desired = { ...emptyHostState(), files: own.files.map((path) => ({ path, content: '', mode: 0o600 })), sysctls: [{ key: 'net.ipv4.ip_forward', value: '1' }, { key: 'net.ipv6.conf.lo.accept_ra', value: '2' }], units: own.units.map((name) => ({ name, enable: true })) };
    const state = await readState(host, desired, own);
    expect(state.sysctls.get('net.ipv4.ip_forward')).toMatch(/^[01]$/);
    // accept_ra of an interface (an IPv6 public interface's key) is answered from the facts' read of /proc.
    expect(state.sysctls.get('net.ipv6.conf.lo.accept_ra')).toBe(readFileSync('/proc/sys/net/ipv6/conf/lo/accept_ra', 'utf8').trim());
    expect(host.roundTrips).toBe(1);
    expect(commands).toHaveLength(1);
    // Without it (status), the facts' batch carries only the facts.
    const plain = localClient();
    const statusHost = new SshHost(plain.client, { name: 'test' });
    await readFacts(statusHost, 'egress0');
    await readState(statusHost, desired, own);
    expect(statusHost.roundTrips).toBe(2);
  });

  it('wraps commands in sudo -n -- and explains a password prompt', async () => {
    const bin = join(dir, 'bin');
    rmSync(bin, { recursive: true, force: true });
    mkdirSync(bin);
    writeFileSync(join(bin, 'sudo'), '#!/bin/sh\necho "sudo: a password is required" >&2\nexit 1\n');
    chmodSync(join(bin, 'sudo'), 0o755);
    const { client, commands } = localClient({ ...process.env, PATH: `${bin}:${process.env.PATH}` });
    const host = new SshHost(client, { name: 'test', sudo: true });
    await expect(host.run(['id', '-u'])).rejects.toBeInstanceOf(PermissionError);
    await expect(host.runMany([{ argv: ['id'] }])).rejects.toThrow(/sudo on test needs a password; egress runs sudo non-interactively/);
    expect(commands).toEqual(['sudo -n -- id -u', 'sudo -n -- sh -s']);
  });
});
