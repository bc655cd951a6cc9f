import type { Knex } from 'knex';

/** Reports of use, each applied at most once per (client, idempotency key), and what paid for them. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE consumptions (
      -- uuid v5 of (client, idempotency_key): every path names the same consumption the same way
      id                 uuid PRIMARY KEY,
      client_id          uuid NOT NULL REFERENCES clients (id),
      credit_type_id     uuid NOT NULL REFERENCES credit_types (id),
      idempotency_key    text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
      -- fingerprint of the payload: the same key with another payload is idempotency_conflict
      request_hash       text NOT NULL,
      quantity           bigint NOT NULL CHECK (quantity > 0),
      applied            bigint NOT NULL CHECK (applied >= 0 AND applied <= quantity),
      shortfall          bigint NOT NULL CHECK (shortfall >= 0),
      mode               text NOT NULL CHECK (mode IN ('reject', 'partial')),
      status             text NOT NULL CHECK (status IN ('applied', 'partial', 'rejected', 'reversed')),
      error_code         text,
      -- the client's usable total of the credit type right after it, as answered the first time
      remaining_after    bigint NOT NULL CHECK (remaining_after >= 0),
      occurred_at        timestamptz NOT NULL,
      reference          text,
      metadata           jsonb,
      job_id             text,
      reversed_at        timestamptz,
      reversal_returned  bigint,
      reversal_expired   bigint,
      created_at         timestamptz NOT NULL,
      UNIQUE (client_id, idempotency_key)
    );
    CREATE INDEX consumptions_client ON consumptions (client_id, created_at, id);

    CREATE TABLE consumption_allocations (
      consumption_id  uuid NOT NULL REFERENCES consumptions (id),
      balance_id      uuid NOT NULL REFERENCES balances (id),
      amount          bigint NOT NULL CHECK (amount > 0),
      PRIMARY KEY (consumption_id, balance_id)
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP TABLE consumption_allocations; DROP TABLE consumptions;`);
}
