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

/** The gap taken when the pattern shows fewer than two runs to measure: a day. */
const DEFAULT_GAP_MS = 24 * 3_600_000;
/**
 * A gap between two nightly runs longer than this (two days) makes one run renew more than one period of a short
 * package at once: the scheduler warns of it when it starts (longNightlyGap). A weekday-only pattern (72 h) is past it.
 */
export const LONG_NIGHTLY_GAP_MS = 2 * 24 * 3_600_000;

const cache = new Map<string, number>();

/** The longest time between two consecutive runs, in milliseconds, or undefined with fewer than two runs. */
export function longestGapMs(runs: readonly Date[]): number | undefined {
  if (runs.length < 2) return undefined;
  let longest = 0;
  for (let i = 1; i < runs.length; i += 1) longest = Math.max(longest, runs[i]!.getTime() - runs[i - 1]!.getTime());
  return longest;
}

/** The scheduler's start-up warning of a long nightly gap: its log fields and its message. */
export interface LongNightlyGap {
  fields: { gap_hours: number; renews_ahead_hours: number };
  message: string;
}

/**
 * What the scheduler says when it starts with a NIGHTLY_CRON whose runs can be more than LONG_NIGHTLY_GAP_MS apart
 * (undefined when they cannot): each run renews, period after period, what ends before the next run (the gap plus
 * slack), so one run renews several periods of a package shorter than that, each with its invoice — a yearly pattern
 * renews a monthly subscription's next twelve months at once. The behaviour is kept (no period may end unrenewed
 * between two runs); the operator is told.
 */
export function longNightlyGap(gapMs: number): LongNightlyGap | undefined {
  if (gapMs <= LONG_NIGHTLY_GAP_MS) return undefined;
  const hours = (ms: number) => Math.round(ms / 3_600_000);
  const fields = { gap_hours: hours(gapMs), renews_ahead_hours: hours(gapMs + SLACK_MS) };
  const message =
    `NIGHTLY_CRON runs up to ${fields.gap_hours} h apart: each nightly run renews every auto-renewing subscription ` +
    `whose period ends within the next ${fields.renews_ahead_hours} h, period after period, so a subscription whose ` +
    'periods are shorter than that is renewed (and invoiced) several times in one run (a monthly one twelve times ' +
    'under a yearly NIGHTLY_CRON); a daily NIGHTLY_CRON (the default, "0 2 * * *") looks about a day ahead';
  return { fields, message };
}

/**
 * The longest gap between two consecutive runs of the nightly cron over a year (a day when the pattern shows fewer
 * than two runs), measured from now: node-cron lists the runs, longestGapMs measures them. Remembered per pattern
 * and zone.
 */
export function nightlyGapMs(nightlyCron: string, timeZone: string): number {
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
  const gap = longestGapMs(runs) ?? DEFAULT_GAP_MS;
  cache.set(key, gap);
  return gap;
}

/**
 * How far ahead of a nightly run subscriptions are renewed: the longest gap between two
 * consecutive runs of the nightly cron over a year, plus slack — 26 hours for the default daily run
 * in a zone without daylight saving, 74 for a weekday-only one (Friday's run covers the weekend), 49
 * in a zone where the clocks skip 02:00 once a year (that night has no run). A period must never
 * end between two runs without having been renewed by the first; renewing a little early is
 * harmless, since the new period starts where the old one ends.
 */
export function renewalLookaheadMs(nightlyCron: string, timeZone: string): number {
  return nightlyGapMs(nightlyCron, timeZone) + SLACK_MS;
}

/** Scheduled times are truncated to the minute, so every scheduler process names the same run the same way. */
export const minuteOf = (at: Date): Date => new Date(Math.floor(at.getTime() / 60_000) * 60_000);

/**
 * A task that matches a minute (its second 0) when the pattern runs at any second of it: a six-field pattern's
 * seconds (node-cron's first field) become 0, since a run is named by its minute (minuteOf) and the walks below try
 * minutes only — "30 0 2 * * *" runs in the minute 02:00, which its own seconds field would never match.
 */
function minuteTask(pattern: string, timeZone: string) {
  const fields = pattern.trim().split(/\s+/);
  const byMinute = fields.length === 6 ? ['0', ...fields.slice(1)].join(' ') : pattern;
  return cron.createTask(byMinute, () => undefined, { timezone: timeZone });
}

/**
 * The latest minute at or before `at` that the cron pattern runs at (in `timeZone`), looking back at most `spanMs`;
 * undefined when it has none in that span. Walks back a minute at a time: node-cron finds next runs, not past ones.
 */
export function lastRunAtOrBefore(pattern: string, timeZone: string, at: Date, spanMs: number): Date | undefined {
  const task = minuteTask(pattern, timeZone);
  try {
    const last = minuteOf(at).getTime();
    for (let minute = last; minute >= last - spanMs; minute -= 60_000) {
      if (task.match(new Date(minute))) return new Date(minute);
    }
    return undefined;
  } finally {
    void task.destroy();
  }
}

/** The first minute after `at`'s that the cron pattern runs at, looking ahead at most `spanMs`; undefined when none. */
export function nextRunAfter(pattern: string, timeZone: string, at: Date, spanMs: number): Date | undefined {
  const task = minuteTask(pattern, timeZone);
  try {
    const first = minuteOf(at).getTime() + 60_000;
    for (let minute = first; minute <= first + spanMs; minute += 60_000) {
      if (task.match(new Date(minute))) return new Date(minute);
    }
    return undefined;
  } finally {
    void task.destroy();
  }
}

/**
 * How far runsAround walks from now: a week and a day (~11,500 minutes each way). For a pattern with longer gaps
 * (monthly, yearly) the last run is taken as now and the next as a look-ahead away, which only renews earlier
 * (harmless, as the look-ahead is).
 */
const WALK_SPAN_MS = 8 * 24 * 3_600_000;

/** The nightly runs either side of an instant: the last at or before it, and the next after it. */
export interface RunsAround {
  /** The last run at or before the instant (the instant itself when none was found). */
  last: Date;
  /** The next run after it (the instant plus the look-ahead when none was found). */
  next: Date;
  /** Up to where the last run renewed: `last` + renewalLookaheadMs. */
  lastHorizon: Date;
}

/** The last answer of runsAround, by pattern, zone and minute (each walk costs tens of milliseconds). */
let lastWalk: { key: string; runs: RunsAround } | undefined;

/**
 * The nightly runs around `now`, and up to where the last one renewed (its minute plus renewalLookaheadMs): the periods
 * it renewed, or would have renewed had their subscription been renewable then. Every period ending before the next
 * run ends before that horizon (the look-ahead is the longest gap between two runs, plus slack).
 */
export function runsAround(nightlyCron: string, timeZone: string, now: Date): RunsAround {
  const key = `${nightlyCron}@${timeZone}@${minuteOf(now).getTime()}`;
  if (lastWalk?.key !== key) {
    const lookaheadMs = renewalLookaheadMs(nightlyCron, timeZone);
    const spanMs = Math.min(lookaheadMs, WALK_SPAN_MS);
    const last = lastRunAtOrBefore(nightlyCron, timeZone, now, spanMs) ?? now;
    const next = nextRunAfter(nightlyCron, timeZone, now, spanMs) ?? new Date(now.getTime() + lookaheadMs);
    lastWalk = { key, runs: { last, next, lastHorizon: new Date(last.getTime() + lookaheadMs) } };
  }
  return lastWalk.runs;
}
