import { formatMoney, type Minor, minorDigits } from '../../domain/money.js';
import { Html, html } from '../html.js';
import { type CalendarSetting, DIRECTION, INTL_TAG, type Locale } from './locale.js';

/**
 * Numbers, money and dates as a person of the locale reads them, through `Intl`. Amounts stay exact:
 * `Intl.NumberFormat` formats a decimal *string* without passing through a float, so a bigint of minor
 * units is written as its exact decimal text first. Money keeps the currency's ISO 4217 minor digits
 * (KWD 3, JPY 0), whatever the locale's display default.
 */
export interface Formatters {
  locale: Locale;
  calendar: CalendarSetting;
  /**
   * An integer or an exact decimal text ("12.5"), grouped and with the locale's digits; with `fractionDigits`, at
   * least that many decimals (an example amount, "49.00").
   */
  number(value: bigint | number | string, fractionDigits?: number): string;
  /**
   * A whole number as a form's field shows it before anything is typed (a default, a value kept): the locale's
   * digits, ungrouped ("٥٠", "1000"), so that it reads as the page does and is read back as it was (form.ts).
   */
  fieldNumber(value: bigint | number | string): string;
  /**
   * Minor units of a currency, with its symbol or code as the locale writes it; in Arabic the amount is isolated
   * and a currency symbol not written in Arabic reads left to right inside it (see `rightToLeftMoney`).
   */
  money(minor: Minor | number | string, currency: string): string;
  /** A calendar date in the business zone; with the Hijri setting, the Umm al-Qura date beside it. */
  date(at: Date | string | null | undefined): Html;
  /** A date and time (hours:minutes) in the business zone; Hijri beside it as for `date`. */
  dateTime(at: Date | string | null | undefined): Html;
  /** Only the Gregorian text (for a chart's axis, a title attribute). */
  plainDate(at: Date | string): string;
  /** Only the Gregorian date and time text (a title attribute, a chart's tooltip). */
  plainDateTime(at: Date | string): string;
  /** A calendar day written `YYYY-MM-DD` (already a day of the business zone): no zone shift; Hijri beside it. */
  day(day: string | null | undefined): Html;
  /** A calendar day's text alone (a tooltip), Gregorian. */
  plainDay(day: string): string;
  /** A calendar day, short (day and month), for a chart's axis. */
  shortDay(day: string): string;
  /** A number short for an axis (1.2k, 3M, ١٫٢ ألف). */
  compact(value: number): string;
  /** A percentage given as a number of percent (85.5 → "85.5%", "٨٥٫٥٪"); the dash when there is none. */
  percent(value: number | null | undefined): string;
  /** A size in bytes (a download), in B, kB or MB as the locale writes them. */
  bytes(value: bigint | number): string;
  /** Items joined as the locale lists them ("a, b and c", "أ وب وج"); the items are markup made here. */
  list(items: readonly Html[]): Html;
}

const asDate = (at: Date | string): Date | undefined => {
  const date = typeof at === 'string' ? new Date(at) : at;
  return Number.isNaN(date.getTime()) ? undefined : date;
};

/**
 * `Intl.NumberFormat.format` reads a string as an exact decimal (ECMA-402 "Intl.NumberFormat v3"); the
 * lib types of this TypeScript version only list number and bigint, hence the one cast here.
 */
const formatDecimal = (format: Intl.NumberFormat, value: number | string): string =>
  format.format(value as unknown as number);
const formatDecimalToParts = (format: Intl.NumberFormat, value: string): Intl.NumberFormatPart[] =>
  format.formatToParts(value as unknown as number);

/** Unicode's isolates: a run of text set apart from its neighbours, left to right or by its first strong letter. */
const LRI = '\u2066';
const FSI = '\u2068';
const PDI = '\u2069';

/**
 * An amount as an Arabic page shows it. ICU writes "١٢٫٥٠ US$": in a right-to-left line the "$" (a neutral) takes
 * the line's direction and moves before the "US" ("$US"), and "JP¥" turns to "¥JP". A symbol with no Arabic letter
 * (US$, €, JP¥, a code such as CHF) is isolated left to right, so it reads as written; the whole amount is isolated
 * from its neighbours (a Latin name or code beside it), in the order Arabic reads it: the number, then the currency.
 * Plain text, not markup: the isolates work wherever an amount goes (a cell, an option of a select, a title).
 */
export function rightToLeftMoney(parts: readonly Intl.NumberFormatPart[]): string {
  const text = parts
    .map((part) =>
      part.type === 'currency' && !/\p{Script=Arabic}/u.test(part.value) ? `${LRI}${part.value}${PDI}` : part.value,
    )
    .join('');
  return `${FSI}${text}${PDI}`;
}

export function formatters(locale: Locale, calendar: CalendarSetting, timeZone: string): Formatters {
  const tag = INTL_TAG[locale];
  const numbers = new Intl.NumberFormat(tag, { maximumFractionDigits: 20 });
  const fixedNumbers = new Map<number, Intl.NumberFormat>();
  const numberFormat = (fractionDigits: number | undefined): Intl.NumberFormat => {
    if (fractionDigits === undefined) return numbers;
    let format = fixedNumbers.get(fractionDigits);
    if (!format) {
      format = new Intl.NumberFormat(tag, { minimumFractionDigits: fractionDigits, maximumFractionDigits: 20 });
      fixedNumbers.set(fractionDigits, format);
    }
    return format;
  };
  const fieldNumbers = new Intl.NumberFormat(tag, { useGrouping: false, maximumFractionDigits: 0 });
  const moneyFormats = new Map<string, Intl.NumberFormat>();
  const moneyFormat = (currency: string): Intl.NumberFormat => {
    let format = moneyFormats.get(currency);
    if (!format) {
      const digits = minorDigits(currency);
      format = new Intl.NumberFormat(tag, {
        style: 'currency',
        currency,
        currencyDisplay: locale === 'en' ? 'code' : 'symbol',
        minimumFractionDigits: digits,
        maximumFractionDigits: digits,
      });
      moneyFormats.set(currency, format);
    }
    return format;
  };
  const gregorianDay = new Intl.DateTimeFormat(`${tag}-u-ca-gregory`, { timeZone, dateStyle: 'medium' });
  const gregorianTime = new Intl.DateTimeFormat(`${tag}-u-ca-gregory`, {
    timeZone,
    dateStyle: 'medium',
    timeStyle: 'short',
    hourCycle: 'h23',
  });
  const hijriDay = new Intl.DateTimeFormat(`${tag}-u-ca-islamic-umalqura`, { timeZone, dateStyle: 'medium' });
  // a calendar day is already a day of the business zone: formatted at its noon in UTC, it cannot shift
  const calendarDay = new Intl.DateTimeFormat(`${tag}-u-ca-gregory`, { timeZone: 'UTC', dateStyle: 'medium' });
  const hijriCalendarDay = new Intl.DateTimeFormat(`${tag}-u-ca-islamic-umalqura`, {
    timeZone: 'UTC',
    dateStyle: 'medium',
  });
  const axisDay = new Intl.DateTimeFormat(`${tag}-u-ca-gregory`, { timeZone: 'UTC', day: 'numeric', month: 'short' });
  const compact = new Intl.NumberFormat(tag, { notation: 'compact', maximumFractionDigits: 1 });
  const percent = new Intl.NumberFormat(tag, { style: 'percent', maximumFractionDigits: 1 });
  const lists = new Intl.ListFormat(tag, { type: 'conjunction', style: 'long' });
  // "296B" rather than "296 byte"; "1.2 kB", "3.4 MB"
  const sizes = (['byte', 'kilobyte', 'megabyte'] as const).map(
    (unit) =>
      new Intl.NumberFormat(tag, {
        style: 'unit',
        unit,
        unitDisplay: unit === 'byte' ? 'narrow' : 'short',
        maximumFractionDigits: 1,
      }),
  );

  const dated = (
    at: Date | string | null | undefined,
    format: Intl.DateTimeFormat,
    hijri = hijriDay,
    datetime = (date: Date) => date.toISOString(),
  ): Html => {
    if (!at) return html`—`;
    const date = asDate(at);
    if (!date) return html`${String(at)}`;
    const gregorian = html`<time datetime="${datetime(date)}">${format.format(date)}</time>`;
    return calendar === 'hijri'
      ? html`${gregorian} <span class="hijri" data-calendar="islamic-umalqura">(${hijri.format(date)})</span>`
      : gregorian;
  };
  const noonOf = (day: string): Date | undefined =>
    /^\d{4}-\d{2}-\d{2}$/.test(day) ? asDate(`${day}T12:00:00.000Z`) : undefined;

  return {
    locale,
    calendar,
    number: (value, fractionDigits) =>
      formatDecimal(numberFormat(fractionDigits), typeof value === 'bigint' ? value.toString() : value),
    fieldNumber: (value) => formatDecimal(fieldNumbers, typeof value === 'bigint' ? value.toString() : value),
    money: (minor, currency) => {
      // the exact decimal text of the amount ("1234.500"), formatted as a string: no float on the way
      const exact = formatMoney(BigInt(minor), currency).split(' ')[0] ?? '0';
      return DIRECTION[locale] === 'rtl'
        ? rightToLeftMoney(formatDecimalToParts(moneyFormat(currency), exact))
        : formatDecimal(moneyFormat(currency), exact);
    },
    date: (at) => dated(at, gregorianDay),
    dateTime: (at) => dated(at, gregorianTime),
    plainDate: (at) => {
      const date = asDate(at);
      return date ? gregorianDay.format(date) : String(at);
    },
    plainDateTime: (at) => {
      const date = asDate(at);
      return date ? gregorianTime.format(date) : String(at);
    },
    day: (day) => {
      if (!day) return html`—`;
      const noon = noonOf(day);
      return noon ? dated(noon, calendarDay, hijriCalendarDay, () => day) : html`${day}`;
    },
    plainDay: (day) => {
      const noon = noonOf(day);
      return noon ? calendarDay.format(noon) : day;
    },
    shortDay: (day) => {
      const noon = noonOf(day);
      return noon ? axisDay.format(noon) : day;
    },
    compact: (value) => compact.format(value),
    percent: (value) => (value === null || value === undefined ? '—' : percent.format(value / 100)),
    bytes: (value) => {
      let n = Number(value);
      let unit = 0;
      while (n >= 1024 && unit < sizes.length - 1) {
        n /= 1024;
        unit += 1;
      }
      return (sizes[unit] ?? sizes[0]!).format(n);
    },
    list: (items) => new Html(lists.format(items.map((item) => item.value))),
  };
}
