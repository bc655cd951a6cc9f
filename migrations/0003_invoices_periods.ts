import type { Knex } from 'knex';

/**
 * The built-in sales ledger. Invoice numbers are gapless per year: the counter row is incremented in
 * the transaction that issues the invoice, so a rollback gives the number back.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE invoice_counters (
      year         integer PRIMARY KEY,
      last_number  integer NOT NULL CHECK (last_number >= 0)
    );

    CREATE TABLE invoices (
      id               uuid PRIMARY KEY,
      number           text NOT NULL UNIQUE,
      year             integer NOT NULL,
      sequence         integer NOT NULL CHECK (sequence > 0),
      client_id        uuid NOT NULL REFERENCES clients (id),
      subscription_id  uuid REFERENCES subscriptions (id),
      kind             text NOT NULL CHECK (kind IN ('subscription', 'renewal', 'recharge')),
      currency         char(3) NOT NULL,
      total            bigint NOT NULL CHECK (total >= 0),
      status           text NOT NULL CHECK (status IN ('issued', 'paid', 'void')),
      period_start     timestamptz,
      period_end       timestamptz,
      issued_at        timestamptz NOT NULL,
      paid_at          timestamptz,
      voided_at        timestamptz,
      void_reason      text,
      created_at       timestamptz NOT NULL,
      UNIQUE (year, sequence)
    );
    CREATE INDEX invoices_client ON invoices (client_id, created_at, id);
    CREATE INDEX invoices_subscription ON invoices (subscription_id);
    CREATE INDEX invoices_list ON invoices (created_at, id);
    CREATE INDEX invoices_issued_at ON invoices (issued_at);

    CREATE TABLE invoice_lines (
      id              uuid PRIMARY KEY,
      invoice_id      uuid NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
      position        smallint NOT NULL,
      description     text NOT NULL,
      credit_type_id  uuid REFERENCES credit_types (id),
      quantity        bigint,
      amount          bigint NOT NULL CHECK (amount >= 0),
      UNIQUE (invoice_id, position)
    );

    -- One row per period a subscription was granted: renewing a period twice hits the primary key.
    CREATE TABLE subscription_periods (
      subscription_id  uuid NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
      starts_at        timestamptz NOT NULL,
      ends_at          timestamptz NOT NULL,
      kind             text NOT NULL CHECK (kind IN ('initial', 'renewal')),
      invoice_id       uuid REFERENCES invoices (id),
      price            bigint NOT NULL CHECK (price >= 0),
      late             boolean NOT NULL DEFAULT false,
      job_id           text,
      created_at       timestamptz NOT NULL,
      PRIMARY KEY (subscription_id, starts_at),
      CHECK (ends_at > starts_at)
    );
    CREATE INDEX subscription_periods_created ON subscription_periods (created_at);

    -- A recharge happens once per (subscription, idempotency key).
    CREATE TABLE recharges (
      id               uuid PRIMARY KEY,
      subscription_id  uuid NOT NULL REFERENCES subscriptions (id),
      idempotency_key  text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
      request_hash     text NOT NULL,
      auto             boolean NOT NULL DEFAULT false,
      invoice_id       uuid REFERENCES invoices (id),
      period_start     timestamptz NOT NULL,
      price            bigint NOT NULL CHECK (price >= 0),
      result           jsonb NOT NULL,
      created_at       timestamptz NOT NULL,
      UNIQUE (subscription_id, idempotency_key)
    );
    CREATE INDEX recharges_period ON recharges (subscription_id, period_start) WHERE auto;
    CREATE INDEX recharges_created ON recharges (created_at);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE recharges; DROP TABLE subscription_periods; DROP TABLE invoice_lines;
    DROP TABLE invoices; DROP TABLE invoice_counters;
  `);
}
