import type { Knex } from 'knex';

/**
 * An operator may grant units to a client that holds no live subscription (DOMAIN.md balance source
 * `adjustment`, with a validity of its own): such a balance, and its ledger entries, belong to no
 * subscription. Only an adjustment may: a package, recharge or rollover balance is always some
 * subscription's period, and the database keeps it so. The expiry sweep finds these balances by
 * their expiry (balances_expiry), as it finds every other.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE balances ALTER COLUMN subscription_id DROP NOT NULL;
    ALTER TABLE balances ADD CONSTRAINT balances_subscription_unless_adjustment
      CHECK (subscription_id IS NOT NULL OR source = 'adjustment');
    ALTER TABLE ledger_entries ALTER COLUMN subscription_id DROP NOT NULL;
  `);
}

/**
 * Refused (by NOT NULL) while any subscription-less balance exists: they cannot be given a subscription after
 * the fact.
 */
export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE ledger_entries ALTER COLUMN subscription_id SET NOT NULL;
    ALTER TABLE balances DROP CONSTRAINT balances_subscription_unless_adjustment;
    ALTER TABLE balances ALTER COLUMN subscription_id SET NOT NULL;
  `);
}
