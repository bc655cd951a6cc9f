import { arrays, type Executor, pooledQuery } from '../knex.js';
import { type Page, type PageRequest, readPage } from '../pagination.js';
import type { SqlClient } from '../sql-client.js';
import { statementName } from '../statement-names.js';

/**
 * `accepted_jobs`: requests the service answered 202 for (or the scheduler and the relay decided
 * on), written before their job reaches Redis and deleted by the transaction that applies the job.
 * Only src/commands calls these functions.
 */
export interface AcceptedJobDraft {
  /** The request (of a group written together) this job belongs to: its jobs are written all or none. */
  request: number;
  jobId: string;
  queue: string;
  name: string;
  data: unknown;
  requestHash: string;
  subjectId: string | null;
  /** The job that carries it to the workers, when not its own (a use of a `consume-batch`). */
  carrierJobId: string | null;
}

export interface AcceptedJobRow {
  job_id: string;
  queue: string;
  name: string;
  data: unknown;
  request_hash: string;
  carrier_job_id: string | null;
  /** When Postgres wrote it (its clock): a job that finished before then did not apply it. */
  accepted_at: Date;
}

export interface InsertedOrPrior {
  request: number;
  jobId: string;
  /** Written by this statement. */
  fresh: boolean;
  /** The fingerprint of the request accepted earlier under the same job id, when this statement saw it. */
  priorHash: string | null;
}

/** insertAccepted's statement (the input as one jsonb array: a group of any size is one statement). */
const INSERT_ACCEPTED = `WITH input AS (
            SELECT * FROM jsonb_to_recordset($1::jsonb)
                     AS x(req int, job_id text, queue text, name text, data jsonb, request_hash text, subject_id uuid,
                          carrier_job_id text)),
          prior AS (
            SELECT a.job_id, a.request_hash FROM accepted_jobs a WHERE a.job_id IN (SELECT job_id FROM input)),
          clash AS (
            SELECT DISTINCT i.req FROM input i JOIN prior p ON p.job_id = i.job_id
             WHERE p.request_hash <> i.request_hash),
          inserted AS (
            INSERT INTO accepted_jobs (job_id, queue, name, data, request_hash, subject_id, carrier_job_id, accepted_at)
            SELECT i.job_id, i.queue, i.name, i.data, i.request_hash, i.subject_id, i.carrier_job_id, clock_timestamp()
              FROM input i
             WHERE NOT EXISTS (SELECT 1 FROM clash c WHERE c.req = i.req)
            ON CONFLICT (job_id) DO NOTHING
            RETURNING job_id)
     SELECT i.req, i.job_id, p.request_hash AS prior_hash, (ins.job_id IS NOT NULL) AS fresh
       FROM input i
       LEFT JOIN prior p ON p.job_id = i.job_id
       LEFT JOIN inserted ins ON ins.job_id = i.job_id`;
const INSERT_ACCEPTED_KNEX = INSERT_ACCEPTED.replace('$1', '?');

/**
 * Records the requests of a group in ONE statement (it runs for every accepted request, and for many
 * at once): reads what was accepted before under the same job ids, and writes each request's jobs
 * unless one of them reuses a job id with another payload — then that request writes none (its
 * caller answers 409) and the others are written all the same. A row that a concurrent transaction
 * was writing is neither fresh nor seen (its insert waited, then did nothing): the caller reads it
 * again with `acceptedHashes`. The job ids of a group are distinct.
 */
export async function insertAccepted(db: Executor, drafts: readonly AcceptedJobDraft[]): Promise<InsertedOrPrior[]> {
  if (drafts.length === 0) return [];
  const rows = await pooledQuery<{ req: number; job_id: string; prior_hash: string | null; fresh: boolean }>(
    db,
    { text: INSERT_ACCEPTED, knexText: INSERT_ACCEPTED_KNEX, name: statementName('insert-accepted') },
    [
      JSON.stringify(
        drafts.map((d) => ({
          req: d.request,
          job_id: d.jobId,
          queue: d.queue,
          name: d.name,
          data: d.data,
          request_hash: d.requestHash,
          subject_id: d.subjectId,
          carrier_job_id: d.carrierJobId,
        })),
      ),
    ],
  );
  return rows.map((r) => ({ request: r.req, jobId: r.job_id, fresh: r.fresh, priorHash: r.prior_hash }));
}

/** The fingerprints of accepted requests, by job id (a fresh read: sees what committed since). */
export async function acceptedHashes(db: Executor, jobIds: readonly string[]): Promise<Map<string, string>> {
  if (jobIds.length === 0) return new Map();
  const rows = (await db('accepted_jobs').whereIn('job_id', jobIds).select('job_id', 'request_hash')) as Array<{
    job_id: string;
    request_hash: string;
  }>;
  return new Map(rows.map((r) => [r.job_id, r.request_hash]));
}

/** Forgets accepted requests: applied (in the transaction that applied them), failed for good, or taken back. */
export async function deleteAccepted(db: Executor, jobIds: readonly string[]): Promise<void> {
  if (jobIds.length === 0) return;
  await db('accepted_jobs').whereIn('job_id', jobIds).delete();
}

/** Accepted requests another statement settles (made by src/commands: `settlementOf`). */
export interface Settlement {
  readonly jobIds: readonly string[];
}

/**
 * The settling of accepted requests as a fragment of another statement (`param` is its placeholder
 * for the job ids): the consumption hot path folds it into its one write statement, so settling
 * costs no round trip of its own.
 */
export const settleAcceptedSql = (param: string): string =>
  `DELETE FROM accepted_jobs WHERE job_id = ANY(${param}::text[])`;

/** The same, on the consumption hot path's node-postgres connection. */
export async function deleteAcceptedOn(client: SqlClient, jobIds: readonly string[]): Promise<void> {
  if (jobIds.length === 0) return;
  await client.query('DELETE FROM accepted_jobs WHERE job_id = ANY($1::text[])', [jobIds]);
}

/** Whether a request for this subject (a consumption's id) waits for its worker. */
export async function acceptedForSubject(db: Executor, subjectId: string): Promise<boolean> {
  const row = (await db('accepted_jobs').where({ subject_id: subjectId }).first('job_id')) as
    | { job_id: string }
    | undefined;
  return row !== undefined;
}

/** Of these subjects (consumptions' ids), those a request waits for its worker for. */
export async function acceptedSubjects(db: Executor, subjectIds: readonly string[]): Promise<Set<string>> {
  if (subjectIds.length === 0) return new Set();
  const rows = (await db('accepted_jobs')
    .whereIn('subject_id', [...new Set(subjectIds)])
    .distinct('subject_id')) as Array<{ subject_id: string }>;
  return new Set(rows.map((r) => r.subject_id));
}

/** A hold request accepted and not applied yet: its hold's id, when it was accepted, and the request. */
export interface QueuedHoldRow {
  id: string;
  created_at: Date;
  data: Record<string, unknown>;
}

/**
 * Hold requests waiting for their worker (GET /v1/holds?status=queued), in the order they were accepted. A client
 * is named in a request by its id or by its external_ref, so `client` brings both.
 */
export async function queuedHolds(
  db: Executor,
  page: PageRequest,
  client: { id: string; externalRef: string } | undefined,
): Promise<Page<QueuedHoldRow>> {
  const waiting = db('accepted_jobs')
    .where({ name: 'hold' })
    .whereNotNull('subject_id')
    // to the millisecond, as the page's cursor keeps it (a Date): accepted_at has Postgres's microseconds, and the
    // last row of a page would be after its own cursor — the next page would begin with it again
    .select('subject_id as id', db.raw(`date_trunc('milliseconds', accepted_at) AS created_at`), 'data');
  if (client) waiting.whereRaw(`data->>'client' IN (?, ?)`, [client.id, client.externalRef]);
  return readPage<QueuedHoldRow>(db.from(waiting.as('queued_holds')).select('*'), page, 'queued_holds');
}

/**
 * Accepted requests old enough that their job should have run, and not looked at for as long:
 * the relay checks that Redis still holds each. Ages are measured by Postgres's clock, which wrote
 * `accepted_at`.
 */
export async function acceptedDue(db: Executor, graceMs: number, limit: number): Promise<AcceptedJobRow[]> {
  const result = await db.raw<{ rows: AcceptedJobRow[] }>(
    `SELECT job_id, queue, name, data, request_hash, carrier_job_id, accepted_at FROM accepted_jobs
      WHERE accepted_at < clock_timestamp() - make_interval(secs => ? / 1000.0)
        AND (last_enqueued_at IS NULL OR last_enqueued_at < clock_timestamp() - make_interval(secs => ? / 1000.0))
      ORDER BY accepted_at
      LIMIT ?`,
    [graceMs, graceMs, limit],
  );
  return result.rows;
}

/**
 * Notes that the relay looked at (and, if Redis had lost them, enqueued) these requests now. Those in
 * `alone` were carried by a job Redis lost and were enqueued again on their own: they forget the carrier,
 * so that the relay looks for their own job from now on.
 */
export async function markLookedAt(
  db: Executor,
  jobIds: readonly string[],
  alone: readonly string[] = [],
): Promise<void> {
  if (jobIds.length === 0) return;
  await db.raw(
    `UPDATE accepted_jobs SET last_enqueued_at = clock_timestamp(), enqueue_attempts = enqueue_attempts + 1,
            carrier_job_id = CASE WHEN job_id = ANY(?::text[]) THEN NULL ELSE carrier_job_id END
      WHERE job_id = ANY(?::text[])`,
    arrays([alone, jobIds]),
  );
}
