import type { Knex } from 'knex';

/**
 * Freezing a subscription (DOMAIN.md "Holds, quotes, freezes, dimensions"): its clock stops, and at
 * unfreeze its period end and its balances' expiries move later by the frozen time.
 *
 * - `packages.max_freeze_days`: how many days a subscription may be frozen in one period; NULL = never.
 * - `subscriptions.frozen_at` / `frozen_until`: the freeze in progress (both NULL when not frozen); status
 *   `frozen` joins the status CHECK. The sweep finds the freezes to end by `frozen_until`.
 * - `subscription_freezes`: one row per freeze, with the period it was taken in and, once it ended, the
 *   exact time it stopped the clock. A table rather than a "days used" counter on the subscription: the
 *   days used in a period are the sum over the freezes of that period, so nothing has to be reset when
 *   the subscription renews, and each freeze keeps its own record (when, until when, ended by hand or by
 *   the sweep, how far it pushed the period).
 * - Ledger kind `extend` (amount 0): a balance's expiry moved, with `previous_expires_at` and
 *   `expires_at` on the entry. The kind CHECK is written whole, with `hold` and `release` (migration
 *   0014), so that the two migrations may be applied in either order; whatever list of kinds is checked is
 *   dropped first, found by what it checks (`kind = ANY (…)`), not by its name. The append-only trigger is left
 *   as it is.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE packages ADD COLUMN max_freeze_days integer CHECK (max_freeze_days BETWEEN 1 AND 3660);

    ALTER TABLE subscriptions DROP CONSTRAINT IF EXISTS subscriptions_status_check;
    ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_status_check
      CHECK (status IN ('pending', 'active', 'expired', 'cancelled', 'suspended', 'frozen'));
    ALTER TABLE subscriptions ADD COLUMN frozen_at timestamptz, ADD COLUMN frozen_until timestamptz;
    ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_freeze_check CHECK (
      (status = 'frozen') = (frozen_at IS NOT NULL)
      AND (frozen_at IS NULL) = (frozen_until IS NULL)
      AND (frozen_until IS NULL OR frozen_until > frozen_at));
    CREATE INDEX subscriptions_frozen_until ON subscriptions (frozen_until) WHERE status = 'frozen';

    CREATE TABLE subscription_freezes (
      id               uuid PRIMARY KEY,
      subscription_id  uuid NOT NULL REFERENCES subscriptions (id),
      -- the period it was taken in (current_period_start then): max_freeze_days counts per period
      period_start     timestamptz NOT NULL,
      frozen_at        timestamptz NOT NULL,
      frozen_until     timestamptz NOT NULL,
      -- when the clock started again (by hand, or frozen_until when the sweep ended it); NULL while frozen
      unfrozen_at      timestamptz,
      ended_by         text CHECK (ended_by IN ('hand', 'sweep')),
      actor            text,
      created_at       timestamptz NOT NULL,
      CHECK (frozen_until > frozen_at),
      CHECK ((unfrozen_at IS NULL) = (ended_by IS NULL)),
      CHECK (unfrozen_at IS NULL OR (unfrozen_at >= frozen_at AND unfrozen_at <= frozen_until))
    );
    CREATE INDEX subscription_freezes_period ON subscription_freezes (subscription_id, period_start);
    -- at most one freeze in progress per subscription
    CREATE UNIQUE INDEX subscription_freezes_open ON subscription_freezes (subscription_id) WHERE unfrozen_at IS NULL;

    DO $$
    DECLARE c text;
    BEGIN
      FOR c IN SELECT conname FROM pg_constraint
                WHERE conrelid = 'ledger_entries'::regclass AND contype = 'c'
                  AND pg_get_constraintdef(oid) LIKE '%(kind = ANY%'
      LOOP
        EXECUTE format('ALTER TABLE ledger_entries DROP CONSTRAINT %I', c);
      END LOOP;
    END $$;
    ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check CHECK (kind IN (
      'grant', 'consume', 'reverse', 'recharge', 'adjust', 'expire', 'rollover', 'void', 'hold', 'release', 'extend'));
    ALTER TABLE ledger_entries ADD COLUMN previous_expires_at timestamptz, ADD COLUMN expires_at timestamptz;
    ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_extend_check CHECK (
      kind <> 'extend' OR (amount = 0 AND previous_expires_at IS NOT NULL AND expires_at > previous_expires_at));
  `);
}

/** Refused while a subscription is frozen or an `extend` entry exists: neither can be undone after the fact. */
export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_extend_check;
    ALTER TABLE ledger_entries DROP COLUMN previous_expires_at, DROP COLUMN expires_at;
    ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
    ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check CHECK (kind IN (
      'grant', 'consume', 'reverse', 'recharge', 'adjust', 'expire', 'rollover', 'void', 'hold', 'release'));
    DROP TABLE subscription_freezes;
    DROP INDEX subscriptions_frozen_until;
    ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_freeze_check;
    ALTER TABLE subscriptions DROP COLUMN frozen_at, DROP COLUMN frozen_until;
    ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_status_check;
    ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_status_check
      CHECK (status IN ('pending', 'active', 'expired', 'cancelled', 'suspended'));
    ALTER TABLE packages DROP COLUMN max_freeze_days;
  `);
}
