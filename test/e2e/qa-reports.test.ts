import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportRows } from '../../src/db/reports/rows.js';
import { balancesQuery } from '../../src/reports/balances.js';
import { subscriptionsQuery } from '../../src/reports/subscriptions.js';
import type { ReportRow } from '../../src/reports/types.js';
import { NO_NIGHTLY_REPORTS, startTestApp, type TestApp } from '../helpers/app.js';
import { closeVerified, httpSteps } from '../helpers/http-steps.js';
import { renewalsRow, reportInBothFormats } from '../helpers/reports.js';

/**
 * QA of the report figures against a history worked out by hand, over HTTP with a moved clock, in America/New_York
 * (EDT = UTC−4 until 2026-11-01 02:00 local, EST = UTC−5 after: 11-01 is a day of 25 hours) with WEEK_START saturday
 * (10-31 and 11-07 are Saturdays). What reports-audit, -voids, -undone, -as-of and walk-core check is not repeated.
 *
 * The cast (created 10-01 16:00Z = 12:00 EDT, auto_renew off):
 *   qr-sms messages (0 decimals), qr-min minutes (2 decimals)
 *   qr-usd 'Alpha, "One" — ألف' 1000 USD, 3 months: 100 sms + 50 min     A (qr-a, Arabic name) on it
 *   qr-eur 'Euro' 900 EUR, 1 month: 200 sms                               B (qr-b) on it: 10-01 12:00 → 11-01 12:00
 *   qr-aaa 1000 USD and qr-zzz 1500 USD, 1 month: 10 sms each             E (qr-e) on both; F (qr-f) on qr-zzz,
 *                                                                         activation on_payment, never paid
 *   C (qr-c): an operator's grant of 30 sms (no subscription)
 * Then:
 *   10-20 16:00Z  A recharged 10 sms for 250 (USD)
 *   uses (occurred_at; local):
 *     b1  B  9 sms  10-15 15:00Z  10-15 11:00 EDT
 *     g1  C  4 sms  10-31 12:00Z  10-31 08:00 EDT (from the grant)
 *     u1  A 10 sms  11-01 03:30Z  10-31 23:30 EDT — the last half hour of October
 *     u2  A 20 sms  11-01 04:00Z  11-01 00:00 EDT
 *     m1  A 12.5 min 11-01 05:30Z 11-01 01:30 EDT (the first 01:30)
 *     m2  A 40 min partial 11-01 06:30Z  11-01 01:30 EST (the second 01:30): applies 50 − 12.5 = 37.5
 *     u3  A  5 sms  11-02 04:30Z  11-01 23:30 EST — still 11-01 (a fixed −4 offset would say 11-02 00:30)
 *     u4  A  7 sms  11-02 05:00Z  11-02 00:00 EST
 *   11-02 06:00Z  nightly: B expires (period end 11-01 17:00Z, 191 sms left); F lapses unpaid, its invoice voided
 *   11-03 15:00Z  B renewed by hand, late: a period from now (900 EUR); then recharged 50 sms for 100 EUR
 *   11-07 05:00Z  (11-07 00:00 EST, Saturday) u2 reversed (+20); A's recharge invoice voided
 *   11-08 11:00Z  B holds 30 sms (open)
 *   reports asked at 11-08 12:00Z
 */
let app: TestApp;
const { ok, clockTo, nightly } = httpSteps(() => app);
const A_NAME = 'شركة "الأمل", جدة';
const USD_NAME = 'Alpha, "One" — ألف';
const ids = { subA: '', subB: '', subF: '', u2: '', rechargeInvoiceA: '' };
let liveAtGap: ReportRow[] = [];
const GAP = '2026-11-02T12:00:00.000Z';

const use = async (client: string, ct: string, quantity: string, at: string, key: string, mode = 'reject') =>
  ok('POST', '/v1/consumptions?wait=true', {
    client,
    credit_type: ct,
    quantity,
    idempotency_key: key,
    occurred_at: at,
    mode,
  });
const recharge = async (sub: string, ct: string, units: number, price: number, key: string) => {
  const res = await app.request('POST', `/v1/subscriptions/${sub}/recharge?wait=true`, {
    body: { items: [{ credit_type: ct, units }], price },
    headers: { 'idempotency-key': key },
  });
  expect(res.status, res.text).toBe(200);
  return res.body as { invoice_id: string };
};

const startApp = (now: string) =>
  startTestApp({
    roles: ['api', 'worker'],
    now,
    env: { ...NO_NIGHTLY_REPORTS, BUSINESS_TZ: 'America/New_York', WEEK_START: 'saturday' },
  });
const smsType = () =>
  ok('POST', '/v1/credit-types', { code: 'qr-sms', name: 'SMS', unit: 'message', decimals: 0 }, 201);
const euroPackage = () =>
  ok(
    'POST',
    '/v1/packages',
    {
      code: 'qr-eur',
      name: 'Euro',
      price: 900,
      currency: 'EUR',
      validity: { count: 1, unit: 'month' },
      items: [{ credit_type: 'qr-sms', units: 200 }],
    },
    201,
  );

beforeAll(async () => {
  app = await startApp('2026-10-01T16:00:00.000Z');
  await smsType();
  await ok('POST', '/v1/credit-types', { code: 'qr-min', name: 'Minutes', unit: 'minute', decimals: 2 }, 201);
  const pkg = (code: string, name: string, price: number, currency: string, months: number, items: unknown[]) =>
    ok('POST', '/v1/packages', { code, name, price, currency, validity: { count: months, unit: 'month' }, items }, 201);
  await pkg('qr-usd', USD_NAME, 1000, 'USD', 3, [
    { credit_type: 'qr-sms', units: 100 },
    { credit_type: 'qr-min', units: 50 },
  ]);
  await euroPackage();
  await pkg('qr-aaa', 'Aaa', 1000, 'USD', 1, [{ credit_type: 'qr-sms', units: 10 }]);
  await pkg('qr-zzz', 'Zzz', 1500, 'USD', 1, [{ credit_type: 'qr-sms', units: 10 }]);
  for (const [ref, name] of [
    ['qr-a', A_NAME],
    ['qr-b', 'Beta'],
    ['qr-c', 'Gamma'],
    ['qr-e', 'Epsilon'],
    ['qr-f', 'Phi'],
  ])
    await ok('POST', '/v1/clients', { external_ref: ref, name }, 201);
  const sub = async (client: string, pkgCode: string, extra: object = {}) =>
    (await ok('POST', '/v1/subscriptions', { client, package: pkgCode, auto_renew: false, ...extra }, 201)).id;
  ids.subA = await sub('qr-a', 'qr-usd');
  ids.subB = await sub('qr-b', 'qr-eur');
  await sub('qr-e', 'qr-aaa');
  await sub('qr-e', 'qr-zzz');
  ids.subF = await sub('qr-f', 'qr-zzz', { activation: 'on_payment' });
  await ok(
    'POST',
    '/v1/clients/qr-c/grants',
    { credit_type: 'qr-sms', units: 30, expires_at: '2027-01-01T00:00:00.000Z', reason: 'qa' },
    201,
  );

  await clockTo('2026-10-20T16:00:00.000Z');
  ids.rechargeInvoiceA = (await recharge(ids.subA, 'qr-sms', 10, 250, 'qr-rech-a')).invoice_id;

  await clockTo('2026-11-01T12:00:00.000Z');
  await use('qr-b', 'qr-sms', '9', '2026-10-15T15:00:00.000Z', 'b1');
  await use('qr-c', 'qr-sms', '4', '2026-10-31T12:00:00.000Z', 'g1');
  await use('qr-a', 'qr-sms', '10', '2026-11-01T03:30:00.000Z', 'u1');
  ids.u2 = (await use('qr-a', 'qr-sms', '20', '2026-11-01T04:00:00.000Z', 'u2')).id;
  await use('qr-a', 'qr-min', '12.5', '2026-11-01T05:30:00.000Z', 'm1');
  const m2 = await use('qr-a', 'qr-min', '40', '2026-11-01T06:30:00.000Z', 'm2', 'partial');
  // 50 − 12.5 = 37.5 applied, 2.5 short
  expect([m2.status, m2.applied, m2.shortfall]).toEqual(['partial', '37.5', '2.5']);

  await clockTo('2026-11-02T05:30:00.000Z');
  await use('qr-a', 'qr-sms', '5', '2026-11-02T04:30:00.000Z', 'u3');
  await use('qr-a', 'qr-sms', '7', '2026-11-02T05:00:00.000Z', 'u4');

  await clockTo('2026-11-02T06:00:00.000Z');
  await nightly();
  await clockTo(GAP);
  // the picture of the gap as the tables say it now (B expired, not yet renewed)
  liveAtGap = await reportRows(app.database.db, subscriptionsQuery({ asOf: new Date(GAP), live: true }));

  await clockTo('2026-11-03T15:00:00.000Z');
  await ok('POST', `/v1/subscriptions/${ids.subB}/renew?wait=true`, {});
  await recharge(ids.subB, 'qr-sms', 50, 100, 'qr-rech-b');

  await clockTo('2026-11-07T05:00:00.000Z');
  await ok('POST', `/v1/consumptions/${ids.u2}/reverse?wait=true`, {});
  await ok('POST', `/v1/invoices/${ids.rechargeInvoiceA}/void`, {});

  await clockTo('2026-11-08T11:00:00.000Z');
  await ok('POST', '/v1/holds?wait=true', {
    client: 'qr-b',
    credit_type: 'qr-sms',
    quantity: '30',
    idempotency_key: 'hb',
    expires_in_seconds: 7 * 86400,
  });
  await clockTo('2026-11-08T12:00:00.000Z');
}, 120_000);
afterAll(async () => {
  await closeVerified(app);
});

/** A report in JSON and in CSV, the two checked to say the same (helpers/reports.ts). */
const both = (type: string, params: Record<string, unknown> = {}) => reportInBothFormats(app, type, params);

const RANGE = { from: '2026-10-01', to: '2026-11-08' };
const cons = (r: Record<string, unknown>) => [r.period_start, r.credit_type, r.consumed, r.reversed, r.net];

describe('consumption in America/New_York around the end of daylight saving', () => {
  it('days: 23:30 on 10-31 stays in October; the 25-hour 11-01 holds both 01:30s and 23:30 EST', async () => {
    const { rows } = await both('consumption', RANGE);
    expect(rows.map(cons)).toEqual([
      ['2026-10-15', 'qr-sms', '9', '0', '9'], // b1
      ['2026-10-31', 'qr-sms', '14', '0', '14'], // g1 4 + u1 10
      ['2026-11-01', 'qr-min', '50', '0', '50'], // m1 12.5 + m2 37.5 (partial: what applied)
      ['2026-11-01', 'qr-sms', '25', '0', '25'], // u2 20 + u3 5
      ['2026-11-02', 'qr-sms', '7', '0', '7'], // u4
      ['2026-11-07', 'qr-sms', '0', '20', '-20'], // u2's reversal, in the day it was made, not u2's
    ]);
  });

  it('weeks from Saturday and months', async () => {
    const week = await both('consumption', { ...RANGE, group_by: 'week' });
    expect(week.rows.map(cons)).toEqual([
      ['2026-10-10', 'qr-sms', '9', '0', '9'], // Thursday 10-15 is in the week of Saturday 10-10
      ['2026-10-31', 'qr-min', '50', '0', '50'],
      ['2026-10-31', 'qr-sms', '46', '0', '46'], // 14 + 25 + 7 (10-31 itself starts the week)
      ['2026-11-07', 'qr-sms', '0', '20', '-20'],
    ]);
    const month = await both('consumption', { ...RANGE, group_by: 'month' });
    expect(month.rows.map(cons)).toEqual([
      ['2026-10-01', 'qr-sms', '23', '0', '23'], // 9 + 14
      ['2026-11-01', 'qr-min', '50', '0', '50'],
      ['2026-11-01', 'qr-sms', '32', '20', '12'], // 25 + 7 = 32 used, 20 back
    ]);
  });

  it('per package: the grant of no package apart, last; the split adds up to the whole', async () => {
    const { rows } = await both('consumption', { ...RANGE, group_by: 'month', per: 'package' });
    expect(rows.map((r) => [r.period_start, r.credit_type, r.package_code, r.package_name, r.net])).toEqual([
      ['2026-10-01', 'qr-sms', 'qr-eur', 'Euro', '9'],
      ['2026-10-01', 'qr-sms', 'qr-usd', USD_NAME, '10'], // u1
      ['2026-10-01', 'qr-sms', null, null, '4'], // g1, from C's grant; 9 + 10 + 4 = 23
      ['2026-11-01', 'qr-min', 'qr-usd', USD_NAME, '50'],
      ['2026-11-01', 'qr-sms', 'qr-usd', USD_NAME, '12'], // 32 − 20
    ]);
  });

  it('a range from and to mid-bucket: each end bucket labelled by its calendar start, counting the range', async () => {
    // 10-31 08:00 EDT = 12:00Z (g1 on the bound: in) to 11-01 01:45 EDT = 05:45Z (m2 at 06:30Z: out)
    const { rows } = await both('consumption', {
      from: '2026-10-31T08:00:00-04:00',
      to: '2026-11-01T01:45:00-04:00',
      group_by: 'month',
    });
    expect(rows.map(cons)).toEqual([
      ['2026-10-01', 'qr-sms', '14', '0', '14'], // g1 4 + u1 10 (b1 before from)
      ['2026-11-01', 'qr-min', '12.5', '0', '12.5'], // m1 only
      ['2026-11-01', 'qr-sms', '20', '0', '20'], // u2 only
    ]);
  });

  it('a range ending before the reversal keeps the use whole; the reversal alone goes negative', async () => {
    // to 11-06 = 11-06 23:59:59.999 EST = 11-07 04:59:59.999Z: the reversal at 05:00Z is out
    const before = await both('consumption', { from: '2026-11-01', to: '2026-11-06', group_by: 'month' });
    expect(before.rows.map(cons)).toEqual([
      ['2026-11-01', 'qr-min', '50', '0', '50'],
      ['2026-11-01', 'qr-sms', '32', '0', '32'],
    ]);
    const after = await both('consumption', { from: '2026-11-07', to: '2026-11-08', group_by: 'week' });
    expect(after.rows.map(cons)).toEqual([['2026-11-07', 'qr-sms', '0', '20', '-20']]);
  });

  it('the usage endpoint agrees on the 25-hour day', async () => {
    const usage = await ok('GET', '/v1/clients/qr-a/usage?credit_type=qr-sms&from=2026-10-31&to=2026-11-02');
    // 10 on 10-31; 20 + 5 on 11-01 (u2's reversal counts on 11-07, out of this range, as in the report); 7
    expect(usage.data).toEqual([
      { key: '2026-10-31', quantity: '10' },
      { key: '2026-11-01', quantity: '25' },
      { key: '2026-11-02', quantity: '7' },
    ]);
  });
});

describe('renewals: a late renewal, a lapse unpaid, two currencies', () => {
  it('by day', async () => {
    const { rows } = await both('renewals', RANGE);
    expect(rows.map(renewalsRow)).toEqual([
      ['2026-10-01', 'EUR', 1, 0, 0, 0, 900, 0, 0, 900, 0], // B
      ['2026-10-01', 'USD', 4, 0, 0, 0, 5000, 0, 0, 5000, 0], // A 1000 + E 1000 + E 1500 + F 1500
      ['2026-10-20', 'USD', 0, 0, 1, 0, 0, 0, 250, 250, 0], // A's recharge
      // B's period ended 11-01 17:00Z = 12:00 EST; E's two and F's (USD: 3) likewise: each lapse when its period ended
      ['2026-11-01', 'EUR', 0, 0, 0, 1, 0, 0, 0, 0, 0],
      ['2026-11-01', 'USD', 0, 0, 0, 3, 0, 0, 0, 0, 0],
      // F's invoice voided by the sweep at 06:00Z = 01:00 EST on 11-02: −1500 of new
      ['2026-11-02', 'USD', 0, 0, 0, 0, -1500, 0, 0, -1500, 1500],
      // the late renewal 900 and the recharge 100, 11-03 10:00 EST
      ['2026-11-03', 'EUR', 0, 1, 1, 0, 0, 900, 100, 1000, 0],
      // A's recharge invoice voided at 11-07 00:00 EST
      ['2026-11-07', 'USD', 0, 0, 0, 0, 0, 0, -250, -250, 250],
    ]);
  });

  it('by Saturday week and by month, summing the days', async () => {
    const week = await both('renewals', { ...RANGE, group_by: 'week' });
    expect(week.rows.map(renewalsRow)).toEqual([
      ['2026-09-26', 'EUR', 1, 0, 0, 0, 900, 0, 0, 900, 0], // Thursday 10-01 is in the week of Saturday 09-26
      ['2026-09-26', 'USD', 4, 0, 0, 0, 5000, 0, 0, 5000, 0],
      ['2026-10-17', 'USD', 0, 0, 1, 0, 0, 0, 250, 250, 0], // Tuesday 10-20
      // 11-01 (Sunday) to 11-03 (Tuesday): week of 10-31; EUR 900 + 100; USD −1500
      ['2026-10-31', 'EUR', 0, 1, 1, 1, 0, 900, 100, 1000, 0],
      ['2026-10-31', 'USD', 0, 0, 0, 3, -1500, 0, 0, -1500, 1500],
      ['2026-11-07', 'USD', 0, 0, 0, 0, 0, 0, -250, -250, 250],
    ]);
    const month = await both('renewals', { ...RANGE, group_by: 'month' });
    expect(month.rows.map(renewalsRow)).toEqual([
      ['2026-10-01', 'EUR', 1, 0, 0, 0, 900, 0, 0, 900, 0],
      ['2026-10-01', 'USD', 4, 0, 1, 0, 5000, 0, 250, 5250, 0], // 5000 + 250
      ['2026-11-01', 'EUR', 0, 1, 1, 1, 0, 900, 100, 1000, 0],
      ['2026-11-01', 'USD', 0, 0, 0, 3, -1500, 0, -250, -1750, 1750], // −1500 − 250
    ]);
  });
});

const top = (r: Record<string, unknown>) => [
  r.rank,
  r.package_code,
  r.currency,
  r.new_subscriptions,
  r.renewals,
  r.requests,
  r.revenue,
];

describe('top_packages: ties, voids by the range end, a client', () => {
  it('ranked by requests, then revenue, then code', async () => {
    const { rows } = await both('top_packages', RANGE);
    expect(rows.map(top)).toEqual([
      [1, 'qr-eur', 'EUR', 1, 1, 2, 1800], // B new 900 + late renewal 900
      [2, 'qr-zzz', 'USD', 2, 0, 2, 1500], // E 1500 + F 1500 voided 11-02 (before the range's end): 1500
      [3, 'qr-aaa', 'USD', 1, 0, 1, 1000], // tie with qr-usd on 1 request and 1000: 'qr-aaa' < 'qr-usd'
      [4, 'qr-usd', 'USD', 1, 0, 1, 1000], // the recharge (250) is no request and no revenue here
    ]);
    // ending before F's void (11-02 06:00Z): F's 1500 counts; 3000 now beats qr-eur's 900 (1 request each)
    const early = await both('top_packages', { from: '2026-10-01', to: '2026-11-01' });
    expect(early.rows.map(top)).toEqual([
      [1, 'qr-zzz', 'USD', 2, 0, 2, 3000],
      [2, 'qr-aaa', 'USD', 1, 0, 1, 1000],
      [3, 'qr-usd', 'USD', 1, 0, 1, 1000],
      [4, 'qr-eur', 'EUR', 1, 0, 1, 900],
    ]);
  });

  it('narrowed to a client, the names quoted in CSV', async () => {
    const { rows, csv } = await both('top_packages', { ...RANGE, client: 'qr-a' });
    expect(rows.map(top)).toEqual([[1, 'qr-usd', 'USD', 1, 0, 1, 1000]]);
    expect(csv[1]).toEqual(['1', 'qr-usd', USD_NAME, 'USD', '1', '0', '1', '1000']);
  });
});

const bal = (r: Record<string, unknown>) => [
  r.client_ref,
  r.package_code,
  r.subscription_status,
  r.credit_type,
  r.granted,
  r.consumed,
  r.remaining,
  r.unavailable,
  r.upcoming,
  r.expired,
  r.voided,
  r.held,
  r.used_percent,
];

describe('balances: a recharge, an expired period and a hold in one credit type', () => {
  it('live, JSON and CSV', async () => {
    const { rows } = await both('balances', { credit_type: 'qr-sms' });
    const of = (ref: string) => rows.filter((r) => r.client_ref === ref).map(bal);
    // 100 + 10 (the recharge's balance stays: its invoice voided, not the units); 10 + 20 + 5 + 7 − 20 = 22; 22/110
    expect(of('qr-a')).toEqual([
      ['qr-a', 'qr-usd', 'active', 'qr-sms', '110', '22', '88', '0', '0', '0', '0', '0', 20],
    ]);
    // 200 + 200 + 50 = 450; 9; 200 − 9 = 191 expired; 250 − 30 held = 220; 9/450 = 2.0 %
    expect(of('qr-b')).toEqual([
      ['qr-b', 'qr-eur', 'active', 'qr-sms', '450', '9', '220', '0', '0', '191', '0', '30', 2],
    ]);
    // the grant: 4 of 30 = 13.33 → 13.3
    expect(of('qr-c')).toEqual([['qr-c', null, null, 'qr-sms', '30', '4', '26', '0', '0', '0', '0', '0', 13.3]]);
  });

  it('as of 11-01 18:00Z: B past its period end, not yet swept nor renewed', async () => {
    const rows = await reportRows(
      app.database.db,
      balancesQuery({ asOf: new Date('2026-11-01T18:00:00.000Z'), clientId: undefined }),
    );
    const b = rows.filter((r) => r.client_ref === 'qr-b').map(bal);
    // 200 granted, 9 used, the 191 left past their expiry are expired already; 9/200 = 4.5 %; the subscription
    // expired at its period end (17:00Z), as the lapse says, though the sweep wrote it at 11-02 06:00Z
    expect(b).toEqual([['qr-b', 'qr-eur', 'expired', 'qr-sms', '200', '9', '0', '0', '0', '191', '0', '0', 4.5]]);
    const a = rows.filter((r) => r.client_ref === 'qr-a' && r.credit_type === 'qr-sms').map(bal);
    // 10 + 20 used by then (u3, u4 reported later but written after: not in the picture); 30/110 = 27.3 %
    expect(a).toEqual([['qr-a', 'qr-usd', 'active', 'qr-sms', '110', '30', '80', '0', '0', '0', '0', '0', 27.3]]);
  });
});

describe('subscriptions as of an instant', () => {
  const sub = (rows: ReportRow[], id: string) => {
    const r = rows.find((x) => x.row_type === 'subscription' && x.subscription_id === id)!;
    return [r.status, r.period_start, r.period_end, r.days_left, r.depleted, r.renewal_count];
  };

  it('F pending until its period passed, then expired', async () => {
    const at = (iso: string) => reportRows(app.database.db, subscriptionsQuery({ asOf: new Date(iso) }));
    const p = ['2026-10-01T16:00:00.000Z', '2026-11-01T17:00:00.000Z'];
    // 11-01 17:00Z − 10-15 16:00Z = 17 days 1 hour → 18 days left
    expect(sub(await at('2026-10-15T16:00:00.000Z'), ids.subF)).toEqual(['pending', ...p, 18, false, 0]);
    expect(sub(await at('2026-11-08T12:00:00.000Z'), ids.subF)).toEqual(['expired', ...p, 0, false, 0]);
  });

  // before the fix, the picture made after the late renewal said 'active' (status now), depleted, for the gap
  it('B between its lapse and the late renewal: the picture later equals the one taken then', async () => {
    // the live picture at 11-02 12:00Z: B expired, its first period
    expect(sub(liveAtGap, ids.subB)).toEqual([
      'expired',
      '2026-10-01T16:00:00.000Z',
      '2026-11-01T17:00:00.000Z',
      0,
      false,
      0,
    ]);
    const later = await reportRows(app.database.db, subscriptionsQuery({ asOf: new Date(GAP) }));
    expect(sub(later, ids.subB)).toEqual(sub(liveAtGap, ids.subB));
  });
});

describe('a cancel at period end decided later', () => {
  // A store and clock of its own, at the hour the file's reports are asked (11-08 12:00Z), with the catalog it
  // sells from: its sale and the hour it moves the clock on would change the figures of the reports above (a sale of
  // 11-08, the live pictures taken an hour later) whenever it ran before them (vitest --sequence.shuffle). While it
  // runs, `app` names its own store; the file's is given back after it.
  let file: TestApp;
  beforeAll(async () => {
    file = app;
    app = await startApp('2026-11-08T12:00:00.000Z');
    await smsType();
    await euroPackage();
  }, 60_000);
  afterAll(async () => {
    await closeVerified(app);
    app = file;
  });

  it('the picture of before the decision says what the live one said then', async () => {
    await ok('POST', '/v1/clients', { external_ref: 'qr-g', name: 'Gee' }, 201);
    // at 11-08 12:00Z: 900 EUR, a month, renewing by itself
    const g = await ok('POST', '/v1/subscriptions', { client: 'qr-g', package: 'qr-eur', auto_renew: true }, 201);
    const at = '2026-11-08T12:30:00.000Z';
    await clockTo(at);
    const live = await reportRows(app.database.db, subscriptionsQuery({ asOf: new Date(at), live: true }));
    const row = (rows: ReportRow[]) => {
      const r = rows.find((x) => x.row_type === 'subscription' && x.subscription_id === g.id)!;
      return [r.status, r.auto_renew, r.depleted, r.days_left];
    };
    // 11-08 07:00 EST + 1 month = 12-08 07:00 EST = 12:00Z; − 11-08 12:30Z = 29 days 23.5 hours → 30 days left
    expect(row(live)).toEqual(['active', true, false, 30]);
    await clockTo('2026-11-08T13:00:00.000Z');
    await ok('POST', `/v1/subscriptions/${g.id}/cancel`, { at: 'period_end' });
    const later = await reportRows(app.database.db, subscriptionsQuery({ asOf: new Date(at) }));
    // QA: the picture of 12:30 made after the 13:00 cancel says auto_renew false: the flags (auto_renew,
    // cancel_at_period_end) are read as they are now, with no history to take them back by (README: "what the
    // tables said then") — kept as current behaviour; a fix needs a history of the flags, beyond the reports' SQL
    expect(row(later)).toEqual(['active', false, false, 30]);
  });
});
