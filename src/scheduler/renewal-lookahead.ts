import cron from 'node-cron';

/** Slack on top of the gap between two nightly runs: a run that starts late, a DST shift. */
const SLACK_MS = 2 * 3_600_000;
/** Runs looked at first, to learn how often the pattern runs. */
const RUNS_SAMPLED = 40;
/**
 * A year and a day of runs: both daylight-saving changes of BUSINESS_TZ fall inside it whatever today's date, so a
 * run the clocks skip (02:00 on the night they go forward, in many zones) is seen as the long gap it leaves.
 */
const SPAN_INSPECTED_MS = 367 * 24 * 3_600_000;
/** At most this many runs (a pattern more often than hourly; the slack covers what a DST change does to it). */
const MAX_RUNS = 10_000;

const cache = new Map<string, number>();

/**
 * How far ahead of a nightly run subscriptions are renewed: the longest gap between two
 * consecutive runs of the nightly cron over a year, plus slack — 26 hours for the default daily run
 * in a zone without daylight saving, 74 for a weekday-only one (Friday's run covers the weekend), 49
 * in a zone where the clocks skip 02:00 once a year (that night has no run). A period must never
 * end between two runs without having been renewed by the first; renewing a little early is
 * harmless, since the new period starts where the old one ends.
 */
export function renewalLookaheadMs(nightlyCron: string, timeZone: string): number {
  const key = `${nightlyCron}@${timeZone}`;
  const known = cache.get(key);
  if (known !== undefined) return known;
  const task = cron.createTask(nightlyCron, () => undefined, { timezone: timeZone });
  let runs = task.getNextRuns(RUNS_SAMPLED);
  if (runs.length >= 2) {
    const meanGapMs = (runs[runs.length - 1]!.getTime() - runs[0]!.getTime()) / (runs.length - 1);
    const wanted = Math.min(MAX_RUNS, Math.ceil(SPAN_INSPECTED_MS / Math.max(meanGapMs, 1)) + 1);
    if (wanted > runs.length) runs = task.getNextRuns(wanted);
  }
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
