import type { ReportFormat, ReportType } from '../../domain/report.js';
import type { Executor } from '../knex.js';
import { type Page, type PageRequest, readPage } from '../pagination.js';

export type ReportStatus = 'queued' | 'running' | 'done' | 'failed';
export type ReportTrigger = 'api' | 'nightly' | 'ui';

export interface ReportRunRow {
  id: string;
  type: ReportType;
  /** As resolved when the run was created (src/reports/params.ts checks them again before use). */
  params: Record<string, unknown>;
  format: ReportFormat;
  status: ReportStatus;
  trigger: ReportTrigger;
  row_count: bigint | null;
  byte_size: bigint | null;
  error: string | null;
  attempt_id: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

export type NewReportRun = Pick<ReportRunRow, 'id' | 'type' | 'format' | 'trigger' | 'created_at'> & {
  /** Resolved params; a run that failed before they could be resolved keeps what it was sent. */
  params: Record<string, unknown>;
  status?: ReportStatus;
  error?: string | null;
};

/** Inserts a run; false when one with this id exists already (a nightly run, a retried producer job). */
export async function insertReportRun(db: Executor, run: NewReportRun): Promise<boolean> {
  const inserted = await db('report_runs')
    .insert({ ...run, params: JSON.stringify(run.params), status: run.status ?? 'queued', error: run.error ?? null })
    .onConflict('id')
    .ignore()
    .returning('id');
  return inserted.length > 0;
}

/** Which of these runs exist (the nightly runs of past days, by their derived ids). */
export async function existingReportRunIds(db: Executor, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = (await db('report_runs').whereIn('id', ids).select('id')) as Array<{ id: string }>;
  return new Set(rows.map((r) => r.id));
}

/** Which of these runs are done (generated and stored for good). */
export async function doneReportRunIds(db: Executor, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = (await db('report_runs').whereIn('id', ids).where({ status: 'done' }).select('id')) as Array<{
    id: string;
  }>;
  return new Set(rows.map((r) => r.id));
}

/**
 * Whether a nightly run made reports of one of these types before `before`: nights have reported before (not a new
 * install), however long ago.
 */
export async function nightlyReportMadeBefore(
  db: Executor,
  types: readonly ReportType[],
  before: Date,
): Promise<boolean> {
  if (types.length === 0) return false;
  const row = await db('report_runs')
    .where({ trigger: 'nightly' })
    .whereIn('type', types)
    .andWhere('created_at', '<', before)
    .first('id');
  return row !== undefined;
}

export async function reportRunById(db: Executor, id: string): Promise<ReportRunRow | undefined> {
  return (await db('report_runs').where({ id }).first()) as ReportRunRow | undefined;
}

export interface ReportRunFilter {
  type?: ReportType | undefined;
  status?: ReportStatus | undefined;
  trigger?: ReportTrigger | undefined;
}

/** Oldest first, by cursor (API.md lists). */
export async function listReportRuns(
  db: Executor,
  page: PageRequest,
  filter: ReportRunFilter,
): Promise<Page<ReportRunRow>> {
  const query = db('report_runs').select('*');
  if (filter.type) query.where('type', filter.type);
  if (filter.status) query.where('status', filter.status);
  if (filter.trigger) query.where('trigger', filter.trigger);
  return readPage<ReportRunRow>(query, page, 'report_runs');
}

/** The latest runs, newest first (the reports page). */
export async function latestReportRuns(db: Executor, limit: number): Promise<ReportRunRow[]> {
  return (await db('report_runs')
    .orderBy([
      { column: 'created_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .limit(limit)) as ReportRunRow[];
}

/**
 * Starts an attempt: the run becomes `running` under a new attempt id and whatever an earlier
 * attempt wrote is deleted, in one transaction. Undefined when the run is done (or gone).
 */
export async function claimReportRun(
  db: Executor,
  id: string,
  attemptId: string,
  now: Date,
): Promise<ReportRunRow | undefined> {
  return db.transaction(async (tx) => {
    const [row] = (await tx('report_runs')
      .where({ id })
      .whereNot({ status: 'done' })
      .update({
        status: 'running',
        attempt_id: attemptId,
        started_at: now,
        finished_at: null,
        row_count: null,
        byte_size: null,
        error: null,
      })
      .returning('*')) as ReportRunRow[];
    if (!row) return undefined;
    await tx('report_chunks').where({ report_id: id }).delete();
    return row;
  });
}

/** Stores one chunk, only while `attemptId` owns the run; false when a newer attempt took over. */
export async function insertReportChunk(
  db: Executor,
  id: string,
  attemptId: string,
  seq: number,
  data: Buffer,
): Promise<boolean> {
  const result = await db.raw<{ rowCount: number }>(
    `INSERT INTO report_chunks (report_id, seq, data)
     SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM report_runs WHERE id = ? AND attempt_id = ? AND status = 'running')`,
    [id, seq, data, id, attemptId],
  );
  return result.rowCount === 1;
}

/** What is stored for a run: number of chunks and bytes. */
export async function storedOutput(db: Executor, id: string): Promise<{ chunks: number; bytes: bigint }> {
  const row = (await db('report_chunks')
    .where({ report_id: id })
    .first(db.raw('count(*)::integer AS chunks'), db.raw('COALESCE(sum(length(data)), 0)::bigint AS bytes'))) as
    | { chunks: number; bytes: bigint }
    | undefined;
  return { chunks: row?.chunks ?? 0, bytes: row?.bytes ?? 0n };
}

/** Marks the attempt's run done; false when this attempt no longer owns it. */
export async function finishReportRun(
  db: Executor,
  id: string,
  attemptId: string,
  result: { rowCount: number; byteSize: number; now: Date },
): Promise<boolean> {
  const count = await db('report_runs').where({ id, attempt_id: attemptId, status: 'running' }).update({
    status: 'done',
    row_count: result.rowCount,
    byte_size: result.byteSize,
    finished_at: result.now,
    error: null,
  });
  return count > 0;
}

/**
 * Records an attempt's failure: `failed` for good (its chunks deleted), or back to `queued` with
 * the error when the job will be retried. Only while the attempt owns the run.
 */
export async function failReportRun(
  db: Executor,
  id: string,
  attemptId: string | null,
  outcome: { final: boolean; error: string; now: Date },
  /** Written with the failure for good, in its transaction (the `report.failed` event). */
  onFailed?: (tx: Executor) => Promise<void>,
): Promise<void> {
  await db.transaction(async (tx) => {
    const query = tx('report_runs').where({ id }).whereNot({ status: 'done' });
    if (attemptId) query.andWhere({ attempt_id: attemptId });
    const count = await query.update(
      outcome.final
        ? { status: 'failed', error: outcome.error, finished_at: outcome.now }
        : { status: 'queued', error: outcome.error },
    );
    if (count > 0 && outcome.final) {
      await tx('report_chunks').where({ report_id: id }).delete();
      await onFailed?.(tx);
    }
  });
}

/** How many chunks a run's output is stored in (a download sends them in order, 0 to count − 1). */
export async function reportChunkCount(db: Executor, id: string): Promise<number> {
  const chunkCount = await db('report_chunks').where({ report_id: id }).count<{ n: number }[]>({ n: '*' });
  return Number(chunkCount[0]?.n ?? 0);
}

/** One stored chunk of a run's output. */
export async function reportChunk(db: Executor, id: string, seq: number): Promise<Buffer | undefined> {
  const row = (await db('report_chunks').where({ report_id: id, seq }).first('data')) as { data: Buffer } | undefined;
  return row?.data;
}

/**
 * Deletes finished runs (done or failed) created before `before`, their chunks with them (ON DELETE CASCADE); answers
 * how many.
 */
export async function deleteFinishedReportRunsBefore(db: Executor, before: Date): Promise<number> {
  return await db('report_runs').whereIn('status', ['done', 'failed']).andWhere('created_at', '<', before).delete();
}
