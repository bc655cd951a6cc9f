import { DateTime } from 'luxon';
import { type FormFields, numberField } from './form.js';

/**
 * What a date or a time typed in a page means: a wall time or a day of the business time zone (the
 * operator's calendar), turned into the instant a route or a query reads. Displaying dates is
 * i18n/format.ts's.
 */

/**
 * A `datetime-local` value (a wall time in the business time zone) as the RFC 3339 instant a route reads;
 * a text that is not one is handed on as typed, for the route's schema to refuse with its message.
 */
export function instantField(fields: FormFields, name: string, timeZone: string): string | undefined {
  const text = numberField(fields, name);
  if (text === undefined) return undefined;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(text)) return text;
  const at = DateTime.fromISO(text, { zone: timeZone });
  return at.isValid ? (at.toUTC().toISO() ?? text) : text;
}

/** A day of the business time zone (a `date` input's YYYY-MM-DD) as the instant it starts, `days` later. */
export function dayStart(day: string, timeZone: string, days = 0): Date | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return undefined;
  const start = DateTime.fromISO(day, { zone: timeZone });
  // that day's own start: a day whose clocks jump at midnight (Cairo in April) starts at 01:00, and a day on from it
  // would be 01:00 the next day too, an hour into it
  return start.isValid ? start.plus({ days }).startOf('day').toJSDate() : undefined;
}
