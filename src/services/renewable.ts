import type { SubscriptionRow } from '../db/repositories/subscriptions.js';
import { becameRenewable, type RenewalTerms } from '../domain/renewal.js';

/**
 * Who hears of a subscription a change made renewable (becameRenewable), in the change's transaction: to ask for its
 * renewal ahead once that has committed (src/jobs/renew-ahead.ts), never before.
 */
export type OnRenewable = (subscription: SubscriptionRow) => void;

export const renewalTermsOf = (row: SubscriptionRow): RenewalTerms => ({
  status: row.status,
  autoRenew: row.auto_renew,
  cancelAtPeriodEnd: row.cancel_at_period_end,
});

/** Tells `onRenewable` of `after` when the change from `before` (undefined: a new subscription) made it renewable. */
export function tellIfRenewable(
  before: SubscriptionRow | undefined,
  after: SubscriptionRow,
  onRenewable: OnRenewable | undefined,
): void {
  if (onRenewable && becameRenewable(before && renewalTermsOf(before), renewalTermsOf(after))) onRenewable(after);
}
