import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AdjustmentGrantRequest,
  adjustmentGrant,
  type BalanceSource,
  grantsForPeriod,
} from '../../src/domain/grant.js';
import { planGrantExpiry } from '../../src/domain/grant-expiry.js';

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

describe("an operator's grant (source adjustment, its own validity)", () => {
  const now = new Date('2026-06-01T09:00:00Z');
  const expiresAt = new Date('2026-07-01T00:00:00Z');
  const request: AdjustmentGrantRequest = { creditTypeId: 'hours', decimals: 2, units: '2.5', expiresAt };

  it('is a balance valid from now (or valid_from) to expires_at, priority 50 unless given', () => {
    expect(adjustmentGrant(request, now)).toEqual({
      ok: true,
      value: {
        creditTypeId: 'hours',
        granted: 250n,
        validFrom: now,
        expiresAt,
        priority: 50,
        source: 'adjustment',
        lowThreshold: 25n,
      },
    });
    const from = new Date('2026-06-15T00:00:00Z');
    expect(adjustmentGrant({ ...request, validFrom: from, priority: 5 }, now)).toMatchObject({
      ok: true,
      value: { validFrom: from, priority: 5 },
    });
  });

  it.each<[string, Partial<AdjustmentGrantRequest>, string[]]>([
    ['too many decimals', { units: '1.125' }, ['units']],
    ['zero', { units: 0 }, ['units']],
    ['negative', { units: '-1' }, ['units']],
    ['expires_at at valid_from', { validFrom: expiresAt }, ['expires_at']],
    ['expires_at before valid_from', { validFrom: new Date('2026-08-01T00:00:00Z') }, ['expires_at']],
    [
      'expires_at in the past',
      { validFrom: new Date('2026-01-01T00:00:00Z'), expiresAt: new Date('2026-05-01T00:00:00Z') },
      ['expires_at'],
    ],
    ['expires_at now, valid_from omitted', { expiresAt: now }, ['expires_at']],
    ['both at once', { units: 'x', expiresAt: now }, ['units', 'expires_at']],
  ])('refuses %s (422, naming the field)', (_name, change, fields) => {
    const result = adjustmentGrant({ ...request, ...change }, now);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.code).toBe('validation_failed');
    expect(result.errors?.map((e) => e.field)).toEqual(fields);
  });

  it('expires whole at its own expiry: an expire entry of what remains, nothing rolled over', () => {
    const hours = { id: 'hours', code: 'h', unit: 'hour' };
    const later = new Date('2026-07-01T00:05:00Z');
    const plan = planGrantExpiry(
      [
        {
          id: 'b1',
          clientId: 'c',
          creditType: hours,
          decimals: 2,
          remaining: 425n,
          expiresAt,
        },
        { id: 'b2', clientId: 'c', creditType: hours, decimals: 2, remaining: 0n, expiresAt },
      ],
      later,
    );
    expect(plan.entries).toEqual([
      expect.objectContaining({
        balance_id: 'b1',
        kind: 'expire',
        amount: -425n,
        remaining_after: 0n,
        subscription_id: null,
        effective_at: expiresAt,
      }),
    ]);
    expect(plan.changes).toEqual([
      { id: 'b1', remaining: 0n, expired: 425n, status: 'expired' },
      { id: 'b2', remaining: 0n, expired: 0n, status: 'expired' },
    ]);
    expect(plan.events.map((e) => [e.type, e.data.expired, e.data.rolled_over])).toEqual([
      ['balance.expired', '4.25', '0'],
      ['balance.expired', '0', '0'],
    ]);
    // API.md Shapes: the credit type as an object, `{id, code, unit}` (not its code alone)
    expect(plan.events.map((e) => e.data.credit_type)).toEqual([hours, hours]);
  });
});
