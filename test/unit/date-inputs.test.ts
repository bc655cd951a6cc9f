import { describe, expect, it } from 'vitest';
import { dayStart } from '../../src/ui/date-inputs.js';

describe("dayStart: a date input's day as the instant it starts, in the business time zone", () => {
  it('reads the day where the business is', () => {
    expect(dayStart('2026-03-15', 'Asia/Riyadh')?.toISOString()).toBe('2026-03-14T21:00:00.000Z');
    expect(dayStart('2026-03-15', 'Asia/Riyadh', 1)?.toISOString()).toBe('2026-03-15T21:00:00.000Z');
  });

  it('the day after one that began at 01:00 starts at its own midnight (Cairo, Friday 2026-04-24)', () => {
    // Cairo moves its clocks from 00:00 to 01:00 (+02 → +03): the day starts at 01:00, the next at 00:00 +03
    expect(dayStart('2026-04-24', 'Africa/Cairo')?.toISOString()).toBe('2026-04-23T22:00:00.000Z');
    expect(dayStart('2026-04-24', 'Africa/Cairo', 1)?.toISOString()).toBe('2026-04-24T21:00:00.000Z');
  });

  it('refuses what is not a day', () => {
    expect(dayStart('2026-04-24T10:00', 'UTC')).toBeUndefined();
    expect(dayStart('2026-02-30', 'UTC')).toBeUndefined();
  });
});
