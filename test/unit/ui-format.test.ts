import { describe, expect, it } from 'vitest';
import {
  barChart,
  CHART_LABEL_PX,
  CHART_NARROWEST_PX,
  type ChartLocale,
  chartLabelRules,
} from '../../src/ui/charts.js';
import { translator } from '../../src/ui/i18n/catalog.js';
import { formatters } from '../../src/ui/i18n/format.js';
import type { Locale } from '../../src/ui/i18n/locale.js';
import { CATALOG } from '../../src/ui/i18n/messages/index.js';
import { shownRate } from '../../src/ui/pages/clients.js';

/** The pages' formatters (Intl for the locale, exact money) and the charts' direction. */
const where = (locale: Locale, calendar: 'gregory' | 'hijri' = 'gregory'): ChartLocale => ({
  locale,
  t: translator(locale, CATALOG),
  fmt: formatters(locale, calendar, 'Asia/Riyadh'),
});
const ARABIC_DIGITS = /^[\u0660-\u0669٫٬\u200f\u061c\s]+/;

describe('formatters', () => {
  it('write money with the currency’s own decimals: KWD 3, SAR 2, in both languages, exactly', () => {
    const en = where('en').fmt;
    const ar = where('ar').fmt;
    expect(en.money(1234500n, 'KWD')).toBe('KWD\u00a01,234.500');
    expect(en.money(123450n, 'SAR')).toBe('SAR\u00a01,234.50');
    expect(ar.money(1234500n, 'KWD')).toContain('١٬٢٣٤٫٥٠٠');
    expect(ar.money(123450n, 'SAR')).toContain('١٬٢٣٤٫٥٠');
    expect(ar.money(123450n, 'SAR')).not.toContain('١٬٢٣٤٫٥٠٠');
    // beyond a float's exact integers, still exact
    expect(en.money(9007199254740993n, 'KWD')).toBe('KWD\u00a09,007,199,254,740.993');
  });

  it('write an amount in Arabic that reads right to left whole: the number, then the currency as it is spelt', () => {
    const ar = where('ar').fmt;
    // ICU's "١٢٫٥٠ US$" would show "$US" in a right-to-left line: the symbol is isolated left to right, and the
    // amount isolated from its neighbours (FSI … PDI), the right-to-left mark first
    expect(ar.money(1250n, 'USD')).toBe('\u2068\u200f١٢٫٥٠\u00a0\u2066US$\u2069\u2069');
    expect(ar.money(1500n, 'JPY')).toBe('\u2068\u200f١٬٥٠٠\u00a0\u2066JP¥\u2069\u2069');
    expect(ar.money(99n, 'EUR')).toBe('\u2068\u200f٠٫٩٩\u00a0\u2066€\u2069\u2069');
    // a symbol in Arabic letters is already right to left: only the amount is isolated
    expect(ar.money(123450n, 'SAR')).toBe('\u2068\u200f١٬٢٣٤٫٥٠\u00a0ر.س.\u200f\u2069');
    expect(ar.money(1234500n, 'KWD')).toBe('\u2068\u200f١٬٢٣٤٫٥٠٠\u00a0د.ك.\u200f\u2069');
    // every isolate is closed: nothing after the amount is pulled into it
    for (const currency of ['USD', 'SAR', 'KWD', 'JPY', 'EUR', 'CHF', 'GBP']) {
      const text = ar.money(100n, currency);
      const opened = [...text].filter((c) => c === '\u2066' || c === '\u2068').length;
      expect([...text].filter((c) => c === '\u2069').length, currency).toBe(opened);
    }
    // English is left to right as it comes: the code, then the amount
    expect(where('en').fmt.money(1250n, 'USD')).toBe('USD\u00a012.50');
  });

  it('write numbers with Arabic-Indic digits in Arabic', () => {
    expect(where('ar').fmt.number(1234567n)).toBe('١٬٢٣٤٬٥٦٧');
    expect(where('ar').fmt.number('12.5')).toBe('١٢٫٥');
    expect(where('ar').fmt.percent(85.5)).toMatch(ARABIC_DIGITS);
    expect(where('en').fmt.percent(85.5)).toBe('85.5%');
  });

  it('write dates in the business zone, with the Hijri date beside them when asked', () => {
    const at = '2026-03-15T22:30:00.000Z'; // already the 16th in Riyadh (UTC+3)
    expect(where('en').fmt.date(at).value).toBe('<time datetime="2026-03-15T22:30:00.000Z">16 Mar 2026</time>');
    const hijri = where('ar', 'hijri').fmt.date(at).value;
    expect(hijri).toContain('data-calendar="islamic-umalqura"');
    expect(hijri).toContain('رمضان ١٤٤٧'); // 16 March 2026 is 27 Ramadan 1447 (Umm al-Qura)
    expect(where('en', 'hijri').fmt.day('2026-03-20').value).toContain('1 Shaw. 1447');
  });
});

describe('charts', () => {
  const points = ['2026-03-01', '2026-03-02', '2026-03-03'].map((day, i) => ({
    label: day.slice(5),
    title: day,
    value: i + 1,
    display: String(i + 1),
  }));
  const barXs = (svg: string) => [...svg.matchAll(/<rect class="bar[^"]*" x="([\d.]+)"/g)].map((m) => Number(m[1]));

  it('run time left to right in English and right to left in Arabic, the y axis on the start side', () => {
    const ltr = barChart(where('en'), { title: 'sms', unit: 'message', points }).value;
    const rtl = barChart(where('ar'), { title: 'sms', unit: 'message', points }).value;
    const [first, , last] = barXs(ltr);
    expect(first!).toBeLessThan(last!);
    const [firstR, , lastR] = barXs(rtl);
    expect(firstR!).toBeGreaterThan(lastR!);
    expect(ltr).toMatch(/<text class="tick y" x="42"\s+y="[\d.]+" text-anchor="end">0<\/text>/);
    expect(rtl).toMatch(/<text class="tick y" x="598"\s+y="[\d.]+" text-anchor="start">٠<\/text>/);
    expect(rtl).toContain('direction="ltr"');
    // the credit type and its unit, names a business typed, isolated: a Latin unit keeps its place beside the digits
    expect(rtl).toContain('aria-label="\u2068sms\u2069: ٦ \u2068message\u2069 في ٣ أعمدة"');
    expect(rtl).toMatch(/<title>2026-03-01: 1 \u2068message\u2069<\/title>/);
  });
});

describe('a chart’s labels on a phone', () => {
  const days = Array.from({ length: 30 }, (_, i) => ({ label: `d${i}`, title: `day ${i}`, value: i, display: `${i}` }));

  it('label every fourth day, counted back from the latest, every other one of them marked sparse', () => {
    const svg = barChart(where('en'), { title: 'sms', unit: 'message', points: days }).value;
    const labels = [...svg.matchAll(/<text class="tick x( sparse)?"[^>]*>(d\d+)<\/text>/g)].map((m) => [m[2], !!m[1]]);
    expect(labels).toEqual([
      ['d1', true],
      ['d5', false],
      ['d9', true],
      ['d13', false],
      ['d17', true],
      ['d21', false],
      ['d25', true],
      ['d29', false],
    ]);
  });

  it('are sized for the width the chart is shown at: on the screen 11 px at least, about ⅛ more at most', () => {
    const rules = [
      ...chartLabelRules().matchAll(/max-width: (\d+)px\) \{ svg\.w(\d+) \.tick \{ font-size: ([\d.]+)px/g),
    ];
    const widths = new Map<number, Array<{ upTo: number; size: number }>>();
    for (const [, upTo, width, size] of rules)
      widths.set(Number(width), [...(widths.get(Number(width)) ?? []), { upTo: Number(upTo), size: Number(size) }]);
    expect([...widths.keys()]).toEqual([640, 960]);
    for (const [width, steps] of widths) {
      // shown at its own width or wider, the drawing's 11 px are 11 px or more
      expect(steps[0]!.upTo).toBe(width);
      for (let shown = CHART_NARROWEST_PX; shown <= width; shown += 1) {
        // the narrowest rule that still applies wins (the later one in the stylesheet)
        const size = steps.filter((s) => shown <= s.upTo).at(-1)!.size;
        const onScreen = (size * shown) / width;
        expect(onScreen, `${width} shown at ${shown}`).toBeGreaterThanOrEqual(CHART_LABEL_PX - 0.01);
        expect(onScreen, `${width} shown at ${shown}`).toBeLessThanOrEqual(CHART_LABEL_PX * 1.14);
      }
    }
  });
});

describe('the forecast line’s daily burn', () => {
  it('has two decimals more than the credit type, rounded half up (the API answers six more)', () => {
    expect(shownRate('4.333333', 0)).toBe('4.33');
    expect(shownRate('7.142857', 0)).toBe('7.14');
    expect(shownRate('2.005', 0)).toBe('2.01');
    expect(shownRate('0.34166667', 2)).toBe('0.3417');
    expect(shownRate('10', 0)).toBe('10');
    expect(shownRate('0.5', 0)).toBe('0.5');
  });
});
