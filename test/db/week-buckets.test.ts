import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CalendarGrouping, localBucket } from '../../src/db/calendar-bucket.js';
import { WEEK_STARTS, type WeekStart, weekKey } from '../../src/domain/week.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

/**
 * The SQL of the calendar buckets (src/db/calendar-bucket.ts: Postgres's Monday weeks shifted to WEEK_START)
 * against the pure rule of src/domain/week.ts, on the database itself: every 5 hours and 17 minutes over
 * 15 weeks around the spring and autumn DST changes, in zones with and without DST, for each week start.
 */
let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase(2);
});
afterAll(async () => {
  await database.drop();
});

const ZONES = ['UTC', 'Asia/Riyadh', 'Europe/London', 'America/New_York', 'Australia/Sydney'];
const STEP_MS = (5 * 60 + 17) * 60_000;
const instants = (from: string, weeks: number): Date[] => {
  const start = Date.parse(from);
  const out: Date[] = [];
  for (let t = start; t < start + weeks * 7 * 86_400_000; t += STEP_MS) out.push(new Date(t));
  return out;
};
const TIMES = [...instants('2026-02-20T00:00:00Z', 8), ...instants('2026-09-25T00:00:00Z', 7)];

async function sqlKeys(times: Date[], grouping: CalendarGrouping, zone: string, weekStart?: WeekStart) {
  const bucket = localBucket('t.at', grouping, zone, weekStart);
  const result = await database.db.raw(
    `SELECT to_char(${bucket.sql}, 'YYYY-MM-DD') AS key FROM unnest(?::timestamptz[]) WITH ORDINALITY AS t(at, n)
      ORDER BY t.n`,
    [...bucket.bindings, times.map((t) => t.toISOString())],
  );
  return (result as { rows: Array<{ key: string }> }).rows.map((r) => r.key);
}

describe('weekly buckets in SQL start on WEEK_START', () => {
  it.each(ZONES.flatMap((zone) => WEEK_STARTS.map((weekStart) => ({ zone, weekStart }))))(
    '$zone, weeks from $weekStart',
    async ({ zone, weekStart }) => {
      const keys = await sqlKeys(TIMES, 'week', zone, weekStart);
      expect(keys).toEqual(TIMES.map((t) => weekKey(t, zone, weekStart)));
    },
  );

  it('a use on a Saturday, a Sunday and a Monday lands in the week each WEEK_START gives it', async () => {
    // 2026-03-14 Saturday, 15 Sunday, 16 Monday, at 23:30 in Riyadh (20:30 UTC)
    const times = ['2026-03-14T20:30:00Z', '2026-03-15T20:30:00Z', '2026-03-16T20:30:00Z'].map((t) => new Date(t));
    expect(await sqlKeys(times, 'week', 'Asia/Riyadh', 'saturday')).toEqual(['2026-03-14', '2026-03-14', '2026-03-14']);
    expect(await sqlKeys(times, 'week', 'Asia/Riyadh', 'sunday')).toEqual(['2026-03-08', '2026-03-15', '2026-03-15']);
    expect(await sqlKeys(times, 'week', 'Asia/Riyadh', 'monday')).toEqual(['2026-03-09', '2026-03-09', '2026-03-16']);
    // no week start given: Monday, as before
    expect(await sqlKeys(times, 'week', 'Asia/Riyadh')).toEqual(['2026-03-09', '2026-03-09', '2026-03-16']);
  });

  it.each(ZONES)('days and months are what date_trunc in the zone gave before (%s)', async (zone) => {
    for (const grouping of ['day', 'month', 'week'] as const) {
      const before = await database.db.raw(
        `SELECT to_char(date_trunc(?, t.at, ?) AT TIME ZONE ?, 'YYYY-MM-DD') AS key
           FROM unnest(?::timestamptz[]) WITH ORDINALITY AS t(at, n) ORDER BY t.n`,
        [grouping, zone, zone, TIMES.map((t) => t.toISOString())],
      );
      const old = (before as { rows: Array<{ key: string }> }).rows.map((r) => r.key);
      expect(await sqlKeys(TIMES, grouping, zone, 'saturday')).toEqual(
        grouping === 'week' ? TIMES.map((t) => weekKey(t, zone, 'saturday')) : old,
      );
      expect(await sqlKeys(TIMES, grouping, zone, 'monday')).toEqual(old);
      const unit = grouping === 'day' ? 'day' : grouping === 'month' ? 'month' : 'week';
      expect(old).toEqual(TIMES.map((t) => DateTime.fromJSDate(t, { zone }).startOf(unit).toISODate()));
    }
  });
});
