import type { Knex } from 'knex';

/** API keys, replayable responses for Idempotency-Key, and requests accepted but not yet applied. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE api_keys (
      id            uuid PRIMARY KEY,
      name          text NOT NULL,
      -- the key's first characters, to find its row; the key itself is never stored
      prefix        text NOT NULL UNIQUE,
      hash          bytea NOT NULL,
      scopes        text[] NOT NULL CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['admin', 'write', 'read']),
      created_at    timestamptz NOT NULL,
      last_used_at  timestamptz,
      revoked_at    timestamptz
    );

    CREATE TABLE idempotency_records (
      api_key_id     uuid NOT NULL REFERENCES api_keys (id),
      method         text NOT NULL,
      path           text NOT NULL,
      key            text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
      request_hash   text NOT NULL,
      status_code    integer NOT NULL,
      response_body  jsonb NOT NULL,
      created_at     timestamptz NOT NULL,
      PRIMARY KEY (api_key_id, method, path, key)
    );
    CREATE INDEX idempotency_records_created ON idempotency_records (created_at);

    -- A request the API answered 202 is written here before it is enqueued; the worker deletes it in
    -- the transaction that applies it, and the relay re-enqueues what Redis no longer holds.
    CREATE TABLE accepted_jobs (
      job_id            text PRIMARY KEY,
      queue             text NOT NULL,
      name              text NOT NULL,
      data              jsonb NOT NULL,
      request_hash      text NOT NULL,
      -- what the job will create or change (a consumption's id), to answer "queued" for it
      subject_id        uuid,
      accepted_at       timestamptz NOT NULL,
      enqueue_attempts  integer NOT NULL DEFAULT 0,
      last_enqueued_at  timestamptz
    );
    CREATE INDEX accepted_jobs_accepted ON accepted_jobs (accepted_at);
    CREATE INDEX accepted_jobs_subject ON accepted_jobs (subject_id) WHERE subject_id IS NOT NULL;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP TABLE accepted_jobs; DROP TABLE idempotency_records; DROP TABLE api_keys;`);
}
