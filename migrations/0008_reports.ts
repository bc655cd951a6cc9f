import type { Knex } from 'knex';

/** Generated reports and their output, stored in chunks so a large one never sits whole in memory. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE report_runs (
      id            uuid PRIMARY KEY,
      type          text NOT NULL
        CHECK (type IN ('subscriptions', 'balances', 'consumption', 'renewals', 'top_packages', 'expiring')),
      params        jsonb NOT NULL,
      format        text NOT NULL CHECK (format IN ('json', 'csv')),
      status        text NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
      trigger       text NOT NULL CHECK (trigger IN ('api', 'nightly', 'ui')),
      row_count     bigint,
      byte_size     bigint,
      error         text,
      created_at    timestamptz NOT NULL,
      started_at    timestamptz,
      finished_at   timestamptz
    );
    CREATE INDEX report_runs_list ON report_runs (created_at, id);

    CREATE TABLE report_chunks (
      report_id  uuid NOT NULL REFERENCES report_runs (id) ON DELETE CASCADE,
      seq        integer NOT NULL,
      data       bytea NOT NULL,
      PRIMARY KEY (report_id, seq)
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP TABLE report_chunks; DROP TABLE report_runs;`);
}
