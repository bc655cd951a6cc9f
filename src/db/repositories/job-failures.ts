import type { ErrorCode, FieldProblem } from '../../domain/result.js';
import type { Executor } from '../knex.js';

/** A job's permanent failure as stored (migration 0010): the contract's code, never parsed from a message. */
export interface JobFailureRow {
  job_id: string;
  queue: string;
  name: string;
  code: ErrorCode;
  detail: string;
  errors: FieldProblem[] | null;
  extra: Record<string, unknown> | null;
  failed_at: Date;
}

/** Records (or, for a job failed before, replaces) a job's permanent failure. */
export async function upsertJobFailure(db: Executor, row: JobFailureRow): Promise<void> {
  await db('job_failures')
    .insert({
      ...row,
      errors: row.errors === null ? null : JSON.stringify(row.errors),
      extra: row.extra === null ? null : JSON.stringify(row.extra),
    })
    .onConflict('job_id')
    .merge();
}

export async function jobFailuresByIds(db: Executor, jobIds: readonly string[]): Promise<Map<string, JobFailureRow>> {
  if (jobIds.length === 0) return new Map();
  const rows = (await db('job_failures').whereIn('job_id', jobIds)) as JobFailureRow[];
  return new Map(rows.map((r) => [r.job_id, r]));
}

/** Forgets failures older than `before` (BullMQ has dropped those jobs by then). Answers how many. */
export async function deleteJobFailuresBefore(db: Executor, before: Date): Promise<number> {
  return db('job_failures').where('failed_at', '<', before).delete();
}

/** Forgets the stored failures of these jobs (their job ids are to run again). */
export async function deleteJobFailures(db: Executor, jobIds: readonly string[]): Promise<void> {
  if (jobIds.length === 0) return;
  await db('job_failures').whereIn('job_id', jobIds).delete();
}
