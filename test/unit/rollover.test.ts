import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NO_ROLLOVER, type RolloverPolicy, rolloverAmount } from '../../src/domain/rollover.js';

describe('DOMAIN "Renew": unused units roll over per the package\'s rollover policy (none default, all, or percent with an optional cap); the rest expire', () => {
  it('the default policy is none', () => {
    expect(NO_ROLLOVER).toEqual({ policy: 'none' });
    expect(rolloverAmount(NO_ROLLOVER, 40n, 100n)).toBe(0n);
  });

  it.each<{ label: string; policy: RolloverPolicy; remaining: bigint; periodUnits: bigint; rolled: bigint }>([
    { label: 'none: everything expires', policy: { policy: 'none' }, remaining: 40n, periodUnits: 100n, rolled: 0n },
    { label: 'all: everything rolls over', policy: { policy: 'all' }, remaining: 40n, periodUnits: 100n, rolled: 40n },
    {
      label: "all, more than one period's grant",
      policy: { policy: 'all' },
      remaining: 250n,
      periodUnits: 100n,
      rolled: 250n,
    },
    { label: 'percent 50', policy: { policy: 'percent', percent: 50 }, remaining: 40n, periodUnits: 100n, rolled: 20n },
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
});
