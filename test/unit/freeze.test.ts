import { describe, expect, it } from 'vitest';
import {
  daysText,
  extendExpiries,
  extendedPeriodEnd,
  type FreezableSubscription,
  frozenSpan,
  planFreeze,
} from '../../src/domain/freeze.js';
import { decideRenewal } from '../../src/domain/renewal.js';

const DAY = 86_400_000;
const d = (iso: string) => new Date(iso);
const now = d('2026-03-10T12:00:00.000Z');
const active: FreezableSubscription = {
  status: 'active',
  currentPeriodStart: d('2026-03-01T00:00:00.000Z'),
  currentPeriodEnd: d('2026-04-01T00:00:00.000Z'),
};

describe('DOMAIN "Freeze": planFreeze', () => {
  it('freezes for whole days of 24 hours from now', () => {
    const plan = planFreeze(active, 10, 0, { days: 3 }, now);
    expect(plan).toEqual({ ok: true, value: { frozenAt: now, frozenUntil: d('2026-03-13T12:00:00.000Z') } });
  });

  it('freezes until an instant', () => {
    const until = d('2026-03-15T00:00:00.000Z');
    expect(planFreeze(active, 10, 0, { until }, now)).toEqual({
      ok: true,
      value: { frozenAt: now, frozenUntil: until },
    });
  });

  it('with neither, freezes for what is left of the allowance in this period', () => {
    const plan = planFreeze(active, 10, 4 * DAY, {}, now);
    expect(plan.ok && plan.value.frozenUntil).toEqual(d('2026-03-16T12:00:00.000Z'));
  });

  it('takes exactly what is left, and refuses a millisecond more (422 with the field)', () => {
    expect(planFreeze(active, 10, 7 * DAY, { days: 3 }, now).ok).toBe(true);
    const over = planFreeze(active, 10, 7 * DAY + 1, { days: 3 }, now);
    expect(over).toMatchObject({ ok: false, code: 'validation_failed', errors: [{ field: 'days' }] });
    const until = planFreeze(active, 2, 0, { until: d('2026-03-12T12:00:00.001Z') }, now);
    expect(until).toMatchObject({ ok: false, code: 'validation_failed', errors: [{ field: 'until' }] });
    expect(!until.ok && until.detail).toMatch(/allows 2 days per period, 0 used, 2 left, 2 asked/);
  });

  it('refuses when nothing is left, or the package allows no freezing (422)', () => {
    expect(planFreeze(active, 5, 5 * DAY, {}, now)).toMatchObject({ ok: false, code: 'validation_failed' });
    expect(planFreeze(active, null, 0, { days: 1 }, now)).toMatchObject({
      ok: false,
      code: 'validation_failed',
      errors: [{ field: 'days', message: 'the package allows no freezing' }],
    });
  });

  it('refuses an until that is not later than now, both until and days, or days below 1 (422)', () => {
    expect(planFreeze(active, 10, 0, { until: now }, now)).toMatchObject({ ok: false, errors: [{ field: 'until' }] });
    expect(planFreeze(active, 10, 0, { until: d('2026-03-11T00:00:00Z'), days: 1 }, now)).toMatchObject({
      ok: false,
      code: 'validation_failed',
    });
    expect(planFreeze(active, 10, 0, { days: 0 }, now)).toMatchObject({ ok: false, code: 'validation_failed' });
    expect(planFreeze(active, 10, 0, { days: 1.5 }, now)).toMatchObject({ ok: false, code: 'validation_failed' });
  });

  it.each(['frozen', 'suspended', 'pending', 'expired', 'cancelled'] as const)('a %s subscription: 409', (status) => {
    expect(planFreeze({ ...active, status }, 10, 0, { days: 1 }, now)).toMatchObject({ ok: false, code: 'conflict' });
  });

  it('a period that has not started (renewed ahead) or has ended: 409', () => {
    const ahead = { ...active, currentPeriodStart: d('2026-04-01T00:00:00Z'), currentPeriodEnd: d('2026-05-01Z') };
    expect(planFreeze(ahead, 10, 0, { days: 1 }, now)).toMatchObject({ ok: false, code: 'conflict' });
    const ended = { ...active, currentPeriodEnd: now };
    expect(planFreeze(ended, 10, 0, { days: 1 }, now)).toMatchObject({ ok: false, code: 'conflict' });
  });
});

describe('DOMAIN "Freeze": the extension at unfreeze', () => {
  const frozenAt = d('2026-03-10T12:00:00.000Z');
  const frozenUntil = d('2026-03-20T12:00:00.000Z');

  it('the frozen time runs from frozen_at to now, never beyond frozen_until', () => {
    expect(frozenSpan(frozenAt, frozenUntil, d('2026-03-13T18:30:00.000Z'))).toEqual({
      unfrozenAt: d('2026-03-13T18:30:00.000Z'),
      ms: 3 * DAY + 6.5 * 3_600_000,
    });
    // a late sweep (or a late hand) pushes by what was asked for, no more
    expect(frozenSpan(frozenAt, frozenUntil, d('2026-03-25T00:00:00.000Z'))).toEqual({
      unfrozenAt: frozenUntil,
      ms: 10 * DAY,
    });
    expect(frozenSpan(frozenAt, frozenUntil, frozenAt)).toEqual({ unfrozenAt: frozenAt, ms: 0 });
  });

  it('moves every balance still valid at frozen_at by the exact frozen time, and the period end with them', () => {
    const ms = 3 * DAY + 6.5 * 3_600_000;
    const lots = [
      { id: 'a', expiresAt: d('2026-04-01T00:00:00.000Z') },
      { id: 'b', expiresAt: d('2026-03-12T00:00:00.000Z') }, // would have expired while frozen
      { id: 'c', expiresAt: d('2026-03-09T00:00:00.000Z') }, // expired before the freeze, not swept yet
      { id: 'd', expiresAt: frozenAt }, // expired exactly as the clock stopped
    ];
    expect(extendExpiries(lots, frozenAt, ms)).toEqual([
      { id: 'a', previousExpiresAt: d('2026-04-01T00:00:00.000Z'), expiresAt: d('2026-04-04T06:30:00.000Z') },
      { id: 'b', previousExpiresAt: d('2026-03-12T00:00:00.000Z'), expiresAt: d('2026-03-15T06:30:00.000Z') },
    ]);
    expect(extendedPeriodEnd(d('2026-04-01T00:00:00.000Z'), ms)).toEqual(d('2026-04-04T06:30:00.000Z'));
  });

  it('moves nothing when the freeze lasted no time', () => {
    expect(extendExpiries([{ id: 'a', expiresAt: d('2026-04-01Z') }], frozenAt, 0)).toEqual([]);
    expect(extendedPeriodEnd(d('2026-04-01Z'), 0)).toEqual(d('2026-04-01Z'));
  });

  it('writes days shortly', () => {
    expect(daysText(3 * DAY)).toBe('3');
    expect(daysText(1.5 * DAY)).toBe('1.5');
    expect(daysText(DAY / 4)).toBe('0.25');
  });
});

describe('a frozen subscription is not renewed', () => {
  it('decideRenewal answers 409', () => {
    const result = decideRenewal(
      {
        status: 'frozen',
        cancelAtPeriodEnd: false,
        anchorAt: active.currentPeriodStart,
        periodIndex: 0,
        currentPeriodStart: active.currentPeriodStart,
        currentPeriodEnd: active.currentPeriodEnd,
      },
      active.currentPeriodEnd,
      { count: 1, unit: 'month' },
      'UTC',
      now,
    );
    expect(result).toMatchObject({ ok: false, code: 'conflict' });
  });
});
