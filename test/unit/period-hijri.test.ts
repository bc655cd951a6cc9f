import { describe, expect, it } from 'vitest';
import { addValidity, nthPeriod, type Validity } from '../../src/domain/period.js';

/**
 * Hijri validity is checked against the published Umm al-Qura calendar, not against the library's own
 * output: the first day of each month of 1446–1448 AH as the Umm al-Qura comparative tables give it
 * (the same dates in the dataset of the `hijri-converter` tables and in ICU's `islamic-umalqura`; well
 * known ones: 1 Ramadan 1446 = 1 March 2025, Eid al-Fitr 1446 = 30 March 2025, 1 Muharram 1447 =
 * 26 June 2025, 1 Ramadan 1447 = 18 February 2026, Eid al-Fitr 1447 = 20 March 2026).
 */
const MONTH_STARTS: Record<number, readonly [string, string]> = {
  1446: [
    '2024-07-07 2024-08-05 2024-09-04 2024-10-04 2024-11-03 2024-12-02',
    '2025-01-01 2025-01-31 2025-03-01 2025-03-30 2025-04-29 2025-05-28',
  ],
  1447: [
    '2025-06-26 2025-07-26 2025-08-24 2025-09-23 2025-10-23 2025-11-22',
    '2025-12-21 2026-01-20 2026-02-18 2026-03-20 2026-04-18 2026-05-18',
  ],
  1448: [
    '2026-06-16 2026-07-15 2026-08-14 2026-09-12 2026-10-12 2026-11-11',
    '2026-12-10 2027-01-09 2027-02-08 2027-03-09 2027-04-08 2027-05-07',
  ],
};
const MONTHS = Object.entries(MONTH_STARTS).flatMap(([year, starts]) =>
  starts
    .join(' ')
    .split(' ')
    .map((start, index) => ({ year: Number(year), month: index + 1, start })),
);
const RAMADAN = 9;
const SHAWWAL = 10;

const hijri = (count: number, unit: 'month' | 'year' = 'month'): Validity => ({
  count,
  unit,
  calendar: 'islamic-umalqura',
});
const utc = (day: string, time = '00:00:00'): Date => new Date(`${day}T${time}Z`);
const DAY = 86_400_000;
const days = (from: string, to: string): number => (utc(to).getTime() - utc(from).getTime()) / DAY;
const startOf = (year: number, month: number): string =>
  MONTHS.find((m) => m.year === year && m.month === month)!.start;

describe('Hijri (islamic-umalqura) validity: months of the Umm al-Qura calendar', () => {
  it('the table itself: months are 29 or 30 days, years 354 or 355', () => {
    for (let i = 0; i + 1 < MONTHS.length; i += 1)
      expect([29, 30]).toContain(days(MONTHS[i]!.start, MONTHS[i + 1]!.start));
    expect(days(startOf(1446, 1), startOf(1447, 1))).toBe(354);
    expect(days(startOf(1447, 1), startOf(1448, 1))).toBe(355);
    // Ramadan 1446 has 29 days, Ramadan 1447 has 30
    expect(days(startOf(1446, RAMADAN), startOf(1446, SHAWWAL))).toBe(29);
    expect(days(startOf(1447, RAMADAN), startOf(1447, SHAWWAL))).toBe(30);
  });

  it.each(MONTHS.slice(0, -1).map((m, i) => ({ ...m, next: MONTHS[i + 1]!.start })))(
    '1/$month/$year ($start) + 1 Hijri month = the first of the next month ($next)',
    ({ start, next }) => {
      expect(addValidity(utc(start), hijri(1), 'UTC').toISOString()).toBe(utc(next).toISOString());
    },
  );

  it('1 Ramadan + 1 month = 1 Shawwal, whether Ramadan has 29 days (1446) or 30 (1447)', () => {
    expect(addValidity(utc('2025-03-01'), hijri(1), 'UTC').toISOString()).toBe('2025-03-30T00:00:00.000Z');
    expect(addValidity(utc('2026-02-18'), hijri(1), 'UTC').toISOString()).toBe('2026-03-20T00:00:00.000Z');
    // the same Gregorian day + 1 Gregorian month is another date altogether
    expect(addValidity(utc('2026-02-18'), { count: 1, unit: 'month' }, 'UTC').toISOString()).toBe(
      '2026-03-18T00:00:00.000Z',
    );
  });

  it('the day of the month is constrained: 30 Ramadan 1447 + 1 month = 29 Shawwal (Shawwal 1447 has 29 days)', () => {
    const ramadan30 = '2026-03-19'; // 1 Ramadan 1447 + 29 days
    expect(days(startOf(1447, RAMADAN), ramadan30)).toBe(29);
    expect(days(startOf(1447, SHAWWAL), startOf(1447, 11))).toBe(29);
    // 29 Shawwal 1447 = 1 Shawwal + 28 days = 2026-04-17, the day before 1 Dhu al-Qadah
    expect(addValidity(utc(ramadan30), hijri(1), 'UTC').toISOString()).toBe('2026-04-17T00:00:00.000Z');
    // the day is kept, not the month end: 29 Shaban 1447, its last day, + 1 month = 29 Ramadan (of 30 days)
    const shaban29 = '2026-02-17';
    expect(days(startOf(1447, 8), shaban29)).toBe(28);
    expect(days(shaban29, startOf(1447, RAMADAN))).toBe(1);
    expect(addValidity(utc(shaban29), hijri(1), 'UTC').toISOString()).toBe('2026-03-18T00:00:00.000Z');
  });

  it('a Hijri year is 12 Hijri months: 354 or 355 days, 10–11 days short of a Gregorian year', () => {
    const year1447 = addValidity(utc('2025-06-26'), hijri(1, 'year'), 'UTC');
    expect(year1447.toISOString()).toBe('2026-06-16T00:00:00.000Z'); // 1 Muharram 1448
    expect(days('2025-06-26', '2026-06-16')).toBe(355);
    expect(addValidity(utc('2025-06-26'), hijri(12), 'UTC').toISOString()).toBe(year1447.toISOString());
    const year1446 = addValidity(utc('2024-07-07'), hijri(1, 'year'), 'UTC');
    expect(year1446.toISOString()).toBe('2025-06-26T00:00:00.000Z');
    expect(days('2024-07-07', '2025-06-26')).toBe(354);
    // 1 Ramadan 1446 + 1 Hijri year = 1 Ramadan 1447
    expect(addValidity(utc('2025-03-01'), hijri(1, 'year'), 'UTC').toISOString()).toBe('2026-02-18T00:00:00.000Z');
  });

  it('n-th periods are counted from the anchor, never chained: the 30th comes back after a 29-day month', () => {
    const anchor = utc('2026-03-19'); // 30 Ramadan 1447
    const periods = [0, 1, 2, 3].map((n) => nthPeriod(anchor, hijri(1), 'UTC', n));
    expect(periods.map((p) => [p.start.toISOString().slice(0, 10), p.end.toISOString().slice(0, 10)])).toEqual([
      ['2026-03-19', '2026-04-17'], // → 29 Shawwal (29 days)
      ['2026-04-17', '2026-05-17'], // → 30 Dhu al-Qadah (30 days): back to the 30th
      ['2026-05-17', '2026-06-15'], // → 29 Dhu al-Hijjah (29 days)
      ['2026-06-15', '2026-07-14'], // → 29 Muharram 1448 (29 days)
    ]);
    expect(days(startOf(1447, 11), '2026-05-17')).toBe(29); // 30 Dhu al-Qadah is its 30th day
    // chaining end to end would have stayed on the 29th
    const chained = addValidity(addValidity(anchor, hijri(1), 'UTC'), hijri(1), 'UTC');
    expect(chained.toISOString()).toBe('2026-05-16T00:00:00.000Z');
    // and the anchored n-th end is the anchor + (n + 1) months
    expect(nthPeriod(anchor, hijri(1), 'UTC', 11).end.toISOString()).toBe(
      addValidity(anchor, hijri(12), 'UTC').toISOString(),
    );
  });

  it('counts in the business time zone: 1 Ramadan 1447 at 00:00 in Riyadh ends at 00:00 on 1 Shawwal there', () => {
    const start = new Date('2026-02-17T21:00:00Z'); // 2026-02-18 00:00 +03:00
    expect(addValidity(start, hijri(1), 'Asia/Riyadh').toISOString()).toBe('2026-03-19T21:00:00.000Z');
    expect(addValidity(start, hijri(2), 'Asia/Riyadh').toISOString()).toBe('2026-04-17T21:00:00.000Z');
    // the same instant read in UTC is still 29 Shaban (2026-02-17): a month later is 29 Ramadan at 21:00
    expect(addValidity(start, hijri(1), 'UTC').toISOString()).toBe('2026-03-18T21:00:00.000Z');
    expect(nthPeriod(start, hijri(1), 'Asia/Riyadh', 1)).toEqual({
      start: new Date('2026-03-19T21:00:00Z'),
      end: new Date('2026-04-17T21:00:00Z'), // 1 Dhu al-Qadah 1447, 00:00 in Riyadh
    });
  });

  it('keeps the wall-clock time across a DST change (Europe/London)', () => {
    // 09:00 GMT on 1 Ramadan 1447; British Summer Time starts on 2026-03-29
    const start = new Date('2026-02-18T09:00:00Z');
    expect(addValidity(start, hijri(1), 'Europe/London').toISOString()).toBe('2026-03-20T09:00:00.000Z'); // GMT
    const twoMonths = addValidity(start, hijri(2), 'Europe/London'); // 1 Dhu al-Qadah, 09:00 BST
    expect(twoMonths.toISOString()).toBe('2026-04-18T08:00:00.000Z');
    expect((twoMonths.getTime() - start.getTime()) / 3_600_000).toBe(59 * 24 - 1);
  });

  it('day and week validities are the same in every calendar', () => {
    const start = utc('2026-02-18', '10:00:00');
    for (const unit of ['day', 'week'] as const) {
      const gregory = addValidity(start, { count: 3, unit }, 'Europe/London');
      expect(addValidity(start, { count: 3, unit, calendar: 'islamic-umalqura' }, 'Europe/London')).toEqual(gregory);
    }
  });

  it('a Gregorian validity is unchanged by the calendar field', () => {
    const start = utc('2026-01-31');
    expect(addValidity(start, { count: 1, unit: 'month', calendar: 'gregory' }, 'UTC').toISOString()).toBe(
      '2026-02-28T00:00:00.000Z',
    );
  });

  it('refuses an unknown time zone', () => {
    expect(() => addValidity(utc('2026-02-18'), hijri(1), 'Mars/Olympus_Mons')).toThrow(RangeError);
  });
});
