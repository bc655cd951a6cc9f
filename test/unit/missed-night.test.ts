import { describe, expect, it } from 'vitest';
import { lastRunAtOrBefore, nextRunAfter } from '../../src/jobs/renewal-lookahead.js';
import { missedNight } from '../../src/scheduler/missed-night.js';

const day = 24 * 3_600_000;
const last = (pattern: string, timeZone: string, at: string, spanMs = 2 * day) =>
  lastRunAtOrBefore(pattern, timeZone, new Date(at), spanMs)?.toISOString();

describe('the last nightly minute at or before an instant', () => {
  it('is the same day once the run is past, the day before until then (UTC)', () => {
    expect(last('0 2 * * *', 'UTC', '2026-12-05T09:30:00.000Z')).toBe('2026-12-05T02:00:00.000Z');
    expect(last('0 2 * * *', 'UTC', '2026-12-05T01:59:59.999Z')).toBe('2026-12-04T02:00:00.000Z');
    // the run's own minute counts, whatever its seconds
    expect(last('0 2 * * *', 'UTC', '2026-12-05T02:00:42.000Z')).toBe('2026-12-05T02:00:00.000Z');
  });

  it('reads the pattern in the business time zone (Riyadh, UTC+3)', () => {
    expect(last('0 2 * * *', 'Asia/Riyadh', '2026-12-05T09:30:00.000Z')).toBe('2026-12-04T23:00:00.000Z');
    expect(last('0 2 * * *', 'Asia/Riyadh', '2026-12-04T22:59:00.000Z')).toBe('2026-12-03T23:00:00.000Z');
  });

  it('skips the days a weekday-only pattern does not run (Sunday finds Friday)', () => {
    // 6 December 2026 is a Sunday
    expect(last('0 2 * * 1-5', 'UTC', '2026-12-06T12:00:00.000Z', 4 * day)).toBe('2026-12-04T02:00:00.000Z');
  });

  it('follows a daylight-saving change (Berlin, clocks back on 25 October 2026)', () => {
    // 01:30 local: 23:30 UTC the day before in summer (UTC+2; still so on the 25th, before 03:00), 00:30 UTC in winter
    expect(last('30 1 * * *', 'Europe/Berlin', '2026-10-26T12:00:00.000Z')).toBe('2026-10-26T00:30:00.000Z');
    expect(last('30 1 * * *', 'Europe/Berlin', '2026-10-26T00:00:00.000Z')).toBe('2026-10-24T23:30:00.000Z');
  });

  it('finds the minute of a pattern with a seconds field (six fields), as the cron tick names it', () => {
    // "30 0 2 * * *" fires at 02:00:30; the run is recorded as of its minute (minuteOf), 02:00
    expect(last('30 0 2 * * *', 'UTC', '2026-12-05T09:30:00.000Z')).toBe('2026-12-05T02:00:00.000Z');
    expect(last('*/10 0 2 * * *', 'UTC', '2026-12-05T01:59:59.000Z')).toBe('2026-12-04T02:00:00.000Z');
    expect(nextRunAfter('30 0 2 * * *', 'UTC', new Date('2026-12-05T09:30:00.000Z'), 2 * day)?.toISOString()).toBe(
      '2026-12-06T02:00:00.000Z',
    );
  });

  it('is undefined when the pattern does not run within the span looked at', () => {
    expect(last('0 2 1 1 *', 'UTC', '2026-12-05T09:30:00.000Z')).toBeUndefined();
  });
});

describe('the night a starting scheduler missed', () => {
  const scheduled = new Date('2026-12-05T02:00:00.000Z');
  it('is the last scheduled minute when the last finished run is older', () => {
    expect(missedNight(scheduled, new Date('2026-12-04T02:00:00.000Z'))).toEqual(scheduled);
  });
  it('is none when a run finished as of that minute or later (an operator ran one as of now)', () => {
    expect(missedNight(scheduled, scheduled)).toBeUndefined();
    expect(missedNight(scheduled, new Date('2026-12-05T09:00:00.000Z'))).toBeUndefined();
  });
  it('is none on a new install (no run ever finished), or with no scheduled minute in the span', () => {
    expect(missedNight(scheduled, undefined)).toBeUndefined();
    expect(missedNight(undefined, new Date('2026-12-04T02:00:00.000Z'))).toBeUndefined();
  });
});
