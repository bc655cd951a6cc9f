import cron from 'node-cron';

/** Slack on top of the gap between two nightly runs: a run that starts late, a DST shift. */
const SLACK_MS = 2 * 3_600_000;
/** Enough consecutive runs to see the longest gap of any pattern up to monthly (a weekend, a month end). */
const RUNS_INSPECTED = 40;

const cache = new Map<string, number>();

/**
 * How far ahead of a nightly run subscriptions are renewed: the longest gap between two
 * consecutive runs of the nightly cron, plus slack — 26 hours for the default daily run, 74 for a
 * weekday-only one (Friday's run covers the weekend). A period must never end between two runs
 * without having been renewed by the first; renewing a little early is harmless, since the new
 * period starts where the old one ends.
 */
export function renewalLookaheadMs(nightlyCron: string, timeZone: string): number {
  const key = `${nightlyCron}@${timeZone}`;
  const known = cache.get(key);
  if (known !== undefined) return known;
  const task = cron.createTask(nightlyCron, () => undefined, { timezone: timeZone });
  const runs = task.getNextRuns(RUNS_INSPECTED);
  void task.destroy();
  let longest = 24 * 3_600_000;
  if (runs.length >= 2) {
    longest = 0;
    for (let i = 1; i < runs.length; i += 1) longest = Math.max(longest, runs[i]!.getTime() - runs[i - 1]!.getTime());
  }
  const lookahead = longest + SLACK_MS;
  cache.set(key, lookahead);
  return lookahead;
}
