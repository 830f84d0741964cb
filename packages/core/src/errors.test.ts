// Errors people can act on: stable codes, zod issues as "field: rule, got value", secrets never shown.
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { ApplyError, CommandError, ConflictError, EgressError, InternalError, ValidationError, fromZodError, quoteValue } from './errors.js';
import { exitCodeFor } from './output.js';

describe('errors', () => {
  it('fixes a stable code per class and keeps hint and cause', () => {
    const cause = new Error('low level');
    const e = new ConflictError('user appuser is already bound', { hint: 'unbind it first', cause });
    expect([e.code, e.hint, e.cause, e.userError, e.name]).toEqual(['E_CONFLICT', 'unbind it first', cause, true, 'ConflictError']);
    expect(new ValidationError('x').code).toBe('E_INVALID');
    expect(new ApplyError('x', false).code).toBe('E_APPLY');
    expect(new InternalError('x').userError).toBe(false);
    expect(new CommandError(['ip', 'rule'], 2, 'RTNETLINK answers: File exists\n').message).toBe('command failed (exit 2): ip rule\nRTNETLINK answers: File exists');
    expect(exitCodeFor(new ValidationError('x'))).toBe(2);
    expect(exitCodeFor(new EgressError('E_X', 'x'))).toBe(1);
  });

  it('quotes values shortly', () => {
    expect(quoteValue('abc')).toBe("'abc'");
    expect(quoteValue(42)).toBe('42');
    expect(quoteValue(undefined)).toBe('nothing');
    expect(quoteValue({ a: 1 })).toBe('{"a":1}');
    expect(quoteValue('x'.repeat(100))).toBe(`'${'x'.repeat(56)}...`);
  });

  it('turns zod issues into "path: rule, got value" with nested paths and indexes', () => {
    const schema = z.object({ server: z.object({ endpoint: z.string().regex(/:/, { message: 'expected host:port' }) }), peers: z.array(z.object({ port: z.number({ message: 'expected a port' }) })) }).strict();
    const input = { server: { endpoint: 'x' }, peers: [{ port: 1 }, { port: 'p' }], extra: true, privateKey: 'SECRET' };
    const r = schema.safeParse(input);
    const err = fromZodError(r.error!, 'bundle', input);
    expect(err.issues).toEqual([
      { path: 'bundle.server.endpoint', message: "bundle.server.endpoint: expected host:port, got 'x'" },
      { path: 'bundle.peers[1].port', message: "bundle.peers[1].port: expected a port, got 'p'" },
      { path: 'bundle.extra', message: 'bundle.extra: expected no such field (unknown to this version of egress), got true' },
      { path: 'bundle.privateKey', message: 'bundle.privateKey: expected no such field (unknown to this version of egress), got (secret, not shown)' },
    ]);
    expect(err.message).toBe(`invalid bundle:\n  ${err.issues.map((i) => i.message).join('\n  ')}`);
    expect(err.message).not.toContain('SECRET');
  });

  it('a single issue is the whole message; a root issue is named (root)', () => {
    const r = z.number({ message: 'expected a number' }).safeParse('x');
    expect(fromZodError(r.error!, '', 'x').message).toBe("(root): expected a number, got 'x'");
    expect(fromZodError(r.error!, '--mtu', 'x').message).toBe("--mtu: expected a number, got 'x'");
  });

  it('never shows a secret field value', () => {
    const schema = z.object({ privateKey: z.string().length(44, { message: 'expected a WireGuard key' }) });
    const input = { privateKey: 'leaked-secret' };
    const err = fromZodError(schema.safeParse(input).error!, 'client', input);
    expect(err.message).toBe('client.privateKey: expected a WireGuard key, got (secret, not shown)');
  });
});
