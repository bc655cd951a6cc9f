import type { Response } from 'express';
import { DateTime } from 'luxon';
import { z } from 'zod';
import type { AppContext } from '../app-context.js';
import { type Admission, accept, type Command } from '../commands/index.js';
import type { Executor } from '../db/knex.js';
import {
  insertReportRun,
  type ReportRunRow,
  type ReportTrigger,
  reportChunk,
  reportChunkCount,
  reportRunById,
} from '../db/repositories/reports.js';
import { transact } from '../db/transact.js';
import { fail, ok, type Result } from '../domain/result.js';
import { newId } from '../ids.js';
import { CONTENT_TYPE } from './output.js';
import { REPORT_TYPES, type ReportType, reportParamsInput, resolveReportParams, type StoredParams } from './params.js';

/** The body of POST /v1/reports (and of the reports page's form). */
export const reportRequest = z.strictObject({
  type: z.enum(REPORT_TYPES).meta({ description: "One of DOMAIN.md's reports." }),
  params: reportParamsInput.optional(),
  format: z.enum(['json', 'csv']).default('json'),
});
export type ReportRequest = z.output<typeof reportRequest>;

export { downloadPath, type ReportRunView, reportRunView, toReportRunView } from '../views/report-run.js';

/** The generate job of a run, as accepted before it is enqueued (the relay enqueues it again if Redis loses it). */
export const reportCommand = (reportId: string): Command<'generate'> => ({
  name: 'generate',
  data: { report_id: reportId },
  subjectId: reportId,
});

export interface CreateOptions {
  trigger: ReportTrigger;
  /** A producer's or the scheduler's id; a new one otherwise. */
  id?: string;
}

/**
 * Creates a queued run: the params checked against the type and resolved (nothing is written when
 * they are wrong), the run and its accepted job written on `db`. The caller enqueues the job once
 * `db` has committed (`enqueue` of src/commands).
 */
export async function createReportRun(
  db: Executor,
  app: AppContext,
  request: ReportRequest,
  options: CreateOptions,
): Promise<Result<{ run: ReportRunRow; job: Admission<'generate'>; created: boolean }>> {
  const now = app.clock.now();
  const params = await resolveReportParams(db, request.type, request.params ?? {}, {
    now,
    timeZone: app.config.BUSINESS_TZ,
    weekStart: app.config.WEEK_START,
    expiringDays: app.config.EXPIRING_SOON_DAYS,
  });
  if (!params.ok) return params;
  const id = options.id ?? newId();
  // the run and its accepted job together (a savepoint when `db` is a transaction already)
  return transact(db, async (tx) => {
    const created = await insertReportRun(tx, {
      id,
      type: request.type,
      params: params.value,
      format: request.format,
      trigger: options.trigger,
      created_at: now,
    });
    const run = await reportRunById(tx, id);
    if (!run) return fail('not_found', `report run ${id} vanished`);
    const accepted = await accept(tx, [reportCommand(id)]);
    if (!accepted.ok) return accepted;
    return ok({ run, job: accepted.value[0]!, created });
  });
}

/**
 * `<type>-<what it covers>.<ext>`: a picture (`as_of`) is named for the business day it ends (a nightly run as of
 * midnight: the day before it; one asked at 14:00: that day), a range for its first and last days (`<from>_<to>`, or
 * the one day) in the run's time zone — so that a night's catch-up runs, made on one day for several, download under
 * names that tell them apart. A run with neither (none is made so) keeps the day it was asked for.
 */
export function downloadFileName(
  run: Pick<ReportRunRow, 'type' | 'format' | 'created_at' | 'params'>,
  timeZone: string,
): string {
  // the params as stored with the run (resolveReportParams), read for the dates alone
  const params = run.params as StoredParams;
  const dayOf = (at: Date, zone: string) => DateTime.fromJSDate(at, { zone }).toISODate();
  let covers = dayOf(run.created_at, timeZone);
  if (params.as_of) covers = dayOf(new Date(Date.parse(params.as_of) - 1), timeZone);
  else if (params.from && params.to) {
    const zone = params.time_zone ?? timeZone;
    const [from, to] = [dayOf(new Date(params.from), zone), dayOf(new Date(params.to), zone)];
    covers = from === to ? from : `${from}_${to}`;
  }
  return `${run.type}-${covers ?? 'report'}.${run.format}`;
}

/** Why a run cannot be downloaded yet, or undefined when it can. */
export function notDownloadable(run: ReportRunRow): string | undefined {
  if (run.status === 'done') return undefined;
  if (run.status === 'failed') return `the report failed: ${run.error ?? 'unknown error'}`;
  return `the report is ${run.status}; download it once its status is "done"`;
}

/** Waits until the client has taken what was written (or has gone), leaving no listener behind. */
const drained = (res: Response): Promise<void> =>
  new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });

/**
 * Sends a done run's output, chunk by chunk (one ~1 MiB chunk in memory at a time, waiting for the
 * client to take each one), with its content type and file name.
 */
export async function sendReportDownload(app: AppContext, run: ReportRunRow, res: Response): Promise<void> {
  const total = await reportChunkCount(app.db, run.id);
  res.status(200);
  res.setHeader('content-type', CONTENT_TYPE[run.format]);
  res.setHeader('content-disposition', `attachment; filename="${downloadFileName(run, app.config.BUSINESS_TZ)}"`);
  if (run.byte_size !== null) res.setHeader('content-length', run.byte_size.toString());
  res.setHeader('cache-control', 'private, no-store');
  res.setHeader('x-content-type-options', 'nosniff');
  let aborted = false;
  res.once('close', () => {
    aborted = true;
  });
  for (let seq = 0; seq < total && !aborted; seq += 1) {
    const data = await reportChunk(app.db, run.id, seq);
    if (!data) throw new Error(`report ${run.id} lacks chunk ${seq}`);
    if (!res.write(data)) await drained(res);
  }
  res.end();
}

export { REPORT_TYPES, type ReportType };
