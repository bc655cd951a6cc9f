import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Allocation } from '../../src/domain/allocate.js';
import { planReversal, type ReversibleLot } from '../../src/domain/reverse.js';

const NOW = new Date('2026-03-10T12:00:00Z');
const LATER = new Date('2026-04-01T00:00:00Z');

function lot(id: string, over: Partial<ReversibleLot> = {}): ReversibleLot {
  return { id, remaining: 10n, status: 'active', expiresAt: LATER, ...over };
}

const lotsOf = (...lots: ReversibleLot[]): Map<string, ReversibleLot> => new Map(lots.map((l) => [l.id, l]));

describe(
  'DOMAIN "Consumption" rule 5: a reversal gives each allocation back to its ' +
    'balance; an expired one is not revived, its part is recorded as expired',
  () => {
    it('gives every allocation back to an active, unexpired balance', () => {
      const plan = planReversal(
        [
          { balanceId: 'a', amount: 30n },
          { balanceId: 'b', amount: 5n },
        ],
        lotsOf(lot('a', { remaining: 0n }), lot('b', { remaining: 95n })),
        NOW,
      );
      expect(plan).toEqual({
        returned: [
          { balanceId: 'a', amount: 30n, remainingAfter: 30n },
          { balanceId: 'b', amount: 5n, remainingAfter: 100n },
        ],
        expired: [],
        returnedTotal: 35n,
        expiredTotal: 0n,
      });
    });

    it.each<{ label: string; over: Partial<ReversibleLot> }>([
      { label: 'status expired', over: { status: 'expired' } },
      { label: 'status void (cancelled immediately)', over: { status: 'void' } },
      {
        label: 'active but past its expiry (the sweep has not run yet)',
        over: { expiresAt: new Date('2026-03-01T00:00:00Z') },
      },
      { label: 'active and expiring exactly now', over: { expiresAt: NOW } },
    ])('a balance with $label is not revived: its part is expired', ({ over }) => {
      const plan = planReversal(
        [
          { balanceId: 'gone', amount: 7n },
          { balanceId: 'ok', amount: 3n },
        ],
        lotsOf(lot('gone', over), lot('ok')),
        NOW,
      );
      expect(plan.expired).toEqual([{ balanceId: 'gone', amount: 7n }]);
      expect(plan.returned).toEqual([{ balanceId: 'ok', amount: 3n, remainingAfter: 13n }]);
      expect(plan.expiredTotal).toBe(7n);
      expect(plan.returnedTotal).toBe(3n);
    });

    it('a balance expiring 1 ms after now is still given back', () => {
      const plan = planReversal(
        [{ balanceId: 'a', amount: 4n }],
        lotsOf(lot('a', { expiresAt: new Date(NOW.getTime() + 1) })),
        NOW,
      );
      expect(plan.returned).toEqual([{ balanceId: 'a', amount: 4n, remainingAfter: 14n }]);
      expect(plan.expired).toEqual([]);
    });

    it("a frozen subscription's balance past its date is still given back: its expiry moves at unfreeze", () => {
      const past = new Date(NOW.getTime() - 1);
      const plan = planReversal(
        [
          { balanceId: 'frozen', amount: 4n },
          { balanceId: 'thawed', amount: 2n },
        ],
        lotsOf(lot('frozen', { expiresAt: past, frozen: true }), lot('thawed', { expiresAt: past })),
        NOW,
      );
      expect(plan.returned).toEqual([{ balanceId: 'frozen', amount: 4n, remainingAfter: 14n }]);
      expect(plan.expired).toEqual([{ balanceId: 'thawed', amount: 2n }]);
    });

    it('a balance that cannot be found is treated as expired, never revived', () => {
      const plan = planReversal([{ balanceId: 'missing', amount: 9n }], lotsOf(), NOW);
      expect(plan).toEqual({
        returned: [],
        expired: [{ balanceId: 'missing', amount: 9n }],
        returnedTotal: 0n,
        expiredTotal: 9n,
      });
    });

    it('remainingAfter accumulates when two allocations hit the same balance', () => {
      const plan = planReversal(
        [
          { balanceId: 'a', amount: 4n },
          { balanceId: 'b', amount: 1n },
          { balanceId: 'a', amount: 6n },
        ],
        lotsOf(lot('a', { remaining: 10n }), lot('b', { remaining: 0n })),
        NOW,
      );
      expect(plan.returned).toEqual([
        { balanceId: 'a', amount: 4n, remainingAfter: 14n },
        { balanceId: 'b', amount: 1n, remainingAfter: 1n },
        { balanceId: 'a', amount: 6n, remainingAfter: 20n },
      ]);
      expect(plan.returnedTotal).toBe(11n);
    });

    it('nothing to reverse, nothing planned', () => {
      expect(planReversal([], lotsOf(lot('a')), NOW)).toEqual({
        returned: [],
        expired: [],
        returnedTotal: 0n,
        expiredTotal: 0n,
      });
    });

    it('does not mutate the balances it is given', () => {
      const lots = lotsOf(lot('a', { remaining: 10n }));
      planReversal([{ balanceId: 'a', amount: 5n }], lots, NOW);
      expect(lots.get('a')?.remaining).toBe(10n);
    });

    it('property: every unit is either returned or expired; each balance ends at remaining + what it got back', () => {
      const ids = ['a', 'b', 'c', 'd'];
      const lotArb = fc.record({
        remaining: fc.bigInt({ min: 0n, max: 100n }),
        status: fc.constantFrom<ReversibleLot['status']>('active', 'expired', 'void'),
        expiresInHours: fc.integer({ min: -48, max: 48 }),
      });
      const allocationArb = fc.record({
        balanceId: fc.constantFrom(...ids, 'unknown'),
        amount: fc.bigInt({ min: 1n, max: 50n }),
      });
      fc.assert(
        fc.property(
          fc.tuple(lotArb, lotArb, lotArb, lotArb),
          fc.array(allocationArb, { maxLength: 10 }),
          (facts, allocations: Allocation[]) => {
            const lots = new Map(
              facts.map((f, i) => {
                const id = ids[i] ?? 'x';
                return [
                  id,
                  {
                    id,
                    remaining: f.remaining,
                    status: f.status,
                    expiresAt: new Date(NOW.getTime() + f.expiresInHours * 3_600_000),
                  },
                ] as const;
              }),
            );
            const plan = planReversal(allocations, lots, NOW);
            const total = allocations.reduce((sum, a) => sum + a.amount, 0n);
            expect(plan.returnedTotal + plan.expiredTotal).toBe(total);
            expect(plan.returned.reduce((sum, r) => sum + r.amount, 0n)).toBe(plan.returnedTotal);
            expect(plan.expired.reduce((sum, r) => sum + r.amount, 0n)).toBe(plan.expiredTotal);
            expect(plan.returned.length + plan.expired.length).toBe(allocations.length);
            for (const [id, l] of lots) {
              const usable = l.status === 'active' && NOW.getTime() < l.expiresAt.getTime();
              const mine = plan.returned.filter((r) => r.balanceId === id);
              if (!usable) expect(mine).toEqual([]);
              const last = mine.at(-1);
              if (last) expect(last.remainingAfter).toBe(l.remaining + mine.reduce((sum, r) => sum + r.amount, 0n));
            }
          },
        ),
      );
    });
  },
);
