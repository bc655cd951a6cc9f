import { describe, expect, it } from 'vitest';
import type { Validity } from '../../src/domain/period.js';
import {
  becameRenewable,
  countBeforeRenewal,
  decideRenewal,
  type RechargeIntoRenewal,
  type RenewableSubscription,
  type RenewalTerms,
  rechargesKeepRenewal,
  renewsItself,
  type SubscriptionStatus,
  subscriptionIn,
} from '../../src/domain/renewal.js';

const d = (iso: string): Date => new Date(iso);
const monthly: Validity = { count: 1, unit: 'month' };

/** Anchored on 31 Jan 2026 (UTC), in its first period [31 Jan, 28 Feb). */
function subscription(over: Partial<RenewableSubscription> = {}): RenewableSubscription {
  return {
    status: 'active',
    cancelAtPeriodEnd: false,
    anchorAt: d('2026-01-31T00:00:00Z'),
    periodIndex: 0,
    currentPeriodStart: d('2026-01-31T00:00:00Z'),
    currentPeriodEnd: d('2026-02-28T00:00:00Z'),
    ...over,
  };
}

const BEFORE_END = d('2026-02-27T23:00:00Z');
const iso = (period: { start: Date; end: Date }) => ({
  start: period.start.toISOString(),
  end: period.end.toISOString(),
});

describe('DOMAIN "Renew": the next period starts where the last ended, on the anchored calendar', () => {
  it('continues at current_period_end with the next anchored period', () => {
    const result = decideRenewal(subscription(), d('2026-02-28T00:00:00Z'), monthly, 'UTC', BEFORE_END);
    expect(result).toEqual({
      ok: true,
      value: {
        kind: 'renew',
        period: { start: d('2026-02-28T00:00:00Z'), end: d('2026-03-31T00:00:00Z') },
        anchorAt: d('2026-01-31T00:00:00Z'),
        periodIndex: 1,
        late: false,
      },
    });
  });

  it.each<{ periodIndex: number; start: string; end: string; next: [string, string] }>([
    {
      periodIndex: 1,
      start: '2026-02-28T00:00:00.000Z',
      end: '2026-03-31T00:00:00.000Z',
      next: ['2026-03-31T00:00:00.000Z', '2026-04-30T00:00:00.000Z'],
    },
    {
      periodIndex: 2,
      start: '2026-03-31T00:00:00.000Z',
      end: '2026-04-30T00:00:00.000Z',
      next: ['2026-04-30T00:00:00.000Z', '2026-05-31T00:00:00.000Z'],
    },
    {
      periodIndex: 3,
      start: '2026-04-30T00:00:00.000Z',
      end: '2026-05-31T00:00:00.000Z',
      next: ['2026-05-31T00:00:00.000Z', '2026-06-30T00:00:00.000Z'],
    },
  ])(
    'period $periodIndex ending $end renews to $next, back on the 31st after a short month',
    ({ periodIndex, start, end, next }) => {
      const result = decideRenewal(
        subscription({ periodIndex, currentPeriodStart: d(start), currentPeriodEnd: d(end) }),
        d(end),
        monthly,
        'UTC',
        d(start),
      );
      if (!result.ok || result.value.kind !== 'renew')
        throw new Error(`expected a renewal, got ${JSON.stringify(result)}`);
      expect(iso(result.value.period)).toEqual({ start: next[0], end: next[1] });
      expect(result.value.periodIndex).toBe(periodIndex + 1);
      expect(result.value.anchorAt.toISOString()).toBe('2026-01-31T00:00:00.000Z');
      expect(result.value.late).toBe(false);
    },
  );

  it(
    'an active subscription renewed just after its end (before ' +
      'the sweep) still continues at its end, without a gap',
    () => {
      const result = decideRenewal(
        subscription(),
        d('2026-02-28T00:00:00Z'),
        monthly,
        'UTC',
        d('2026-02-28T06:00:00Z'),
      );
      expect(result).toMatchObject({
        ok: true,
        value: { kind: 'renew', period: { start: d('2026-02-28T00:00:00Z') }, late: false },
      });
    },
  );

  it('renews in the business time zone', () => {
    // anchored on 31 Jan midnight in Paris; the first period ended 28 Feb midnight in Paris
    const sub = subscription({
      anchorAt: d('2026-01-30T23:00:00Z'),
      currentPeriodStart: d('2026-01-30T23:00:00Z'),
      currentPeriodEnd: d('2026-02-27T23:00:00Z'),
    });
    const result = decideRenewal(sub, d('2026-02-27T23:00:00Z'), monthly, 'Europe/Paris', BEFORE_END);
    expect(result).toMatchObject({
      ok: true,
      value: {
        kind: 'renew',
        period: { start: d('2026-02-27T23:00:00Z'), end: d('2026-03-30T22:00:00Z') },
        periodIndex: 1,
      },
    });
  });
});

describe(
  'DOMAIN "Renew": a renewal of a period is idempotent; ' +
    'renewing the same period twice does nothing the second time',
  () => {
    it('asking to renew a period that has already been renewed gives already_renewed', () => {
      // after the first renewal the subscription is in period 1, ending 31 Mar; the repeated job still names 28 Feb
      const renewed = subscription({
        periodIndex: 1,
        currentPeriodStart: d('2026-02-28T00:00:00Z'),
        currentPeriodEnd: d('2026-03-31T00:00:00Z'),
      });
      expect(decideRenewal(renewed, d('2026-02-28T00:00:00Z'), monthly, 'UTC', BEFORE_END)).toEqual({
        ok: true,
        value: { kind: 'already_renewed' },
      });
    });

    it.each<SubscriptionStatus>(['active', 'expired', 'cancelled', 'pending', 'suspended'])(
      'already_renewed whatever the status now (%s)',
      (status) => {
        expect(decideRenewal(subscription({ status }), d('2026-01-31T00:00:00Z'), monthly, 'UTC', BEFORE_END)).toEqual({
          ok: true,
          value: { kind: 'already_renewed' },
        });
      },
    );

    it('asking to renew a period that does not exist yet is a conflict', () => {
      const result = decideRenewal(subscription(), d('2026-03-31T00:00:00Z'), monthly, 'UTC', BEFORE_END);
      expect(result).toMatchObject({ ok: false, code: 'conflict' });
      if (!result.ok) expect(result.detail).toContain('2026-02-28T00:00:00.000Z');
    });
  },
);

describe('DOMAIN "Lifecycle": only an active subscription not set to cancel renews in place', () => {
  it.each<{ label: string; over: Partial<RenewableSubscription>; detail: RegExp }>([
    { label: 'cancelled', over: { status: 'cancelled' }, detail: /cancelled/ },
    { label: 'pending (first invoice unpaid)', over: { status: 'pending' }, detail: /pending/ },
    { label: 'suspended', over: { status: 'suspended' }, detail: /suspended/ },
    { label: 'active with cancel_at_period_end', over: { cancelAtPeriodEnd: true }, detail: /cancel at the end/ },
  ])('$label: conflict', ({ over, detail }) => {
    const result = decideRenewal(subscription(over), d('2026-02-28T00:00:00Z'), monthly, 'UTC', BEFORE_END);
    expect(result).toMatchObject({ ok: false, code: 'conflict' });
    if (!result.ok) expect(result.detail).toMatch(detail);
  });
});

describe('DOMAIN "Renew": or now, if it had already expired', () => {
  it('an expired subscription renews late, anchored at now', () => {
    const now = d('2026-03-10T12:34:00Z');
    const result = decideRenewal(subscription({ status: 'expired' }), d('2026-02-28T00:00:00Z'), monthly, 'UTC', now);
    expect(result).toEqual({
      ok: true,
      value: {
        kind: 'renew',
        period: { start: now, end: d('2026-04-10T12:34:00Z') },
        anchorAt: now,
        periodIndex: 0,
        late: true,
      },
    });
  });

  it('a late renewal on the 31st gets the anchored calendar from then on', () => {
    const now = d('2026-03-31T09:00:00Z');
    const result = decideRenewal(subscription({ status: 'expired' }), d('2026-02-28T00:00:00Z'), monthly, 'UTC', now);
    expect(result).toMatchObject({
      ok: true,
      value: { kind: 'renew', period: { start: now, end: d('2026-04-30T09:00:00Z') }, late: true },
    });
  });
});

describe('DOMAIN "Renew": a validity changed since the anchor was set re-anchors at the current period end', () => {
  it(
    'monthly anchor, now weekly: the next period is [current ' + 'end, current end + 1 week) and starts a new anchor',
    () => {
      const weekly: Validity = { count: 1, unit: 'week' };
      const result = decideRenewal(subscription(), d('2026-02-28T00:00:00Z'), weekly, 'UTC', BEFORE_END);
      expect(result).toEqual({
        ok: true,
        value: {
          kind: 'renew',
          period: { start: d('2026-02-28T00:00:00Z'), end: d('2026-03-07T00:00:00Z') },
          anchorAt: d('2026-02-28T00:00:00Z'),
          periodIndex: 0,
          late: false,
        },
      });
    },
  );

  it('an anchor from 1 month to 3 months: re-anchored at the current end', () => {
    const result = decideRenewal(
      subscription(),
      d('2026-02-28T00:00:00Z'),
      { count: 3, unit: 'month' },
      'UTC',
      BEFORE_END,
    );
    expect(result).toMatchObject({
      ok: true,
      value: {
        kind: 'renew',
        period: { start: d('2026-02-28T00:00:00Z'), end: d('2026-05-28T00:00:00Z') },
        anchorAt: d('2026-02-28T00:00:00Z'),
        periodIndex: 0,
      },
    });
  });
});

describe('DOMAIN "Cancel … at period end (no renewal)": a renewal made ahead, taken back', () => {
  const renew = (over: Partial<RenewableSubscription>) => {
    const decision = decideRenewal(subscription(over), over.currentPeriodEnd!, monthly, 'UTC', BEFORE_END);
    if (!decision.ok || decision.value.kind !== 'renew') throw new Error('expected a renewal');
    return decision.value;
  };

  it('one that kept the anchor counts one period back, and renewing again gives the same period', () => {
    const before = { anchorAt: d('2026-01-31T00:00:00Z'), periodIndex: 1 };
    const running = { currentPeriodStart: d('2026-02-28T00:00:00Z'), currentPeriodEnd: d('2026-03-31T00:00:00Z') };
    const renewed = renew({ ...before, ...running });
    expect(renewed.periodIndex).toBe(2);
    const back = countBeforeRenewal(renewed, { start: running.currentPeriodStart, end: running.currentPeriodEnd });
    expect(back).toEqual(before);
    expect(iso(renew({ ...back, ...running }).period)).toEqual(iso(renewed.period));
  });

  it('one that started a new anchor at the old end: the old period counts as the first from its own start', () => {
    // a freeze moved the end to 03-03: the renewal re-anchored there, index 0
    const running = { currentPeriodStart: d('2026-01-31T00:00:00Z'), currentPeriodEnd: d('2026-03-03T00:00:00Z') };
    const renewed = renew(running);
    expect(renewed).toMatchObject({ anchorAt: d('2026-03-03T00:00:00Z'), periodIndex: 0 });
    const back = countBeforeRenewal(renewed, { start: running.currentPeriodStart, end: running.currentPeriodEnd });
    expect(back).toEqual({ anchorAt: d('2026-01-31T00:00:00Z'), periodIndex: 0 });
    // renewed again from there: it still starts where the old period ends (a new anchor there, as before)
    expect(iso(renew({ ...back, ...running }).period)).toEqual(iso(renewed.period));
  });
});

describe('DOMAIN "Cancel … at period end": recharges bought into a renewal made ahead keep it, or go with it', () => {
  const unused = { consumed: 0n, held: 0n };
  const cases: Array<[string, RechargeIntoRenewal[], boolean]> = [
    ['no recharge', [], false],
    ['an unpaid recharge, untouched', [{ invoiceStatus: 'issued', balances: [unused, unused] }], false],
    ['a recharge whose invoice was voided already', [{ invoiceStatus: 'void', balances: [unused] }], false],
    ['a paid recharge', [{ invoiceStatus: 'paid', balances: [unused] }], true],
    [
      'an unpaid recharge spent from',
      [{ invoiceStatus: 'issued', balances: [unused, { consumed: 1n, held: 0n }] }],
      true,
    ],
    ['an unpaid recharge with units held', [{ invoiceStatus: 'issued', balances: [{ consumed: 0n, held: 5n }] }], true],
    [
      'one paid among unpaid ones',
      [
        { invoiceStatus: 'issued', balances: [unused] },
        { invoiceStatus: 'paid', balances: [unused] },
      ],
      true,
    ],
  ];
  it.each(cases)('%s: keeps the renewal → %s', (_name, recharges, keeps) => {
    expect(rechargesKeepRenewal(recharges)).toBe(keeps);
  });
});

describe('a status in the words of an error', () => {
  it('takes "an" before a vowel: "an expired subscription cannot become active", not "a expired"', () => {
    expect(['pending', 'active', 'expired', 'cancelled', 'suspended', 'frozen'].map(subscriptionIn)).toEqual([
      'a pending subscription',
      'an active subscription',
      'an expired subscription',
      'a cancelled subscription',
      'a suspended subscription',
      'a frozen subscription',
    ]);
  });
});

describe('DOMAIN "Auto-renew": what a night renews, and the changes that make a subscription renewable', () => {
  const terms = (over: Partial<RenewalTerms> = {}): RenewalTerms => ({
    status: 'active',
    autoRenew: true,
    cancelAtPeriodEnd: false,
    ...over,
  });
  it.each<{ label: string; over: Partial<RenewalTerms>; renews: boolean }>([
    { label: 'active, auto-renewing', over: {}, renews: true },
    { label: 'without auto_renew', over: { autoRenew: false }, renews: false },
    { label: 'set to cancel at period end', over: { cancelAtPeriodEnd: true }, renews: false },
    { label: 'frozen', over: { status: 'frozen' }, renews: false },
    { label: 'suspended', over: { status: 'suspended' }, renews: false },
    { label: 'pending', over: { status: 'pending' }, renews: false },
    { label: 'expired', over: { status: 'expired' }, renews: false },
  ])('$label: renewsItself = $renews', ({ over, renews }) => {
    expect(renewsItself(terms(over))).toBe(renews);
  });
  it.each<{ label: string; before: Partial<RenewalTerms> | undefined; after: Partial<RenewalTerms>; made: boolean }>([
    { label: 'unfrozen', before: { status: 'frozen' }, after: {}, made: true },
    { label: 'auto_renew turned on', before: { autoRenew: false }, after: {}, made: true },
    { label: 'a cancel at period end taken back', before: { cancelAtPeriodEnd: true }, after: {}, made: true },
    { label: 'resumed', before: { status: 'suspended' }, after: {}, made: true },
    { label: 'activated by its payment', before: { status: 'pending' }, after: {}, made: true },
    { label: 'bought', before: undefined, after: {}, made: true },
    { label: 'bought without auto_renew', before: undefined, after: { autoRenew: false }, made: false },
    { label: 'renewable already (another setting changed)', before: {}, after: {}, made: false },
    {
      label: 'unfrozen, set to cancel at period end',
      before: { status: 'frozen', cancelAtPeriodEnd: true },
      after: { cancelAtPeriodEnd: true },
      made: false,
    },
  ])('$label: becameRenewable = $made', ({ before, after, made }) => {
    expect(becameRenewable(before && terms(before), terms(after))).toBe(made);
  });
});
