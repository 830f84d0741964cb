// `netns add|remove|list`: arguments parsed from data, bad input refused naming field and value before anything runs.
import { describe, expect, it } from 'vitest';
import { PermissionError, ValidationError } from '@egress/core/errors';
import type { Host } from '@egress/core/host/host';
import { Output } from '@egress/core/output';
import { parseCli, type CommandContext } from '../cli.js';
import { netnsCommand, parseNetnsName } from './command.js';

/** A host that fails the test if a command touches it. */
const untouchable = (): Promise<Host> => Promise.reject(new Error('the host was touched'));
const ctx = (isRoot: boolean): CommandContext => ({ output: new Output({ quiet: true }), host: untouchable, isRoot, handshakeTimeoutMs: 1 });

describe('egress-client netns', () => {
  it('parses add with --egress, --dry-run and --json, and list', () => {
    const r = parseCli(['netns', 'add', 'vpn', '--egress', 'work', '--dry-run', '--json']);
    expect(r).toEqual({ kind: 'run', invocation: { command: 'netns', args: ['add', 'vpn'], rest: [], options: { egress: 'work', dryRun: true, json: true } } });
    expect(parseCli(['netns', 'list'])).toMatchObject({ invocation: { args: ['list'] } });
  });

  it('accepts names ip netns takes and egress can own; refuses others naming the field, the value and what is allowed', () => {
    expect(parseNetnsName('vpn-1', 'add')).toBe('vpn-1');
    for (const bad of ['Vpn', '1vpn', 'a/b', '../x', 'egiso-5', 'x'.repeat(33), '']) {
      expect(() => parseNetnsName(bad, 'add'), bad).toThrow(ValidationError);
    }
    expect(() => parseNetnsName('a/b', 'add')).toThrow("NAME: expected a namespace name of 1-32 lowercase letters, digits, '_' or '-', starting with a letter, got 'a/b'");
    expect(() => parseNetnsName(undefined, 'remove')).toThrow('NAME: expected a namespace name after \'remove\'');
  });

  it('refuses an unknown action, a bad name and a caller who is not root before touching the host', async () => {
    const inv = (args: string[]) => ({ command: 'netns', args, rest: [], options: {} });
    await expect(netnsCommand(inv(['move', 'vpn']), ctx(true))).rejects.toThrow("ACTION: expected add, remove or list, got 'move'");
    await expect(netnsCommand(inv(['add', 'Bad']), ctx(true))).rejects.toThrow(ValidationError);
    await expect(netnsCommand(inv(['add', 'vpn']), ctx(false))).rejects.toThrow(PermissionError);
    await expect(netnsCommand(inv(['remove', 'vpn']), ctx(false))).rejects.toThrow('netns remove must run as root');
  });
});
