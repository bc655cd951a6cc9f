import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareSpendingOrder } from '../../src/domain/lock-order.js';
import {
  type ExpiringLot,
  NO_ROLLOVER,
  planRollover,
  type RolloverPolicy,
  rolloverAmount,
} from '../../src/domain/rollover.js';

describe(
  'DOMAIN "Renew": unused units roll over per the package\'s rollover policy ' +
    '(none default, all, or percent with an optional cap); the rest expire',
  () => {
    it('the default policy is none', () => {
      expect(NO_ROLLOVER).toEqual({ policy: 'none' });
      expect(rolloverAmount(NO_ROLLOVER, 40n, 100n)).toBe(0n);
    });

    it.each<{ label: string; policy: RolloverPolicy; remaining: bigint; periodUnits: bigint; rolled: bigint }>([
      { label: 'none: everything expires', policy: { policy: 'none' }, remaining: 40n, periodUnits: 100n, rolled: 0n },
      {
        label: 'all: everything rolls over',
        policy: { policy: 'all' },
        remaining: 40n,
        periodUnits: 100n,
        rolled: 40n,
      },
      {
        label: "all, more than one period's grant",
        policy: { policy: 'all' },
        remaining: 250n,
        periodUnits: 100n,
        rolled: 250n,
      },
      {
        label: 'percent 50',
        policy: { policy: 'percent', percent: 50 },
        remaining: 40n,
        periodUnits: 100n,
        rolled: 20n,
      },
      {
        label: 'percent rounds down',
        policy: { policy: 'percent', percent: 50 },
        remaining: 41n,
        periodUnits: 100n,
        rolled: 20n,
      },
      {
        label: 'percent 100',
        policy: { policy: 'percent', percent: 100 },
        remaining: 41n,
        periodUnits: 100n,
        rolled: 41n,
      },
      { label: 'percent 0', policy: { policy: 'percent', percent: 0 }, remaining: 41n, periodUnits: 100n, rolled: 0n },
      {
        label: 'percent, cap null',
        policy: { policy: 'percent', percent: 80, cap_percent: null },
        remaining: 90n,
        periodUnits: 100n,
        rolled: 72n,
      },
      {
        label: 'percent, cap not reached',
        policy: { policy: 'percent', percent: 50, cap_percent: 30 },
        remaining: 40n,
        periodUnits: 100n,
        rolled: 20n,
      },
      {
        label: 'percent, capped at cap_percent of the period grant',
        policy: { policy: 'percent', percent: 100, cap_percent: 25 },
        remaining: 40n,
        periodUnits: 100n,
        rolled: 25n,
      },
      {
        label: 'percent, cap exactly reached',
        policy: { policy: 'percent', percent: 50, cap_percent: 20 },
        remaining: 40n,
        periodUnits: 100n,
        rolled: 20n,
      },
      {
        label: 'percent, cap 0',
        policy: { policy: 'percent', percent: 100, cap_percent: 0 },
        remaining: 40n,
        periodUnits: 100n,
        rolled: 0n,
      },
      {
        label: 'percent, cap above 100 does not exceed remaining',
        policy: { policy: 'percent', percent: 100, cap_percent: 200 },
        remaining: 40n,
        periodUnits: 100n,
        rolled: 40n,
      },
      {
        label: 'percent above 100 never exceeds remaining',
        policy: { policy: 'percent', percent: 150 },
        remaining: 40n,
        periodUnits: 100n,
        rolled: 40n,
      },
      {
        label: 'scaled units (3 decimals)',
        policy: { policy: 'percent', percent: 33, cap_percent: 10 },
        remaining: 12_345n,
        periodUnits: 100_000n,
        rolled: 4_073n,
      },
    ])('$label', ({ policy, remaining, periodUnits, rolled }) => {
      expect(rolloverAmount(policy, remaining, periodUnits)).toBe(rolled);
    });

    it.each<[RolloverPolicy, bigint]>([
      [{ policy: 'all' }, 0n],
      [{ policy: 'all' }, -5n],
      [{ policy: 'percent', percent: 100 }, 0n],
      [{ policy: 'percent', percent: 50, cap_percent: 100 }, -10n],
    ])('%j with remaining %s rolls over 0', (policy, remaining) => {
      expect(rolloverAmount(policy, remaining, 100n)).toBe(0n);
    });

    it('property: 0 <= rolled <= remaining, within percent and cap', () => {
      const policyArb: fc.Arbitrary<RolloverPolicy> = fc.oneof(
        fc.constant<RolloverPolicy>({ policy: 'none' }),
        fc.constant<RolloverPolicy>({ policy: 'all' }),
        fc.record({
          policy: fc.constant('percent' as const),
          percent: fc.integer({ min: 0, max: 200 }),
          cap_percent: fc.option(fc.integer({ min: 0, max: 200 }), { nil: undefined }),
        }),
      );
      fc.assert(
        fc.property(
          policyArb,
          fc.bigInt({ min: -100n, max: 10n ** 18n }),
          fc.bigInt({ min: 0n, max: 10n ** 18n }),
          (policy, remaining, periodUnits) => {
            const rolled = rolloverAmount(policy, remaining, periodUnits);
            expect(rolled).toBeGreaterThanOrEqual(0n);
            expect(rolled).toBeLessThanOrEqual(remaining > 0n ? remaining : 0n);
            if (policy.policy === 'percent') {
              expect(rolled * 100n).toBeLessThanOrEqual((remaining > 0n ? remaining : 0n) * BigInt(policy.percent));
              if (policy.cap_percent != null)
                expect(rolled * 100n).toBeLessThanOrEqual(periodUnits * BigInt(policy.cap_percent));
            }
          },
        ),
      );
    });
  },
);

const END = new Date('2026-02-01T00:00:00.000Z');
/** A balance of subscription S's sms expiring at END; `validFrom` in days into January, `priority` 50 unless given. */
const lot = (id: string, remaining: bigint, validFrom = 1, priority = 50): ExpiringLot => ({
  id,
  clientId: 'client',
  creditTypeId: 'sms',
  priority,
  expiresAt: END,
  validFrom: new Date(Date.UTC(2026, 0, validFrom)),
  remaining,
});

describe(
  'DOMAIN "Edges that must hold": the rollover cap applies per ' +
    'subscription and credit type, summed over all its expiring balances',
  () => {
    const capped: RolloverPolicy = { policy: 'percent', percent: 50, cap_percent: 50 };
    it.each<{ label: string; policy: RolloverPolicy; lots: ExpiringLot[]; periodUnits: bigint; rolled: bigint[] }>([
      {
        label: 'a package balance and two recharges share one cap (5 of 10), taken in spending order',
        policy: capped,
        lots: [lot('recharge-2', 10n, 12), lot('package', 10n, 1), lot('recharge-1', 10n, 11)],
        periodUnits: 10n,
        rolled: [5n, 0n, 0n],
      },
      {
        label: 'the percent applies to the sum (50% of 3+3+3 is 4, not 1+1+1)',
        policy: { policy: 'percent', percent: 50 },
        lots: [lot('a', 3n, 1), lot('b', 3n, 2), lot('c', 3n, 3)],
        periodUnits: 10n,
        rolled: [3n, 1n, 0n],
      },
      {
        label: 'the first balance in spending order gives all it has, then the next',
        policy: { policy: 'percent', percent: 100, cap_percent: 80 },
        lots: [lot('package', 2n, 1), lot('recharge', 10n, 5)],
        periodUnits: 10n,
        rolled: [2n, 6n],
      },
      {
        label: 'spending order: a lower priority number goes first, whatever its validity',
        policy: capped,
        lots: [lot('paid', 10n, 1, 50), lot('free', 10n, 20, 10)],
        periodUnits: 10n,
        rolled: [5n, 0n],
      },
      {
        label: 'an earlier rollover counts against the cap like the rest',
        policy: capped,
        lots: [lot('rollover', 10n, 1), lot('package', 2n, 1)],
        periodUnits: 10n,
        rolled: [2n, 3n],
      },
      {
        label: 'all: everything rolls over, whatever the period grant',
        policy: { policy: 'all' },
        lots: [lot('package', 7n, 1), lot('recharge', 30n, 2)],
        periodUnits: 10n,
        rolled: [7n, 30n],
      },
      {
        label: 'none: everything expires',
        policy: NO_ROLLOVER,
        lots: [lot('package', 7n, 1), lot('recharge', 30n, 2)],
        periodUnits: 10n,
        rolled: [0n, 0n],
      },
      {
        label: 'spent balances give nothing and expire nothing',
        policy: capped,
        lots: [lot('package', 0n, 1), lot('recharge', 8n, 2)],
        periodUnits: 10n,
        rolled: [0n, 4n],
      },
      { label: 'no balances: nothing', policy: capped, lots: [], periodUnits: 10n, rolled: [] },
    ])('$label', ({ policy, lots, periodUnits, rolled }) => {
      const plan = planRollover(policy, lots, periodUnits);
      const ordered = [...lots].sort(compareSpendingOrder);
      expect(plan.map((p) => p.lot.id)).toEqual(ordered.map((l) => l.id));
      expect(plan.map((p) => p.rolled)).toEqual(rolled);
      expect(plan.map((p) => p.expired)).toEqual(ordered.map((l, i) => l.remaining - rolled[i]!));
    });

    it(
      'property: the total never exceeds the cap, the percent or what ' +
        'remains; every unit rolls over or expires; spending order first',
      () => {
        const policyArb: fc.Arbitrary<RolloverPolicy> = fc.oneof(
          fc.constant<RolloverPolicy>({ policy: 'none' }),
          fc.constant<RolloverPolicy>({ policy: 'all' }),
          fc.record({
            policy: fc.constant('percent' as const),
            percent: fc.integer({ min: 0, max: 200 }),
            cap_percent: fc.option(fc.integer({ min: 0, max: 200 }), { nil: null }),
          }),
        );
        const lotsArb = fc.uniqueArray(
          fc.record({
            id: fc.uuid(),
            remaining: fc.bigInt({ min: 0n, max: 10n ** 15n }),
            priority: fc.integer({ min: 0, max: 100 }),
            validFrom: fc.integer({ min: 1, max: 28 }),
          }),
          { maxLength: 8, selector: (l) => l.id },
        );
        fc.assert(
          fc.property(policyArb, lotsArb, fc.bigInt({ min: 0n, max: 10n ** 15n }), (policy, drafts, periodUnits) => {
            const lots = drafts.map((d) => lot(d.id, d.remaining, d.validFrom, d.priority));
            const plan = planRollover(policy, lots, periodUnits);
            const remaining = lots.reduce((sum, l) => sum + l.remaining, 0n);
            const total = plan.reduce((sum, p) => sum + p.rolled, 0n);
            expect(plan).toHaveLength(lots.length);
            expect(total).toBeLessThanOrEqual(remaining);
            expect(total).toBe(rolloverAmount(policy, remaining, periodUnits));
            if (policy.policy === 'none') expect(total).toBe(0n);
            if (policy.policy === 'percent') {
              expect(total * 100n).toBeLessThanOrEqual(remaining * BigInt(policy.percent));
              if (policy.cap_percent != null)
                expect(total * 100n).toBeLessThanOrEqual(periodUnits * BigInt(policy.cap_percent));
            }
            for (const p of plan) {
              expect(p.rolled).toBeGreaterThanOrEqual(0n);
              expect(p.expired).toBeGreaterThanOrEqual(0n);
              expect(p.rolled + p.expired).toBe(p.lot.remaining);
            }
            // a balance later in the spending order rolls over only once every earlier one gives all it has
            plan.forEach((p, i) => {
              if (i > 0 && p.rolled > 0n) expect(plan[i - 1]!.expired).toBe(0n);
              if (i > 0) expect(compareSpendingOrder(plan[i - 1]!.lot, p.lot)).toBeLessThanOrEqual(0);
            });
          }),
        );
      },
    );
  },
);
