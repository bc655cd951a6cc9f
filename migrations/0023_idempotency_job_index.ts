import type { Knex } from 'knex';

/**
 * The idempotency records that name a job (a renewal's Idempotency-Key remembers the job it asked for,
 * src/jobs/renew.ts): a renewal made ahead and taken back by a cancel at period end forgets them
 * (services/renewal-undo.ts), which without this index read every record of the retention window. Partial:
 * only those records carry a `job_id`; every other keyed request pays nothing for it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE INDEX idempotency_records_job ON idempotency_records ((response_body ->> 'job_id'))
      WHERE response_body \\? 'job_id';
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX idempotency_records_job;');
}
