import type { AppContext } from '../app-context.js';
import { latestFinishedNightly } from '../db/repositories/nightly-runs.js';
import { lastRunAtOrBefore, renewalLookaheadMs } from '../jobs/renewal-lookahead.js';
import { type NightlyReport, runNightly } from './nightly.js';

/**
 * The nightly minute a scheduler starting now missed: the last one scheduled, when nights have run before (a new
 * install has nothing to catch up) and none has finished as of it or later.
 */
export function missedNight(lastScheduled: Date | undefined, lastFinished: Date | undefined): Date | undefined {
  if (!lastScheduled || !lastFinished) return undefined;
  return lastFinished.getTime() < lastScheduled.getTime() ? lastScheduled : undefined;
}

/**
 * Runs the night a scheduler that was down at the nightly minute (a deploy, a crash) missed, as of that minute: its
 * notices, housekeeping, reports and verify, which the catch-up at start (renewals and an expiry sweep as of now)
 * does not do. Only the last night missed: notices and the verify look at the whole store, and the nightly reports
 * make the days no run reported. Answers the run's report, or undefined when no night was missed.
 */
export async function runMissedNight(app: AppContext, signal: AbortSignal): Promise<NightlyReport | undefined> {
  const { NIGHTLY_CRON, BUSINESS_TZ } = app.config;
  const now = app.clock.now();
  const scheduled = lastRunAtOrBefore(NIGHTLY_CRON, BUSINESS_TZ, now, renewalLookaheadMs(NIGHTLY_CRON, BUSINESS_TZ));
  const night = missedNight(scheduled, await latestFinishedNightly(app.db));
  if (!night || signal.aborted) return undefined;
  app.log.warn({ asOf: night.toISOString() }, 'the nightly run of this minute was missed: running it now');
  return runNightly(app, night, { signal });
}
