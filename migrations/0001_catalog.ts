import type { Knex } from 'knex';

/** What is sold: credit types (each with its own unit and precision) and packages of them. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE credit_types (
      id          uuid PRIMARY KEY,
      code        text NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
      name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      unit        text NOT NULL CHECK (length(unit) BETWEEN 1 AND 50),
      -- how finely a unit may be split; quantities are stored as units × 10^decimals
      decimals    smallint NOT NULL CHECK (decimals BETWEEN 0 AND 6),
      archived    boolean NOT NULL DEFAULT false,
      created_at  timestamptz NOT NULL,
      updated_at  timestamptz NOT NULL
    );

    CREATE TABLE packages (
      id                   uuid PRIMARY KEY,
      code                 text NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
      name                 text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      description          text,
      price                bigint NOT NULL CHECK (price >= 0),
      currency             char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
      validity_count       integer NOT NULL CHECK (validity_count BETWEEN 1 AND 1000),
      validity_unit        text NOT NULL CHECK (validity_unit IN ('day', 'week', 'month', 'year')),
      -- fee of one recharge; NULL means the package price
      recharge_price       bigint CHECK (recharge_price >= 0),
      rollover             jsonb NOT NULL DEFAULT '{"policy":"none"}',
      auto_renew           boolean NOT NULL DEFAULT false,
      -- lower is spent first
      priority             smallint NOT NULL DEFAULT 50 CHECK (priority BETWEEN 0 AND 100),
      low_balance_percent  smallint NOT NULL DEFAULT 10 CHECK (low_balance_percent BETWEEN 0 AND 100),
      status               text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
      metadata             jsonb NOT NULL DEFAULT '{}',
      created_at           timestamptz NOT NULL,
      updated_at           timestamptz NOT NULL
    );

    CREATE TABLE package_items (
      package_id      uuid NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
      credit_type_id  uuid NOT NULL REFERENCES credit_types (id),
      units           bigint NOT NULL CHECK (units > 0),
      position        smallint NOT NULL,
      PRIMARY KEY (package_id, credit_type_id)
    );
    CREATE INDEX package_items_credit_type ON package_items (credit_type_id);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP TABLE package_items; DROP TABLE packages; DROP TABLE credit_types;`);
}
