import { MS_PER_DAY } from './period.js';
import { type SubscriptionStatus, subscriptionIn } from './renewal.js';
import { fail, ok, type Result } from './result.js';

/**
 * DOMAIN.md "Freeze": a subscription's clock stops (status `frozen`); it pays for nothing and is neither renewed
 * nor expired. At unfreeze (by hand, or by the sweep at `frozen_until`) its period end and the expiries of its
 * live balances move later by the time it was frozen. A package may limit it: `max_freeze_days` per period (null
 * = no freezing). A day here is 24 hours: the frozen time is an exact span, added as such.
 */

/**
 * A freeze that ended at its `frozen_until` (DOMAIN.md) while the subscription still says `frozen`: the expiry
 * sweep has not unfrozen it yet.
 */
export const frozenPastUntil = (subscription: { status: string; frozenUntil: Date | null }, now: Date): boolean =>
  subscription.status === 'frozen' &&
  subscription.frozenUntil !== null &&
  subscription.frozenUntil.getTime() <= now.getTime();

export interface FreezableSubscription {
  status: SubscriptionStatus;
  currentPeriodStart: Date;
  currentPeriodEnd: Date;
}

export interface FreezeRequest {
  /** Frozen until this instant. */
  until?: Date | undefined;
  /** Or for this many days (24 h each) from now. Neither: as long as the period's allowance lets it. */
  days?: number | undefined;
}

export interface FreezePlan {
  frozenAt: Date;
  frozenUntil: Date;
}

/** Days as a short decimal text for messages ("2", "1.5"); exact spans stay in milliseconds. */
export const daysText = (ms: number): string => {
  const hundredths = Math.round((ms * 100) / MS_PER_DAY);
  const whole = Math.trunc(hundredths / 100);
  const rest = hundredths % 100;
  return rest === 0 ? `${whole}` : `${whole}.${String(rest).padStart(2, '0').replace(/0$/, '')}`;
};

/**
 * Decides a freeze at `now`. `usedMs` is the time the subscription was already frozen in its current period.
 * Only an active subscription in the middle of its period freezes (409 otherwise); a package without
 * `max_freeze_days`, a freeze beyond what is left of it, or an `until` that is not in the future is a 422.
 */
export function planFreeze(
  subscription: FreezableSubscription,
  maxFreezeDays: number | null,
  usedMs: number,
  request: FreezeRequest,
  now: Date,
): Result<FreezePlan> {
  if (subscription.status !== 'active')
    return fail('conflict', `${subscriptionIn(subscription.status)} cannot be frozen; only an active one can`);
  if (subscription.currentPeriodStart.getTime() > now.getTime())
    return fail(
      'conflict',
      'the current period has not started yet (renewed ahead, or starting later): nothing to stop',
    );
  if (subscription.currentPeriodEnd.getTime() <= now.getTime())
    return fail('conflict', 'the current period has ended; it is renewed or expired, not frozen');
  if (maxFreezeDays === null) {
    return fail('validation_failed', 'the package does not allow freezing (its max_freeze_days is null)', {
      errors: [{ field: request.days !== undefined ? 'days' : 'until', message: 'the package allows no freezing' }],
    });
  }
  if (request.until !== undefined && request.days !== undefined) {
    return fail('validation_failed', 'give `until` or `days`, not both', {
      errors: [{ field: 'days', message: 'give until or days, not both' }],
    });
  }
  const allowedMs = maxFreezeDays * MS_PER_DAY;
  const leftMs = Math.max(0, allowedMs - usedMs);
  const field = request.until !== undefined ? 'until' : 'days';
  let frozenUntil: Date;
  if (request.until !== undefined) {
    if (request.until.getTime() <= now.getTime()) {
      return fail('validation_failed', 'until must be later than now', {
        errors: [{ field: 'until', message: `must be later than ${now.toISOString()}` }],
      });
    }
    frozenUntil = request.until;
  } else if (request.days !== undefined) {
    if (!Number.isInteger(request.days) || request.days < 1) {
      return fail('validation_failed', 'days must be a whole number of at least 1', {
        errors: [{ field: 'days', message: 'must be a whole number of at least 1' }],
      });
    }
    frozenUntil = new Date(now.getTime() + request.days * MS_PER_DAY);
  } else {
    frozenUntil = new Date(now.getTime() + leftMs);
  }
  const askedMs = frozenUntil.getTime() - now.getTime();
  if (leftMs === 0 || askedMs > leftMs) {
    const message =
      `beyond max_freeze_days: the package allows ${maxFreezeDays} days per period, ${daysText(usedMs)} used, ` +
      `${daysText(leftMs)} left, ${daysText(askedMs)} asked`;
    return fail('validation_failed', message, { errors: [{ field, message }] });
  }
  return ok({ frozenAt: now, frozenUntil });
}

export interface FrozenSpan {
  /** When the clock starts again: now, or `frozen_until` if that has passed (the sweep is late). */
  unfrozenAt: Date;
  /** How long the clock stood still, in milliseconds. */
  ms: number;
}

/** The exact frozen time of a freeze ended at `now` (by hand or by the sweep): never beyond `frozen_until`. */
export function frozenSpan(frozenAt: Date, frozenUntil: Date, now: Date): FrozenSpan {
  const end = Math.max(frozenAt.getTime(), Math.min(now.getTime(), frozenUntil.getTime()));
  return { unfrozenAt: new Date(end), ms: end - frozenAt.getTime() };
}

export interface ExpiringLot {
  id: string;
  expiresAt: Date;
}

export interface Extension {
  id: string;
  previousExpiresAt: Date;
  expiresAt: Date;
  /** When the move changes the balance's start too (an activation after its planned start): the start before. */
  previousValidFrom?: Date | undefined;
}

/**
 * Whether a frozen subscription's balance expiring at `expiresAt` moves later at unfreeze: it was still valid when the
 * clock stopped. One that had expired before the freeze (not swept yet) stays expired — nothing given back revives it.
 */
export const movesAtUnfreeze = (expiresAt: Date, frozenAt: Date): boolean => expiresAt.getTime() > frozenAt.getTime();

/**
 * What an unfreeze moves: every live balance still valid when the clock stopped (`movesAtUnfreeze`) expires `ms`
 * later. One that had expired before the freeze (not swept yet) is left to expire. Nothing moves when the freeze
 * lasted no time.
 */
export function extendExpiries(lots: readonly ExpiringLot[], frozenAt: Date, ms: number): Extension[] {
  if (ms <= 0) return [];
  return lots
    .filter((lot) => movesAtUnfreeze(lot.expiresAt, frozenAt))
    .map((lot) => ({
      id: lot.id,
      previousExpiresAt: lot.expiresAt,
      expiresAt: new Date(lot.expiresAt.getTime() + ms),
    }));
}

/** The period end after an unfreeze: later by exactly the frozen time. */
export const extendedPeriodEnd = (periodEnd: Date, ms: number): Date => new Date(periodEnd.getTime() + Math.max(0, ms));

/**
 * A balance of a frozen subscription as it will be once the freeze ends at `frozen_until` (the sweep's unfreeze,
 * the longest the freeze was asked for): spendable from then, its expiry later by the whole frozen time.
 */
export function thawedAtFrozenUntil<T extends { validFrom: Date; expiresAt: Date }>(
  lot: T,
  frozenAt: Date,
  frozenUntil: Date,
): T {
  const ms = frozenSpan(frozenAt, frozenUntil, frozenUntil).ms;
  return {
    ...lot,
    validFrom: new Date(Math.max(lot.validFrom.getTime(), frozenUntil.getTime())),
    expiresAt: new Date(lot.expiresAt.getTime() + ms),
  };
}
