import type { BalanceStatus } from './balance-change.js';
import { movesAtUnfreeze } from './freeze.js';
import type { SubscriptionStatus } from './renewal.js';

/**
 * Where a balance's remaining units stand at one instant, as a consumption sees them (DOMAIN.md
 * "Usable means spendable"):
 * - `usable`: consumption rule 1 holds now — a live balance, of an active subscription (or of none:
 *   an operator's grant), with `valid_from <= at < expires_at`;
 * - `unavailable`: held by a subscription that is not active (suspended, pending, frozen, …): they
 *   become usable only if someone changes its status, whatever their validity; a frozen one's even past
 *   their `expires_at` (DOMAIN.md "Freeze": its clock stopped, it is not expired, and the expiry moves
 *   later at unfreeze) — unless it had expired before the freeze (the sweep had not reached it yet): the
 *   unfreeze does not move it (domain/freeze.ts movesAtUnfreeze), it is `expired`;
 * - `upcoming`: not valid yet (a renewed period that has not started): time alone makes them usable;
 * - `expired`: past `expires_at` (unless its subscription is frozen), whether or not the sweep has reached the
 *   balance yet;
 * - `void`: cancelled away.
 * Answers that show a client what is left (balances, the `balances` report) count `remaining` from
 * the usable ones only, so that what they promise is what a consumption would find.
 */
export type Availability = 'usable' | 'unavailable' | 'upcoming' | 'expired' | 'void';

export const AVAILABILITIES = [
  'usable',
  'unavailable',
  'upcoming',
  'expired',
  'void',
] as const satisfies readonly Availability[];

export interface PlacedBalance {
  status: BalanceStatus;
  validFrom: Date;
  expiresAt: Date;
}

/**
 * The availability of a balance at `at`; `subscriptionStatus` is null for a balance that belongs to no subscription.
 * `frozenAt`: when the freeze covering `at` began, for a frozen subscription's balance (unknown: null, and a frozen
 * subscription's balance is taken as still valid when its clock stopped).
 */
export function availabilityOf(
  balance: PlacedBalance,
  subscriptionStatus: SubscriptionStatus | null,
  at: Date,
  frozenAt: Date | null = null,
): Availability {
  if (balance.status === 'void') return 'void';
  if (balance.status === 'expired') return 'expired';
  if (subscriptionStatus === 'frozen' && (frozenAt === null || movesAtUnfreeze(balance.expiresAt, frozenAt)))
    return 'unavailable';
  if (balance.expiresAt.getTime() <= at.getTime()) return 'expired';
  if (subscriptionStatus !== null && subscriptionStatus !== 'active') return 'unavailable';
  if (balance.validFrom.getTime() > at.getTime()) return 'upcoming';
  return 'usable';
}
