import type { Knex } from 'knex';

/**
 * The spans of the outbox a webhook endpoint was disabled for. The relay matched each event to the endpoints live
 * when it *dispatched* the event, so around a disable or an enable the relay's lag decided: an event that occurred
 * while the endpoint was live but was dispatched after it was disabled got no delivery (nothing to retry by hand
 * later), and one that occurred while it was disabled but was dispatched after it was enabled again was delivered.
 * The same fault as 0027's for a new endpoint, and the same cure: a disable records the outbox's highest `seq`
 * (`from_seq`), an enable closes the span with the highest then (`to_seq`), and the relay gives an endpoint no
 * delivery for an event inside a span, (from_seq, to_seq]. An event still in a transaction at either moment may
 * fall either side: it was concurrent with the change.
 *
 * Endpoints disabled before this migration get an open span from the last event made before their `disabled_at`.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE webhook_endpoint_pauses (
      id bigserial PRIMARY KEY,
      endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id),
      from_seq bigint NOT NULL,
      to_seq bigint,
      CHECK (to_seq IS NULL OR to_seq >= from_seq)
    )`);
  // one open span at most per endpoint: the enable closes it, the next disable opens another
  await knex.raw(
    'CREATE UNIQUE INDEX webhook_endpoint_pauses_open ON webhook_endpoint_pauses (endpoint_id) WHERE to_seq IS NULL',
  );
  await knex.raw('CREATE INDEX webhook_endpoint_pauses_endpoint ON webhook_endpoint_pauses (endpoint_id)');
  await knex.raw(`
    INSERT INTO webhook_endpoint_pauses (endpoint_id, from_seq)
    SELECT e.id, coalesce((SELECT max(o.seq) FROM outbox_events o WHERE o.created_at <= e.disabled_at), 0)
      FROM webhook_endpoints e
     WHERE e.disabled_at IS NOT NULL AND e.deleted_at IS NULL`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE webhook_endpoint_pauses');
}
