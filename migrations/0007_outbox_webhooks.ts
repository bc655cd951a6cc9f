import type { Knex } from 'knex';

/**
 * The transactional outbox: every event is written in the transaction that caused it, then fanned
 * out to webhook endpoints as deliveries, each attempt recorded.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE outbox_events (
      seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      id             uuid NOT NULL UNIQUE,
      type           text NOT NULL,
      client_id      uuid,
      subject_id     uuid,
      payload        jsonb NOT NULL,
      created_at     timestamptz NOT NULL,
      dispatched_at  timestamptz
    );
    CREATE INDEX outbox_events_pending ON outbox_events (seq) WHERE dispatched_at IS NULL;
    CREATE INDEX outbox_events_created ON outbox_events (created_at);

    CREATE TABLE webhook_endpoints (
      id           uuid PRIMARY KEY,
      url          text NOT NULL CHECK (url ~ '^https\\?://'),
      events       text[] NOT NULL CHECK (cardinality(events) > 0),
      secret       text NOT NULL CHECK (length(secret) >= 16),
      description  text,
      created_at   timestamptz NOT NULL,
      deleted_at   timestamptz
    );

    CREATE TABLE webhook_deliveries (
      id                uuid PRIMARY KEY,
      endpoint_id       uuid NOT NULL REFERENCES webhook_endpoints (id),
      event_id          uuid NOT NULL REFERENCES outbox_events (id),
      status            text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
      attempts          integer NOT NULL DEFAULT 0,
      next_attempt_at   timestamptz,
      last_status_code  integer,
      last_error        text,
      delivered_at      timestamptz,
      created_at        timestamptz NOT NULL,
      UNIQUE (endpoint_id, event_id)
    );
    CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';

    CREATE TABLE webhook_attempts (
      delivery_id  uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
      attempt      integer NOT NULL,
      started_at   timestamptz NOT NULL,
      duration_ms  integer NOT NULL,
      status_code  integer,
      error        text,
      PRIMARY KEY (delivery_id, attempt)
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE webhook_attempts; DROP TABLE webhook_deliveries; DROP TABLE webhook_endpoints; DROP TABLE outbox_events;
  `);
}
