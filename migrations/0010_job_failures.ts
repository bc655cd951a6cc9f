import type { Knex } from 'knex';

/**
 * The stored outcome of a job that failed for good: its contract code, detail and field problems.
 * BullMQ keeps only a message per failed job; whoever waits for a job (`?wait=true`, the nightly
 * phases, the pages) reads the typed failure here instead of parsing that message. Written by the
 * worker just before the job fails; kept as long as BullMQ keeps failed jobs (cleanup job).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE job_failures (
      job_id     text PRIMARY KEY,
      queue      text NOT NULL,
      name       text NOT NULL,
      code       text NOT NULL,
      detail     text NOT NULL,
      errors     jsonb,
      extra      jsonb,
      failed_at  timestamptz NOT NULL
    );
    CREATE INDEX job_failures_failed ON job_failures (failed_at);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE job_failures');
}
