import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ForecastLot, forecast } from '../../src/domain/forecast.js';
import { MS_PER_DAY } from '../../src/domain/period.js';

const JAN1 = Date.UTC(2026, 0, 1);
const day = (n: number): Date => new Date(JAN1 + n * MS_PER_DAY);
const NOW = day(10);
/** `n` days after NOW. */
const later = (n: number): Date => new Date(NOW.getTime() + n * MS_PER_DAY);

function lot(id: string, remaining: bigint, expiresInDays: number, over: Partial<ForecastLot> = {}): ForecastLot {
  return {
    id,
    clientId: 'client-1',
    creditTypeId: 'sms',
    remaining,
    priority: 50,
    validFrom: day(0),
    expiresAt: later(expiresInDays),
    ...over,
  };
}

const run = (lots: ForecastLot[], netConsumed: bigint, windowDays = 30) =>
  forecast({ lots, netConsumed, windowDays, now: NOW });

describe('forecast: no burn', () => {
  it.each([
    ['nothing consumed', 0n],
    ['more reversed than consumed', -20n],
  ])('%s: no empty date, every unit expires unused', (_name, net) => {
    const f = run([lot('b', 30n, 20), lot('a', 10n, 5)], net);
    expect(f).toEqual({
      remaining: 40n,
      burnPerDay: 0n,
      daysUntilEmpty: null,
      emptyAt: null,
      expiringUnused: [
        { balanceId: 'a', expiresAt: later(5), units: 10n },
        { balanceId: 'b', expiresAt: later(20), units: 30n },
      ],
    });
  });

  it('no balances and no burn: nothing at all', () => {
    expect(run([], 0n)).toEqual({
      remaining: 0n,
      burnPerDay: 0n,
      daysUntilEmpty: null,
      emptyAt: null,
      expiringUnused: [],
    });
  });
});

describe('forecast: burn = net consumption of the window ÷ its days, in millionths, shown rounded half up', () => {
  it.each([
    [300n, 30, 10_000_000n],
    [45n, 30, 1_500_000n], // 1.5
    [44n, 30, 1_466_667n], // 1.4666… → 1.466667
    [15n, 30, 500_000n], // 0.5
    [14n, 30, 466_667n], // 0.4666… → 0.466667 (no longer shown as 0 beside a finite days_until_empty)
    [1n, 3, 333_333n], // 0.3333… → 0.333333
    [2n, 3, 666_667n], // 0.6666… → 0.666667
    [7n, 7, 1_000_000n],
    [2_500n, 1, 2_500_000_000n],
  ])('net %s over %s days → %s millionths a day', (net, days, expected) => {
    expect(run([], net, days).burnPerDay).toBe(expected);
  });

  it('refuses a window of no days', () => {
    expect(() => run([], 10n, 0)).toThrow(RangeError);
  });
});

describe('forecast: the walk in the spending order', () => {
  it('one balance far from its expiry: empty after remaining ÷ burn days', () => {
    const f = run([lot('a', 100n, 365)], 300n); // 10 a day
    expect(f.daysUntilEmpty).toBe(10);
    expect(f.emptyAt).toEqual(later(10));
    expect(f.expiringUnused).toEqual([]);
  });

  it('nothing left now, but a burn: empty now', () => {
    const f = run([], 300n);
    expect(f).toMatchObject({ remaining: 0n, daysUntilEmpty: 0, emptyAt: NOW, expiringUnused: [] });
  });

  it('a balance that expires while draining loses what is left, and the type runs out at that expiry', () => {
    const f = run([lot('a', 100n, 4)], 300n); // 40 spent in 4 days
    expect(f.expiringUnused).toEqual([{ balanceId: 'a', expiresAt: later(4), units: 60n }]);
    expect(f.daysUntilEmpty).toBe(4);
    expect(f.emptyAt).toEqual(later(4));
  });

  it('soonest expiry first: the first is spent before its expiry, then the next drains', () => {
    const f = run([lot('b', 100n, 40), lot('a', 30n, 5)], 300n); // a: days 0–3, b: days 3–13
    expect(f.expiringUnused).toEqual([]);
    expect(f.daysUntilEmpty).toBe(13);
    expect(f.emptyAt).toEqual(later(13));
  });

  it('a lower priority number is spent first: a balance waiting its turn expires whole', () => {
    const f = run([lot('a', 30n, 5, { priority: 50 }), lot('b', 100n, 40, { priority: 10 })], 300n);
    // b drains days 0–10; a expired at day 5 untouched
    expect(f.expiringUnused).toEqual([{ balanceId: 'a', expiresAt: later(5), units: 30n }]);
    expect(f.daysUntilEmpty).toBe(10);
  });

  it('after a partial expiry the next balance drains from that expiry on', () => {
    // a: 100, expires day 4 → 40 spent, 60 unused; b: 50 from day 4 → empty day 9
    const f = run([lot('a', 100n, 4), lot('b', 50n, 30)], 300n);
    expect(f.expiringUnused).toEqual([{ balanceId: 'a', expiresAt: later(4), units: 60n }]);
    expect(f.emptyAt).toEqual(later(9));
    expect(f.daysUntilEmpty).toBe(9);
  });

  it('a balance that expires exactly when its turn comes expires whole', () => {
    // a: 30 spent by day 3; b expires at day 3, the instant its turn comes
    const f = run([lot('a', 30n, 10, { priority: 1 }), lot('b', 20n, 3)], 300n);
    expect(f.expiringUnused).toEqual([{ balanceId: 'b', expiresAt: later(3), units: 20n }]);
    expect(f.emptyAt).toEqual(later(3));
  });

  it('a balance spent exactly at its expiry leaves nothing unused', () => {
    const f = run([lot('a', 40n, 4)], 300n);
    expect(f.expiringUnused).toEqual([]);
    expect(f.emptyAt).toEqual(later(4));
  });

  it('units spent by an expiry round down (what expires rounds up), exactly, with no float', () => {
    // 20 over 30 days = 2/3 a day; by 1.5 days exactly 1 unit is spent, 9 expire
    const f = run([lot('a', 10n, 1.5)], 20n);
    expect(f.expiringUnused).toEqual([{ balanceId: 'a', expiresAt: later(1.5), units: 9n }]);
    // by 1.4 days 0.933… units: 0 spent, all 10 expire
    expect(run([lot('a', 10n, 1.4)], 20n).expiringUnused[0]!.units).toBe(10n);
  });

  it('a burn under one unit a day still empties: 14 over 30 days lasts 10 units 21.43 days', () => {
    const f = run([lot('a', 10n, 365)], 14n);
    expect(f.burnPerDay).toBe(466_667n);
    expect(f.daysUntilEmpty).toBe(21); // 10 × 30 / 14 = 21.428…
    expect(f.emptyAt).toEqual(new Date(NOW.getTime() + Math.floor((10 * 30 * MS_PER_DAY) / 14)));
  });

  it('scaled units (decimals): 2.5 a day over 10.000 units', () => {
    // decimals 3: 75.000 consumed over 30 days = 2.500 a day; 10.000 last 4 days
    const f = run([lot('a', 10_000n, 365)], 75_000n);
    expect(f.burnPerDay).toBe(2_500_000_000n);
    expect(f.daysUntilEmpty).toBe(4);
  });

  it('ignores empty balances and the order they come in', () => {
    const lots = [lot('c', 0n, 1), lot('b', 100n, 40), lot('a', 30n, 5)];
    expect(run(lots, 300n)).toEqual(run([...lots].reverse(), 300n));
    expect(run(lots, 300n).remaining).toBe(130n);
  });

  it('ties in priority and expiry go by valid_from, then id', () => {
    const f = run(
      [
        lot('z', 10n, 2, { validFrom: day(1) }),
        lot('y', 10n, 2, { validFrom: day(2) }),
        lot('x', 10n, 2, { validFrom: day(2) }),
      ],
      300n, // 10 a day: z by day 1, x by day 2, y expires whole
    );
    expect(f.expiringUnused).toEqual([{ balanceId: 'y', expiresAt: later(2), units: 10n }]);
  });
});

describe('forecast: properties', () => {
  const lotsArb = fc.array(
    fc.record({
      remaining: fc.bigInt({ min: 0n, max: 10_000n }),
      priority: fc.integer({ min: 0, max: 3 }),
      expiresInMs: fc.integer({ min: 1, max: 200 * MS_PER_DAY }),
    }),
    { maxLength: 8 },
  );
  const toLots = (raw: Array<{ remaining: bigint; priority: number; expiresInMs: number }>) =>
    raw.map((r, i) =>
      lot(`l${i}`, r.remaining, 0, { priority: r.priority, expiresAt: new Date(NOW.getTime() + r.expiresInMs) }),
    );

  it('unused ≤ remaining per balance; nothing runs past the last expiry; a bigger burn wastes no more', () => {
    fc.assert(
      fc.property(lotsArb, fc.bigInt({ min: 1n, max: 100_000n }), fc.integer({ min: 1, max: 90 }), (raw, net, days) => {
        const lots = toLots(raw);
        const f = run(lots, net, days);
        const byId = new Map(lots.map((l) => [l.id, l]));
        for (const u of f.expiringUnused) {
          expect(u.units).toBeGreaterThan(0n);
          expect(u.units).toBeLessThanOrEqual(byId.get(u.balanceId)!.remaining);
        }
        const lastExpiry = Math.max(NOW.getTime(), ...lots.filter((l) => l.remaining > 0n).map((l) => +l.expiresAt));
        expect(f.emptyAt!.getTime()).toBeLessThanOrEqual(lastExpiry);
        expect(f.daysUntilEmpty).toBe(Math.floor((f.emptyAt!.getTime() - NOW.getTime()) / MS_PER_DAY));
        const wasted = (g: typeof f) => g.expiringUnused.reduce((s, u) => s + u.units, 0n);
        expect(wasted(run(lots, net * 2n, days))).toBeLessThanOrEqual(wasted(f));
      }),
    );
  });
});

describe('forecast: balances valid only later (a renewed period) take their turn from their valid_from', () => {
  // burn 1 a day: 30 consumed over 30 days
  it('a renewed period follows the current one: its units carry the burn on, the current one loses its rest', () => {
    // now: 10 left expiring in 5 days; renewed: 30 from day 5 to day 35. Days 0–5 spend 5 (5 expire unused), days
    // 5–35 spend the 30 exactly: empty at day 35. `remaining` counts what is usable now only.
    const f = run([lot('now', 10n, 5), lot('next', 30n, 35, { validFrom: later(5) })], 30n);
    expect(f).toMatchObject({ remaining: 10n, burnPerDay: 1_000_000n, daysUntilEmpty: 35, emptyAt: later(35) });
    expect(f.expiringUnused).toEqual([{ balanceId: 'now', expiresAt: later(5), units: 5n }]);
  });

  it('a gap before the next period: empty when the current units are spent; the later units still counted', () => {
    // 3 left now (spent by day 3), then nothing until day 5; from day 5, 40 units until day 35: 30 spent, 10 unused
    const f = run([lot('now', 3n, 20), lot('next', 40n, 35, { validFrom: later(5) })], 30n);
    expect(f).toMatchObject({ remaining: 3n, daysUntilEmpty: 3, emptyAt: later(3) });
    expect(f.expiringUnused).toEqual([{ balanceId: 'next', expiresAt: later(35), units: 10n }]);
  });

  it('one that the order puts first drains from its start, and the one before it resumes after', () => {
    // a (priority 50): 20 left, until day 40; b (priority 10, first in the order) from day 4: 6 units until day 30.
    // Days 0–4: a spends 4 (16 left); days 4–10: b spends 6; days 10–26: a spends 16 → empty at day 26.
    const f = run([lot('a', 20n, 40), lot('b', 6n, 30, { priority: 10, validFrom: later(4) })], 30n);
    expect(f).toMatchObject({ remaining: 20n, daysUntilEmpty: 26, emptyAt: later(26), expiringUnused: [] });
  });

  it('with no burn, a later balance expires whole too', () => {
    const f = run([lot('now', 3n, 20), lot('next', 40n, 35, { validFrom: later(5) })], 0n);
    expect(f.remaining).toBe(3n);
    expect(f.expiringUnused.map((u) => [u.balanceId, u.units])).toEqual([
      ['now', 3n],
      ['next', 40n],
    ]);
  });
});

describe('forecast: expiring_unused in the spending order', () => {
  it('also when a balance first in the order starts after one later in it has expired', () => {
    // 1 a day (30 over 30 days). c (50, 10 days): 5 unused. b (priority 90, 20 days): drains days 10–20 (a not valid
    // yet), 10 unused. a (50, valid from day 25, to day 60): 35 days, 5 unused. Found c, b, a; the order is c, a, b
    const f = run(
      [lot('c', 15n, 10), lot('b', 20n, 20, { priority: 90 }), lot('a', 40n, 60, { validFrom: later(25) })],
      30n,
    );
    expect(f.expiringUnused).toEqual([
      { balanceId: 'c', expiresAt: later(10), units: 5n },
      { balanceId: 'a', expiresAt: later(60), units: 5n },
      { balanceId: 'b', expiresAt: later(20), units: 10n },
    ]);
    expect(f.emptyAt).toEqual(later(20));
  });
});
