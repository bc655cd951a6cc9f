import type { Knex } from 'knex';

/**
 * A webhook endpoint receives the events that occur after it is created, not the ones the relay had still to move
 * when it was created: the relay matched each event to the endpoints live when it dispatched it, so an endpoint made
 * while the relay was behind (a burst, a relay down for an hour) got events from before it existed.
 *
 * `after_seq` is the outbox's highest `seq` when the endpoint was made; the relay delivers it only events after it.
 * An event still in a transaction then (its seq taken, not committed) may fall either side: it was concurrent with
 * the endpoint's creation. Endpoints made before this migration keep 0: they were told of every event so far.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE webhook_endpoints ADD COLUMN after_seq bigint NOT NULL DEFAULT 0');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE webhook_endpoints DROP COLUMN after_seq');
}
