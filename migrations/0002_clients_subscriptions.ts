import type { Knex } from 'knex';

/** Who buys, and what each of them bought: subscriptions with a snapshot of the package's items. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE clients (
      id            uuid PRIMARY KEY,
      -- its id in the sales/invoicing system
      external_ref  text NOT NULL UNIQUE CHECK (length(external_ref) BETWEEN 1 AND 200),
      name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      email         text,
      metadata      jsonb NOT NULL DEFAULT '{}',
      created_at    timestamptz NOT NULL,
      updated_at    timestamptz NOT NULL
    );

    CREATE TABLE subscriptions (
      id                               uuid PRIMARY KEY,
      client_id                        uuid NOT NULL REFERENCES clients (id),
      package_id                       uuid NOT NULL REFERENCES packages (id),
      status                           text NOT NULL
                                         CHECK (status IN ('pending', 'active', 'expired', 'cancelled', 'suspended')),
      activation                       text NOT NULL DEFAULT 'immediate'
                                         CHECK (activation IN ('immediate', 'on_payment')),
      -- periods are computed from the anchor (n × validity), so month ends do not drift
      anchor_at                        timestamptz NOT NULL,
      period_index                     integer NOT NULL DEFAULT 0 CHECK (period_index >= 0),
      current_period_start             timestamptz NOT NULL,
      current_period_end               timestamptz NOT NULL,
      validity_count                   integer NOT NULL CHECK (validity_count BETWEEN 1 AND 1000),
      validity_unit                    text NOT NULL CHECK (validity_unit IN ('day', 'week', 'month', 'year')),
      currency                         char(3) NOT NULL,
      -- the subscription's own fee; NULL follows the package price
      price_override                   bigint CHECK (price_override >= 0),
      auto_renew                       boolean NOT NULL,
      apply_package_changes            boolean NOT NULL DEFAULT false,
      cancel_at_period_end             boolean NOT NULL DEFAULT false,
      auto_recharge_enabled            boolean NOT NULL DEFAULT false,
      auto_recharge_threshold_percent  smallint NOT NULL DEFAULT 10
                                         CHECK (auto_recharge_threshold_percent BETWEEN 0 AND 100),
      auto_recharge_max_per_period     smallint NOT NULL DEFAULT 1
                                         CHECK (auto_recharge_max_per_period BETWEEN 0 AND 100),
      renewal_count                    integer NOT NULL DEFAULT 0,
      activated_at                     timestamptz,
      cancelled_at                     timestamptz,
      expired_at                       timestamptz,
      metadata                         jsonb NOT NULL DEFAULT '{}',
      created_at                       timestamptz NOT NULL,
      updated_at                       timestamptz NOT NULL,
      CHECK (current_period_end > current_period_start)
    );
    CREATE INDEX subscriptions_client ON subscriptions (client_id, created_at, id);
    CREATE INDEX subscriptions_package ON subscriptions (package_id);
    CREATE INDEX subscriptions_list ON subscriptions (created_at, id);
    -- the nightly renewal and expiry sweeps look for live subscriptions by period end
    CREATE INDEX subscriptions_period_end ON subscriptions (current_period_end) WHERE status IN ('active', 'pending');

    CREATE TABLE subscription_items (
      subscription_id  uuid NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
      credit_type_id   uuid NOT NULL REFERENCES credit_types (id),
      units            bigint NOT NULL CHECK (units > 0),
      position         smallint NOT NULL,
      PRIMARY KEY (subscription_id, credit_type_id)
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP TABLE subscription_items; DROP TABLE subscriptions; DROP TABLE clients;`);
}
