import { formatMoney, type Minor, minorDigits } from '../../domain/money.js';
import { type Html, html } from '../html.js';
import { type CalendarSetting, INTL_TAG, type Locale } from './locale.js';

/**
 * Numbers, money and dates as a person of the locale reads them, through `Intl`. Amounts stay exact:
 * `Intl.NumberFormat` formats a decimal *string* without passing through a float, so a bigint of minor
 * units is written as its exact decimal text first. Money keeps the currency's ISO 4217 minor digits
 * (KWD 3, JPY 0), whatever the locale's display default.
 */
export interface Formatters {
  locale: Locale;
  calendar: CalendarSetting;
  /** An integer or an exact decimal text ("12.5"), grouped and with the locale's digits. */
  number(value: bigint | number | string): string;
  /** Minor units of a currency, with its symbol or code as the locale writes it. */
  money(minor: Minor | number | string, currency: string): string;
  /** A calendar date in the business zone; with the Hijri setting, the Umm al-Qura date beside it. */
  date(at: Date | string | null | undefined): Html;
  /** A date and time (hours:minutes) in the business zone; Hijri beside it as for `date`. */
  dateTime(at: Date | string | null | undefined): Html;
  /** Only the Gregorian text (for a chart's axis, a title attribute). */
  plainDate(at: Date | string): string;
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

export function formatters(locale: Locale, calendar: CalendarSetting, timeZone: string): Formatters {
  const tag = INTL_TAG[locale];
  const numbers = new Intl.NumberFormat(tag, { maximumFractionDigits: 20 });
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

  const dated = (at: Date | string | null | undefined, format: Intl.DateTimeFormat): Html => {
    if (!at) return html`—`;
    const date = asDate(at);
    if (!date) return html`${String(at)}`;
    const iso = date.toISOString();
    const gregorian = html`<time datetime="${iso}">${format.format(date)}</time>`;
    return calendar === 'hijri'
      ? html`${gregorian} <span class="hijri" data-calendar="islamic-umalqura">(${hijriDay.format(date)})</span>`
      : gregorian;
  };

  return {
    locale,
    calendar,
    number: (value) => formatDecimal(numbers, typeof value === 'bigint' ? value.toString() : value),
    money: (minor, currency) => {
      // the exact decimal text of the amount ("1234.500"), formatted as a string: no float on the way
      const exact = formatMoney(BigInt(minor), currency);
      return formatDecimal(moneyFormat(currency), exact.split(' ')[0] ?? '0');
    },
    date: (at) => dated(at, gregorianDay),
    dateTime: (at) => dated(at, gregorianTime),
    plainDate: (at) => {
      const date = asDate(at);
      return date ? gregorianDay.format(date) : String(at);
    },
  };
}
