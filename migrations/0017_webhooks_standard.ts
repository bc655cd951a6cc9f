import type { Knex } from 'knex';

/**
 * Webhooks to the standard: an endpoint that kept failing is disabled (when, and why) until it is enabled again;
 * a rotated secret keeps the one it replaced until its grace period ends (deliveries carry both signatures).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE webhook_endpoints
      ADD COLUMN disabled_at timestamptz,
      ADD COLUMN disabled_reason text,
      ADD COLUMN previous_secret text,
      ADD COLUMN previous_secret_expires_at timestamptz,
      ADD CONSTRAINT webhook_endpoints_previous_secret
        CHECK ((previous_secret IS NULL) = (previous_secret_expires_at IS NULL));
    CREATE INDEX outbox_events_type_seq ON outbox_events (type, seq);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP INDEX outbox_events_type_seq;
    ALTER TABLE webhook_endpoints
      DROP CONSTRAINT webhook_endpoints_previous_secret,
      DROP COLUMN disabled_at, DROP COLUMN disabled_reason,
      DROP COLUMN previous_secret, DROP COLUMN previous_secret_expires_at;
  `);
}
