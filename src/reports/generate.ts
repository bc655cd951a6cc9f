import type { AppContext } from '../app-context.js';
import { settle } from '../commands/index.js';
import type { Executor } from '../db/knex.js';
import { streamReportRows } from '../db/reports/stream.js';
import { archivedThrough } from '../db/repositories/history.js';
import { recordEvents } from '../db/repositories/outbox.js';
import {
  claimReportRun,
  failReportRun,
  finishReportRun,
  insertReportChunk,
  type ReportRunRow,
  reportRunById,
  storedOutput,
} from '../db/repositories/reports.js';
import { currentWalLsn, replayedUpTo } from '../db/server.js';
import { withTransaction } from '../db/transact.js';
import { fail, ok, type Result } from '../domain/result.js';
import { newId } from '../ids.js';
import { jobIdOf } from '../jobs/definitions.js';
import { settleOwedAnywhere } from '../jobs/swept-reads.js';
import { downloadPath, type GenerateResult, toGenerateResult } from '../views/report-run.js';
import { ChunkWriter, csvOutput, jsonOutput, type ReportOutput } from './output.js';
import { type ReportType, storedParams } from './params.js';
import { reportQuery } from './registry.js';

/** A newer attempt took the run over: this one stops quietly. */
class Superseded extends Error {}

export interface AttemptInfo {
  /** The BullMQ job's id, whose accepted-request row the transaction that finishes the run clears. */
  jobId: string;
  /** This is the job's last attempt: a failure is final. */
  final: boolean;
}

/**
 * Generates a run: claims it under a fresh attempt id (deleting what an interrupted attempt had
 * written), streams the rows of its statement from Postgres through the CSV or JSON writer into
 * ~1 MiB chunks, then marks it done and records `report.ready` in one transaction. A run that is
 * done already is answered as it is. An expected failure (stored params that no longer parse, a picture as of a
 * time before the end of the archived months) fails the run for good; anything else is thrown for a retry, and
 * fails the run on the last attempt.
 */
export async function generateReport(
  app: AppContext,
  reportId: string,
  attempt: AttemptInfo,
): Promise<Result<GenerateResult>> {
  const existing = await reportRunById(app.db, reportId);
  if (!existing) return fail('not_found', `no report run "${reportId}"`);
  if (existing.status === 'done') return ok(toGenerateResult(existing, true));

  const attemptId = newId();
  const startedAt = app.clock.now();
  const startedMs = performance.now();
  const run = await claimReportRun(app.db, reportId, attemptId, startedAt);
  if (!run) {
    const now = await reportRunById(app.db, reportId);
    return now?.status === 'done' ? ok(toGenerateResult(now, true)) : fail('not_found', `no report run "${reportId}"`);
  }

  // what no retry can mend fails the run for good: stored params that no longer parse, a past that is archived
  const failForGood = async (detail: string) => {
    const now = app.clock.now();
    await failReportRun(
      app.db,
      reportId,
      attemptId,
      { final: true, error: detail, now },
      failedEvent(run, detail, now),
    );
    return fail('validation_failed', detail);
  };
  const params = storedParams.safeParse(run.params);
  if (!params.success) {
    return failForGood(
      `the run's params are not valid: ` +
        `${params.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  const archived = await archivedBefore(app.db, run.type, params.data);
  if (archived) return failForGood(archived);

  try {
    const query = reportQuery(run.type, params.data);
    const output: ReportOutput =
      run.format === 'csv'
        ? csvOutput(query.columns)
        : jsonOutput({ type: run.type, params: params.data, generated_at: startedAt.toISOString() }, query.columns);
    const writer = new ChunkWriter(async (seq, data) => {
      if (!(await insertReportChunk(app.db, reportId, attemptId, seq, data)))
        throw new Superseded(`report ${reportId}: a newer attempt took over`);
    });

    await writer.write(output.begin());
    let rowCount = 0;
    // a picture as of an instant (`subscriptions`, `balances`, `expiring`) is what a live read then answered, and a
    // live read does what the sweep owes first: a freeze past its frozen_until still `frozen` in the table, a hold
    // past its expires_at still holding, are settled first (any client's, bounded, on the primary) — the as-of
    // tables then take back what was written after the instant and keep what was owed by it (db/reports/as-of.ts)
    await settleOwedAnywhere(app);
    // the chunks are written as the rows arrive, on other connections than the statement's; the
    // rows come from the replica when there is one, once it has everything committed before now
    await untilReplicaHasCaughtUp(app);
    await streamReportRows(app.reportsDb, query, async (row) => {
      await writer.write(output.row(row));
      rowCount += 1;
    });
    await writer.write(output.end());
    await writer.end();

    const finishedAt = app.clock.now();
    const finished = await withTransaction(app.db, async (tx) => {
      const stored = await storedOutput(tx, reportId);
      if (stored.chunks !== writer.chunks || stored.bytes !== BigInt(writer.bytes)) {
        throw new Error(
          `report ${reportId}: stored ${stored.chunks} chunks / ${stored.bytes} bytes, wrote ${writer.chunks} / ` +
            `${writer.bytes}`,
        );
      }
      if (!(await finishReportRun(tx, reportId, attemptId, { rowCount, byteSize: writer.bytes, now: finishedAt })))
        return false;
      await recordEvents(
        tx,
        [
          {
            type: 'report.ready',
            subjectId: reportId,
            data: {
              report_id: reportId,
              type: run.type,
              format: run.format,
              trigger: run.trigger,
              row_count: rowCount,
              byte_size: writer.bytes,
              download_url: downloadPath(reportId),
            },
          },
        ],
        finishedAt,
      );
      // the accepted request is applied: the relay has nothing left to re-enqueue
      await settle(tx, [...new Set([attempt.jobId, jobIdOf('generate', { report_id: reportId })])]);
      return true;
    });
    if (!finished) throw new Superseded(`report ${reportId}: a newer attempt took over`);
    app.log.info(
      {
        reportId,
        type: run.type,
        format: run.format,
        rowCount,
        byteSize: writer.bytes,
        ms: Math.round(performance.now() - startedMs),
      },
      'report generated',
    );
    return ok(toGenerateResult({ ...run, row_count: BigInt(rowCount), byte_size: BigInt(writer.bytes) }, false));
  } catch (error) {
    if (error instanceof Superseded) {
      // the newer attempt answers for the run; this one ends with what the run is now
      const now = await reportRunById(app.db, reportId);
      if (now?.status === 'done') return ok(toGenerateResult(now, true));
      throw error;
    }
    const message = error instanceof Error ? error.message : String(error);
    const now = app.clock.now();
    await failReportRun(
      app.db,
      reportId,
      attemptId,
      { final: attempt.final, error: attempt.final ? message : `attempt failed, retrying: ${message}`, now },
      failedEvent(run, message, now),
    ).catch((e: unknown) => app.log.warn({ err: e, reportId }, 'could not record the report failure'));
    throw error;
  }
}

/**
 * The `report.failed` event of a run that failed for good: a receiver waiting for its `report.ready` hears that
 * none will come.
 */
export function failedEvent(run: Pick<ReportRunRow, 'id' | 'type' | 'format' | 'trigger'>, error: string, now: Date) {
  return (tx: Executor) =>
    recordEvents(
      tx,
      [
        {
          type: 'report.failed',
          subjectId: run.id,
          data: { report_id: run.id, type: run.type, format: run.format, trigger: run.trigger, error },
        },
      ],
      now,
    );
}

/**
 * A report read from a replica is never older than its start: the primary's log position now, and
 * the replica's replay of it awaited (at most REPORTS_MAX_LAG_MS; then the job is retried later).
 */
async function untilReplicaHasCaughtUp(app: AppContext): Promise<void> {
  if (app.reportsDb === app.db) return;
  const lsn = await currentWalLsn(app.db);
  const deadline = Date.now() + app.config.REPORTS_MAX_LAG_MS;
  for (let pause = 10; !(await replayedUpTo(app.reportsDb, lsn)); pause = Math.min(pause * 2, 500)) {
    if (Date.now() >= deadline)
      throw new Error(`the reports replica has not replayed ${lsn} within ${app.config.REPORTS_MAX_LAG_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}

/**
 * Why a run cannot be made any more, or null. A picture as of `as_of` takes the balances back by the ledger entries
 * written since (db/reports/as-of.ts), and the `consumption` report sums the ledger entries of its range: those of the
 * archived months are no longer in the database — a run made for a time before their end would be missing them.
 * Creating a run refuses such a range already (params.ts); a month archived between its creation and its making (or
 * a nightly run of an archived day) is caught here.
 */
async function archivedBefore(
  db: Executor,
  type: ReportType,
  params: { as_of?: string | undefined; from?: string | undefined },
): Promise<string | null> {
  const at = params.as_of ?? (type === 'consumption' ? params.from : undefined);
  if (at === undefined) return null;
  const through = await archivedThrough(db);
  if (!through || new Date(at).getTime() >= through.getTime()) return null;
  const archived = `the history before ${through.toISOString()} is archived`;
  return params.as_of !== undefined
    ? `${archived}: a picture as of ${at} cannot be made`
    : `${archived}: the uses from ${at} cannot be summed`;
}
