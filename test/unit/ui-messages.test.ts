import { describe, expect, it } from 'vitest';
import { type MessageText, placeholdersOf, translator } from '../../src/ui/i18n/catalog.js';
import { AREA_KEYS, CATALOG, type MessageKey } from '../../src/ui/i18n/messages/index.js';

/**
 * The pages' message catalogue (src/ui/i18n/messages): one key in one area only, both languages with
 * the same placeholders, no empty text, and Arabic that is Arabic: no Latin letter, no number written in it.
 */
const keys = Object.keys(CATALOG.en) as MessageKey[];
const textsOf = (message: MessageText): string[] =>
  typeof message === 'string' ? [message] : Object.values(message).filter((t): t is string => t !== undefined);
/** The language names: each written in its own language, so the Arabic page names English in English. */
const OWN_LANGUAGE = new Set<string>(['lang.en']);
const PLURAL_CATEGORIES = new Set(['zero', 'one', 'two', 'few', 'many', 'other']);

describe('the message catalogue', () => {
  it('defines no key in two areas', () => {
    const seen = new Map<string, number>();
    AREA_KEYS.forEach((area, index) => {
      for (const key of area) {
        expect(seen.has(key), `${key} is in area ${seen.get(key)} and area ${index}`).toBe(false);
        seen.set(key, index);
      }
    });
    expect(seen.size).toBe(keys.length);
  });

  it('has the same keys in Arabic as in English', () => {
    expect(Object.keys(CATALOG.ar).sort()).toEqual([...keys].sort());
  });

  it('names the same placeholders in every Arabic message as in its English one', () => {
    const differ = keys.filter(
      (key) => placeholdersOf(CATALOG.en[key]).join() !== placeholdersOf(CATALOG.ar[key]).join(),
    );
    expect(differ).toEqual([]);
  });

  it('has no empty text, and plural forms only of the CLDR categories, with `other`', () => {
    for (const locale of ['en', 'ar'] as const)
      for (const key of keys) {
        const message = CATALOG[locale][key];
        for (const text of textsOf(message)) expect(text.trim(), `${locale} ${key}`).not.toBe('');
        if (typeof message !== 'string') {
          expect(message.other, `${locale} ${key}`).toBeTruthy();
          for (const category of Object.keys(message)) expect(PLURAL_CATEGORIES.has(category), category).toBe(true);
        }
      }
  });

  it('writes Arabic in Arabic letters: every Arabic text with a letter has an Arabic one', () => {
    const notArabic = keys.filter((key) => {
      if (OWN_LANGUAGE.has(key)) return false;
      return textsOf(CATALOG.ar[key]).some((text) => {
        const words = text.replace(/\{\w+\}/g, '');
        return /\p{L}/u.test(words) && !/\p{Script=Arabic}/u.test(words);
      });
    });
    expect(notArabic).toEqual([]);
  });

  it('uses no Latin letter in Arabic (codes, keys and examples are placeholders, written where used)', () => {
    const latin = keys.filter(
      (key) =>
        !OWN_LANGUAGE.has(key) &&
        textsOf(CATALOG.ar[key]).some((text) => /[A-Za-z]/.test(text.replace(/\{\w+\}/g, ''))),
    );
    expect(latin).toEqual([]);
  });

  it('writes no number into Arabic text: each is a placeholder, in the page’s digits (fmt.number)', () => {
    const digits = keys.filter((key) => textsOf(CATALOG.ar[key]).some((text) => /[0-9]/.test(text)));
    expect(digits).toEqual([]);
  });

  it('translates with the plural form of the count, escaping the text and the values', () => {
    const en = translator('en', CATALOG);
    const ar = translator('ar', CATALOG);
    expect(en('word.days', { count: 1, days: '1' }).value).toBe('1 day');
    expect(en('word.days', { count: 5, days: '5' }).value).toBe('5 days');
    expect(ar('word.days', { count: 1, days: '١' }).value).toBe('يوم واحد');
    expect(ar('word.days', { count: 2, days: '٢' }).value).toBe('يومان');
    expect(ar('word.days', { count: 5, days: '٥' }).value).toBe('٥ أيام');
    expect(ar('word.days', { count: 30, days: '٣٠' }).value).toBe('٣٠ يومًا');
    expect(ar('word.days', { count: 100, days: '١٠٠' }).value).toBe('١٠٠ يوم');
    expect(en('clients.since', { date: '<b>' }).value).toBe('client since &lt;b&gt;');
  });
});
