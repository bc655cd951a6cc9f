import type { Knex } from 'knex';

/**
 * Balances (lots) and their append-only ledger. The database itself refuses a negative balance and
 * any change to a written ledger entry.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE balances (
      id               uuid PRIMARY KEY,
      client_id        uuid NOT NULL REFERENCES clients (id),
      subscription_id  uuid NOT NULL REFERENCES subscriptions (id),
      credit_type_id   uuid NOT NULL REFERENCES credit_types (id),
      source           text NOT NULL CHECK (source IN ('package', 'recharge', 'rollover', 'adjustment')),
      status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'expired', 'void')),
      granted          bigint NOT NULL CHECK (granted >= 0),
      remaining        bigint NOT NULL CHECK (remaining >= 0),
      -- running totals of the ledger by kind, so reports and balances read one row, not the ledger
      consumed         bigint NOT NULL DEFAULT 0,
      adjusted         bigint NOT NULL DEFAULT 0,
      expired          bigint NOT NULL DEFAULT 0 CHECK (expired >= 0),
      voided           bigint NOT NULL DEFAULT 0 CHECK (voided >= 0),
      rolled_over      bigint NOT NULL DEFAULT 0 CHECK (rolled_over >= 0),
      low_threshold    bigint NOT NULL DEFAULT 0 CHECK (low_threshold >= 0),
      -- when balance.low / balance.expiring_soon were last sent, so each is sent once
      low_notified_at     timestamptz,
      expiry_notified_at  timestamptz,
      priority         smallint NOT NULL CHECK (priority BETWEEN 0 AND 100),
      valid_from       timestamptz NOT NULL,
      expires_at       timestamptz NOT NULL,
      -- the subscription period that granted it
      period_start     timestamptz NOT NULL,
      created_at       timestamptz NOT NULL,
      updated_at       timestamptz NOT NULL,
      CHECK (expires_at > valid_from),
      -- the ledger identity, checked on every write
      CHECK (granted + adjusted - consumed - expired - voided - rolled_over = remaining)
    ) WITH (fillfactor = 80);
    -- The consumption lookup, in spending order (DOMAIN.md rule 2). remaining is left out of every
    -- index so that a deduction is a HOT update.
    CREATE INDEX balances_spending ON balances (client_id, credit_type_id, priority, expires_at, valid_from, id)
      WHERE status = 'active';
    CREATE INDEX balances_subscription ON balances (subscription_id, credit_type_id);
    CREATE INDEX balances_expiry ON balances (expires_at) WHERE status = 'active';

    CREATE TABLE ledger_entries (
      seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      -- entries are ordered by seq; the id only names one (made here: no round of randomness in the app)
      id               uuid NOT NULL DEFAULT gen_random_uuid(),
      balance_id       uuid NOT NULL REFERENCES balances (id),
      client_id        uuid NOT NULL,
      credit_type_id   uuid NOT NULL,
      subscription_id  uuid NOT NULL,
      kind             text NOT NULL
        CHECK (kind IN ('grant', 'consume', 'reverse', 'recharge', 'adjust', 'expire', 'rollover', 'void')),
      amount           bigint NOT NULL,
      remaining_after  bigint NOT NULL CHECK (remaining_after >= 0),
      consumption_id   uuid,
      invoice_id       uuid,
      job_id           text,
      actor            text,
      reason           text,
      -- when the change counts for reports (a consumption's occurred_at; otherwise created_at)
      effective_at     timestamptz NOT NULL,
      created_at       timestamptz NOT NULL
    );
    CREATE INDEX ledger_balance ON ledger_entries (balance_id, seq);
    CREATE INDEX ledger_statement ON ledger_entries (client_id, credit_type_id, seq);
    CREATE INDEX ledger_consumption ON ledger_entries (consumption_id) WHERE consumption_id IS NOT NULL;
    CREATE INDEX ledger_effective ON ledger_entries (effective_at, credit_type_id);

    CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'ledger_entries is append-only: % refused', TG_OP USING ERRCODE = 'restrict_violation';
    END $$;
    CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
      FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE ledger_entries; DROP FUNCTION ledger_entries_append_only(); DROP TABLE balances;
  `);
}
