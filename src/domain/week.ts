import { DateTime } from 'luxon';

/**
 * The day a week starts on, for weekly buckets (reports, the usage endpoint): Monday (ISO 8601, and
 * Postgres's `date_trunc('week')`), or Saturday or Sunday, where the working week starts then.
 */
export const WEEK_STARTS = ['saturday', 'sunday', 'monday'] as const;
export type WeekStart = (typeof WEEK_STARTS)[number];

/** ISO weekday of each first day (1 = Monday … 7 = Sunday), as luxon numbers them. */
const ISO_WEEKDAY: Record<WeekStart, number> = { monday: 1, saturday: 6, sunday: 7 };

/**
 * How many days lead from the week's first day forward to the Monday after it (0 for Monday). A time moved
 * that many days later falls in the Monday-based week whose Monday is its own week's first day moved as far,
 * so `date_trunc('week', local + n days) - n days` is the start of its week (what the SQL does with it).
 */
export const daysToMonday = (weekStart: WeekStart): number => (8 - ISO_WEEKDAY[weekStart]) % 7;

/**
 * The start of the week holding `at`: midnight, in the business time zone, of the latest `weekStart` day on
 * or before `at`'s day there.
 */
export function startOfWeek(at: Date, timeZone: string, weekStart: WeekStart): Date {
  const day = DateTime.fromJSDate(at, { zone: timeZone }).startOf('day');
  if (!day.isValid) throw new RangeError(`cannot read ${at.toISOString()} in ${timeZone}`);
  const back = (day.weekday - ISO_WEEKDAY[weekStart] + 7) % 7;
  // that day's own start: from a day that began at 01:00 (clocks moved at midnight) a day back is 01:00 too
  return day.minus({ days: back }).startOf('day').toJSDate();
}

/** The key of the week holding `at`: its first day, `YYYY-MM-DD` in the business time zone. */
export const weekKey = (at: Date, timeZone: string, weekStart: WeekStart): string =>
  DateTime.fromJSDate(startOfWeek(at, timeZone, weekStart), { zone: timeZone }).toISODate() ?? '';
