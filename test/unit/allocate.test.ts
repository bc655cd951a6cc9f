import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  burnDown,
  compareLockOrder,
  compareSpendingOrder,
  isUsableAt,
  type Lot,
  type LotCrossing,
  type UseOutcome,
  type UseRequest,
} from '../../src/domain/allocate.js';
import { MS_PER_DAY } from '../../src/domain/period.js';

const JAN1 = Date.UTC(2026, 0, 1);
const day = (n: number): Date => new Date(JAN1 + n * MS_PER_DAY);
const NOW = day(10);

function lot(id: string, over: Partial<Lot> = {}): Lot {
  return {
    id,
    clientId: 'client-1',
    creditTypeId: 'sms',
    subscriptionId: 'sub-1',
    granted: 100n,
    remaining: 100n,
    priority: 50,
    validFrom: day(0),
    expiresAt: day(31),
    lowThreshold: 0n,
    autoRechargeThreshold: null,
    ...over,
  };
}

function use(quantity: bigint, over: Partial<UseRequest> = {}): UseRequest {
  return { clientId: 'client-1', creditTypeId: 'sms', quantity, occurredAt: NOW, mode: 'reject', ...over };
}

/** The one outcome of a one-request batch. */
function only(outcomes: UseOutcome[]): UseOutcome {
  expect(outcomes).toHaveLength(1);
  const [first] = outcomes;
  if (!first) throw new Error('no outcome');
  return first;
}

describe(
  'DOMAIN "Consumption" rule 1: eligible balances are the client\'s, of ' +
    'the credit type, valid_from <= occurred_at < expires_at, remaining > 0',
  () => {
    it.each<{ label: string; over: Partial<Lot>; at: Date; usable: boolean }>([
      { label: 'valid now', over: {}, at: NOW, usable: true },
      { label: 'valid from exactly occurred_at', over: { validFrom: NOW }, at: NOW, usable: true },
      { label: 'expiring exactly at occurred_at', over: { expiresAt: NOW }, at: NOW, usable: false },
      {
        label: 'expiring 1 ms after occurred_at',
        over: { expiresAt: new Date(NOW.getTime() + 1) },
        at: NOW,
        usable: true,
      },
      { label: 'expired before occurred_at', over: { expiresAt: day(5) }, at: NOW, usable: false },
      { label: 'not yet valid', over: { validFrom: new Date(NOW.getTime() + 1) }, at: NOW, usable: false },
      { label: 'nothing left', over: { remaining: 0n }, at: NOW, usable: false },
    ])('isUsableAt: a balance $label is usable: $usable', ({ over, at, usable }) => {
      expect(isUsableAt(lot('b1', over), at)).toBe(usable);
    });

    it('a balance expiring exactly at occurred_at is not spent; the next one pays', () => {
      const lots = [lot('ends-now', { expiresAt: NOW }), lot('later', { expiresAt: day(40) })];
      const outcome = only(burnDown(lots, [use(10n)]).outcomes);
      expect(outcome.allocations).toEqual([{ balanceId: 'later', amount: 10n }]);
    });

    it('a balance expiring exactly at occurred_at does not count as available', () => {
      const result = burnDown([lot('ends-now', { expiresAt: NOW, remaining: 50n })], [use(10n)]);
      expect(only(result.outcomes)).toEqual({
        status: 'rejected',
        quantity: 10n,
        applied: 0n,
        shortfall: 10n,
        allocations: [],
        remaining: 0n,
      });
      expect(result.movements).toEqual([]);
    });

    it('a not-yet-valid balance is left untouched', () => {
      const lots = [
        lot('future', { validFrom: day(11), expiresAt: day(20), priority: 0 }),
        lot('current', { expiresAt: day(40) }),
      ];
      const outcome = only(burnDown(lots, [use(10n)]).outcomes);
      expect(outcome.allocations).toEqual([{ balanceId: 'current', amount: 10n }]);
      expect(outcome.remaining).toBe(90n);
    });

    it('the same lots serve a use reported for a time when the future balance is valid', () => {
      const lots = [
        lot('future', { validFrom: day(11), expiresAt: day(20), priority: 0 }),
        lot('current', { expiresAt: day(40) }),
      ];
      const outcome = only(burnDown(lots, [use(10n, { occurredAt: day(12) })]).outcomes);
      expect(outcome.allocations).toEqual([{ balanceId: 'future', amount: 10n }]);
    });

    it.each<{ label: string; request: Partial<UseRequest> }>([
      { label: 'another client', request: { clientId: 'client-2' } },
      { label: 'another credit type', request: { creditTypeId: 'minutes' } },
    ])('a use by $label does not touch these balances', ({ request }) => {
      const result = burnDown([lot('b1')], [use(10n, request)]);
      expect(only(result.outcomes)).toMatchObject({ status: 'rejected', applied: 0n, shortfall: 10n, remaining: 0n });
      expect(result.changed.size).toBe(0);
    });
  },
);

describe('DOMAIN "Consumption" rule 2: order is priority ascending, then expires_at, then valid_from, then id', () => {
  it.each<{ label: string; first: Partial<Lot>; second: Partial<Lot> }>([
    {
      label: 'lower priority first, even when it expires later',
      first: { priority: 10, expiresAt: day(60) },
      second: { priority: 50, expiresAt: day(20) },
    },
    { label: 'a free package (priority 0) before a paid one', first: { priority: 0 }, second: { priority: 50 } },
    { label: 'equal priorities: nearest expiry first', first: { expiresAt: day(20) }, second: { expiresAt: day(21) } },
    { label: 'equal expiry: earliest valid_from first', first: { validFrom: day(1) }, second: { validFrom: day(2) } },
    {
      label: 'expiry beats valid_from',
      first: { expiresAt: day(20), validFrom: day(5) },
      second: { expiresAt: day(21), validFrom: day(1) },
    },
    { label: 'all else equal: lowest id first', first: {}, second: {} },
  ])('$label', ({ first, second }) => {
    const a = lot('a', first);
    const b = lot('b', second);
    expect(compareSpendingOrder(a, b)).toBeLessThan(0);
    expect(compareSpendingOrder(b, a)).toBeGreaterThan(0);
    // whatever order they arrive in, `a` pays first and `b` pays the rest
    for (const lots of [
      [a, b],
      [b, a],
    ]) {
      const outcome = only(burnDown(lots, [use(130n)]).outcomes);
      expect(outcome.allocations).toEqual([
        { balanceId: 'a', amount: 100n },
        { balanceId: 'b', amount: 30n },
      ]);
    }
  });

  it('ids compare as strings: "b10" before "b9"', () => {
    expect(compareSpendingOrder(lot('b10'), lot('b9'))).toBeLessThan(0);
    expect(compareSpendingOrder(lot('b9'), lot('b9'))).toBe(0);
  });

  it('sorting five balances', () => {
    const lots = [
      lot('e', { priority: 50, expiresAt: day(40) }),
      lot('c', { priority: 50, expiresAt: day(20), validFrom: day(2) }),
      lot('a', { priority: 0, expiresAt: day(90) }),
      lot('d', { priority: 50, expiresAt: day(20), validFrom: day(2) }),
      lot('b', { priority: 50, expiresAt: day(20), validFrom: day(1) }),
    ];
    expect([...lots].sort(compareSpendingOrder).map((l) => l.id)).toEqual(['a', 'b', 'c', 'd', 'e']);
    const outcome = only(burnDown(lots, [use(450n)]).outcomes);
    expect(outcome.allocations.map((x) => x.balanceId)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(outcome.allocations.at(-1)).toEqual({ balanceId: 'e', amount: 50n });
  });
});

describe(
  'DOMAIN: the one lock order of the system is balances ' + 'by client, then credit type, then spending order',
  () => {
    it('sorts by client, then credit type, then spending order', () => {
      const lots = [
        lot('x1', { clientId: 'c2', creditTypeId: 'a', priority: 0 }),
        lot('x2', { clientId: 'c1', creditTypeId: 'b', priority: 0 }),
        lot('x3', { clientId: 'c1', creditTypeId: 'a', priority: 50, expiresAt: day(20) }),
        lot('x4', { clientId: 'c1', creditTypeId: 'a', priority: 50, expiresAt: day(10) }),
        lot('x5', { clientId: 'c1', creditTypeId: 'a', priority: 10, expiresAt: day(90) }),
        lot('x6', { clientId: 'c10', creditTypeId: 'a', priority: 0 }),
      ];
      expect([...lots].sort(compareLockOrder).map((l) => l.id)).toEqual(['x5', 'x4', 'x3', 'x2', 'x6', 'x1']);
    });

    it.each<{ label: string; a: Partial<Lot>; b: Partial<Lot> }>([
      { label: 'client beats priority', a: { clientId: 'c1', priority: 100 }, b: { clientId: 'c2', priority: 0 } },
      {
        label: 'credit type beats expiry',
        a: { creditTypeId: 'a', expiresAt: day(90) },
        b: { creditTypeId: 'b', expiresAt: day(11) },
      },
      { label: 'same pair: spending order', a: { priority: 1 }, b: { priority: 2 } },
    ])('$label', ({ a, b }) => {
      expect(compareLockOrder(lot('z', a), lot('a', b))).toBeLessThan(0);
      expect(compareLockOrder(lot('a', b), lot('z', a))).toBeGreaterThan(0);
    });

    it('is a total order consistent with itself (antisymmetric)', () => {
      fc.assert(
        fc.property(lotArb, lotArb, (x, y) => {
          const a = { ...x, id: 'a' };
          const b = { ...y, id: 'b' };
          expect(Math.sign(compareLockOrder(a, b))).toBe(-Math.sign(compareLockOrder(b, a)));
          expect(compareLockOrder(a, b)).not.toBe(0);
        }),
      );
    });
  },
);

describe(
  'DOMAIN "Consumption" rule 3: deduct greedily; if short, ' +
    'mode=reject changes nothing, mode=partial deducts what there is',
  () => {
    it('enough: applied in full across balances, in order', () => {
      const result = burnDown(
        [lot('a', { remaining: 30n }), lot('b', { remaining: 100n, expiresAt: day(40) })],
        [use(50n)],
      );
      expect(only(result.outcomes)).toEqual({
        status: 'applied',
        quantity: 50n,
        applied: 50n,
        shortfall: 0n,
        allocations: [
          { balanceId: 'a', amount: 30n },
          { balanceId: 'b', amount: 20n },
        ],
        remaining: 80n,
      });
      expect(result.movements).toEqual([
        { requestIndex: 0, balanceId: 'a', amount: 30n, remainingAfter: 0n },
        { requestIndex: 0, balanceId: 'b', amount: 20n, remainingAfter: 80n },
      ]);
      expect(result.changed).toEqual(
        new Map([
          ['a', 0n],
          ['b', 80n],
        ]),
      );
    });

    it('exactly all that is available: applied, remaining 0', () => {
      const outcome = only(
        burnDown([lot('a', { remaining: 30n }), lot('b', { remaining: 20n, expiresAt: day(40) })], [use(50n)]).outcomes,
      );
      expect(outcome).toMatchObject({ status: 'applied', applied: 50n, shortfall: 0n, remaining: 0n });
    });

    it('mode=reject, short: changes nothing and reports the shortfall and what remains', () => {
      const lots = [lot('a', { remaining: 30n }), lot('b', { remaining: 15n, expiresAt: day(40) })];
      const result = burnDown(lots, [use(50n, { mode: 'reject' })]);
      expect(only(result.outcomes)).toEqual({
        status: 'rejected',
        quantity: 50n,
        applied: 0n,
        shortfall: 5n,
        allocations: [],
        remaining: 45n,
      });
      expect(result.movements).toEqual([]);
      expect(result.crossings).toEqual([]);
      expect(result.changed.size).toBe(0);
      // the input lots are never mutated
      expect(lots.map((l) => l.remaining)).toEqual([30n, 15n]);
    });

    it('mode=partial, short: takes what there is and records the shortfall', () => {
      const lots = [lot('a', { remaining: 30n }), lot('b', { remaining: 15n, expiresAt: day(40) })];
      const result = burnDown(lots, [use(50n, { mode: 'partial' })]);
      expect(only(result.outcomes)).toEqual({
        status: 'partial',
        quantity: 50n,
        applied: 45n,
        shortfall: 5n,
        allocations: [
          { balanceId: 'a', amount: 30n },
          { balanceId: 'b', amount: 15n },
        ],
        remaining: 0n,
      });
      expect(result.changed).toEqual(
        new Map([
          ['a', 0n],
          ['b', 0n],
        ]),
      );
      expect(lots.map((l) => l.remaining)).toEqual([30n, 15n]);
    });

    it('mode=partial, enough: simply applied', () => {
      const outcome = only(burnDown([lot('a')], [use(40n, { mode: 'partial' })]).outcomes);
      expect(outcome).toMatchObject({ status: 'applied', applied: 40n, shortfall: 0n, remaining: 60n });
    });

    it.each<{ label: string; lots: Lot[] }>([
      { label: 'no balance at all', lots: [] },
      { label: 'only empty balances', lots: [lot('a', { remaining: 0n })] },
      { label: 'only expired balances', lots: [lot('a', { expiresAt: day(1) })] },
    ])('mode=partial with zero available ($label) is rejected', ({ lots }) => {
      const result = burnDown(lots, [use(5n, { mode: 'partial' })]);
      expect(only(result.outcomes)).toEqual({
        status: 'rejected',
        quantity: 5n,
        applied: 0n,
        shortfall: 5n,
        allocations: [],
        remaining: 0n,
      });
      expect(result.movements).toEqual([]);
    });

    it('a balance with nothing left gets no zero allocation', () => {
      const outcome = only(
        burnDown([lot('a', { remaining: 0n }), lot('b', { expiresAt: day(40) })], [use(5n)]).outcomes,
      );
      expect(outcome.allocations).toEqual([{ balanceId: 'b', amount: 5n }]);
    });
  },
);

describe(
  'DOMAIN "Consumption" rule 2 (a batch): requests are applied ' +
    'in arrival order, each seeing the previous deductions',
  () => {
    it('the second request sees what the first left', () => {
      const result = burnDown(
        [lot('a', { remaining: 30n }), lot('b', { remaining: 30n, expiresAt: day(40) })],
        [use(20n), use(20n), use(30n), use(5n, { mode: 'partial' })],
      );
      expect(result.outcomes).toEqual([
        {
          status: 'applied',
          quantity: 20n,
          applied: 20n,
          shortfall: 0n,
          allocations: [{ balanceId: 'a', amount: 20n }],
          remaining: 40n,
        },
        {
          status: 'applied',
          quantity: 20n,
          applied: 20n,
          shortfall: 0n,
          allocations: [
            { balanceId: 'a', amount: 10n },
            { balanceId: 'b', amount: 10n },
          ],
          remaining: 20n,
        },
        { status: 'rejected', quantity: 30n, applied: 0n, shortfall: 10n, allocations: [], remaining: 20n },
        {
          status: 'applied',
          quantity: 5n,
          applied: 5n,
          shortfall: 0n,
          allocations: [{ balanceId: 'b', amount: 5n }],
          remaining: 15n,
        },
      ]);
      expect(result.movements.map((m) => [m.requestIndex, m.balanceId, m.amount, m.remainingAfter])).toEqual([
        [0, 'a', 20n, 10n],
        [1, 'a', 10n, 0n],
        [1, 'b', 10n, 20n],
        [3, 'b', 5n, 15n],
      ]);
      expect(result.changed).toEqual(
        new Map([
          ['a', 0n],
          ['b', 15n],
        ]),
      );
    });

    it('a rejected request in the middle does not block a smaller later one', () => {
      const result = burnDown([lot('a', { remaining: 10n })], [use(11n), use(10n)]);
      expect(result.outcomes.map((o) => o.status)).toEqual(['rejected', 'applied']);
    });

    it('requests for different clients and credit types do not interact', () => {
      const lots = [
        lot('c1-sms', { clientId: 'c1', creditTypeId: 'sms', remaining: 10n }),
        lot('c1-min', { clientId: 'c1', creditTypeId: 'min', remaining: 10n }),
        lot('c2-sms', { clientId: 'c2', creditTypeId: 'sms', remaining: 10n }),
      ];
      const result = burnDown(lots, [
        use(10n, { clientId: 'c1', creditTypeId: 'sms' }),
        use(7n, { clientId: 'c2', creditTypeId: 'sms' }),
        use(10n, { clientId: 'c1', creditTypeId: 'min' }),
        use(1n, { clientId: 'c1', creditTypeId: 'sms' }),
        use(3n, { clientId: 'c2', creditTypeId: 'sms' }),
      ]);
      expect(
        result.outcomes.map((o) => [o.status, o.allocations.map((a) => a.balanceId).join(','), o.remaining]),
      ).toEqual([
        ['applied', 'c1-sms', 0n],
        ['applied', 'c2-sms', 3n],
        ['applied', 'c1-min', 0n],
        ['rejected', '', 0n],
        ['applied', 'c2-sms', 0n],
      ]);
    });
  },
);

describe(
  'DOMAIN "Recharge"/events: thresholds crossed by a deduction ' +
    '(low, depleted, auto_recharge), each once per balance per batch',
  () => {
    const crossing = (
      kind: LotCrossing['kind'],
      balanceId: string,
      remaining: bigint,
      requestIndex: number,
    ): LotCrossing => ({
      kind,
      balanceId,
      subscriptionId: 'sub-1',
      clientId: 'client-1',
      creditTypeId: 'sms',
      remaining,
      requestIndex,
    });

    it.each<{
      label: string;
      over: Partial<Lot>;
      quantities: bigint[];
      expected: [LotCrossing['kind'], bigint, number][];
    }>([
      {
        label: 'falling to the low threshold',
        over: { lowThreshold: 20n },
        quantities: [80n],
        expected: [['low', 20n, 0]],
      },
      {
        label: 'falling below the low threshold',
        over: { lowThreshold: 20n },
        quantities: [90n],
        expected: [['low', 10n, 0]],
      },
      { label: 'staying above the low threshold', over: { lowThreshold: 20n }, quantities: [79n], expected: [] },
      {
        label: 'already at the low threshold',
        over: { lowThreshold: 20n, remaining: 20n },
        quantities: [5n],
        expected: [],
      },
      {
        label: 'already below the low threshold',
        over: { lowThreshold: 20n, remaining: 15n },
        quantities: [5n],
        expected: [],
      },
      {
        label: 'falling to 0 (threshold 0)',
        over: {},
        quantities: [100n],
        expected: [
          ['low', 0n, 0],
          ['depleted', 0n, 0],
        ],
      },
      {
        label: 'falling to 0 past the low threshold',
        over: { lowThreshold: 20n },
        quantities: [100n],
        expected: [
          ['low', 0n, 0],
          ['depleted', 0n, 0],
        ],
      },
      {
        label: 'low then depleted in two requests',
        over: { lowThreshold: 20n },
        quantities: [85n, 15n],
        expected: [
          ['low', 15n, 0],
          ['depleted', 0n, 1],
        ],
      },
      {
        label: 'low reported once across three requests',
        over: { lowThreshold: 50n },
        quantities: [60n, 10n, 10n],
        expected: [['low', 40n, 0]],
      },
      {
        label: 'low at the whole grant (low_balance_percent 100): the first use of the full balance',
        over: { lowThreshold: 100n },
        quantities: [1n, 1n],
        expected: [['low', 99n, 0]],
      },
      {
        label: 'low at the whole grant, the balance used before: none again',
        over: { lowThreshold: 100n, remaining: 60n },
        quantities: [1n],
        expected: [],
      },
      {
        label: 'auto recharge at its threshold',
        over: { autoRechargeThreshold: 30n },
        quantities: [70n],
        expected: [['auto_recharge', 30n, 0]],
      },
      {
        label: 'auto recharge above its threshold',
        over: { autoRechargeThreshold: 30n },
        quantities: [69n],
        expected: [],
      },
      {
        label: 'auto recharge at a threshold of the whole grant (100 %): the first use of the full balance',
        over: { autoRechargeThreshold: 100n },
        quantities: [1n, 1n],
        expected: [['auto_recharge', 99n, 0]],
      },
      {
        label: 'auto recharge at a threshold of the whole grant, the balance used before: none again',
        over: { autoRechargeThreshold: 100n, remaining: 60n },
        quantities: [1n],
        expected: [],
      },
      {
        label: 'auto recharge once across requests',
        over: { autoRechargeThreshold: 30n },
        quantities: [75n, 5n],
        expected: [['auto_recharge', 25n, 0]],
      },
      {
        label: 'no auto recharge when the subscription has none',
        over: { autoRechargeThreshold: null, lowThreshold: 10n },
        quantities: [95n],
        expected: [['low', 5n, 0]],
      },
      {
        label: 'all three at once',
        over: { lowThreshold: 10n, autoRechargeThreshold: 20n },
        quantities: [100n],
        expected: [
          ['low', 0n, 0],
          ['depleted', 0n, 0],
          ['auto_recharge', 0n, 0],
        ],
      },
    ])('$label', ({ over, quantities, expected }) => {
      const result = burnDown(
        [lot('b1', over)],
        quantities.map((q) => use(q)),
      );
      expect(result.outcomes.every((o) => o.status === 'applied')).toBe(true);
      expect(result.crossings).toEqual(
        expected.map(([kind, remaining, index]) => crossing(kind, 'b1', remaining, index)),
      );
    });

    it('a rejected request crosses nothing', () => {
      const result = burnDown([lot('b1', { lowThreshold: 50n, autoRechargeThreshold: 50n })], [use(101n)]);
      expect(result.crossings).toEqual([]);
    });

    it('each balance reports its own crossings', () => {
      const lots = [
        lot('a', { remaining: 10n, lowThreshold: 5n }),
        lot('b', { remaining: 10n, lowThreshold: 5n, expiresAt: day(40), subscriptionId: 'sub-2' }),
      ];
      const result = burnDown(lots, [use(17n)]);
      expect(result.crossings).toEqual([
        crossing('low', 'a', 0n, 0),
        crossing('depleted', 'a', 0n, 0),
        { ...crossing('low', 'b', 3n, 0), subscriptionId: 'sub-2' },
      ]);
    });
  },
);

// ---------------------------------------------------------------------------------------------
// Property: the burn-down never loses or invents a unit, and a batch equals its requests one by one.

const CLIENTS = ['c1', 'c2'] as const;
const TYPES = ['sms', 'min'] as const;

const lotArb = fc
  .record({
    clientId: fc.constantFrom(...CLIENTS),
    creditTypeId: fc.constantFrom(...TYPES),
    subscriptionId: fc.constantFrom('s1', 's2'),
    remaining: fc.bigInt({ min: 0n, max: 60n }),
    used: fc.bigInt({ min: 0n, max: 40n }),
    priority: fc.constantFrom(0, 50, 100),
    from: fc.integer({ min: 0, max: 6 }),
    length: fc.integer({ min: 1, max: 8 }),
    lowThreshold: fc.bigInt({ min: 0n, max: 30n }),
    autoRechargeThreshold: fc.option(fc.bigInt({ min: 0n, max: 30n }), { nil: null }),
  })
  .map(
    (r): Lot => ({
      id: 'x',
      clientId: r.clientId,
      creditTypeId: r.creditTypeId,
      subscriptionId: r.subscriptionId,
      granted: r.remaining + r.used,
      remaining: r.remaining,
      priority: r.priority,
      validFrom: day(r.from),
      expiresAt: day(r.from + r.length),
      lowThreshold: r.lowThreshold,
      autoRechargeThreshold: r.autoRechargeThreshold,
    }),
  );

/** Lots with unique ids, handed over in an arbitrary order. */
const lotsArb = fc
  .array(lotArb, { maxLength: 8 })
  .map((list) => list.map((l, i) => ({ ...l, id: `lot-${String.fromCharCode(97 + ((i * 5) % 26))}${i}` })))
  .chain((list) => fc.shuffledSubarray(list, { minLength: list.length, maxLength: list.length }));

const requestArb = fc.record({
  clientId: fc.constantFrom(...CLIENTS),
  creditTypeId: fc.constantFrom(...TYPES),
  quantity: fc.bigInt({ min: 1n, max: 80n }),
  occurredAt: fc.integer({ min: 0, max: 14 }).map(day),
  mode: fc.constantFrom<'reject' | 'partial'>('reject', 'partial'),
});

const requestsArb = fc.array(requestArb, { minLength: 1, maxLength: 12 });

describe('property: the burn-down keeps every unit exact', () => {
  it('(a) no lot goes below 0, and only usable lots of the right client and credit type pay', () => {
    fc.assert(
      fc.property(lotsArb, requestsArb, (lots, requests) => {
        const result = burnDown(lots, requests);
        const byId = new Map(lots.map((l) => [l.id, l]));
        for (const value of result.changed.values()) expect(value).toBeGreaterThanOrEqual(0n);
        for (const movement of result.movements) {
          expect(movement.amount).toBeGreaterThan(0n);
          expect(movement.remainingAfter).toBeGreaterThanOrEqual(0n);
          const paying = byId.get(movement.balanceId);
          const request = requests[movement.requestIndex];
          expect(paying).toBeDefined();
          expect(request).toBeDefined();
          if (!paying || !request) return;
          expect([paying.clientId, paying.creditTypeId]).toEqual([request.clientId, request.creditTypeId]);
          expect(paying.validFrom.getTime()).toBeLessThanOrEqual(request.occurredAt.getTime());
          expect(request.occurredAt.getTime()).toBeLessThan(paying.expiresAt.getTime());
        }
      }),
      { numRuns: 500 },
    );
  });

  it(
    '(b) allocations sum to applied, (c) applied + shortfall = quantity ' +
      '(rejected: shortfall + available = quantity), and the status says which',
    () => {
      fc.assert(
        fc.property(lotsArb, requestsArb, (lots, requests) => {
          const result = burnDown(lots, requests);
          expect(result.outcomes).toHaveLength(requests.length);
          result.outcomes.forEach((outcome, i) => {
            const request = requests[i];
            if (!request) throw new Error('missing request');
            expect(outcome.quantity).toBe(request.quantity);
            expect(outcome.allocations.reduce((sum, a) => sum + a.amount, 0n)).toBe(outcome.applied);
            expect(outcome.remaining).toBeGreaterThanOrEqual(0n);
            switch (outcome.status) {
              case 'applied':
                expect(outcome.applied).toBe(outcome.quantity);
                expect(outcome.shortfall).toBe(0n);
                break;
              case 'partial':
                expect(request.mode).toBe('partial');
                expect(outcome.applied + outcome.shortfall).toBe(outcome.quantity);
                expect(outcome.applied).toBeGreaterThan(0n);
                expect(outcome.shortfall).toBeGreaterThan(0n);
                expect(outcome.remaining).toBe(0n);
                break;
              case 'rejected':
                // nothing applied; the shortfall is what was missing, not the whole quantity:
                // shortfall + what was available = quantity (both equal the quantity when nothing was available)
                expect(outcome.applied).toBe(0n);
                expect(outcome.allocations).toEqual([]);
                expect(outcome.shortfall + outcome.remaining).toBe(outcome.quantity);
                expect(outcome.shortfall).toBeGreaterThan(0n);
                if (request.mode === 'partial') expect(outcome.remaining).toBe(0n);
                break;
            }
            // the allocations of one request are exactly its movements, in the same order
            expect(
              result.movements
                .filter((m) => m.requestIndex === i)
                .map((m) => ({ balanceId: m.balanceId, amount: m.amount })),
            ).toEqual(outcome.allocations);
          });
        }),
        { numRuns: 500 },
      );
    },
  );

  it(
    '(d) what each lot lost equals the sum of its movements, ' + 'and its last movement ends at its final remaining',
    () => {
      fc.assert(
        fc.property(lotsArb, requestsArb, (lots, requests) => {
          const result = burnDown(lots, requests);
          for (const l of lots) {
            const mine = result.movements.filter((m) => m.balanceId === l.id);
            const moved = mine.reduce((sum, m) => sum + m.amount, 0n);
            const after = result.changed.get(l.id) ?? l.remaining;
            expect(l.remaining - after).toBe(moved);
            expect(result.changed.has(l.id)).toBe(mine.length > 0);
            let running = l.remaining;
            for (const m of mine) {
              running -= m.amount;
              expect(m.remainingAfter).toBe(running);
            }
          }
        }),
        { numRuns: 500 },
      );
    },
  );

  it('greedy: within one request every lot but the last one it draws from is emptied, in spending order', () => {
    fc.assert(
      fc.property(lotsArb, requestsArb, (lots, requests) => {
        const result = burnDown(lots, requests);
        const byId = new Map(lots.map((l) => [l.id, l]));
        requests.forEach((_request, i) => {
          const mine = result.movements.filter((m) => m.requestIndex === i);
          for (const m of mine.slice(0, -1)) expect(m.remainingAfter).toBe(0n);
          for (let k = 1; k < mine.length; k += 1) {
            const prev = byId.get(mine[k - 1]?.balanceId ?? '');
            const next = byId.get(mine[k]?.balanceId ?? '');
            if (!prev || !next) throw new Error('unknown lot');
            expect(compareSpendingOrder(prev, next)).toBeLessThan(0);
          }
        });
      }),
      { numRuns: 300 },
    );
  });

  it(
    '(e) a batch gives the same outcomes and crossings as its ' +
      'requests one by one, each fed the lots the previous left',
    () => {
      fc.assert(
        fc.property(lotsArb, requestsArb, (lots, requests) => {
          const batch = burnDown(lots, requests);

          let current: Lot[] = lots.map((l) => ({ ...l }));
          const outcomes: UseOutcome[] = [];
          const crossings: LotCrossing[] = [];
          requests.forEach((request, i) => {
            const single = burnDown(current, [request]);
            outcomes.push(...single.outcomes);
            crossings.push(...single.crossings.map((c) => ({ ...c, requestIndex: i })));
            current = current.map((l) => ({ ...l, remaining: single.changed.get(l.id) ?? l.remaining }));
          });

          expect(batch.outcomes).toEqual(outcomes);
          expect(batch.crossings).toEqual(crossings);
          const finalRemaining = new Map(current.map((l) => [l.id, l.remaining]));
          for (const l of lots) expect(batch.changed.get(l.id) ?? l.remaining).toBe(finalRemaining.get(l.id));
        }),
        { numRuns: 500 },
      );
    },
  );

  it('each kind of crossing is reported at most once per balance per batch, and only when it really crossed', () => {
    fc.assert(
      fc.property(lotsArb, requestsArb, (lots, requests) => {
        const result = burnDown(lots, requests);
        const keys = result.crossings.map((c) => `${c.kind}/${c.balanceId}`);
        expect(new Set(keys).size).toBe(keys.length);
        const byId = new Map(lots.map((l) => [l.id, l]));
        for (const c of result.crossings) {
          const l = byId.get(c.balanceId);
          if (!l) throw new Error('unknown lot');
          const threshold = c.kind === 'low' ? l.lowThreshold : c.kind === 'depleted' ? 0n : l.autoRechargeThreshold;
          expect(threshold).not.toBeNull();
          // from above the threshold, or from untouched at a threshold of the whole grant (percent 100)
          expect(l.remaining > (threshold ?? -1n) || (l.remaining === l.granted && c.kind !== 'depleted')).toBe(true);
          expect(c.remaining).toBeLessThanOrEqual(threshold ?? -1n);
          // it is the remaining after the movement of that request on that lot
          const movement = result.movements.find(
            (m) => m.requestIndex === c.requestIndex && m.balanceId === c.balanceId,
          );
          expect(movement?.remainingAfter).toBe(c.remaining);
        }
      }),
      { numRuns: 300 },
    );
  });
});
