import { describe, expect, it } from 'vitest';
import { inCalendarOrder, monthOfPartition, parseHistoryMonth, refuseArchiving } from '../../src/domain/history.js';

const month = (label: string) => parseHistoryMonth(label)!;
const start = (label: string) => month(label).start;
const facts = {
  now: new Date('2026-07-02T09:00:00.000Z'),
  alreadyArchived: false,
  latestArchived: null,
  oldestLiveRow: null,
  oldestLiveMonth: null,
};

describe('months are archived in calendar order (src/domain/history.ts)', () => {
  it.each([
    ['the oldest live month, ended', '2026-05', {}, null],
    ['one archived already', '2026-05', { alreadyArchived: true }, '2026-05 is archived already'],
    ['one not ended', '2026-07', {}, '2026-07 has not ended yet'],
    [
      'one after a month with rows still live',
      '2026-06',
      { oldestLiveRow: new Date('2026-04-10T00:00:00.000Z'), oldestLiveMonth: start('2026-05') },
      'history older than 2026-06 is still live (from 2026-04): archive it first',
    ],
    [
      'one after a live month that holds no row',
      '2026-06',
      { oldestLiveMonth: start('2026-05') },
      'history older than 2026-06 is still live (from 2026-05): archive it first',
    ],
    [
      'one before the latest month archived (never partitioned)',
      '2025-11',
      { latestArchived: start('2026-06') },
      '2025-11 is older than 2026-06, the latest month archived: months are archived oldest first',
    ],
    ['the month after the latest archived', '2026-07', { now: new Date('2026-08-01T00:00:00.000Z') }, null],
  ])('%s', (_name, label, given, refusal) => {
    expect(refuseArchiving(month(label), { ...facts, ...given })).toBe(refusal);
  });

  it('lists partitions as a calendar: by month, the ledger first, the DEFAULT ones last', () => {
    const listed = inCalendarOrder([
      { table: 'consumption_allocations', partition: 'consumption_allocations_default' },
      { table: 'consumption_allocations', partition: 'consumption_allocations_y2026m10' },
      { table: 'consumption_allocations', partition: 'consumption_allocations_y2026m09' },
      { table: 'ledger_entries', partition: 'ledger_entries_default' },
      { table: 'ledger_entries', partition: 'ledger_entries_y2026m10' },
      { table: 'ledger_entries', partition: 'ledger_entries_y2026m09' },
      { table: 'ledger_entries', partition: 'ledger_entries_y2027m01' },
    ] as const).map((p) => p.partition);
    expect(listed).toEqual([
      'ledger_entries_y2026m09',
      'consumption_allocations_y2026m09',
      'ledger_entries_y2026m10',
      'consumption_allocations_y2026m10',
      'ledger_entries_y2027m01',
      'ledger_entries_default',
      'consumption_allocations_default',
    ]);
    expect(monthOfPartition('ledger_entries_y2026m09')?.label).toBe('2026-09');
    expect(monthOfPartition('ledger_entries_default')).toBeNull();
  });
});
