import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type BalanceSource, grantsForPeriod } from '../../src/domain/grant.js';

const period = { start: new Date('2026-01-31T00:00:00Z'), end: new Date('2026-02-28T00:00:00Z') };
const terms = { priority: 50, lowBalancePercent: 10 };

describe('DOMAIN "Subscribe"/"Renew": one balance per package item for the period', () => {
  it('one draft per item, valid for the period, with the package priority', () => {
    const drafts = grantsForPeriod(
      [
        { creditTypeId: 'sms', units: 1000n },
        { creditTypeId: 'minutes', units: 2_500n },
      ],
      period,
      terms,
    );
    expect(drafts).toEqual([
      {
        creditTypeId: 'sms',
        granted: 1000n,
        validFrom: period.start,
        expiresAt: period.end,
        priority: 50,
        source: 'package',
        lowThreshold: 100n,
      },
      {
        creditTypeId: 'minutes',
        granted: 2_500n,
        validFrom: period.start,
        expiresAt: period.end,
        priority: 50,
        source: 'package',
        lowThreshold: 250n,
      },
    ]);
  });

  it.each<[bigint, number, bigint]>([
    [1000n, 10, 100n],
    [999n, 10, 99n],
    [7n, 50, 3n],
    [1n, 99, 0n],
    [100n, 0, 0n],
    [100n, 100, 100n],
    [2_500_000n, 15, 375_000n],
  ])(
    'low threshold of %s units at %i%% is floor(units × percent / 100) = %s',
    (units, lowBalancePercent, threshold) => {
      const [draft] = grantsForPeriod([{ creditTypeId: 'sms', units }], period, { priority: 0, lowBalancePercent });
      expect(draft?.lowThreshold).toBe(threshold);
    },
  );

  it.each<BalanceSource>(['package', 'recharge', 'rollover', 'adjustment'])('records the source %s', (source) => {
    const drafts = grantsForPeriod([{ creditTypeId: 'sms', units: 5n }], period, terms, source);
    expect(drafts.map((d) => d.source)).toEqual([source]);
  });

  it('no items, no balances', () => {
    expect(grantsForPeriod([], period, terms)).toEqual([]);
  });

  it.each<[string, { start: Date; end: Date }]>([
    ['empty', { start: period.start, end: period.start }],
    ['negative', { start: period.end, end: period.start }],
  ])('refuses an %s period', (_label, bad) => {
    expect(() => grantsForPeriod([{ creditTypeId: 'sms', units: 5n }], bad, terms)).toThrow(RangeError);
  });

  it('a period of 1 ms is fine', () => {
    const tiny = { start: period.start, end: new Date(period.start.getTime() + 1) };
    expect(grantsForPeriod([{ creditTypeId: 'sms', units: 5n }], tiny, terms)).toHaveLength(1);
  });

  it('property: granted = units, 0 <= low threshold <= granted for percent 0..100, items kept in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.bigInt({ min: 1n, max: 10n ** 18n }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 0, max: 100 }),
        (units, lowBalancePercent, priority) => {
          const items = units.map((u, i) => ({ creditTypeId: `ct${i}`, units: u }));
          const drafts = grantsForPeriod(items, period, { priority, lowBalancePercent });
          expect(drafts.map((d) => [d.creditTypeId, d.granted, d.priority])).toEqual(
            items.map((item) => [item.creditTypeId, item.units, priority]),
          );
          for (const d of drafts) {
            expect(d.lowThreshold).toBeGreaterThanOrEqual(0n);
            expect(d.lowThreshold).toBeLessThanOrEqual(d.granted);
            expect(d.lowThreshold * 100n).toBeLessThanOrEqual(d.granted * BigInt(lowBalancePercent));
          }
        },
      ),
    );
  });
});
