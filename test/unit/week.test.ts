import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { daysToMonday, startOfWeek, WEEK_STARTS, type WeekStart, weekKey } from '../../src/domain/week.js';

const d = (iso: string): Date => new Date(iso);

describe('WEEK_START: which day starts the week holding a time', () => {
  // 2026-03-14 is a Saturday, 2026-03-15 a Sunday, 2026-03-16 a Monday
  it.each<{ day: string; name: string; expected: Record<WeekStart, string> }>([
    {
      day: '2026-03-13',
      name: 'Friday',
      expected: { saturday: '2026-03-07', sunday: '2026-03-08', monday: '2026-03-09' },
    },
    {
      day: '2026-03-14',
      name: 'Saturday',
      expected: { saturday: '2026-03-14', sunday: '2026-03-08', monday: '2026-03-09' },
    },
    {
      day: '2026-03-15',
      name: 'Sunday',
      expected: { saturday: '2026-03-14', sunday: '2026-03-15', monday: '2026-03-09' },
    },
    {
      day: '2026-03-16',
      name: 'Monday',
      expected: { saturday: '2026-03-14', sunday: '2026-03-15', monday: '2026-03-16' },
    },
    {
      day: '2026-03-20',
      name: 'Friday',
      expected: { saturday: '2026-03-14', sunday: '2026-03-15', monday: '2026-03-16' },
    },
  ])('$day ($name) at 12:00 UTC', ({ day, expected }) => {
    for (const weekStart of WEEK_STARTS) {
      expect(weekKey(d(`${day}T12:00:00Z`), 'UTC', weekStart), weekStart).toBe(expected[weekStart]);
      expect(startOfWeek(d(`${day}T12:00:00Z`), 'UTC', weekStart).toISOString()).toBe(
        `${expected[weekStart]}T00:00:00.000Z`,
      );
    }
  });

  it('reads the day in the business time zone: Saturday 22:30 UTC is Sunday 01:30 in Riyadh', () => {
    const at = d('2026-03-14T22:30:00Z');
    expect(weekKey(at, 'UTC', 'sunday')).toBe('2026-03-08');
    expect(weekKey(at, 'Asia/Riyadh', 'sunday')).toBe('2026-03-15');
    expect(startOfWeek(at, 'Asia/Riyadh', 'sunday').toISOString()).toBe('2026-03-14T21:00:00.000Z');
    expect(weekKey(at, 'Asia/Riyadh', 'saturday')).toBe('2026-03-14');
    expect(weekKey(at, 'Asia/Riyadh', 'monday')).toBe('2026-03-09');
  });

  it('a day that began at 01:00 (Cairo moved its clocks at midnight, Friday 2026-04-24) keeps the week', () => {
    // Monday 20 April starts at 00:00 EET (+02), however late the day counted back from began
    expect(startOfWeek(d('2026-04-24T09:00:00Z'), 'Africa/Cairo', 'monday').toISOString()).toBe(
      '2026-04-19T22:00:00.000Z',
    );
  });

  it('starts at local midnight across a DST change (Europe/London springs forward on Sunday 2026-03-29)', () => {
    expect(startOfWeek(d('2026-03-30T12:00:00Z'), 'Europe/London', 'sunday').toISOString()).toBe(
      '2026-03-29T00:00:00.000Z', // 00:00 GMT, before the change at 01:00
    );
    expect(startOfWeek(d('2026-03-30T12:00:00Z'), 'Europe/London', 'saturday').toISOString()).toBe(
      '2026-03-28T00:00:00.000Z',
    );
    expect(startOfWeek(d('2026-04-01T12:00:00Z'), 'Europe/London', 'monday').toISOString()).toBe(
      '2026-03-29T23:00:00.000Z', // 00:00 BST
    );
  });

  it('moves a time forward to Monday by 0, 1 or 2 days (the SQL shift)', () => {
    expect(daysToMonday('monday')).toBe(0);
    expect(daysToMonday('sunday')).toBe(1);
    expect(daysToMonday('saturday')).toBe(2);
  });

  it('the shift rule and the weekday rule agree, in any zone, on any day', () => {
    const zones = ['UTC', 'Asia/Riyadh', 'Europe/London', 'America/New_York', 'Pacific/Chatham'];
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3 * 365 * 24 * 4 }), // quarter hours after 2025-01-01
        fc.constantFrom(...zones),
        fc.constantFrom(...WEEK_STARTS),
        (quarters, zone, weekStart) => {
          const at = new Date(Date.UTC(2025, 0, 1) + quarters * 900_000);
          const start = startOfWeek(at, zone, weekStart);
          const local = DateTime.fromJSDate(start, { zone });
          // midnight of a day of the right weekday, on or before the time, less than a week before it
          expect(local.toFormat('HH:mm')).toBe('00:00');
          expect(local.toFormat('cccc').toLowerCase()).toBe(weekStart);
          expect(start.getTime()).toBeLessThanOrEqual(at.getTime());
          const day = DateTime.fromJSDate(at, { zone }).startOf('day');
          expect(day.diff(local, 'days').days).toBeLessThan(7);
          // date_trunc('week', local + n days) - n days, done with luxon's Monday-based weeks
          const n = daysToMonday(weekStart);
          const shifted = DateTime.fromJSDate(at, { zone }).plus({ days: n }).startOf('week').minus({ days: n });
          expect(shifted.toISODate()).toBe(local.toISODate());
        },
      ),
    );
  });
});
