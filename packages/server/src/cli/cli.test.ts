// The CLI without a process: parsing, --help from the option table, exit codes, one JSON document on stdout.
import { describe, expect, it } from 'vitest';
import { FakeHost } from '@egress/core/testing';
import type { SessionOpener } from '../session.js';
import { OPTIONS } from './options.js';
import { parseCli } from './parse-cli.js';
import { runCli } from './run-cli.js';

function sink() {
  let text = '';
  return { stream: { write: (c: string) => ((text += c), true), isTTY: false } as never, text: () => text };
}

describe('parseCli', () => {
  it('parses each command with its target, argument and repeatable options', () => {
    expect(parseCli(['provision', 'root@vps', '-p', '2222', '--forward', '8080', '--forward', '53/udp', '--subnet', '10.9.0.0/24', '--dry-run', '--json'])).toEqual({
      kind: 'run',
      command: 'provision',
      target: 'root@vps',
      options: { port: 2222, forward: ['8080', '53/udp'], subnet: ['10.9.0.0/24'], dryRun: true, json: true },
    });
    expect(parseCli(['peer', 'add', 'vps', 'phone', '--public-key', 'K'])).toMatchObject({ command: 'peer add', target: 'vps', arg: 'phone', options: { publicKey: 'K' } });
    expect(parseCli(['forward', 'remove', 'vps', '8080/tcp', '--peer', 'laptop'])).toMatchObject({ command: 'forward remove', arg: '8080/tcp', options: { peer: 'laptop' } });
    expect(parseCli(['deprovision', 'vps', '--purge'])).toMatchObject({ command: 'deprovision', options: { purge: true } });
  });

  it('documents every option of a command in its --help', () => {
    const help = parseCli(['provision', '--help']);
    expect(help.kind).toBe('help');
    for (const o of OPTIONS.filter((x) => x.commands.includes('provision'))) expect((help as { text: string }).text).toContain(o.flags.split(' ').pop()!.startsWith('<') ? o.flags.split(',').pop()!.trim().split(' ')[0]! : o.flags);
    expect((help as { text: string }).text).toContain('./egress-<name>.bundle.json');
  });

  it('refuses bad usage with a ValidationError naming the problem', () => {
    expect(() => parseCli(['provision', 'vps', '--listen-port', '0'])).toThrow("--listen-port: expected a port 1-65535, got '0'");
    expect(() => parseCli(['provision'])).toThrow("missing required argument '[user@]host'");
    expect(() => parseCli(['status', 'vps', '--purge'])).toThrow("unknown option '--purge'");
  });
});

describe('runCli', () => {
  it('prints exactly one JSON document on stdout with --json and progress on stderr', async () => {
    const host = new FakeHost();
    host.on('id', () => ({ exitCode: 0, stdout: '0\n', stderr: '' }));
    const open: SessionOpener = async () => ({ host, target: { alias: 'vps', host: '192.0.2.10', port: 22, user: 'root', identityFiles: [], identitiesOnly: false }, sudo: false });
    const out = sink();
    const err = sink();
    const code = await runCli(['forward', 'list', 'vps', '--json'], { open, stdout: out.stream, stderr: err.stream, env: {} });
    expect(code).toBe(1);
    expect(JSON.parse(out.text())).toEqual({ error: { code: 'E_NOT_FOUND', message: 'fake is not provisioned by egress (no /etc/egress/server.json)' } });
    expect(err.text()).toContain('error: fake is not provisioned by egress');
  });

  it('exits 2 on bad input before connecting', async () => {
    let opened = false;
    const open: SessionOpener = async () => ((opened = true), undefined as never);
    const err = sink();
    expect(await runCli(['provision', 'vps', '--forward', '70000'], { open, stdout: sink().stream, stderr: err.stream, env: {} })).toBe(2);
    expect(opened).toBe(false);
    expect(err.text()).toContain("--forward: '70000': publicPort: expected a port 1-65535");
  });
});
