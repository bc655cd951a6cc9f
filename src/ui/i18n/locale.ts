import type { Request, Response } from 'express';
import { readCookie, setCookie } from '../session.js';

/** The languages of the pages. English is the default; Arabic is written right to left. */
export const LOCALES = ['en', 'ar'] as const;
export type Locale = (typeof LOCALES)[number];

/** The calendars dates are shown in: Gregorian alone, or Gregorian with the Umm al-Qura Hijri date beside it. */
export const CALENDARS = ['gregory', 'hijri'] as const;
export type CalendarSetting = (typeof CALENDARS)[number];

export const DIRECTION: Record<Locale, 'ltr' | 'rtl'> = { en: 'ltr', ar: 'rtl' };

/** The BCP 47 tag `Intl` formats with: Saudi Arabic with Arabic-Indic digits, British English (day before month). */
export const INTL_TAG: Record<Locale, string> = { en: 'en-GB', ar: 'ar-SA' };

export const LANG_COOKIE = 'credits_lang';
export const CALENDAR_COOKIE = 'credits_calendar';
/** A choice of language or calendar is kept a year (it is a preference, not a secret). */
const PREFERENCE_MAX_AGE_S = 365 * 24 * 60 * 60;

const isLocale = (value: unknown): value is Locale =>
  typeof value === 'string' && (LOCALES as readonly string[]).includes(value);
const isCalendar = (value: unknown): value is CalendarSetting =>
  typeof value === 'string' && (CALENDARS as readonly string[]).includes(value);

/** The first language of Accept-Language that the pages speak, if any (quality order as the browser sent it). */
function fromAcceptLanguage(header: string | undefined): Locale | undefined {
  if (!header) return undefined;
  const ranked = header
    .split(',')
    .map((part, index) => {
      const [tag = '', ...rest] = part.trim().split(';');
      const q = rest.map((r) => r.trim()).find((r) => r.startsWith('q='));
      return { primary: tag.toLowerCase().split('-')[0], q: q ? Number(q.slice(2)) : 1, index };
    })
    .filter((entry) => Number.isFinite(entry.q) && entry.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index);
  return ranked.map((entry) => entry.primary).find(isLocale);
}

export interface Preferences {
  locale: Locale;
  calendar: CalendarSetting;
}

/**
 * The viewer's language and calendar: `?lang=` / `?calendar=` on any page choose and remember them
 * (a cookie), else the remembered choice, else the browser's Accept-Language, else English/Gregorian.
 */
export function preferencesOf(req: Request, res: Response): Preferences {
  const asked = req.query.lang;
  let locale: Locale | undefined;
  if (isLocale(asked)) {
    locale = asked;
    setCookie(req, res, LANG_COOKIE, asked, { path: '/ui', maxAgeS: PREFERENCE_MAX_AGE_S });
  } else {
    const kept = readCookie(req, LANG_COOKIE);
    locale = isLocale(kept) ? kept : fromAcceptLanguage(req.get('accept-language'));
  }
  const askedCalendar = req.query.calendar;
  let calendar: CalendarSetting | undefined;
  if (isCalendar(askedCalendar)) {
    calendar = askedCalendar;
    setCookie(req, res, CALENDAR_COOKIE, askedCalendar, { path: '/ui', maxAgeS: PREFERENCE_MAX_AGE_S });
  } else {
    const kept = readCookie(req, CALENDAR_COOKIE);
    calendar = isCalendar(kept) ? kept : undefined;
  }
  return { locale: locale ?? 'en', calendar: calendar ?? 'gregory' };
}
