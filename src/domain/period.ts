import { DateTime } from 'luxon';

export const VALIDITY_UNITS = ['day', 'week', 'month', 'year'] as const;
export type ValidityUnit = (typeof VALIDITY_UNITS)[number];

export interface Validity {
  count: number;
  unit: ValidityUnit;
}

export interface Period {
  start: Date;
  end: Date;
}

const LUXON_UNIT: Record<ValidityUnit, 'days' | 'weeks' | 'months' | 'years'> = {
  day: 'days',
  week: 'weeks',
  month: 'months',
  year: 'years',
};

/**
 * `start + n × validity`, as a calendar in the business time zone: a month after 31 January is
 * 28/29 February, a day keeps its wall-clock time across a DST change.
 */
export function addValidity(start: Date, validity: Validity, timeZone: string, times = 1): Date {
  const moved = DateTime.fromJSDate(start, { zone: timeZone }).plus({
    [LUXON_UNIT[validity.unit]]: validity.count * times,
  });
  if (!moved.isValid)
    throw new RangeError(`cannot add ${validity.count} ${validity.unit} to ${start.toISOString()} in ${timeZone}`);
  return moved.toJSDate();
}

/**
 * The n-th period (0-based) of a subscription anchored at `anchor`. Periods are computed from the
 * anchor, never chained end to end, so that a subscription started on the 31st comes back to the 31st
 * after February instead of drifting to the 28th for ever.
 */
export function nthPeriod(anchor: Date, validity: Validity, timeZone: string, index: number): Period {
  if (!Number.isInteger(index) || index < 0)
    throw new RangeError(`period index must be a non-negative integer: ${index}`);
  return {
    start: index === 0 ? anchor : addValidity(anchor, validity, timeZone, index),
    end: addValidity(anchor, validity, timeZone, index + 1),
  };
}

/** `at` lies in [start, end). */
export const periodContains = (period: Period, at: Date): boolean =>
  period.start.getTime() <= at.getTime() && at.getTime() < period.end.getTime();

/** Start of the calendar day holding `at`, in the business time zone (for report buckets and crons). */
export function startOfDay(at: Date, timeZone: string): Date {
  return DateTime.fromJSDate(at, { zone: timeZone }).startOf('day').toJSDate();
}

/** Parses `YYYY-MM-DD` (midnight in the zone) or a full RFC 3339 time. */
export function parseInstant(text: string, timeZone: string): Date | undefined {
  let dt: DateTime;
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) dt = DateTime.fromISO(text, { zone: timeZone });
  // a time must say its offset: a bare local time would be read in the process's zone
  else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(text))
    dt = DateTime.fromISO(text, { setZone: true });
  else return undefined;
  return dt.isValid ? dt.toJSDate() : undefined;
}

/** The calendar year of `at` in the business time zone: invoice numbers restart each year. */
export const yearIn = (at: Date, timeZone: string): number => DateTime.fromJSDate(at, { zone: timeZone }).year;

export const MS_PER_DAY = 86_400_000;
