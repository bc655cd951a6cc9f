import type { Knex } from 'knex';
import { daysToMonday, type WeekStart } from '../domain/week.js';

/** A calendar bucket of the business time zone: what reports and the usage endpoint group times by. */
export type CalendarGrouping = 'day' | 'week' | 'month';

/**
 * The bucket holding a time, as SQL: the first instant of its day, week or month, as a local time (timestamp
 * without time zone) of the business zone — `to_char` it for the `YYYY-MM-DD` key, order by it.
 *
 * Postgres's `date_trunc('week')` always starts on Monday, so a week starting on another day is found by
 * moving the time forward by the days from that day to Monday, truncating, and moving back
 * (src/domain/week.ts `daysToMonday`, whose `startOfWeek` is the same rule in TypeScript). The arithmetic is
 * done on the local time, where a day is a calendar day: a DST change inside the week moves nothing. Days and
 * months are moved by 0. `column` is a constant expression of the caller's; everything else is bound.
 */
export function localBucket(
  column: string,
  grouping: CalendarGrouping,
  timeZone: string,
  weekStart: WeekStart = 'monday',
): { sql: string; bindings: Knex.RawBinding[] } {
  const shift = grouping === 'week' ? daysToMonday(weekStart) : 0;
  return {
    sql: `(date_trunc(?, (${column} AT TIME ZONE ?) + make_interval(days => ?::int)) - make_interval(days => ?::int))`,
    bindings: [grouping, timeZone, shift, shift],
  };
}
