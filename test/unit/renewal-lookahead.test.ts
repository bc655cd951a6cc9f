import { describe, expect, it } from 'vitest';
import { renewalLookaheadMs } from '../../src/scheduler/renewal-lookahead.js';

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
