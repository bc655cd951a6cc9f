import type { ErrorCode } from '../../domain/result.js';
import type { Executor } from '../knex.js';
import type { SqlClient } from '../sql-client.js';

/**
 * A use that failed alone (migration 0036), refused at the door of a batch or by the worker: read by the id its
 * consumption would have had.
 */
export interface ConsumptionFailureRow {
  id: string;
  idempotency_key: string;
  code: ErrorCode;
  detail: string;
  failed_at: Date;
}

/** Records the uses refused (one row per id: a use refused again keeps its latest failure). */
export async function upsertConsumptionFailures(db: Executor, rows: readonly ConsumptionFailureRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db('consumption_failures')
    .insert([...new Map(rows.map((r) => [r.id, r])).values()].sort((a, b) => (a.id < b.id ? -1 : 1)))
    .onConflict('id')
    .merge();
}

/**
 * Records the uses a worker refused for good, on the batch's own connection (in its transaction): one row per id, the
 * latest failure. A row that says the same already (the same job retried or delivered twice) is left untouched, its
 * `failed_at` with it: a job that runs again changes nothing twice. An id that has a consumption gets no row (a
 * failure under it would never be read: GET /v1/consumptions/{id} reads the consumption first); answers those ids.
 */
export async function recordConsumptionFailures(
  client: SqlClient,
  rows: readonly ConsumptionFailureRow[],
): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  // one row per id, in id order: batches writing the same failures take their locks in one order
  const unique = [...new Map(rows.map((r) => [r.id, r])).values()].sort((a, b) => (a.id < b.id ? -1 : 1));
  const taken = await client.query<{ id: string }>(
    `WITH input AS (
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
         AS i (id, idempotency_key, code, detail, failed_at)
     ), taken AS (
       SELECT c.id FROM consumptions c JOIN input USING (id)
     ), written AS (
       INSERT INTO consumption_failures AS f (id, idempotency_key, code, detail, failed_at)
       SELECT * FROM input WHERE id NOT IN (SELECT id FROM taken)
       ON CONFLICT (id) DO UPDATE
         SET idempotency_key = excluded.idempotency_key, code = excluded.code, detail = excluded.detail,
             failed_at = excluded.failed_at
         WHERE (f.idempotency_key, f.code, f.detail)
               IS DISTINCT FROM (excluded.idempotency_key, excluded.code, excluded.detail)
     )
     SELECT id FROM taken`,
    [
      unique.map((r) => r.id),
      unique.map((r) => r.idempotency_key),
      unique.map((r) => r.code),
      unique.map((r) => r.detail),
      unique.map((r) => r.failed_at),
    ],
  );
  return new Set(taken.rows.map((r) => r.id));
}

export async function consumptionFailuresByIds(
  db: Executor,
  ids: readonly string[],
): Promise<Map<string, ConsumptionFailureRow>> {
  if (ids.length === 0) return new Map();
  const rows = (await db('consumption_failures').whereIn('id', [...new Set(ids)])) as ConsumptionFailureRow[];
  return new Map(rows.map((r) => [r.id, r]));
}

/** Forgets failures recorded before `before`. Answers how many. */
export async function deleteConsumptionFailuresBefore(db: Executor, before: Date): Promise<number> {
  return db('consumption_failures').where('failed_at', '<', before).delete();
}
