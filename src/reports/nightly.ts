import { DateTime } from 'luxon';
import { v5 as uuidv5 } from 'uuid';
import type { AppContext } from '../app-context.js';
import { accept, enqueue, type SettledLookup } from '../commands/index.js';
import {
  doneReportRunIds,
  existingReportRunIds,
  insertReportRun,
  nightlyReportMadeBefore,
} from '../db/repositories/reports.js';
import { transact } from '../db/transact.js';
import { jobIdOf } from '../jobs/definitions.js';
import type { ReportFormat } from './output.js';
import { RANGED, type ReportType, type StoredParams } from './params.js';
import { reportCommand } from './service.js';

const NIGHTLY_NAMESPACE = 'b3c1e0a4-5d2f-4c8e-9f3a-7e6d5c4b3a29';

/** The id of a type's nightly run for a business day: every scheduler names it the same way. */
export const nightlyReportId = (type: ReportType, day: string): string =>
  uuidv5(`nightly\n${type}\n${day}`, NIGHTLY_NAMESPACE);

/** How far back a nightly run looks for business days whose reports no run made (the service was down). */
export const NIGHTLY_REPORT_CATCH_UP_DAYS = 31;

/**
 * The business days whose nightly reports this run makes: the day before `asOf`'s, and before it every day since
 * the last one a nightly run made reports for (up to NIGHTLY_REPORT_CATCH_UP_DAYS back) — node-cron runs nothing
 * it missed, so nights the service was down would otherwise never have their reports. With no nightly report ever
 * made before today (a new install), the day before alone: not a month of empty reports. The last one made longer
 * ago than the window (an outage of more than a month) is not a new install: every day of the window is made.
 */
async function daysToReport(app: AppContext, today: DateTime): Promise<DateTime[]> {
  // each day's own start: from a day that began at 01:00 (clocks moved at midnight), a day back is 01:00 too
  const candidates = Array.from({ length: NIGHTLY_REPORT_CATCH_UP_DAYS }, (_, i) =>
    today.minus({ days: i + 1 }).startOf('day'),
  );
  const idsOf = (day: DateTime) =>
    app.config.NIGHTLY_REPORTS.map((type) => nightlyReportId(type, day.toISODate() ?? ''));
  const existing = await existingReportRunIds(app.db, candidates.flatMap(idsOf));
  const lastMade = candidates.findIndex((day) => idsOf(day).some((id) => existing.has(id)));
  // newest first in `candidates`: the days after the last one made, oldest first; none made in the window → all of
  // it when nights reported before it, yesterday alone when none ever did
  const reportedBefore =
    lastMade === -1 && (await nightlyReportMadeBefore(app.db, app.config.NIGHTLY_REPORTS, today.toJSDate()));
  const missed =
    lastMade === -1
      ? candidates.slice(0, reportedBefore ? candidates.length : 1)
      : candidates.slice(0, Math.max(lastMade, 1));
  return missed.reverse();
}

/**
 * One run per report type of NIGHTLY_REPORTS for one business day: the ranged ones over the day, the others as of
 * its end.
 */
function runsOfDay(app: AppContext, day: DateTime): Array<{ id: string; type: ReportType; params: StoredParams }> {
  const timeZone = app.config.BUSINESS_TZ;
  // the next day's start: a day whose clocks jump at midnight starts at 01:00, and a day on from it would be 01:00 too
  const midnight = day.plus({ days: 1 }).startOf('day').toJSDate();
  return app.config.NIGHTLY_REPORTS.map((type) => {
    const params: StoredParams = RANGED.includes(type)
      ? {
          from: day.toJSDate().toISOString(),
          // the range includes its end: the last millisecond of the day
          to: new Date(midnight.getTime() - 1).toISOString(),
          ...(type === 'top_packages' ? {} : { group_by: 'day' as const }),
          time_zone: timeZone,
        }
      : {
          as_of: midnight.toISOString(),
          ...(type === 'expiring' ? { days_ahead: app.config.EXPIRING_SOON_DAYS } : {}),
        };
    return { id: nightlyReportId(type, day.toISODate() ?? ''), type, params };
  });
}

/**
 * Where a nightly run's request applied before is found: its run, done. A second scheduler (or a rerun of the same
 * minute) asks for the runs of a day again once the first one's jobs have generated them and deleted their accepted
 * rows: recorded anew, such a request's enqueue adds nothing (Redis holds the job completed), and its row would wait
 * for the relay (RELAY_GRACE_MS) to run the job again, as after a restore of Postgres from a backup. Found here, it is
 * a repeat of the applied one: not recorded (commands/accept.ts).
 */
const doneRuns: SettledLookup = async (db, commands) => {
  const done = await doneReportRunIds(
    db,
    commands.flatMap((c) => (c.subjectId ? [c.subjectId] : [])),
  );
  return new Map(
    commands.flatMap((c) =>
      c.subjectId && done.has(c.subjectId)
        ? [[c.jobId, { requestHash: c.requestHash ?? c.jobId, status: 'done' }]]
        : [],
    ),
  );
};

/**
 * The nightly runs, one per report type of NIGHTLY_REPORTS, for the business day before `asOf`'s (and the days
 * before it that no run reported, see `daysToReport`): the ranged reports cover that day [00:00, 24:00) of
 * BUSINESS_TZ, the others are a picture as of its end (midnight). Ids are derived from (type, day) and inserted with
 * ON CONFLICT DO NOTHING, and the jobs are enqueued under the run's job id, so two schedulers (or a rerun) make one
 * run each. Returns the runs' ids, oldest day first.
 */
export async function enqueueNightlyReports(
  app: AppContext,
  asOf: Date,
  options: { format?: ReportFormat } = {},
): Promise<string[]> {
  // NIGHTLY_REPORTS=none: no report, and no read of which days were made
  if (app.config.NIGHTLY_REPORTS.length === 0) return [];
  const today = DateTime.fromJSDate(asOf, { zone: app.config.BUSINESS_TZ }).startOf('day');
  const runs = (await daysToReport(app, today)).flatMap((day) => runsOfDay(app, day));
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
      { settled: doneRuns },
    );
  });
  if (!admitted.ok) throw new Error(admitted.detail);
  // every run's job enqueued, one done before too (it has no accepted row): its job, which Redis holds completed, adds
  // nothing; one Redis has forgotten runs again and answers the run as done, for the nightly run that waits on it
  await enqueue(
    app,
    admitted.value.map(({ state: _state, ...job }) => job),
  );
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
