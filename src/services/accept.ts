import type { JobsOptions } from 'bullmq';
import type { AppContext } from '../app-context.js';
import { arrays, type Executor } from '../db/knex.js';
import { fail, ok, type Result } from '../domain/result.js';
import type { QueueName } from '../queue/names.js';

export interface JobToAccept {
  queue: QueueName;
  name: string;
  jobId: string;
  data: Record<string, unknown>;
  requestHash: string;
  /** What the job will create or change (a consumption's id), so "queued" can be answered for it. */
  subjectId?: string | null;
  options?: JobsOptions;
}

/**
 * Records requests the API is about to answer 202 for, before they reach Redis: if Redis loses
 * them, the relay enqueues them again from here (the worker deletes the row in the transaction that
 * applies the job). The same job id with another payload is an idempotency conflict.
 */
export async function recordAccepted(db: Executor, jobs: readonly JobToAccept[]): Promise<Result<{ fresh: Set<string> }>> {
  // wall-clock time: the relay compares it with its own clock to find requests Redis lost
  const now = new Date();
  if (jobs.length === 0) return ok({ fresh: new Set() });
  const result = await db.raw<{ rows: Array<{ job_id: string }> }>(
    `INSERT INTO accepted_jobs (job_id, queue, name, data, request_hash, subject_id, accepted_at)
     SELECT * FROM unnest(?::text[], ?::text[], ?::text[], ?::jsonb[], ?::text[], ?::uuid[], ?::timestamptz[])
     ON CONFLICT (job_id) DO NOTHING
     RETURNING job_id`,
    arrays([
      jobs.map((j) => j.jobId),
      jobs.map((j) => j.queue),
      jobs.map((j) => j.name),
      jobs.map((j) => JSON.stringify(j.data)),
      jobs.map((j) => j.requestHash),
      jobs.map((j) => j.subjectId ?? null),
      jobs.map(() => now),
    ]),
  );
  const fresh = new Set(result.rows.map((r) => r.job_id));
  const known = jobs.filter((j) => !fresh.has(j.jobId));
  if (known.length > 0) {
    const rows = (await db('accepted_jobs').whereIn('job_id', known.map((j) => j.jobId)).select('job_id', 'request_hash')) as Array<{ job_id: string; request_hash: string }>;
    const hashes = new Map(rows.map((r) => [r.job_id, r.request_hash]));
    const clash = known.find((j) => hashes.has(j.jobId) && hashes.get(j.jobId) !== j.requestHash);
    if (clash) return fail('idempotency_conflict', `job ${clash.jobId} was accepted before with another payload`);
  }
  return ok({ fresh });
}

/**
 * Puts accepted jobs on their queues. A job id BullMQ still holds is not added twice, so calling
 * this again for the same jobs (a client's retry, the relay) is harmless.
 */
export async function enqueueAccepted(app: AppContext, jobs: readonly JobToAccept[]): Promise<void> {
  const byQueue = new Map<QueueName, JobToAccept[]>();
  for (const job of jobs) {
    const list = byQueue.get(job.queue);
    if (list) list.push(job);
    else byQueue.set(job.queue, [job]);
  }
  for (const [queue, list] of byQueue) {
    await app.queues[queue].addBulk(list.map((j) => ({ name: j.name, data: j.data, opts: { ...j.options, jobId: j.jobId } })));
  }
}

/** Redis answers: a producer connection that is not ready fails fast, and the API says 503 instead of accepting. */
export const redisReady = (app: AppContext): boolean => app.redis.status === 'ready';
