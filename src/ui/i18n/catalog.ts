import { escapeHtml, Html, html, type Renderable } from '../html.js';
import type { Locale } from './locale.js';

/** A message: a text with `{name}` placeholders, or its plural forms (CLDR categories, chosen by `{count}`). */
export type MessageText = string | ({ other: string } & Partial<Record<Intl.LDMLPluralRule, string>>);

/**
 * One area's messages in both languages. The English text is the key set; TypeScript refuses an Arabic
 * side that misses one (and test/unit/ui-messages.test.ts checks both sides name the same placeholders).
 */
export function defineMessages<const E extends Record<string, MessageText>>(
  en: E,
  ar: { [K in keyof E]: MessageText },
): { en: E; ar: { [K in keyof E]: MessageText } } {
  return { en, ar };
}

export type Translate<K extends string> = (key: K, params?: Record<string, Renderable>) => Html;

const renderParam = (value: Renderable): string => html`${value}`.value;

/**
 * The translator of one locale: the message's literal text escaped, each placeholder rendered as the
 * `html` tag renders a value (escaped unless it is markup made here). A missing placeholder stays visible
 * as `{name}` rather than failing the page.
 */
export function translator<K extends string>(
  locale: Locale,
  catalogs: Record<Locale, Record<K, MessageText>>,
): Translate<K> {
  const messages = catalogs[locale];
  const plurals = new Intl.PluralRules(locale === 'ar' ? 'ar' : 'en');
  return (key, params = {}) => {
    const message = messages[key] ?? catalogs.en[key] ?? key;
    let text: string;
    if (typeof message === 'string') text = message;
    else {
      const count = Number(params.count ?? 0);
      text = message[plurals.select(count)] ?? message.other;
    }
    let out = '';
    let last = 0;
    for (const match of text.matchAll(/\{(\w+)\}/g)) {
      out += escapeHtml(text.slice(last, match.index));
      const name = match[1] ?? '';
      out += name in params ? renderParam(params[name]) : escapeHtml(match[0]);
      last = (match.index ?? 0) + match[0].length;
    }
    out += escapeHtml(text.slice(last));
    return new Html(out);
  };
}

/** The placeholders a message text names (every plural form), for the catalogue test. */
export function placeholdersOf(message: MessageText): string[] {
  const texts = typeof message === 'string' ? [message] : Object.values(message);
  const names = new Set<string>();
  for (const text of texts) for (const match of (text ?? '').matchAll(/\{(\w+)\}/g)) names.add(match[1] ?? '');
  return [...names].sort();
}
