import { Temporal } from '@js-temporal/polyfill';
import { DateTime } from 'luxon';

export const VALIDITY_UNITS = ['day', 'week', 'month', 'year'] as const;
export type ValidityUnit = (typeof VALIDITY_UNITS)[number];

/**
 * The calendar a validity's months and years are counted in (CLDR names, as `Intl` and Temporal spell
 * them): `gregory`, or `islamic-umalqura`, the Hijri calendar of Saudi Arabia's Umm al-Qura tables,
 * whose months are 29 or 30 days as the tables say (not a rule of thumb).
 */
export const VALIDITY_CALENDARS = ['gregory', 'islamic-umalqura'] as const;
export type ValidityCalendar = (typeof VALIDITY_CALENDARS)[number];

/** Units counted differently by each calendar; a day or a week is the same length in every one. */
export const CALENDAR_UNITS: readonly ValidityUnit[] = ['month', 'year'];

export interface Validity {
  count: number;
  unit: ValidityUnit;
  /** Absent: `gregory`. Only months and years depend on it. */
  calendar?: ValidityCalendar | undefined;
}

/** A package's or a subscription's validity, as its columns keep it (migration 0020 added the calendar). */
export const validityOf = (row: {
  validity_count: number;
  validity_unit: ValidityUnit;
  validity_calendar: ValidityCalendar;
}): Required<Validity> => ({ count: row.validity_count, unit: row.validity_unit, calendar: row.validity_calendar });

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
 * 28/29 February, a day keeps its wall-clock time across a DST change. Hijri months and years are
 * counted the same way in the Umm al-Qura calendar: 30 Ramadan + 1 month is 29 Shawwal when Shawwal has
 * 29 days, and a package bought at 00:00 on 1 Ramadan ends at 00:00 on 1 Shawwal.
 */
export function addValidity(start: Date, validity: Validity, timeZone: string, times = 1): Date {
  const calendar = validity.calendar ?? 'gregory';
  if (calendar !== 'gregory' && CALENDAR_UNITS.includes(validity.unit))
    return addCalendarValidity(start, validity, calendar, timeZone, times);
  const moved = DateTime.fromJSDate(start, { zone: timeZone }).plus({
    [LUXON_UNIT[validity.unit]]: validity.count * times,
  });
  if (!moved.isValid)
    throw new RangeError(`cannot add ${validity.count} ${validity.unit} to ${start.toISOString()} in ${timeZone}`);
  return moved.toJSDate();
}

/**
 * Months and years of a calendar other than luxon's Gregorian one, from the Temporal polyfill (which
 * reads the calendar's data from ICU, as `Intl` does): the date moves by whole months of that
 * calendar, the day of the month is constrained to the target month's length, and the wall-clock
 * time is kept in the zone (a time a DST change skips resolves later, as luxon does).
 */
function addCalendarValidity(
  start: Date,
  validity: Validity,
  calendar: Exclude<ValidityCalendar, 'gregory'>,
  timeZone: string,
  times: number,
): Date {
  const amount = validity.count * times;
  try {
    const moved = Temporal.Instant.fromEpochMilliseconds(start.getTime())
      .toZonedDateTimeISO(timeZone)
      .withCalendar(calendar)
      .add(validity.unit === 'year' ? { years: amount } : { months: amount }, { overflow: 'constrain' });
    return new Date(moved.epochMilliseconds);
  } catch (error) {
    throw new RangeError(
      `cannot add ${validity.count} ${validity.unit} (${calendar}) to ${start.toISOString()} in ${timeZone}: ` +
        (error instanceof Error ? error.message : String(error)),
    );
  }
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

/**
 * DOMAIN.md "Recharge": recharge balances are valid from now until the current period's end — but not before a
 * subscription bought to start later has started (`firstStart`, the start of its first period, still ahead): units
 * paid for it are spent from then, as its package's are, whether or not that first period was renewed ahead already.
 * One renewed ahead once its first period began was recharged inside a period paid for: from now.
 */
export function rechargeValidity(current: Period, firstStart: Date, now: Date): Period {
  return { start: now.getTime() < firstStart.getTime() ? firstStart : now, end: current.end };
}

/**
 * DOMAIN.md "Recharge": automatic recharges are at most `max_auto_recharges` a period — the period `now` lies in. A
 * subscription renewed ahead has its current period still to come: a recharge made before that period starts counts
 * against the one running (`running`: the start of the latest period begun by now), and the period paid ahead keeps
 * its whole allowance. Without a running period (bought to start later) it is the current one.
 */
export function rechargeCountingPeriodStart(currentStart: Date, running: Date | undefined, now: Date): Date {
  return now.getTime() >= currentStart.getTime() || running === undefined ? currentStart : running;
}

/** Start of the calendar day holding `at`, in the business time zone (for report buckets and crons). */
export function startOfDay(at: Date, timeZone: string): Date {
  return DateTime.fromJSDate(at, { zone: timeZone }).startOf('day').toJSDate();
}

/** Parses `YYYY-MM-DD` (midnight in the zone) or a full RFC 3339 time. */
export function parseInstant(text: string, timeZone: string): Date | undefined {
  let dt: DateTime;
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) dt = DateTime.fromISO(text, { zone: timeZone });
  // a time must say its offset: a bare local time would be read in the process's zone. RFC 3339's ranges: luxon
  // also takes 24:00 (the next midnight) and offsets such as +25:00 or +05:99, which no RFC 3339 time has
  else if (/^\d{4}-\d{2}-\d{2}T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$/i.test(text))
    dt = DateTime.fromISO(text, { setZone: true });
  else return undefined;
  return dt.isValid ? dt.toJSDate() : undefined;
}

/** The calendar year of `at` in the business time zone: invoice numbers restart each year. */
export const yearIn = (at: Date, timeZone: string): number => DateTime.fromJSDate(at, { zone: timeZone }).year;

export const MS_PER_DAY = 86_400_000;
