import type { Knex } from 'knex';

/**
 * A subscription bought `activation=on_payment` and paid after its planned start gets its whole period from the
 * payment: its balances' `valid_from` and `expires_at` move (services/invoices.ts). Every balance change is a ledger
 * entry, and that move had none: balances as of an instant before the payment (DOMAIN.md "As of") answered the moved
 * dates. It now writes an `extend` entry per balance, as an unfreeze does, with the balance's start before the move
 * in the new `previous_valid_from` (the new start is the balance's, or the next such entry's previous one).
 *
 * An activation's move is not always later: a month from a payment on the 31st can end before a month from a planned
 * start on the 30th (the short month clamps both), so an entry with a `previous_valid_from` may keep or shorten the
 * expiry; an unfreeze's (none) still only moves it later.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE ledger_entries ADD COLUMN previous_valid_from timestamptz;
    ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_extend_check;
    ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_extend_check CHECK (
      kind <> 'extend' OR (amount = 0 AND previous_expires_at IS NOT NULL AND expires_at IS NOT NULL
                           AND (expires_at > previous_expires_at OR previous_valid_from IS NOT NULL)));
  `);
}

/** Refused once an activation's entry keeps or shortens an expiry (the old check cannot hold it). */
export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_extend_check;
    ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_extend_check CHECK (
      kind <> 'extend' OR (amount = 0 AND previous_expires_at IS NOT NULL AND expires_at > previous_expires_at));
    ALTER TABLE ledger_entries DROP COLUMN previous_valid_from;
  `);
}
