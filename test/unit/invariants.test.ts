import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type BalanceFacts,
  type ConsumptionFacts,
  checkBalance,
  checkConsumption,
  checkInvoiceSequence,
  type Violation,
} from '../../src/domain/invariants.js';

const names = (violations: Violation[]): Violation['invariant'][] => violations.map((v) => v.invariant);

describe(
  'DOMAIN "Invariants": for every balance, granted + Σ(ledger ' +
    'amounts after the grant) = remaining, and 0 <= remaining',
  () => {
    const balance = (over: Partial<BalanceFacts> = {}): BalanceFacts => ({
      id: 'b1',
      granted: 100n,
      remaining: 60n,
      firstEntryAmount: 100n,
      ledgerSum: 60n, // +100 grant, −40 consumed
      ...over,
    });

    it.each<{ label: string; facts: BalanceFacts }>([
      { label: 'consumed in part', facts: balance() },
      { label: 'untouched', facts: balance({ remaining: 100n, ledgerSum: 100n }) },
      { label: 'depleted to exactly 0', facts: balance({ remaining: 0n, ledgerSum: 0n }) },
      { label: 'recharged above its grant', facts: balance({ remaining: 150n, ledgerSum: 150n }) },
    ])('holds for a balance $label', ({ facts }) => {
      expect(checkBalance(facts)).toEqual([]);
    });

    it.each<{ label: string; facts: BalanceFacts; invariants: Violation['invariant'][] }>([
      {
        label: 'remaining differs from the ledger',
        facts: balance({ remaining: 61n }),
        invariants: ['balance_ledger_sum'],
      },
      {
        label: 'remaining below 0 (and the ledger agrees)',
        facts: balance({ remaining: -5n, ledgerSum: -5n }),
        invariants: ['balance_negative'],
      },
      { label: 'no grant entry', facts: balance({ firstEntryAmount: null }), invariants: ['balance_first_entry'] },
      {
        label: 'a grant entry of another amount',
        facts: balance({ firstEntryAmount: 90n }),
        invariants: ['balance_first_entry'],
      },
      {
        label: 'negative and off the ledger',
        facts: balance({ remaining: -1n }),
        invariants: ['balance_negative', 'balance_ledger_sum'],
      },
    ])('fails for a balance with $label', ({ facts, invariants }) => {
      const violations = checkBalance(facts);
      expect(names(violations)).toEqual(invariants);
      for (const v of violations) expect(v.subject).toBe('balance b1');
    });

    it('says by how much the ledger is off', () => {
      const [violation] = checkBalance(balance({ remaining: 65n }));
      expect(violation?.detail).toContain('off by 5');
    });

    it('property: any history of movements that keeps remaining in step with the ledger passes', () => {
      fc.assert(
        fc.property(
          fc.bigInt({ min: 1n, max: 10n ** 12n }),
          fc.array(fc.bigInt({ min: -(10n ** 6n), max: 10n ** 6n })),
          (granted, moves) => {
            let remaining = granted;
            for (const m of moves) remaining = remaining + m < 0n ? 0n : remaining + m;
            const facts = { id: 'b', granted, remaining, firstEntryAmount: granted, ledgerSum: remaining };
            expect(checkBalance(facts)).toEqual([]);
            expect(names(checkBalance({ ...facts, ledgerSum: remaining + 1n }))).toContain('balance_ledger_sum');
          },
        ),
      );
    });
  },
);

describe(
  'DOMAIN "Invariants": Σ allocations of a consumption = its ' +
    'applied quantity; every consumption is applied at most once',
  () => {
    const consumption = (over: Partial<ConsumptionFacts> = {}): ConsumptionFacts => ({
      id: 'k1',
      status: 'applied',
      applied: 50n,
      allocationSum: 50n,
      consumedInLedger: 50n,
      reversedInLedger: 0n,
      expiredInLedger: 0n,
      reversalReturned: 0n,
      reversalExpired: 0n,
      ...over,
    });

    it.each<{ label: string; facts: ConsumptionFacts }>([
      { label: 'applied', facts: consumption() },
      {
        label: 'partial',
        facts: consumption({ status: 'partial', applied: 30n, allocationSum: 30n, consumedInLedger: 30n }),
      },
      {
        label: 'rejected',
        facts: consumption({ status: 'rejected', applied: 0n, allocationSum: 0n, consumedInLedger: 0n }),
      },
      {
        label: 'reversed in full',
        facts: consumption({ status: 'reversed', reversedInLedger: 50n, reversalReturned: 50n }),
      },
      {
        label: 'reversed, part of it expired (given back and expired there at once)',
        facts: consumption({
          status: 'reversed',
          reversedInLedger: 50n,
          expiredInLedger: 30n,
          reversalReturned: 20n,
          reversalExpired: 30n,
        }),
      },
      {
        label: 'reversed before the expired part was written to the ledger (it stayed spent)',
        facts: consumption({ status: 'reversed', reversedInLedger: 20n, reversalReturned: 20n, reversalExpired: 30n }),
      },
    ])('holds for a consumption $label', ({ facts }) => {
      expect(checkConsumption(facts)).toEqual([]);
    });

    it.each<{ label: string; facts: ConsumptionFacts; invariants: Violation['invariant'][] }>([
      {
        label: 'allocations short of applied',
        facts: consumption({ allocationSum: 40n }),
        invariants: ['consumption_allocations'],
      },
      {
        label: 'applied twice in the ledger',
        facts: consumption({ consumedInLedger: 100n }),
        invariants: ['consumption_ledger'],
      },
      {
        label: 'nothing in the ledger',
        facts: consumption({ consumedInLedger: 0n }),
        invariants: ['consumption_ledger'],
      },
      {
        label: 'rejected but applied',
        facts: consumption({ status: 'rejected', applied: 5n, allocationSum: 5n, consumedInLedger: 5n }),
        invariants: ['consumption_ledger'],
      },
      {
        label: 'reversal gave back more than it says',
        facts: consumption({ status: 'reversed', reversedInLedger: 50n, reversalReturned: 40n }),
        invariants: ['consumption_ledger'],
      },
      {
        label: 'reversed twice in the ledger',
        facts: consumption({ status: 'reversed', reversedInLedger: 100n, reversalReturned: 50n }),
        invariants: ['consumption_ledger'],
      },
      {
        label: 'expired on giving back other than the reversal says',
        facts: consumption({
          status: 'reversed',
          reversedInLedger: 50n,
          expiredInLedger: 20n,
          reversalReturned: 30n,
          reversalExpired: 30n,
        }),
        invariants: ['consumption_ledger'],
      },
      {
        label: 'given back without being reversed',
        facts: consumption({ status: 'applied', reversedInLedger: 10n, reversalReturned: 10n }),
        invariants: ['consumption_ledger'],
      },
      {
        label: 'allocations and ledger both off',
        facts: consumption({ allocationSum: 49n, consumedInLedger: 51n }),
        invariants: ['consumption_allocations', 'consumption_ledger'],
      },
    ])('fails for a consumption with $label', ({ facts, invariants }) => {
      const violations = checkConsumption(facts);
      expect(names(violations)).toEqual(invariants);
      for (const v of violations) expect(v.subject).toBe('consumption k1');
    });
  },
);

describe('DOMAIN "Invariants": invoice numbers are gapless and unique per year', () => {
  it.each<[string, number[]]>([
    ['none yet', []],
    ['one', [1]],
    ['in order', [1, 2, 3, 4]],
    ['in any order', [3, 1, 4, 2]],
  ])('holds for %s', (_label, numbers) => {
    expect(checkInvoiceSequence(2026, numbers)).toEqual([]);
  });

  it.each<[string, number[], RegExp]>([
    ['a gap', [1, 2, 4], /number 3 is missing/],
    ['no number 1', [2, 3], /number 1 is missing/],
    ['a repeat', [1, 2, 2, 3], /number 2 is used twice/],
    ['a repeat at the end', [1, 2, 2], /number 2 is used twice/],
    ['a repeat of 1', [1, 1], /number 1 is used twice/],
    ['a number 0', [0, 1, 2], /number 0 is out of range/],
  ])('fails for %s', (_label, numbers, detail) => {
    const violations = checkInvoiceSequence(2026, numbers);
    expect(names(violations)).toEqual(['invoice_numbers']);
    expect(violations[0]?.subject).toBe('invoices of 2026');
    expect(violations[0]?.detail).toMatch(detail);
  });

  it('property: a shuffled 1..n passes; dropping or repeating a number fails', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }).chain((n) =>
          fc.tuple(
            fc.shuffledSubarray(
              Array.from({ length: n }, (_, i) => i + 1),
              { minLength: n, maxLength: n },
            ),
            fc.integer({ min: 0, max: n - 1 }),
          ),
        ),
        ([numbers, k]) => {
          expect(checkInvoiceSequence(2027, numbers)).toEqual([]);
          const dropped = numbers.filter((_, i) => i !== k);
          const removed = numbers[k] ?? 0;
          expect(names(checkInvoiceSequence(2027, dropped))).toEqual(
            removed === numbers.length ? [] : ['invoice_numbers'],
          );
          expect(names(checkInvoiceSequence(2027, [...numbers, numbers[k] ?? 1]))).toEqual(['invoice_numbers']);
        },
      ),
    );
  });
});
