import { DateTime } from 'luxon';
import { v5 as uuidv5 } from 'uuid';
import type { AppContext } from '../app-context.js';
import { accept, enqueue } from '../commands/index.js';
import { insertReportRun } from '../db/repositories/reports.js';
import { transact } from '../db/transact.js';
import { jobIdOf } from '../jobs/definitions.js';
import type { ReportFormat } from './output.js';
import { RANGED, REPORT_TYPES, type ReportType, type StoredParams } from './params.js';
import { reportCommand } from './service.js';

const NIGHTLY_NAMESPACE = 'b3c1e0a4-5d2f-4c8e-9f3a-7e6d5c4b3a29';

/** The id of a type's nightly run for a business day: every scheduler names it the same way. */
export const nightlyReportId = (type: ReportType, day: string): string =>
  uuidv5(`nightly\n${type}\n${day}`, NIGHTLY_NAMESPACE);

/**
 * The nightly runs, one per report type, for the business day before `asOf`'s: the ranged reports
 * cover that day [00:00, 24:00) of BUSINESS_TZ, the others are a picture as of its end (midnight).
 * Ids are derived from (type, day) and inserted with ON CONFLICT DO NOTHING, and the jobs are
 * enqueued under the run's job id, so two schedulers (or a rerun) make one run each. Returns the
 * runs' ids.
 */
export async function enqueueNightlyReports(
  app: AppContext,
  asOf: Date,
  options: { format?: ReportFormat } = {},
): Promise<string[]> {
  const timeZone = app.config.BUSINESS_TZ;
  const today = DateTime.fromJSDate(asOf, { zone: timeZone }).startOf('day');
  const yesterday = today.minus({ days: 1 });
  const day = yesterday.toISODate() ?? '';
  const midnight = today.toJSDate();
  const runs = REPORT_TYPES.map((type) => {
    const params: StoredParams = RANGED.includes(type)
      ? {
          from: yesterday.toJSDate().toISOString(),
          // the range includes its end: the last millisecond of the day
          to: new Date(midnight.getTime() - 1).toISOString(),
          ...(type === 'top_packages' ? {} : { group_by: 'day' as const }),
          time_zone: timeZone,
        }
      : {
          as_of: midnight.toISOString(),
          ...(type === 'expiring' ? { days_ahead: app.config.EXPIRING_SOON_DAYS } : {}),
        };
    return { id: nightlyReportId(type, day), type, params };
  });
  const admitted = await transact(app.db, async (tx) => {
    for (const run of runs) {
      await insertReportRun(tx, {
        id: run.id,
        type: run.type,
        params: run.params,
        format: options.format ?? 'csv',
        trigger: 'nightly',
        created_at: asOf,
      });
    }
    return accept(
      tx,
      runs.map((r) => reportCommand(r.id)),
    );
  });
  if (!admitted.ok) throw new Error(admitted.detail);
  await enqueue(app, admitted.value);
  return runs.map((r) => r.id);
}

/** The same, answering the runs' jobs, so that the nightly sweep can wait for them. */
export async function nightlyReportsHook(
  app: AppContext,
  asOf: Date,
): Promise<Array<{ name: 'generate'; jobId: string }>> {
  const ids = await enqueueNightlyReports(app, asOf);
  return ids.map((id) => ({ name: 'generate' as const, jobId: jobIdOf('generate', { report_id: id }) }));
}
