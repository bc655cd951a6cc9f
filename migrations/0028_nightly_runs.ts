import type { Knex } from 'knex';

/**
 * The nightly runs, by the minute they run as of: when each began and, once its last phase (the verify) has been
 * waited for, when it finished and what each phase did. A scheduler that starts after a nightly minute it missed (a
 * deploy or a crash across it) runs that night then: node-cron runs nothing it missed, and the catch-up at start
 * renewed and swept but left the night's notices, housekeeping, reports and verify undone.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE nightly_runs (
      as_of        timestamptz PRIMARY KEY,
      started_at   timestamptz NOT NULL,
      finished_at  timestamptz,
      report       jsonb,
      CHECK ((finished_at IS NULL) = (report IS NULL))
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TABLE nightly_runs');
}
