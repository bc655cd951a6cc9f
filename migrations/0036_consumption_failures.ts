import type { Knex } from 'knex';

/**
 * The uses refused one by one (issue 14: "one bad use failing alone", "each with its own result readable by id"): a
 * use of a batch (POST /v1/consumptions/batch) refused at the door, or a use the worker refused for good (a typed
 * producer's) — a client or credit type that does not exist, a quantity finer than its credit type allows, a time in
 * the future. Such a use is never a consumption — nothing is deducted and its key stays free — but it has an id (the
 * one its consumption would have had) and its failure is read by that id (GET /v1/consumptions/{id}), as a rejected
 * use is. `id` is uuid v5 of (client id, key), or of (the client as the use named it, key) for a client that does not
 * exist. Written again (the latest failure) when the same use is refused again; kept as long as failed jobs are.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE consumption_failures (
      id               uuid PRIMARY KEY,
      idempotency_key  text NOT NULL,
      code             text NOT NULL,
      detail           text NOT NULL,
      failed_at        timestamptz NOT NULL
    );
    CREATE INDEX consumption_failures_failed ON consumption_failures (failed_at);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE consumption_failures');
}
