import { describe, expect, it } from 'vitest';
import { appPerTest } from '../helpers/app-per-test.js';
import { commerceScene } from '../helpers/commerce-scene.js';
import { httpSteps } from '../helpers/http-steps.js';

/**
 * QA of the subscription lifecycle's edges, every figure worked out by hand in a comment: validity units in a
 * business time zone with DST, a yearly period over a leap day, a late renewal of a month-end anchor and the
 * renewal after it, several period ends crossed by one nightly run, renewal after a package change with rollover
 * of a decimal credit type, currencies in minor units, and spending across two subscriptions and a priority
 * package with a partial use. Each test starts a service of its own (the nightly run sees every subscription).
 */
const { start, current } = appPerTest();
const { call, ok, clockTo, nightly } = httpSteps(current);
const scene = commerceScene(ok);
const { catalog, pack, buy } = scene;

type Line = { amount: number; description: string };
type Invoice = { id: string; number: string; kind: string; total: number; currency: string; status: string };
type InvoiceFull = Invoice & { lines: Line[] };
type Lot = { source: string; granted: string; remaining: string; valid_from: string; expires_at: string };
const invoices = () => scene.invoices<InvoiceFull>();
const sub = (id: string) => ok('GET', `/v1/subscriptions/${id}`);
const row = async (code: string) =>
  (await ok('GET', '/v1/clients/c1/balances')).data.find(
    (r: { credit_type: { code: string } }) => r.credit_type.code === code,
  );
const consume = (credit_type: string, quantity: number | string, key: string, extra: object = {}) =>
  call('POST', '/v1/consumptions?wait=true', { client: 'c1', credit_type, quantity, idempotency_key: key, ...extra });
const renew = (id: string) => ok('POST', `/v1/subscriptions/${id}/renew?wait=true`, {});
const period = (s: { current_period_start: string; current_period_end: string }) => [
  s.current_period_start,
  s.current_period_end,
];

describe('validity units in BUSINESS_TZ America/New_York (DST from 2026-03-08)', () => {
  it('31 Jan 00:00 EST + 1 month is 28 Feb 00:00 EST, then 31 Mar 00:00 EDT (an hour earlier in UTC)', async () => {
    // 2026-01-31 00:00 in New York (UTC−5) = 05:00Z
    await start('2026-01-31T05:00:00.000Z', { BUSINESS_TZ: 'America/New_York' });
    await catalog();
    await pack('m1');
    const s = await buy('m1');
    // 31 Jan + 1 month = 28 Feb 00:00 EST = 05:00Z
    expect(period(s)).toEqual(['2026-01-31T05:00:00.000Z', '2026-02-28T05:00:00.000Z']);
    // the invoice line names the period in business days
    const [first] = await invoices();
    expect(first?.lines.map((l) => [l.description, l.amount])).toEqual([['m1 (m1), 2026-01-31 → 2026-02-28', 1999]]);
    await clockTo('2026-02-28T05:00:00.000Z');
    const r = await renew(s.id);
    // anchor + 2 months = 31 Mar 00:00 EDT (UTC−4) = 04:00Z
    expect([r.period_start, r.period_end]).toEqual(['2026-02-28T05:00:00.000Z', '2026-03-31T04:00:00.000Z']);
    const lots: Lot[] = (await row('sms')).balances;
    const fresh = lots.find((b) => b.valid_from === '2026-02-28T05:00:00.000Z');
    expect(fresh).toMatchObject({ granted: '100', expires_at: '2026-03-31T04:00:00.000Z' });
  });

  it('30 days from 1 Mar 00:00 EST keep the wall clock: 31 Mar 00:00 EDT, 29 days 23 hours later', async () => {
    await start('2026-03-01T05:00:00.000Z', { BUSINESS_TZ: 'America/New_York' });
    await catalog();
    await pack('d30', { validity: { count: 30, unit: 'day' } });
    await pack('w2', { validity: { count: 2, unit: 'week' } });
    const d = await buy('d30');
    // 1 Mar + 30 days = 31 Mar 00:00 local; EDT → 04:00Z (720 h − 1 h)
    expect(period(d)).toEqual(['2026-03-01T05:00:00.000Z', '2026-03-31T04:00:00.000Z']);
    const w = await buy('w2');
    // 1 Mar (Sunday) + 14 days = 15 Mar 00:00 EDT = 04:00Z
    expect(period(w)).toEqual(['2026-03-01T05:00:00.000Z', '2026-03-15T04:00:00.000Z']);
    // a use at 15 Mar 03:59:59Z is inside w2's first period (00:00 EDT is 04:00Z); at 04:00Z it is not
    const q = async (at: string) => {
      await clockTo(at);
      return ok('POST', '/v1/consumptions/quote', { client: 'c1', credit_type: 'sms', quantity: 150, mode: 'partial' });
    };
    // both subscriptions: 100 + 100 = 200 ≥ 150 before w2 ends
    expect(await q('2026-03-15T03:59:59.999Z')).toMatchObject({ would: 'apply', applied: '150', shortfall: '0' });
    // at w2's end only d30's 100 are eligible: 150 − 100 = 50 short
    expect(await q('2026-03-15T04:00:00.000Z')).toMatchObject({ would: 'partial', applied: '100', shortfall: '50' });
  });
});

describe('a year over a leap day', () => {
  it('bought 29 Feb 2028: ends 28 Feb 2029, renewed to 28 Feb 2030; anchor + 4 years is 29 Feb 2032', async () => {
    await start('2028-02-29T00:00:00.000Z');
    await catalog();
    await pack('y1', { validity: { count: 1, unit: 'year' }, price: 19900 });
    const s = await buy('y1');
    // 2028-02-29 + 1 year: no 29 Feb in 2029 → 28 Feb
    expect(period(s)).toEqual(['2028-02-29T00:00:00.000Z', '2029-02-28T00:00:00.000Z']);
    await clockTo('2029-02-28T00:00:00.000Z');
    const r1 = await renew(s.id);
    // anchor + 2 years = 2030-02-28 (still no 29 Feb)
    expect([r1.period_start, r1.period_end]).toEqual(['2029-02-28T00:00:00.000Z', '2030-02-28T00:00:00.000Z']);
    // renewed ahead twice more: anchor + 3 = 2031-02-28, anchor + 4 = 2032-02-29 (a leap year again)
    const r2 = await renew(s.id);
    const r3 = await renew(s.id);
    expect([r2.period_end, r3.period_end]).toEqual(['2031-02-28T00:00:00.000Z', '2032-02-29T00:00:00.000Z']);
    // 1 sale + 3 renewals at 19900 = 79600; each a number of its year: one 2028, three 2029
    const all = await invoices();
    expect(all.map((i) => [i.number, i.kind, i.total])).toEqual([
      ['INV-2028-000001', 'subscription', 19900],
      ['INV-2029-000001', 'renewal', 19900],
      ['INV-2029-000002', 'renewal', 19900],
      ['INV-2029-000003', 'renewal', 19900],
    ]);
  });
});

describe('a late renewal of a month-end anchor', () => {
  it('bought 31 Jan, lapsed 28 Feb, renewed 10 Mar 12:00: [03-10 12:00, 04-10 12:00), then 05-10', async () => {
    await start('2026-01-31T00:00:00.000Z');
    await catalog();
    await pack('m1');
    const s = await buy('m1');
    expect((await consume('sms', 40, 'u1')).status).toBe(200);
    await clockTo('2026-03-10T12:00:00.000Z');
    await nightly();
    expect((await sub(s.id)).status).toBe('expired');
    const late = await renew(s.id);
    // late: from now, one month: 03-10 12:00 + 1 month = 04-10 12:00
    expect(late).toMatchObject({
      late: true,
      period_start: '2026-03-10T12:00:00.000Z',
      period_end: '2026-04-10T12:00:00.000Z',
    });
    // the next renewal follows the late period (not the old 31st anchor): 04-10 12:00 + 1 month = 05-10 12:00
    await clockTo('2026-04-10T12:00:00.000Z');
    const next = await renew(s.id);
    expect([next.period_start, next.period_end, next.late]).toEqual([
      '2026-04-10T12:00:00.000Z',
      '2026-05-10T12:00:00.000Z',
      false,
    ]);
    expect(await sub(s.id)).toMatchObject({ status: 'active', renewal_count: 2 });
    // the 60 sms left at 02-28 expired (rollover none); nothing of the gap; the live period's 100 only
    const r = await row('sms');
    // granted 100 × 3 = 300; consumed 40; expired 60 (02-28) + 100 (04-10, the late period unused) = 160
    expect([r.granted, r.consumed, r.expired, r.remaining]).toEqual(['300', '40', '160', '100']);
    // sale + late renewal + renewal: 3 × 1999, numbers 1..3
    expect((await invoices()).map((i) => [i.number, i.kind, i.total])).toEqual([
      ['INV-2026-000001', 'subscription', 1999],
      ['INV-2026-000002', 'renewal', 1999],
      ['INV-2026-000003', 'renewal', 1999],
    ]);
  });
});

describe('one nightly run after the clock crossed several period ends', () => {
  it('weekly, auto_renew, rollover all: each week renewed once, in order, units carried through', async () => {
    // Thursday 2026-01-01 00:00Z, weekly: ends 01-08, 01-15, 01-22, 01-29
    await start('2026-01-01T00:00:00.000Z');
    await catalog();
    await pack('wk', {
      validity: { count: 1, unit: 'week' },
      price: 500,
      auto_renew: true,
      rollover: { policy: 'all' },
      items: [{ credit_type: 'sms', units: 10 }],
    });
    const s = await buy('wk');
    expect((await consume('sms', 4, 'u1')).status).toBe(200);
    // 01-23 01:00: periods ended 01-08, 01-15, 01-22; the next run (01-24 02:00) is after 01-29? no: look-ahead
    // 26 h from 01-23 01:00 is 01-24 03:00 < 01-29, so 3 renewals: [01-08,01-15), [01-15,01-22), [01-22,01-29)
    await clockTo('2026-01-23T01:00:00.000Z');
    await nightly();
    await nightly();
    const after = await sub(s.id);
    expect(after).toMatchObject({ status: 'active', renewal_count: 3 });
    expect(period(after)).toEqual(['2026-01-22T00:00:00.000Z', '2026-01-29T00:00:00.000Z']);
    // 500 each, in number order = period order
    const all = await invoices();
    expect(all.map((i) => [i.number, i.kind, i.total])).toEqual([
      ['INV-2026-000001', 'subscription', 500],
      ['INV-2026-000002', 'renewal', 500],
      ['INV-2026-000003', 'renewal', 500],
      ['INV-2026-000004', 'renewal', 500],
    ]);
    expect(all.slice(1).map((i) => i.lines[0]?.description)).toEqual([
      'wk (wk), 2026-01-08 → 2026-01-15',
      'wk (wk), 2026-01-15 → 2026-01-22',
      'wk (wk), 2026-01-22 → 2026-01-29',
    ]);
    // rollover all: 10 − 4 = 6 at 01-08 → 6 + 10 = 16 at 01-15 → 16 + 10 = 26 at 01-22, + 10 fresh = 36
    const r = await row('sms');
    expect(r.remaining).toBe('36');
    // a rollover moves units, it neither grants nor expires them: granted 4 × 10 = 40, consumed 4, 40 − 4 = 36
    expect({ granted: r.granted, consumed: r.consumed, expired: r.expired }).toEqual({
      granted: '40',
      consumed: '4',
      expired: '0',
    });
  });
});

describe('a renewal after the package changed, with a percent rollover of a decimal credit type', () => {
  it('the package price, the snapshot units; 50 % of 7.3 min at 1 decimal is 3.6 (3.65 cut)', async () => {
    await start('2026-03-01T00:00:00.000Z');
    await catalog();
    await pack('pc', { rollover: { policy: 'percent', percent: 50 } });
    const s = await buy('pc');
    expect((await consume('min', '0.2', 'u1')).status).toBe(200);
    expect((await consume('sms', 33, 'u2')).status).toBe(200);
    await ok('PATCH', '/v1/packages/pc', {
      price: 2499,
      items: [
        { credit_type: 'sms', units: 200 },
        { credit_type: 'min', units: 10 },
      ],
    });
    await clockTo('2026-04-01T00:00:00.000Z');
    const r = await renew(s.id);
    // price follows the package (the subscription kept it): 2499; units stay the snapshot 100 sms, 7.5 min
    expect(r).toMatchObject({
      status: 'renewed',
      price: 2499,
      currency: 'USD',
      period_end: '2026-05-01T00:00:00.000Z',
    });
    await nightly();
    const lots = async (code: string) =>
      ((await row(code)).balances as Lot[])
        .filter((b) => b.expires_at === '2026-05-01T00:00:00.000Z')
        .map((b) => [b.source, b.granted])
        .sort();
    // sms: 100 − 33 = 67 left, 50 % = 33.5 → 33 at 0 decimals; min: 7.5 − 0.2 = 7.3, 50 % = 3.65 → 3.6
    // QA: the share is cut at the credit type's decimals (percentOf floors); DOMAIN/README say nothing of it
    expect(await lots('sms')).toEqual([
      ['package', '100'],
      ['rollover', '33'],
    ]);
    expect(await lots('min')).toEqual([
      ['package', '7.5'],
      ['rollover', '3.6'],
    ]);
    // 100 + 33 = 133 sms; 7.5 + 3.6 = 11.1 min; expired 67 − 33 = 34 sms and 7.3 − 3.6 = 3.7 min
    expect([(await row('sms')).remaining, (await row('sms')).expired]).toEqual(['133', '34']);
    expect([(await row('min')).remaining, (await row('min')).expired]).toEqual(['11.1', '3.7']);
    // sale 1999 + renewal 2499; each total is the sum of its lines
    const all = await invoices();
    expect(all.map((i) => [i.kind, i.total, i.lines.reduce((t, l) => t + l.amount, 0)])).toEqual([
      ['subscription', 1999, 1999],
      ['renewal', 2499, 2499],
    ]);
  });
});

describe('invoices in the currency of each package, in minor units', () => {
  it('JPY (0 digits), KWD (3 digits) as integers; 19.99 refused; pay and void keep the numbers', async () => {
    await start('2026-05-01T00:00:00.000Z');
    await catalog();
    // 19.99 is not a whole number of minor units: refused, never rounded to 1999 or 20
    const bad = await call('POST', '/v1/packages', {
      code: 'bad',
      name: 'bad',
      price: 19.99,
      currency: 'USD',
      validity: { count: 1, unit: 'month' },
      items: [{ credit_type: 'sms', units: 1 }],
    });
    expect(bad.status).toBe(422);
    await pack('jp', { currency: 'JPY', price: 5000, recharge_price: 1500 });
    await pack('kw', { currency: 'KWD', price: 12345 });
    const j = await buy('jp');
    const k = await buy('kw');
    // 5000 yen is 5000 minor units; 12.345 KWD is 12345
    expect([j.invoice.total, j.invoice.currency, k.invoice.total, k.invoice.currency]).toEqual([
      5000,
      'JPY',
      12345,
      'KWD',
    ]);
    const rc = await ok('POST', `/v1/subscriptions/${j.id}/recharge?wait=true`, {});
    expect([rc.price, rc.currency]).toEqual([1500, 'JPY']);
    await ok('POST', `/v1/invoices/${j.invoice.id}/pay`, {});
    await ok('POST', `/v1/invoices/${k.invoice.id}/void`, {});
    // a void keeps its number; the next one is 4, no gap, no reuse
    await clockTo('2026-06-01T00:00:00.000Z');
    const r = await renew(j.id);
    expect([r.price, r.currency]).toEqual([5000, 'JPY']);
    const all = await invoices();
    expect(all.map((i) => [i.number, i.kind, i.total, i.currency, i.status])).toEqual([
      ['INV-2026-000001', 'subscription', 5000, 'JPY', 'paid'],
      ['INV-2026-000002', 'subscription', 12345, 'KWD', 'void'],
      ['INV-2026-000003', 'recharge', 1500, 'JPY', 'issued'],
      ['INV-2026-000004', 'renewal', 5000, 'JPY', 'issued'],
    ]);
    for (const i of all) expect(i.lines.reduce((t, l) => t + l.amount, 0)).toBe(i.total);
  });
});

describe('spending across two subscriptions and a priority package', () => {
  it('priority 10 first, then the soonest expiry, never a period not begun; partial takes the rest', async () => {
    await start('2026-01-01T00:00:00.000Z');
    await catalog();
    await pack('month', { items: [{ credit_type: 'sms', units: 100 }] });
    await pack('week', { validity: { count: 1, unit: 'week' }, items: [{ credit_type: 'sms', units: 100 }] });
    await pack('promo', {
      price: 0,
      priority: 10,
      validity: { count: 40, unit: 'day' },
      items: [{ credit_type: 'sms', units: 20 }],
    });
    const a = await buy('month'); // [01-01, 02-01)
    await clockTo('2026-01-10T00:00:00.000Z');
    const b = await buy('week'); // [01-10, 01-17): expires before a
    await buy('promo'); // [01-10, 02-19), priority 10
    // b renewed ahead: its 100 of [01-17, 01-24) cannot be spent on 01-10
    await renew(b.id);
    const first = await consume('sms', 150, 'u1');
    expect(first.status).toBe(200);
    // promo 20, then b (expires 01-17) 100, then a (02-01) 30: 20 + 100 + 30 = 150; left 0 + 0 + 70 = 70
    const subsOf = async (allocs: Array<{ balance_id: string; amount: string }>) => {
      const lots: Array<Lot & { id: string; subscription_id: string }> = (await row('sms')).balances;
      return allocs.map((x) => [lots.find((l) => l.id === x.balance_id)?.subscription_id, x.amount]);
    };
    expect(first.body.remaining).toBe('70');
    const subs = (await ok('GET', '/v1/subscriptions?client=c1')).data as Array<{
      id: string;
      package: { code: string };
    }>;
    const promoId = subs.find((x) => x.package.code === 'promo')?.id;
    expect(await subsOf(first.body.allocations)).toEqual([
      [promoId, '20'],
      [b.id, '100'],
      [a.id, '30'],
    ]);
    // 200 partial: 70 from a, 200 − 70 = 130 short; b's next period (from 01-17) is not touched
    const second = await consume('sms', 200, 'u2', { mode: 'partial' });
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ status: 'partial', applied: '70', shortfall: '130', remaining: '0' });
    expect(await subsOf(second.body.allocations)).toEqual([[a.id, '70']]);
    // nothing left: a reject of 1 is 422 and a partial of 1 applies 0
    expect((await consume('sms', 1, 'u3')).status).toBe(422);
    // on 01-17 b's renewed period begins: its 100 are the only ones left
    await clockTo('2026-01-17T00:00:00.000Z');
    expect((await row('sms')).remaining).toBe('100');
    // cancel a now: it had 0 left, nothing to void; b's 100 untouched
    await ok('POST', `/v1/subscriptions/${a.id}/cancel`, { at: 'now' });
    expect((await row('sms')).remaining).toBe('100');
    // invoices: month 1999, week 1999, promo 0, b's renewal 1999 — a cancel voids no issued invoice
    expect((await invoices()).map((i) => [i.kind, i.total, i.status])).toEqual([
      ['subscription', 1999, 'issued'],
      ['subscription', 1999, 'issued'],
      ['subscription', 0, 'issued'],
      ['renewal', 1999, 'issued'],
    ]);
  });
});

describe('a renewal asked after the period end, before and after the sweep', () => {
  it('before: the period continues at its end, units roll over; after: a late period from now', async () => {
    await start('2026-01-01T00:00:00.000Z');
    await catalog();
    await pack('ra', { rollover: { policy: 'all' }, items: [{ credit_type: 'sms', units: 100 }] });
    await ok('POST', '/v1/clients', { external_ref: 'c2', name: 'Client two' }, 201);
    const s1 = await buy('ra');
    const s2 = await ok('POST', '/v1/subscriptions', { client: 'c2', package: 'ra' }, 201);
    expect((await consume('sms', 30, 'u1')).status).toBe(200);
    // both end 02-01 unrenewed with 70 and 100 left; 02-05: s1 renewed by hand before any sweep
    await clockTo('2026-02-05T00:00:00.000Z');
    const r1 = await renew(s1.id);
    // README: before the sweep it continues at the period end while the period it sells still runs: [02-01, 03-01)
    expect([r1.late, r1.period_start, r1.period_end]).toEqual([
      false,
      '2026-02-01T00:00:00.000Z',
      '2026-03-01T00:00:00.000Z',
    ]);
    await nightly();
    // s2 lapsed in the sweep, then renewed by hand: late, from now [02-05, 03-05)
    const r2 = await renew(s2.id);
    expect([r2.late, r2.period_start, r2.period_end]).toEqual([
      true,
      '2026-02-05T00:00:00.000Z',
      '2026-03-05T00:00:00.000Z',
    ]);
    const left = async (client: string) => {
      const b = (await ok('GET', `/v1/clients/${client}/balances`)).data[0];
      return [b.remaining, b.expired];
    };
    // the sweep expired s2's 100 at 02-01 before its renewal: 100 fresh, 100 expired
    expect(await left('c2')).toEqual(['100', '100']);
    // s1 continued: its 70 roll over (policy all) into [02-01, 03-01): 100 + 70 = 170, none expired
    expect(await left('c1')).toEqual(['170', '0']);
  });
});

describe('a freeze on a month-end anchor', () => {
  it('bought 31 Jan, frozen 3 days: ends 3 Mar; the renewal after it lasts a whole month', async () => {
    await start('2026-01-31T00:00:00.000Z');
    await catalog();
    await pack('fz', { max_freeze_days: 10, items: [{ credit_type: 'sms', units: 100 }] });
    const s = await buy('fz');
    await clockTo('2026-02-10T00:00:00.000Z');
    await ok('POST', `/v1/subscriptions/${s.id}/freeze`, { days: 3 });
    await clockTo('2026-02-13T00:00:00.000Z');
    const u = await ok('POST', `/v1/subscriptions/${s.id}/unfreeze`, {});
    // 02-28 + 3 days = 03-03
    expect(u.current_period_end).toBe('2026-03-03T00:00:00.000Z');
    await clockTo('2026-03-03T00:00:00.000Z');
    const r = await renew(s.id);
    // the next period starts at 03-03; one month of it ends 04-03 (anchor 01-31 + 3 days = 02-03, + 2 months)
    expect([r.period_start, r.period_end]).toEqual(['2026-03-03T00:00:00.000Z', '2026-04-03T00:00:00.000Z']);
  });
});

describe('daily periods over the spring-forward night in America/New_York', () => {
  it('one nightly run renews each missed day once (49 h ahead), from local midnight; the DST day is 23 h', async () => {
    // 2026-03-06 00:00 EST = 05:00Z; daily, auto_renew
    await start('2026-03-06T05:00:00.000Z', { BUSINESS_TZ: 'America/New_York' });
    await catalog();
    await pack('dd', {
      validity: { count: 1, unit: 'day' },
      price: 100,
      auto_renew: true,
      items: [{ credit_type: 'sms', units: 10 }],
    });
    const s = await buy('dd');
    // 03-09 03:00 EDT = 07:00Z: periods ended at 03-07, 03-08, 03-09 00:00 local. The look-ahead is the longest
    // gap between runs in a year + 2 h; in New York the 02:00 run of the spring-forward night is skipped (47 h gap)
    // → 49 h: to 03-11 04:00 local, which takes the periods ending 03-10 and 03-11 00:00 too → 5 renewals
    await clockTo('2026-03-09T07:00:00.000Z');
    await nightly();
    await nightly();
    const after = await sub(s.id);
    expect(after.renewal_count).toBe(5);
    // the last renewed: [03-11 00:00 EDT, 03-12 00:00 EDT) = [04:00Z, 04:00Z)
    expect(period(after)).toEqual(['2026-03-11T04:00:00.000Z', '2026-03-12T04:00:00.000Z']);
    const all = await invoices();
    // 1 sale + 5 renewals at 100 each = 600, numbered in period order
    expect(all.map((i) => i.lines[0]?.description)).toEqual([
      'dd (dd), 2026-03-06 → 2026-03-07',
      'dd (dd), 2026-03-07 → 2026-03-08',
      'dd (dd), 2026-03-08 → 2026-03-09',
      'dd (dd), 2026-03-09 → 2026-03-10',
      'dd (dd), 2026-03-10 → 2026-03-11',
      'dd (dd), 2026-03-11 → 2026-03-12',
    ]);
    expect(all.reduce((t, i) => t + i.total, 0)).toBe(600);
    // the 03-08 balance: 00:00 EST (05:00Z) to 03-09 00:00 EDT (04:00Z), 23 hours
    const lots: Lot[] = (await row('sms')).balances;
    const dst = lots.find((b) => b.valid_from === '2026-03-08T05:00:00.000Z');
    expect(dst?.expires_at).toBe('2026-03-09T04:00:00.000Z');
    // usable now (03-09 07:00Z): only the 03-09 period's 10
    expect((await row('sms')).remaining).toBe('10');
  });
});
