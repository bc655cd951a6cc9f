import type { Knex } from 'knex';

/**
 * The reports' pictures of an instant (src/db/reports/as-of.ts) read the ledger entries written after it: the hours
 * since last midnight for a nightly run, none for one asked now. Without an index on `created_at` that is every row of
 * the month's partition. A BRIN index fits the column: rows are appended in about the order of their `created_at`, it
 * is a few pages for millions of rows, and a consumption's insert barely pays for it (a range is summarised by vacuum,
 * not by each insert) — a B-tree here would be one more tree to write per ledger entry on the hot path.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('CREATE INDEX ledger_created_brin ON ledger_entries USING brin (created_at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX ledger_created_brin');
}
