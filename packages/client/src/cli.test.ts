// parseCli without a process: every command's arguments and options, help text from the data, bad flags refused.
import { describe, expect, it } from 'vitest';
import { ValidationError } from '@egress/core/errors';
import { COMMANDS } from './cli-spec.js';
import { parseCli } from './cli.js';

const run = (argv: string[]) => {
  const r = parseCli(argv);
  if (r.kind !== 'run') throw new Error(`expected a command, got text: ${r.text}`);
  return r.invocation;
};

describe('parseCli', () => {
  it('parses enroll with every option', () => {
    expect(run(['enroll', '/root/b.json', '--user', 'appuser', '--create-user', '--name', 'work', '--dns', '203.0.113.53', '--dry-run', '--json'])).toEqual({
      command: 'enroll',
      args: ['/root/b.json'],
      rest: [],
      options: { user: 'appuser', createUser: true, name: 'work', dns: '203.0.113.53', dryRun: true, json: true },
    });
  });

  it('parses the optional egress of up, down, status, doctor, uninstall', () => {
    for (const c of ['up', 'down', 'status', 'doctor', 'uninstall']) {
      expect(run([c])).toEqual({ command: c, args: [], rest: [], options: {} });
      expect(run([c, 'work'])).toMatchObject({ command: c, args: ['work'] });
    }
    expect(run(['status', '--json']).options).toEqual({ json: true });
  });

  it("keeps the app's argv after run-as USER as it is, with or without --", () => {
    expect(run(['run-as', 'appuser', '--', 'curl', '-v', '--json', 'x'])).toEqual({ command: 'run-as', args: ['appuser'], rest: ['curl', '-v', '--json', 'x'], options: {} });
    expect(run(['run-as', 'appuser', 'ls', '-la']).rest).toEqual(['ls', '-la']);
    expect(run(['run-as', 'appuser', '--', '--', 'odd']).rest).toEqual(['--', 'odd']);
    expect(run(['exec', '--egress', 'work', '--', 'curl', '-v'])).toEqual({ command: 'exec', args: [], rest: ['curl', '-v'], options: { egress: 'work' } });
    expect(run(['run', '--user', 'appuser', '--', 'id'])).toMatchObject({ rest: ['id'], options: { user: 'appuser' } });
  });

  it('refuses unknown options and missing arguments as bad input (exit 2) with a hint', () => {
    expect(() => parseCli(['enroll', 'b.json', '--usr', 'x'])).toThrow(ValidationError);
    expect(() => parseCli(['enroll', 'b.json', '--usr', 'x'])).toThrow(/unknown option '--usr'/);
    expect(() => parseCli(['run-as', 'appuser'])).toThrow(/missing required argument 'cmd'/);
    expect(() => parseCli(['up', 'a', 'b'])).toThrow(/too many arguments/);
    expect(() => parseCli(['frobnicate'])).toThrow(/unknown command 'frobnicate'/);
  });

  it('documents every command and the allocation defaults in --help', () => {
    const top = parseCli(['--help']);
    expect(top).toMatchObject({ kind: 'text', exitCode: 0 });
    for (const c of COMMANDS) expect(top.kind === 'text' && top.text).toContain(c.name);
    const enroll = parseCli(['enroll', '--help']);
    const text = enroll.kind === 'text' ? enroll.text : '';
    expect(text).toContain('--create-user');
    expect(text).toContain('mark       0x01000000, 0x02000000, ... 0x80000000');
    expect(text).toContain('table      7100, 7101, ...');
    expect(text).toContain('priorities 7100-7109, 7110-7119');
    expect(parseCli(['--version'])).toEqual({ kind: 'text', text: '0.1.0\n', exitCode: 0 });
  });
});
