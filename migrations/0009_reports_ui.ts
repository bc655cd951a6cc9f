import type { Knex } from 'knex';

/**
 * Reports and the pages: the indexes the report aggregates read, a fence for the report job's
 * attempts, and the login sessions of /ui.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    -- The attempt of the generate job that owns a run's chunks: a stalled attempt that wakes up
    -- after a newer one started can neither add chunks nor mark the run done.
    ALTER TABLE report_runs ADD COLUMN attempt_id uuid;

    -- The consumption report (and the overview's chart) reads consumptions and reversals by when
    -- they count, and nothing else: a partial index carrying every column the aggregate needs,
    -- so it is an index-only scan. It replaces ledger_effective, which only reports used, so a
    -- consumption still writes as many index entries as before.
    DROP INDEX ledger_effective;
    CREATE INDEX ledger_usage ON ledger_entries (effective_at)
      INCLUDE (credit_type_id, client_id, subscription_id, kind, amount)
      WHERE kind IN ('consume', 'reverse');

    -- The renewals report counts expirations by when they happened.
    CREATE INDEX subscriptions_expired ON subscriptions (expired_at) WHERE status = 'expired';

    -- A login to /ui with an admin key: the cookie holds a random token, the table its hash and
    -- the key it stands for (revoking the key ends its sessions).
    CREATE TABLE ui_sessions (
      token_hash  bytea PRIMARY KEY,
      api_key_id  uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
      created_at  timestamptz NOT NULL,
      expires_at  timestamptz NOT NULL
    );
    CREATE INDEX ui_sessions_expires ON ui_sessions (expires_at);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE ui_sessions;
    DROP INDEX subscriptions_expired;
    DROP INDEX ledger_usage;
    CREATE INDEX ledger_effective ON ledger_entries (effective_at, credit_type_id);
    ALTER TABLE report_runs DROP COLUMN attempt_id;
  `);
}
