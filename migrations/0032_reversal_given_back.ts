import type { Knex } from 'knex';

/**
 * DOMAIN.md consumption rule 5: a reversal's part whose balance has expired "is not revived: its part is recorded as
 * expired". Until now the service recorded it on the consumption only — the units stayed consumed on the balance, in
 * its ledger and in the usage. A reversal now gives that part back to its balance and expires it there at once (a
 * `reverse` and an `expire` entry, jobs/reverse.ts): the use is taken back, the balance counts those units expired.
 * `reversal_given_back` is what a reversal gave back to the balances — what it returned, and from now on its expired
 * part too — so that the usage (GET /v1/clients/{id}/usage, read from consumptions) takes back what the ledger took
 * back. NULL for a reversal made before: it gave back what it returned (`reversal_returned`).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE consumptions ADD COLUMN reversal_given_back bigint CHECK (reversal_given_back >= 0);
    DROP INDEX consumptions_reversed;
    CREATE INDEX consumptions_reversed ON consumptions (client_id, credit_type_id, reversed_at)
      INCLUDE (reversal_returned, reversal_given_back, dimensions) WHERE reversed_at IS NOT NULL;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP INDEX consumptions_reversed;
    CREATE INDEX consumptions_reversed ON consumptions (client_id, credit_type_id, reversed_at)
      INCLUDE (reversal_returned, dimensions) WHERE reversed_at IS NOT NULL;
    ALTER TABLE consumptions DROP COLUMN reversal_given_back;
  `);
}
