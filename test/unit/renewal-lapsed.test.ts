import { describe, expect, it } from 'vitest';
import type { Validity } from '../../src/domain/period.js';
import { decideRenewal, type RenewableSubscription } from '../../src/domain/renewal.js';

const d = (iso: string): Date => new Date(iso);
const monthly: Validity = { count: 1, unit: 'month' };

/** Active in [12 May, 12 June 2026), never swept since. */
const sub = (autoRenew: boolean): RenewableSubscription => ({
  status: 'active',
  cancelAtPeriodEnd: false,
  anchorAt: d('2026-04-12T00:00:00Z'),
  periodIndex: 1,
  currentPeriodStart: d('2026-05-12T00:00:00Z'),
  currentPeriodEnd: d('2026-06-12T00:00:00Z'),
  autoRenew,
});
const renew = (s: RenewableSubscription, now: string) => decideRenewal(s, s.currentPeriodEnd, monthly, 'UTC', d(now));

describe('DOMAIN "Renew": a subscription that lapsed at its end starts now, whether or not the sweep came', () => {
  it('no auto-renew, the next period already over: a late period from now', () => {
    expect(renew(sub(false), '2027-01-31T00:00:00Z')).toEqual({
      ok: true,
      value: {
        kind: 'renew',
        period: { start: d('2027-01-31T00:00:00Z'), end: d('2027-02-28T00:00:00Z') },
        anchorAt: d('2027-01-31T00:00:00Z'),
        periodIndex: 0,
        late: true,
      },
    });
  });

  it('no auto-renew, renewed while the next period still runs: it continues at the end, without a gap', () => {
    expect(renew(sub(false), '2026-06-20T00:00:00Z')).toMatchObject({
      ok: true,
      value: { period: { start: d('2026-06-12T00:00:00Z') }, periodIndex: 2, late: false },
    });
  });

  it('auto-renewing: every missed period is renewed in turn from where the last ended (No lapse by accident)', () => {
    expect(renew(sub(true), '2027-01-31T00:00:00Z')).toMatchObject({
      ok: true,
      value: { period: { start: d('2026-06-12T00:00:00Z'), end: d('2026-07-12T00:00:00Z') }, late: false },
    });
  });
});
