import { nthPeriod, type Period, type Validity } from './period.js';
import { fail, ok, type Result } from './result.js';

export type SubscriptionStatus = 'pending' | 'active' | 'expired' | 'cancelled' | 'suspended' | 'frozen';

/** "an active subscription", "a pending subscription": a status in the words of an error's detail. */
export const subscriptionIn = (status: string): string =>
  `${/^[aeiou]/.test(status) ? 'an' : 'a'} ${status} subscription`;

export interface RenewableSubscription {
  status: SubscriptionStatus;
  cancelAtPeriodEnd: boolean;
  anchorAt: Date;
  periodIndex: number;
  currentPeriodStart: Date;
  currentPeriodEnd: Date;
  /**
   * Whether it renews itself. An auto-renewing subscription continues at its end however late (DOMAIN.md "No lapse
   * by accident"); one that does not had lapsed at its end even before the sweep marked it expired. Unknown: as an
   * auto-renewing one.
   */
  autoRenew?: boolean;
}

/** What makes a subscription one the nightly run renews (DOMAIN.md "Auto-renew"). */
export interface RenewalTerms {
  status: SubscriptionStatus;
  autoRenew: boolean;
  cancelAtPeriodEnd: boolean;
}

/**
 * Whether the nightly run renews it ahead of its period's end: active (not frozen, suspended or pending), auto-renewing
 * and not set to cancel at its period's end — what `dueForRenewal` selects.
 */
export const renewsItself = (s: RenewalTerms): boolean => s.status === 'active' && s.autoRenew && !s.cancelAtPeriodEnd;

/**
 * Whether a change made a subscription one the nightly run renews (an unfreeze, auto_renew turned on, a cancel at
 * period end taken back, a resume, a payment activating it, a purchase: `before` undefined). Such a subscription
 * missed the renewal the last nightly run would have asked for, had it been renewable then.
 */
export const becameRenewable = (before: RenewalTerms | undefined, after: RenewalTerms): boolean =>
  renewsItself(after) && !(before && renewsItself(before));

export type RenewalDecision =
  | { kind: 'renew'; period: Period; anchorAt: Date; periodIndex: number; late: boolean }
  /** The period asked for was renewed already: a repeated job changes nothing. */
  | { kind: 'already_renewed' };

/**
 * DOMAIN.md "Renew": the next period starts where the last ended, or now if the subscription had
 * already expired. `periodEnd` names the period being renewed, so renewing it twice is a no-op.
 */
export function decideRenewal(
  subscription: RenewableSubscription,
  periodEnd: Date,
  validity: Validity,
  timeZone: string,
  now: Date,
): Result<RenewalDecision> {
  const asked = periodEnd.getTime();
  const current = subscription.currentPeriodEnd.getTime();
  if (asked < current) return ok({ kind: 'already_renewed' });
  if (asked > current) {
    return fail(
      'conflict',
      `the subscription has no period ending at ${periodEnd.toISOString()}; its current period ends at ` +
        `${subscription.currentPeriodEnd.toISOString()}`,
    );
  }
  switch (subscription.status) {
    case 'cancelled':
      return fail('conflict', 'a cancelled subscription cannot be renewed');
    case 'pending':
      return fail('conflict', 'the subscription is pending payment of its first invoice');
    case 'suspended':
      return fail('conflict', 'a suspended subscription cannot be renewed');
    case 'frozen':
      return fail('conflict', 'a frozen subscription cannot be renewed: its clock stands still until it is unfrozen');
    case 'expired':
      return ok(startingNow(validity, timeZone, now));
    case 'active': {
      if (subscription.cancelAtPeriodEnd)
        return fail('conflict', 'the subscription is set to cancel at the end of its period');
      const continued = continuing(subscription, validity, timeZone);
      // Continuing would sell a period already over, units born expired and all, to a subscription that lapsed at
      // its end (no auto-renew) and that the sweep has not reached yet: it had already expired, so it starts now.
      if (subscription.autoRenew === false && continued.period.end.getTime() <= now.getTime())
        return ok(startingNow(validity, timeZone, now));
      return ok(continued);
    }
  }
}

/** DOMAIN.md "Renew" of a subscription that had already expired: a late period anchored at now. */
function startingNow(validity: Validity, timeZone: string, now: Date): RenewalDecision & { kind: 'renew' } {
  return { kind: 'renew', period: nthPeriod(now, validity, timeZone, 0), anchorAt: now, periodIndex: 0, late: true };
}

/** The period after the current one, where it ends, on the anchored calendar. */
function continuing(
  subscription: RenewableSubscription,
  validity: Validity,
  timeZone: string,
): RenewalDecision & { kind: 'renew' } {
  const next = nthPeriod(subscription.anchorAt, validity, timeZone, subscription.periodIndex + 1);
  if (next.start.getTime() === subscription.currentPeriodEnd.getTime()) {
    return {
      kind: 'renew',
      period: next,
      anchorAt: subscription.anchorAt,
      periodIndex: subscription.periodIndex + 1,
      late: false,
    };
  }
  // The validity changed since the anchor was set: start a new anchor where the last period ended.
  const anchorAt = subscription.currentPeriodEnd;
  return { kind: 'renew', period: nthPeriod(anchorAt, validity, timeZone, 0), anchorAt, periodIndex: 0, late: false };
}

/** Where a subscription's periods are counted from: its anchor and the index of its current period. */
export interface PeriodCount {
  anchorAt: Date;
  periodIndex: number;
}

/**
 * The count of the period a renewal continued, for taking that renewal back (a renewal made ahead, undone when the
 * subscription is set to cancel at its period's end). A renewal that kept the anchor counted one period on: one
 * back. One that started a new anchor where the old period ended (the validity had changed, or a freeze had moved
 * the end) left no trace of the old count: the old period becomes the first of an anchor at its own start. A later
 * renewal still starts where it ends (decideRenewal starts a new anchor there when the validity does not fit); only
 * a calendar month's clamping (an anchor on the 31st) may end that renewal a day or two otherwise than the one taken
 * back.
 */
export function countBeforeRenewal(renewed: PeriodCount, previous: Period): PeriodCount {
  if (renewed.periodIndex > 0) return { anchorAt: renewed.anchorAt, periodIndex: renewed.periodIndex - 1 };
  return { anchorAt: previous.start, periodIndex: 0 };
}

/** A recharge bought into a renewal made ahead (its balances belong to that renewal's period), as the undo sees it. */
export interface RechargeIntoRenewal {
  invoiceStatus: 'issued' | 'paid' | 'void';
  /** Its balances as they stand: what was consumed of them, and what open holds reserve. */
  balances: ReadonlyArray<{ consumed: bigint; held: bigint }>;
}

/**
 * Whether the recharges bought into a renewal made ahead keep that renewal when the subscription is set to cancel at
 * the end of the period running. A recharge bought after the renewal is valid from its purchase to the renewed
 * period's end; taking the renewal back ends the subscription before that, so the recharge goes with it: its units
 * voided and, unpaid, its invoice (the client never pays for units taken from it unused). Two things cannot be undone
 * that way and keep the renewal, as a paid renewal is kept (the cancel comes at the renewed period's end): a paid
 * recharge (the client bought units of that period) and a recharge already spent from or held (voiding its invoice
 * would give away units used; keeping it would charge for units voided).
 */
export const rechargesKeepRenewal = (recharges: readonly RechargeIntoRenewal[]): boolean =>
  recharges.some((r) => r.invoiceStatus === 'paid' || r.balances.some((b) => b.consumed > 0n || b.held > 0n));
