import { describe, expect, it } from 'vitest';
import {
  longestGapMs,
  longNightlyGap,
  nightlyGapMs,
  renewalLookaheadMs,
  runsAround,
} from '../../src/jobs/renewal-lookahead.js';

const HOUR = 3_600_000;

describe('renewalLookaheadMs: renew what would otherwise end before the next nightly run', () => {
  // time zones without daylight saving, so that the gaps do not depend on today's date
  it.each([
    ['0 2 * * *', 'UTC', 26 * HOUR], // daily: a day plus slack
    ['0 2 * * *', 'Asia/Riyadh', 26 * HOUR],
    ['0 2 * * 1-5', 'Asia/Riyadh', 74 * HOUR], // weekdays: Friday's run must cover the weekend
    ['30 3 * * 0', 'UTC', (7 * 24 + 2) * HOUR], // weekly
    ['0 2 1 * *', 'UTC', (31 * 24 + 2) * HOUR], // monthly: the longest month
    ['*/5 * * * *', 'UTC', 2 * HOUR + 5 * 60_000], // more often than nightly: the gap is small, the slack stays
    // a year of runs is looked at, whatever today's date: the night the clocks skip 02:00 has no run (47 h gap)
    ['0 2 * * *', 'America/New_York', 49 * HOUR],
    ['0 2 * * *', 'Europe/Berlin', 49 * HOUR],
  ])('%s in %s → %d ms', (cronExpression, timeZone, expected) => {
    expect(renewalLookaheadMs(cronExpression, timeZone)).toBe(expected);
  });
});

describe('longestGapMs: the longest time between two consecutive runs', () => {
  const at = (hours: number) => new Date(Date.UTC(2026, 0, 1) + hours * HOUR);
  it.each<[string, Date[], number | undefined]>([
    ['no run', [], undefined],
    ['one run', [at(0)], undefined],
    ['two runs', [at(0), at(24)], 24 * HOUR],
    ['the longest of uneven gaps', [at(0), at(1), at(5), at(6)], 4 * HOUR],
    ['weekdays: Friday to Monday', [at(0), at(24), at(96), at(120)], 72 * HOUR],
  ])('%s', (_what, runs, expected) => {
    expect(longestGapMs(runs)).toBe(expected);
  });
});

describe('longNightlyGap: the start-up warning of a nightly cron with long gaps', () => {
  it.each<[string, number]>([
    ['a day', 24 * HOUR],
    ['the night the clocks skip 02:00', 47 * HOUR],
    ['exactly two days', 48 * HOUR],
  ])('says nothing for %s', (_what, gap) => {
    expect(longNightlyGap(gap)).toBeUndefined();
  });

  it.each<[string, number, { gap_hours: number; renews_ahead_hours: number }]>([
    ['just over two days', 48 * HOUR + 1, { gap_hours: 48, renews_ahead_hours: 50 }],
    ['weekdays only', 72 * HOUR, { gap_hours: 72, renews_ahead_hours: 74 }],
    ['a leap year', 366 * 24 * HOUR, { gap_hours: 8784, renews_ahead_hours: 8786 }],
  ])('warns for %s, saying how far ahead a run renews', (_what, gap, fields) => {
    const warning = longNightlyGap(gap);
    expect(warning?.fields).toEqual(fields);
    expect(warning?.message).toContain(`NIGHTLY_CRON runs up to ${fields.gap_hours} h apart`);
    expect(warning?.message).toContain(
      `period ends within the next ${fields.renews_ahead_hours} h, period after period`,
    );
  });

  it('a yearly pattern warns, the default daily one does not (the gaps of the cron itself)', () => {
    // a year of 366 days falls within the runs looked at, whatever today's date
    expect(nightlyGapMs('0 2 1 1 *', 'UTC')).toBe(366 * 24 * HOUR);
    expect(longNightlyGap(nightlyGapMs('0 2 1 1 *', 'UTC'))?.fields.gap_hours).toBe(8784);
    expect(longNightlyGap(nightlyGapMs('0 2 * * *', 'UTC'))).toBeUndefined();
    expect(longNightlyGap(nightlyGapMs('0 2 * * *', 'Europe/Berlin'))).toBeUndefined();
    expect(longNightlyGap(nightlyGapMs('0 2 * * 1-5', 'Asia/Riyadh'))?.fields.gap_hours).toBe(72);
    // the look-ahead is the gap plus its slack, as before
    expect(renewalLookaheadMs('0 2 1 1 *', 'UTC')).toBe(366 * 24 * HOUR + 2 * HOUR);
  });
});

describe('runsAround: the nightly runs either side of an instant, and how far the last one renewed', () => {
  const iso = (r: { last: Date; next: Date; lastHorizon: Date }) => ({
    last: r.last.toISOString(),
    next: r.next.toISOString(),
    lastHorizon: r.lastHorizon.toISOString(),
  });
  it.each([
    // daily at 02:00 UTC, 26 h ahead: 10:00 falls between the runs of today and tomorrow
    ['0 2 * * *', 'UTC', '2026-02-09T10:00:00.000Z', '2026-02-09T02:00', '2026-02-10T02:00', '2026-02-10T04:00'],
    // at the run's own minute, that run is the last one (it may be running), the next is tomorrow's
    ['0 2 * * *', 'UTC', '2026-02-09T02:00:30.000Z', '2026-02-09T02:00', '2026-02-10T02:00', '2026-02-10T04:00'],
    // New York the day before the clocks skip 02:00: no run on 8 March, the last run renewed 49 h ahead
    [
      '0 2 * * *',
      'America/New_York',
      '2026-03-07T14:00:00.000Z',
      '2026-03-07T07:00',
      '2026-03-09T06:00',
      '2026-03-09T08:00',
    ],
    // weekdays in Riyadh: Saturday noon finds Friday's run before it and Monday's after it
    [
      '0 2 * * 1-5',
      'Asia/Riyadh',
      '2026-02-07T09:00:00.000Z',
      '2026-02-05T23:00',
      '2026-02-08T23:00',
      '2026-02-09T01:00',
    ],
  ])('%s in %s at %s', (cronExpression, timeZone, at, last, next, lastHorizon) => {
    expect(iso(runsAround(cronExpression, timeZone, new Date(at)))).toEqual({
      last: `${last}:00.000Z`,
      next: `${next}:00.000Z`,
      lastHorizon: `${lastHorizon}:00.000Z`,
    });
  });

  it('no run within 8 days either side: the last run taken as now, the next a look-ahead away', () => {
    const at = new Date('2026-02-15T12:00:00.000Z');
    const lookahead = renewalLookaheadMs('0 2 1 * *', 'UTC');
    expect(iso(runsAround('0 2 1 * *', 'UTC', at))).toEqual({
      last: at.toISOString(),
      next: new Date(at.getTime() + lookahead).toISOString(),
      lastHorizon: new Date(at.getTime() + lookahead).toISOString(),
    });
  });
});
