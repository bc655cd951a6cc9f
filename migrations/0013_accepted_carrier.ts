import type { Knex } from 'knex';

/**
 * A use accepted through POST /v1/consumptions/batch is recorded on its own (its key, its
 * fingerprint, its "queued" answer) but travels in one `consume-batch` job with the other uses of
 * its request: `carrier_job_id` names that job, so that the relay asks Redis for the carrier, and
 * enqueues the use on its own only if Redis lost it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE accepted_jobs ADD COLUMN carrier_job_id text');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE accepted_jobs DROP COLUMN carrier_job_id');
}
