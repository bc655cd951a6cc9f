import type { Knex } from 'knex';

/**
 * A lapse's `expired_at` was when the expiry sweep recorded it, and the renewals report buckets expirations by it: a
 * subscription whose period ended at 09:00 on the 24th, swept at 04:53 on the 25th, was counted on the 25th — while
 * the subscription itself (its `expired_at`), the subscriptions and balances reports and `as_of` reads have it expired
 * from its period's end (found by a QA walk). A lapse expires at the end of its period, whenever it is recorded.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('UPDATE subscription_lapses SET expired_at = period_end WHERE expired_at <> period_end');
}

export async function down(): Promise<void> {
  // when each sweep came is not kept anywhere else: nothing to restore, and period_end is a lapse's time either way
}
