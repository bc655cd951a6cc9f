import type { AppContext } from '../app-context.js';
import type { Executor } from '../db/knex.js';
import { deleteAccepted, deleteAcceptedOn, type Settlement } from '../db/repositories/accepted-jobs.js';
import { deleteJobFailures, deleteJobFailuresBefore, upsertJobFailure } from '../db/repositories/job-failures.js';
import type { SqlClient } from '../db/sql-client.js';
import { withTransaction } from '../db/transact.js';
import type { Failure } from '../domain/result.js';
import { JOBS, type JobName } from '../jobs/definitions.js';
import type { QueueName } from '../queue/names.js';
import { CommandFailure } from './command-failure.js';

const isKnex = (db: Executor | SqlClient): db is Executor => 'raw' in db;

/**
 * Marks accepted commands applied, in the transaction that applies them (knex, or the consumption
 * hot path's node-postgres connection): they commit together, so the relay never enqueues again
 * what is applied, and never forgets what is not.
 */
export async function settle(db: Executor | SqlClient, jobIds: readonly string[]): Promise<void> {
  if (isKnex(db)) await deleteAccepted(db, jobIds);
  else await deleteAcceptedOn(db, jobIds);
}

/**
 * What a job's own write statement settles (the consumption hot path folds the settling into its
 * one statement, through `settleAcceptedSql`): made here, so that settling stays this module's
 * decision wherever the statement runs.
 */
export type { Settlement };

export const settlementOf = (jobIds: readonly string[]): Settlement => ({ jobIds });

/**
 * A command that can never apply: its failure is stored (whoever waits for it reads the code from
 * there), its accepted row forgotten so that the relay does not enqueue it again, and the error to
 * throw returned — BullMQ fails the job at once, without retries.
 */
export async function failCommand(
  app: AppContext,
  job: { id: string; name: JobName; queue: QueueName },
  failure: Failure,
): Promise<CommandFailure> {
  await withTransaction(app.db, async (tx) => {
    await upsertJobFailure(tx, {
      job_id: job.id,
      queue: job.queue,
      name: job.name,
      code: failure.code,
      detail: failure.detail,
      errors: failure.errors ?? null,
      extra: failure.extra ?? null,
      failed_at: new Date(),
    });
    await deleteAccepted(tx, [job.id]);
  });
  return new CommandFailure(failure);
}

/** How long stored failures are kept: as long as BullMQ keeps failed jobs (DEFAULT_JOB_OPTIONS.removeOnFail). */
export const FAILURE_RETENTION_MS = 7 * 86_400_000;

/** Nightly housekeeping: forgets failures of jobs BullMQ no longer holds. */
export const forgetOldFailures = (db: Executor, asOf: Date): Promise<number> =>
  deleteJobFailuresBefore(db, new Date(asOf.getTime() - FAILURE_RETENTION_MS));

/**
 * Forgets a job that failed — BullMQ's job and its stored failure — so that a command under the same job id can
 * run: for a job whose id names its subject, not its payload (a hold's `capture|<hold>`), once the caller has
 * seen that the failure changed nothing (the hold is still held). Without it, one refused capture (a producer's
 * asking more than the hold holds, or one that came before its hold) would answer every later one. Answers
 * whether there was such a job.
 */
export async function forgetFailedJob(app: AppContext, name: JobName, jobId: string): Promise<boolean> {
  const queue = app.queues[JOBS[name].queue];
  // one plain read in the common case (no such job, or one that did not fail): is it in the failed set, as the
  // accepting side's read-back asks (checkAdded)
  if ((await app.redis.zscore(queue.toKey('failed'), jobId)) === null) return false;
  await queue.remove(jobId);
  await deleteJobFailures(app.db, [jobId]);
  return true;
}
