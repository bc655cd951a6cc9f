import type { Knex } from 'knex';

/**
 * Each time a subscription lapsed: its period ended without renewal and the expiry sweep expired it.
 * Written by the sweep in the transaction that expires the subscription, never changed after: the
 * renewals report counts expirations from here, so a lapse renewed later (its status active again)
 * still counts in the bucket where it happened. `period_end` is the end of the period that lapsed
 * (the subscription's `expired_at`); `expired_at` is when the sweep expired it — the moment of its
 * `subscription.expired` event, which the report buckets by.
 *
 * Backfilled from subscriptions.expired_at, the last lapse of each subscription (earlier ones were
 * never recorded); both times are that period end, the bucket the report counted it in until now.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE subscription_lapses (
      subscription_id  uuid NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
      period_end       timestamptz NOT NULL,
      client_id        uuid NOT NULL REFERENCES clients (id),
      package_id       uuid NOT NULL REFERENCES packages (id),
      expired_at       timestamptz NOT NULL,
      PRIMARY KEY (subscription_id, period_end)
    );
    CREATE INDEX subscription_lapses_expired ON subscription_lapses (expired_at);

    INSERT INTO subscription_lapses (subscription_id, period_end, client_id, package_id, expired_at)
    SELECT id, expired_at, client_id, package_id, expired_at FROM subscriptions WHERE expired_at IS NOT NULL;

    -- the report no longer reads expirations from the subscriptions
    DROP INDEX subscriptions_expired;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE INDEX subscriptions_expired ON subscriptions (expired_at) WHERE status = 'expired';
    DROP TABLE subscription_lapses;
  `);
}
