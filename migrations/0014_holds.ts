import type { Knex } from 'knex';

/** Every ledger kind (DOMAIN.md), 'extend' (freezes) included, so that this and 0015 may run in either order. */
const ALL_KINDS =
  "'grant', 'consume', 'reverse', 'recharge', 'adjust', 'expire', 'rollover', 'void', 'hold', 'release', 'extend'";
const OLD_KINDS = "'grant', 'consume', 'reverse', 'recharge', 'adjust', 'expire', 'rollover', 'void'";

/**
 * Holds (DOMAIN.md "Holds"): units reserved now for a use whose size is known later. A hold takes
 * units from balances in the spending order (`hold_allocations.position` keeps that order for its
 * capture); each balance's `remaining` drops and its `held` grows by what it gives, so the identity
 * the database checks on every row becomes granted + adjusted − consumed − expired − voided −
 * rolled_over − held = remaining. Ledger kinds `hold` (negative) and `release` (positive).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE balances ADD COLUMN held bigint NOT NULL DEFAULT 0 CHECK (held >= 0);
    DO $$
    DECLARE c record;
    BEGIN
      -- the identity of 0004 was an unnamed CHECK: found by what it says
      FOR c IN SELECT conname FROM pg_constraint
                WHERE conrelid = 'balances'::regclass AND contype = 'c'
                  AND pg_get_constraintdef(oid) LIKE '%rolled_over%remaining%'
      LOOP
        EXECUTE format('ALTER TABLE balances DROP CONSTRAINT %I', c.conname);
      END LOOP;
    END $$;
    ALTER TABLE balances ADD CONSTRAINT balances_identity
      CHECK (granted + adjusted - consumed - expired - voided - rolled_over - held = remaining);

    ALTER TABLE ledger_entries DROP CONSTRAINT IF EXISTS ledger_entries_kind_check;
    ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check CHECK (kind IN (${ALL_KINDS}));

    CREATE TABLE holds (
      -- uuid v5 of (client, idempotency_key), like a consumption's
      id               uuid PRIMARY KEY,
      client_id        uuid NOT NULL REFERENCES clients (id),
      credit_type_id   uuid NOT NULL REFERENCES credit_types (id),
      idempotency_key  text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
      -- fingerprint of the payload: the same key with another payload is idempotency_conflict
      request_hash     text NOT NULL,
      quantity         bigint NOT NULL CHECK (quantity > 0),
      status           text NOT NULL CHECK (status IN ('held', 'captured', 'released', 'expired', 'rejected')),
      error_code       text,
      -- the client's usable total of the credit type right after the hold, as answered the first time
      remaining_after  bigint NOT NULL CHECK (remaining_after >= 0),
      expires_at       timestamptz NOT NULL,
      reference        text,
      metadata         jsonb,
      -- set when it closes: what the capture took, what went back to balances, what had expired meanwhile
      captured         bigint CHECK (captured >= 0 AND captured <= quantity),
      released         bigint CHECK (released >= 0),
      lapsed           bigint CHECK (lapsed >= 0),
      consumption_id   uuid REFERENCES consumptions (id),
      job_id           text,
      closed_at        timestamptz,
      created_at       timestamptz NOT NULL,
      updated_at       timestamptz NOT NULL,
      UNIQUE (client_id, idempotency_key),
      CHECK (status <> 'captured' OR consumption_id IS NOT NULL)
    );
    CREATE INDEX holds_client ON holds (client_id, created_at, id);
    CREATE INDEX holds_open_expiry ON holds (expires_at) WHERE status = 'held';

    CREATE TABLE hold_allocations (
      hold_id     uuid NOT NULL REFERENCES holds (id),
      balance_id  uuid NOT NULL REFERENCES balances (id),
      amount      bigint NOT NULL CHECK (amount > 0),
      -- the spending order the hold took its units in: a capture uses them in this order
      position    smallint NOT NULL CHECK (position >= 0),
      PRIMARY KEY (hold_id, balance_id),
      UNIQUE (hold_id, position)
    );
    CREATE INDEX hold_allocations_balance ON hold_allocations (balance_id);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE hold_allocations;
    DROP TABLE holds;
    ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
    ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check CHECK (kind IN (${OLD_KINDS}));
    ALTER TABLE balances DROP CONSTRAINT balances_identity;
    ALTER TABLE balances DROP COLUMN held;
    ALTER TABLE balances ADD CONSTRAINT balances_identity
      CHECK (granted + adjusted - consumed - expired - voided - rolled_over = remaining);
  `);
}
