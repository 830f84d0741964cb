// Allocation: documented defaults, skipping whatever the host or another egress already uses.
import { describe, expect, it } from 'vitest';
import { ConflictError } from '@egress/core/errors';
import { ClientState } from '@egress/core/model/client';
import { allocate, type HostUsage } from './allocate.js';

const empty = (): HostUsage => ({ marks: [], tables: new Set(), priorities: new Set(), interfaces: new Set(['lo', 'eth0']) });
const noEgress = ClientState.parse({ version: 1 });

const egress = (name: string, iface: string, bit: number, table: number, priority: number) => ({
  name,
  kind: 'interface' as const,
  interface: iface,
  mark: 2 ** bit,
  markMask: 2 ** bit,
  table,
  priority,
  selectors: {},
  uplink: {},
});

describe('allocate', () => {
  it('takes the documented defaults on a clean host', () => {
    expect(allocate(noEgress, empty())).toEqual({ interface: 'egress0', mark: 0x01000000, markMask: 0x01000000, table: 7100, priority: 7100 });
  });

  it('gives the next egress the next free values', () => {
    const st = ClientState.parse({ version: 1, egresses: [egress('a', 'egress0', 24, 7100, 7100)] });
    expect(allocate(st, empty())).toEqual({ interface: 'egress1', mark: 0x02000000, markMask: 0x02000000, table: 7101, priority: 7110 });
  });

  it('never collides with a mark, table, rule priority or interface the host already uses', () => {
    const usage = empty();
    usage.marks.push({ mark: 0x01000000, mask: 0x01000000 }, { mark: 0x0, mask: 0x02000000 }, { mark: 0x51820, mask: 0xffffffff });
    usage.tables.add(7100).add(7101);
    usage.priorities.add(7105).add(7119);
    usage.interfaces.add('egress0');
    expect(allocate(noEgress, usage)).toEqual({ interface: 'egress1', mark: 0x04000000, markMask: 0x04000000, table: 7102, priority: 7120 });
  });

  it('says what ran out', () => {
    const usage = empty();
    for (let b = 24; b <= 31; b++) usage.marks.push({ mark: 2 ** b, mask: 2 ** b });
    expect(() => allocate(noEgress, usage)).toThrow(ConflictError);
    expect(() => allocate(noEgress, usage)).toThrow(/no free mark bit \(0x01000000-0x80000000\) left/);
  });
});
