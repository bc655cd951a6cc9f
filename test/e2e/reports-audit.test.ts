import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreditsProducer } from '../../src/producer/index.js';
import { nightlyReportId } from '../../src/reports/nightly.js';
import { archiveMonth } from '../../src/services/archive.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { countRows } from '../helpers/fixtures.js';
import { closeVerified, httpSteps } from '../helpers/http-steps.js';
import { awaitRun, download, jsonRows, parseCsv, reportInBothFormats, runReport } from '../helpers/reports.js';

/**
 * An audit of the reports against a small history made by hand, over HTTP with a moved clock, in a business zone
 * three hours ahead of UTC (Asia/Riyadh, no DST): a local midnight is 21:00 UTC of the day before. Every expected
 * figure is worked out in the comment beside it.
 *
 * The cast:
 *   ra-min  minutes, 2 decimals, dimension `branch`;  ra-sms  messages, 0 decimals
 *   ra-basic  'Basic, "plus"', 10.50 USD (1050), a month: 100.50 ra-min + 50 ra-sms (no auto renewal)
 *   ra-pro    'برو', 20.00 USD (2000), a month: 300 ra-min
 *   A (ra-a, 'شركة "النور", الرياض') on ra-basic, B (ra-b, 'Beta') on ra-pro, both from 03-01 09:00Z to 04-01 09:00Z
 *
 * The uses (consume/reverse ledger entries, by when they count; local = UTC+3):
 *   c1  A 10.25 min at 03-01 20:59:59Z     local 03-01 23:59:59 (Sunday)   branch 'Riyadh, "North"'
 *   c2  A  0.10 min at 03-01 21:00:00Z     local 03-02 00:00:00 (Monday)   no branch
 *   c3  A  0.20 min at 03-02 20:59:59.999Z local 03-02 23:59:59.999       branch 'Jeddah'
 *   c4  B  5    min at 03-02 21:00:00Z     local 03-03 00:00               branch 'Jeddah'
 *   c5  A  7    sms at 03-02 10:00Z        local 03-02
 *   r3  c3 reversed at 03-05 10:00Z        local 03-05: +0.20
 *   A recharged at 03-05 21:00Z (local 03-06 00:00): 10 sms, invoice 250
 *   h1  A holds 20 min at 03-08 20:30Z (local Sunday 03-08 23:30), captures 12.5 at 03-08 21:30Z (local Monday
 *       03-09 00:30): a use of 12.5 on 03-09, 7.5 released
 *   B renewed at 03-10 09:00Z: a second period 04-01 09:00Z → 05-01 09:00Z of 300 min, invoice 2000
 *   c6  B  1.5  min at 04-01 09:00Z        local 04-01 12:00 (from the renewal's balance)   branch 'الرياض'
 *   h2  B holds 3 min at 04-01 12:00Z, left open
 *   nightly at 04-02 09:00Z: A's subscription expires (its period ended 04-01 09:00Z), with what its balances hold;
 *   the reports are asked at 04-02 10:00Z.
 */
let app: TestApp;
const { ok, call, clockTo, nightly } = httpSteps(() => app);
const A_NAME = 'شركة "النور", الرياض';
const BASIC_NAME = 'Basic, "plus"';
const ids = { a: '', b: '', subA: '', subB: '', c3: '' };
const AT = '2026-04-02T10:00:00.000Z';

const use = async (client: string, ct: string, quantity: string, at: string, key: string, branch?: string) =>
  ok('POST', '/v1/consumptions?wait=true', {
    client,
    credit_type: ct,
    quantity,
    idempotency_key: key,
    occurred_at: at,
    ...(branch ? { metadata: { branch } } : {}),
  });

beforeAll(async () => {
  app = await startTestApp({
    roles: ['api', 'worker'],
    now: '2026-03-01T09:00:00.000Z',
    env: { BUSINESS_TZ: 'Asia/Riyadh' },
  });
  await ok(
    'POST',
    '/v1/credit-types',
    { code: 'ra-min', name: 'Minutes', unit: 'minute', decimals: 2, dimensions: ['branch'] },
    201,
  );
  await ok('POST', '/v1/credit-types', { code: 'ra-sms', name: 'SMS', unit: 'message', decimals: 0 }, 201);
  const pkg = (code: string, name: string, price: number, items: unknown[]) =>
    ok(
      'POST',
      '/v1/packages',
      { code, name, price, currency: 'USD', validity: { count: 1, unit: 'month' }, items },
      201,
    );
  await pkg('ra-basic', BASIC_NAME, 1050, [
    { credit_type: 'ra-min', units: '100.50' },
    { credit_type: 'ra-sms', units: 50 },
  ]);
  await pkg('ra-pro', 'برو', 2000, [{ credit_type: 'ra-min', units: 300 }]);
  ids.a = (await ok('POST', '/v1/clients', { external_ref: 'ra-a', name: A_NAME }, 201)).id;
  ids.b = (await ok('POST', '/v1/clients', { external_ref: 'ra-b', name: 'Beta' }, 201)).id;
  ids.subA = (await ok('POST', '/v1/subscriptions', { client: 'ra-a', package: 'ra-basic' }, 201)).id;
  ids.subB = (await ok('POST', '/v1/subscriptions', { client: 'ra-b', package: 'ra-pro' }, 201)).id;

  await clockTo('2026-03-03T12:00:00.000Z');
  await use('ra-a', 'ra-min', '10.25', '2026-03-01T20:59:59.000Z', 'c1', 'Riyadh, "North"');
  await use('ra-a', 'ra-min', '0.10', '2026-03-01T21:00:00.000Z', 'c2');
  ids.c3 = (await use('ra-a', 'ra-min', '0.20', '2026-03-02T20:59:59.999Z', 'c3', 'Jeddah')).id;
  await use('ra-b', 'ra-min', '5', '2026-03-02T21:00:00.000Z', 'c4', 'Jeddah');
  await use('ra-a', 'ra-sms', '7', '2026-03-02T10:00:00.000Z', 'c5');

  await clockTo('2026-03-05T10:00:00.000Z');
  await ok('POST', `/v1/consumptions/${ids.c3}/reverse?wait=true`, {});

  // a recharge at a local midnight (03-06 00:00): 10 sms for 250
  await clockTo('2026-03-05T21:00:00.000Z');
  const recharge = await app.request('POST', `/v1/subscriptions/${ids.subA}/recharge?wait=true`, {
    body: { items: [{ credit_type: 'ra-sms', units: 10 }], price: 250 },
    headers: { 'idempotency-key': 'ra-recharge' },
  });
  expect(recharge.status, recharge.text).toBe(200);

  await clockTo('2026-03-08T20:30:00.000Z');
  const h1 = await ok('POST', '/v1/holds?wait=true', {
    client: 'ra-a',
    credit_type: 'ra-min',
    quantity: '20',
    idempotency_key: 'h1',
    expires_in_seconds: 7200,
  });
  await clockTo('2026-03-08T21:30:00.000Z');
  await ok('POST', `/v1/holds/${h1.id}/capture`, { quantity: '12.5' });

  await clockTo('2026-03-10T09:00:00.000Z');
  await ok('POST', `/v1/subscriptions/${ids.subB}/renew?wait=true`, {});

  await clockTo('2026-04-01T12:00:00.000Z');
  await use('ra-b', 'ra-min', '1.5', '2026-04-01T09:00:00.000Z', 'c6', 'الرياض');
  await ok('POST', '/v1/holds?wait=true', {
    client: 'ra-b',
    credit_type: 'ra-min',
    quantity: '3',
    idempotency_key: 'h2',
    expires_in_seconds: 7 * 86400,
  });

  await clockTo('2026-04-02T09:00:00.000Z');
  await nightly();
  await clockTo(AT);
}, 120_000);
afterAll(async () => {
  await closeVerified(app);
});

/** A report in JSON and in CSV, the two checked to say the same (helpers/reports.ts). */
const both = (type: string, params: Record<string, unknown> = {}) => reportInBothFormats(app, type, params);

const RANGE = { from: '2026-03-01', to: '2026-04-02' };

/** The renewals report's figures the tests compare, in its column order. */
const renewalCols = (r: Record<string, unknown>) => [
  r.period_start,
  r.new_subscriptions,
  r.renewals,
  r.recharges,
  r.expirations,
  r.revenue,
];

describe('consumption', () => {
  it('buckets by local day: 20:59:59Z is the day before 21:00Z; a reversal counts on the day it is made', async () => {
    const { rows } = await both('consumption', RANGE);
    expect(rows).toEqual([
      // c1 alone: local 23:59:59 on 03-01
      {
        period_start: '2026-03-01',
        credit_type: 'ra-min',
        unit: 'minute',
        consumed: '10.25',
        reversed: '0',
        net: '10.25',
      },
      // c2 0.10 + c3 0.20 = 0.30 (c3's own day keeps its use; the reversal is on 03-05)
      { period_start: '2026-03-02', credit_type: 'ra-min', unit: 'minute', consumed: '0.3', reversed: '0', net: '0.3' },
      { period_start: '2026-03-02', credit_type: 'ra-sms', unit: 'message', consumed: '7', reversed: '0', net: '7' },
      { period_start: '2026-03-03', credit_type: 'ra-min', unit: 'minute', consumed: '5', reversed: '0', net: '5' },
      {
        period_start: '2026-03-05',
        credit_type: 'ra-min',
        unit: 'minute',
        consumed: '0',
        reversed: '0.2',
        net: '-0.2',
      },
      // the capture, at local 00:30 on Monday 03-09
      {
        period_start: '2026-03-09',
        credit_type: 'ra-min',
        unit: 'minute',
        consumed: '12.5',
        reversed: '0',
        net: '12.5',
      },
      { period_start: '2026-04-01', credit_type: 'ra-min', unit: 'minute', consumed: '1.5', reversed: '0', net: '1.5' },
    ]);
  });

  it('weeks start on local Mondays, months on the 1st; the totals are the ledger', async () => {
    const week = await both('consumption', { ...RANGE, group_by: 'week' });
    expect(week.rows.map((r) => [r.period_start, r.credit_type, r.consumed, r.reversed, r.net])).toEqual([
      // Sunday 03-01 is in the week of Monday 02-23
      ['2026-02-23', 'ra-min', '10.25', '0', '10.25'],
      // 0.30 + 5 = 5.30 used, 0.20 given back: 5.10
      ['2026-03-02', 'ra-min', '5.3', '0.2', '5.1'],
      ['2026-03-02', 'ra-sms', '7', '0', '7'],
      ['2026-03-09', 'ra-min', '12.5', '0', '12.5'],
      // Wednesday 04-01 is in the week of Monday 03-30
      ['2026-03-30', 'ra-min', '1.5', '0', '1.5'],
    ]);
    const month = await both('consumption', { ...RANGE, group_by: 'month' });
    expect(month.rows.map((r) => [r.period_start, r.credit_type, r.consumed, r.reversed, r.net])).toEqual([
      // 10.25 + 0.30 + 5 + 12.5 = 28.05 used, 0.20 back: 27.85
      ['2026-03-01', 'ra-min', '28.05', '0.2', '27.85'],
      ['2026-03-01', 'ra-sms', '7', '0', '7'],
      ['2026-04-01', 'ra-min', '1.5', '0', '1.5'],
    ]);
    // the ledger: Σ −consume = 29.55, Σ reverse = 0.20 (ra-min, scaled by 100)
    const ledger = await app.ctx.db.raw(
      `SELECT COALESCE(-sum(amount) FILTER (WHERE kind = 'consume'), 0)::bigint AS consumed,
              COALESCE(sum(amount) FILTER (WHERE kind = 'reverse'), 0)::bigint AS reversed
         FROM ledger_entries l JOIN credit_types ct ON ct.id = l.credit_type_id WHERE ct.code = 'ra-min'`,
    );
    expect(ledger.rows[0]).toEqual({ consumed: 2955n, reversed: 20n });
  });

  it('per client and per package: the Arabic name with a comma and quotes survives CSV', async () => {
    const perClient = await both('consumption', { ...RANGE, group_by: 'month', per: 'client' });
    expect(perClient.rows.map((r) => [r.period_start, r.credit_type, r.client_ref, r.client_name, r.net])).toEqual([
      // A: 10.25 + 0.10 + 0.20 − 0.20 + 12.5 = 22.85; B: 5
      ['2026-03-01', 'ra-min', 'ra-a', A_NAME, '22.85'],
      ['2026-03-01', 'ra-min', 'ra-b', 'Beta', '5'],
      ['2026-03-01', 'ra-sms', 'ra-a', A_NAME, '7'],
      ['2026-04-01', 'ra-min', 'ra-b', 'Beta', '1.5'],
    ]);
    const perPackage = await both('consumption', { ...RANGE, group_by: 'month', per: 'package' });
    expect(perPackage.rows.map((r) => [r.period_start, r.credit_type, r.package_code, r.package_name, r.net])).toEqual([
      ['2026-03-01', 'ra-min', 'ra-basic', BASIC_NAME, '22.85'],
      ['2026-03-01', 'ra-min', 'ra-pro', 'برو', '5'],
      ['2026-03-01', 'ra-sms', 'ra-basic', BASIC_NAME, '7'],
      ['2026-04-01', 'ra-min', 'ra-pro', 'برو', '1.5'],
    ]);
  });

  it('filters by client, credit type and package narrow to the same rows', async () => {
    const byClient = await both('consumption', { ...RANGE, client: 'ra-b' });
    const expected = [
      ['2026-03-03', 'ra-min', '5'],
      ['2026-04-01', 'ra-min', '1.5'],
    ];
    expect(byClient.rows.map((r) => [r.period_start, r.credit_type, r.net])).toEqual(expected);
    const byPackage = await both('consumption', { ...RANGE, package: 'ra-pro' });
    expect(byPackage.rows.map((r) => [r.period_start, r.credit_type, r.net])).toEqual(expected);
    const sms = await both('consumption', { ...RANGE, credit_type: 'ra-sms' });
    expect(sms.rows.map((r) => [r.period_start, r.credit_type, r.net])).toEqual([['2026-03-02', 'ra-sms', '7']]);
  });

  it('by dimension: each value once, "(none)" last, summing to the totals', async () => {
    const { rows } = await both('consumption', { ...RANGE, credit_type: 'ra-min', group_by: 'branch' });
    const byValue = Object.fromEntries(rows.map((r) => [r.value, [r.consumed, r.reversed, r.net]]));
    expect(byValue).toEqual({
      // c3 0.20 (reversed) + c4 5
      Jeddah: ['5.2', '0.2', '5'],
      'Riyadh, "North"': ['10.25', '0', '10.25'],
      الرياض: ['1.5', '0', '1.5'],
      // c2 0.10 + the capture 12.5
      '(none)': ['12.6', '0', '12.6'],
    });
    expect(rows.at(-1)?.value).toBe('(none)');
  });

  it('an empty range has a header and no rows; from after to, an unknown type or format is a 422', async () => {
    const empty = await both('consumption', { from: '2026-01-01', to: '2026-01-31' });
    expect(empty.rows).toEqual([]);
    expect(empty.csv).toEqual([['period_start', 'credit_type', 'unit', 'consumed', 'reversed', 'net']]);
    const reversed = await call('POST', '/v1/reports', {
      type: 'consumption',
      params: { from: '2026-03-05', to: '2026-03-01' },
    });
    expect(reversed.status, reversed.text).toBe(422);
    expect(reversed.body.errors.map((e: { field: string }) => e.field)).toContain('params.from');
    expect((await call('POST', '/v1/reports', { type: 'usage' })).status).toBe(422);
    expect((await call('POST', '/v1/reports', { type: 'balances', format: 'xml' })).status).toBe(422);
  });

  it('every ranged report of an empty range is a header alone; wrong params are a 422 naming the field', async () => {
    const none = { from: '2026-01-01', to: '2026-01-31' };
    expect((await both('renewals', none)).csv).toEqual([
      [
        'period_start',
        'currency',
        'new_subscriptions',
        'renewals',
        'recharges',
        'expirations',
        'new_revenue',
        'renewal_revenue',
        'recharge_revenue',
        'revenue',
        'voided_revenue',
        'renewals_undone',
      ],
    ]);
    expect((await both('top_packages', none)).rows).toEqual([]);
    const refused: Array<[unknown, string]> = [
      [{ type: 'renewals', params: { from: '2026-03-02', to: '2026-03-01' } }, 'params.from'],
      [
        { type: 'top_packages', params: { from: '2026-03-02T00:00:00+03:00', to: '2026-03-01T23:59:59+03:00' } },
        'params.from',
      ],
      [{ type: 'consumption', params: { group_by: 'branch' } }, 'params.group_by'],
      [{ type: 'consumption', params: { group_by: 'hour' } }, 'params.group_by'],
      [{ type: 'consumption', params: { to: '2026-02-30' } }, 'params.to'],
      [{ type: 'consumption', params: { client: 'ra-nobody' } }, 'params.client'],
      [{ type: 'renewals', params: { group_by: 'branch', credit_type: 'ra-min' } }, 'params.credit_type'],
      [{ type: 'expiring', params: { days_ahead: 0 } }, 'params.days_ahead'],
      [{ type: 'balances', params: { from: '2026-03-01' } }, 'params.from'],
    ];
    for (const [body, field] of refused) {
      const res = await call('POST', '/v1/reports', body);
      expect(res.status, `${JSON.stringify(body)}: ${res.text}`).toBe(422);
      expect(
        res.body.errors.map((e: { field: string }) => e.field),
        JSON.stringify(body),
      ).toContain(field);
    }
    const usage = await call('GET', '/v1/clients/ra-a/usage?credit_type=ra-min&from=2026-03-02&to=2026-03-01');
    expect(usage.status, usage.text).toBe(422);
  });

  it('the nightly run of 04-01 covers that local day only', async () => {
    const run = await awaitRun(app, nightlyReportId('consumption', '2026-04-01'));
    expect(run.params).toMatchObject({ from: '2026-03-31T21:00:00.000Z', to: '2026-04-01T20:59:59.999Z' });
    const file = await download(app, run.id);
    expect(parseCsv(file.text)).toEqual([
      ['period_start', 'credit_type', 'unit', 'consumed', 'reversed', 'net'],
      ['2026-04-01', 'ra-min', 'minute', '1.5', '0', '1.5'],
    ]);
    // made on 04-02, named for the day it covers; the picture as of its midnight too
    expect(file.headers.get('content-disposition')).toBe('attachment; filename="consumption-2026-04-01.csv"');
    const picture = await download(app, nightlyReportId('balances', '2026-04-01'));
    expect(picture.headers.get('content-disposition')).toBe('attachment; filename="balances-2026-04-01.csv"');
    // the nightly sweep again the same local day: the same six runs, none made or generated again
    const nightlyRuns = () => app.ctx.db('report_runs').where({ trigger: 'nightly' }).count<{ count: string }[]>();
    const before = await nightlyRuns();
    expect(Number(before[0]!.count)).toBe(6);
    await nightly();
    expect(await nightlyRuns()).toEqual(before);
    expect(await app.ctx.db('outbox_events').where({ type: 'report.ready', subject_id: run.id })).toHaveLength(1);
  });
});

describe('balances, subscriptions, renewals, top packages', () => {
  it('balances: held apart from remaining, the identity holding, % used with one decimal', async () => {
    const { rows } = await both('balances');
    expect(
      rows.map((r) => [
        r.client_ref,
        r.package_code,
        r.subscription_status,
        r.credit_type,
        r.granted,
        r.consumed,
        r.remaining,
        r.expired,
        r.held,
        r.used_percent,
      ]),
    ).toEqual([
      // A min: 100.50 granted, 22.85 used net, the rest 77.65 expired with the subscription; 22.85/100.50 = 22.7%
      ['ra-a', 'ra-basic', 'expired', 'ra-min', '100.5', '22.85', '0', '77.65', '0', 22.7],
      // A sms: 50 + 10 recharged, 7 used, 53 expired; 7/60 = 11.67% → 11.7
      ['ra-a', 'ra-basic', 'expired', 'ra-sms', '60', '7', '0', '53', '0', 11.7],
      // B min: 300 + 300; 5 + 1.5 = 6.5 used; the first period's 295 expired; 300 − 1.5 − 3 held = 295.5 usable;
      // 6.5/600 = 1.083% → 1.1
      ['ra-b', 'ra-pro', 'active', 'ra-min', '600', '6.5', '295.5', '295', '3', 1.1],
    ]);
  });

  it('subscriptions: a count per package and status, then each with its period and days left', async () => {
    const { rows } = await both('subscriptions');
    expect(rows.map((r) => [r.row_type, r.package_code, r.status, r.count])).toEqual([
      ['summary', 'ra-basic', 'expired', 1],
      ['summary', 'ra-pro', 'active', 1],
      ['subscription', 'ra-basic', 'expired', null],
      ['subscription', 'ra-pro', 'active', null],
    ]);
    const [a, b] = rows.slice(2);
    expect(a).toMatchObject({
      client_name: A_NAME,
      period_end: '2026-04-01T09:00:00.000Z',
      days_left: 0,
      // expired: it has nothing to spend because it ended, not because it used it up
      depleted: false,
    });
    // 04-02 10:00Z → 05-01 09:00Z is 28 days 23 hours: 29 days left (begun days count)
    expect(b).toMatchObject({
      period_start: '2026-04-01T09:00:00.000Z',
      period_end: '2026-05-01T09:00:00.000Z',
      days_left: 29,
      depleted: false,
      renewal_count: 1,
    });
  });

  it('renewals: new, renewed and expired per local day with their revenue', async () => {
    const { rows } = await both('renewals', RANGE);
    expect(rows).toEqual([
      // both subscriptions on 03-01 (12:00 local): 1050 + 2000
      {
        period_start: '2026-03-01',
        currency: 'USD',
        new_subscriptions: 2,
        renewals: 0,
        recharges: 0,
        expirations: 0,
        new_revenue: 3050,
        renewal_revenue: 0,
        recharge_revenue: 0,
        revenue: 3050,
        voided_revenue: 0,
        renewals_undone: 0,
      },
      // the recharge at local midnight 03-06
      {
        period_start: '2026-03-06',
        currency: 'USD',
        new_subscriptions: 0,
        renewals: 0,
        recharges: 1,
        expirations: 0,
        new_revenue: 0,
        renewal_revenue: 0,
        recharge_revenue: 250,
        revenue: 250,
        voided_revenue: 0,
        renewals_undone: 0,
      },
      {
        period_start: '2026-03-10',
        currency: 'USD',
        new_subscriptions: 0,
        renewals: 1,
        recharges: 0,
        expirations: 0,
        new_revenue: 0,
        renewal_revenue: 2000,
        recharge_revenue: 0,
        revenue: 2000,
        voided_revenue: 0,
        renewals_undone: 0,
      },
      // an expiration counts when its period ended (04-01 09:00Z, 12:00 local), not when the sweep recorded it
      // (04-02 12:00 local)
      {
        period_start: '2026-04-01',
        currency: 'USD',
        new_subscriptions: 0,
        renewals: 0,
        recharges: 0,
        expirations: 1,
        new_revenue: 0,
        renewal_revenue: 0,
        recharge_revenue: 0,
        revenue: 0,
        voided_revenue: 0,
        renewals_undone: 0,
      },
    ]);
  });

  it('renewals by Monday weeks and by months add up to the days', async () => {
    const week = await both('renewals', { ...RANGE, group_by: 'week' });
    expect(week.rows.map(renewalCols)).toEqual([
      ['2026-02-23', 2, 0, 0, 0, 3050], // Sunday 03-01
      ['2026-03-02', 0, 0, 1, 0, 250], // Friday 03-06
      ['2026-03-09', 0, 1, 0, 0, 2000], // Tuesday 03-10
      ['2026-03-30', 0, 0, 0, 1, 0], // Wednesday 04-01
    ]);
    const month = await both('renewals', { ...RANGE, group_by: 'month' });
    // 3050 + 250 + 2000 = 5300
    expect(month.rows.map(renewalCols)).toEqual([
      ['2026-03-01', 2, 1, 1, 0, 5300],
      ['2026-04-01', 0, 0, 0, 1, 0],
    ]);
  });

  it('renewals and top packages narrowed by client and package', async () => {
    // A: subscribed 03-01 (1050), recharged 03-06 (250), expired 04-01 (its period's end; swept 04-02)
    expect((await both('renewals', { ...RANGE, client: 'ra-a' })).rows.map(renewalCols)).toEqual([
      ['2026-03-01', 1, 0, 0, 0, 1050],
      ['2026-03-06', 0, 0, 1, 0, 250],
      ['2026-04-01', 0, 0, 0, 1, 0],
    ]);
    // ra-pro: B subscribed 03-01 (2000), renewed 03-10 (2000)
    expect((await both('renewals', { ...RANGE, package: 'ra-pro' })).rows.map(renewalCols)).toEqual([
      ['2026-03-01', 1, 0, 0, 0, 2000],
      ['2026-03-10', 0, 1, 0, 0, 2000],
    ]);
    // A's requests: ra-basic's one period; a recharge is no request
    const top = await both('top_packages', { ...RANGE, client: 'ra-a' });
    expect(top.rows.map((r) => [r.rank, r.package_code, r.requests, r.revenue])).toEqual([[1, 'ra-basic', 1, 1050]]);
  });

  it('top packages: ranked by requests, the name with a comma and quotes quoted in CSV', async () => {
    const { rows, csv } = await both('top_packages', RANGE);
    expect(rows).toEqual([
      // ra-pro: 1 new + 1 renewal, 2000 + 2000
      {
        rank: 1,
        package_code: 'ra-pro',
        package_name: 'برو',
        currency: 'USD',
        new_subscriptions: 1,
        renewals: 1,
        requests: 2,
        revenue: 4000,
      },
      {
        rank: 2,
        package_code: 'ra-basic',
        package_name: BASIC_NAME,
        currency: 'USD',
        new_subscriptions: 1,
        renewals: 0,
        requests: 1,
        revenue: 1050,
      },
    ]);
    expect(csv[2]).toEqual(['2', 'ra-basic', BASIC_NAME, 'USD', '1', '0', '1', '1050']);
    const run = await runReport(app, { type: 'top_packages', params: RANGE, format: 'csv' });
    const file = await download(app, run.id);
    expect(file.text).toContain('\r\n2,ra-basic,"Basic, ""plus""",USD,1,0,1,1050\r\n');
    // named for the business days it covers, 03-01 to 04-02
    expect(file.headers.get('content-disposition')).toBe(
      'attachment; filename="top_packages-2026-03-01_2026-04-02.csv"',
    );
    expect(file.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    // the back office's link sends the same bytes
    const ui = await fetch(`${app.baseUrl}/ui/reports/${run.id}/download`, {
      headers: { authorization: `Bearer ${app.keys.admin}` },
    });
    expect(ui.status).toBe(200);
    expect(Buffer.from(await ui.arrayBuffer())).toEqual(file.bytes);
  });

  it('the same report asked twice with one idempotency key is one run, generated once', async () => {
    const headers = { 'idempotency-key': 'ra-twice' };
    const body = { type: 'balances', format: 'csv' };
    const first = await app.request('POST', '/v1/reports', { key: app.keys.write, body, headers });
    expect(first.status, first.text).toBe(202);
    const runsBefore = await countRows(app, 'report_runs');
    const second = await app.request('POST', '/v1/reports', { key: app.keys.write, body, headers });
    expect(second.status, second.text).toBe(202);
    expect(second.body.id).toBe(first.body.id);
    expect(await countRows(app, 'report_runs')).toBe(runsBefore);
    const run = await awaitRun(app, first.body.id);
    expect(run.status).toBe('done');
    const ready = await app.ctx.db('outbox_events').where({ type: 'report.ready', subject_id: first.body.id });
    expect(ready).toHaveLength(1);
    // the same key with another request is refused, and makes no run
    const other = await app.request('POST', '/v1/reports', {
      key: app.keys.write,
      body: { type: 'subscriptions', format: 'csv' },
      headers,
    });
    expect([409, 422], other.text).toContain(other.status);
    expect(await countRows(app, 'report_runs')).toBe(runsBefore);
  });
});

describe('expiring and the narrowed balances', () => {
  it('expiring in 30 days: the subscription, then its balance, with what is usable (the 3 held apart)', async () => {
    const { rows } = await both('expiring', { days_ahead: 30 });
    // 04-02 10:00Z → 05-01 09:00Z: 28 days 23 hours, 29 begun days; 300 − 1.5 − 3 held = 295.5
    expect(rows.map((r) => [r.row_type, r.client_ref, r.expires_at, r.days_left, r.remaining, r.remains])).toEqual([
      ['subscription', 'ra-b', '2026-05-01T09:00:00.000Z', 29, null, 'ra-min: 295.5'],
      ['balance', 'ra-b', '2026-05-01T09:00:00.000Z', 29, '295.5', null],
    ]);
    // 7 days (the default): nothing
    expect((await both('expiring')).rows).toEqual([]);
    // narrowed by credit type: a subscription that holds none of it is not what expires of it
    expect((await both('expiring', { days_ahead: 30, credit_type: 'ra-min' })).rows).toEqual(rows);
    expect((await both('expiring', { days_ahead: 30, credit_type: 'ra-sms' })).rows).toEqual([]);
  });

  it('balances narrowed by client, package and credit type are the matching rows of the whole', async () => {
    const whole = (await jsonRows(app, { type: 'balances' })).rows;
    const pick = (f: (r: Record<string, unknown>) => boolean) => whole.filter(f);
    expect((await both('balances', { client: 'ra-a' })).rows).toEqual(pick((r) => r.client_ref === 'ra-a'));
    expect((await both('balances', { package: 'ra-pro' })).rows).toEqual(pick((r) => r.package_code === 'ra-pro'));
    expect((await both('balances', { credit_type: 'ra-sms' })).rows).toEqual(pick((r) => r.credit_type === 'ra-sms'));
    expect((await both('balances', { client: 'ra-b', credit_type: 'ra-sms' })).rows).toEqual([]);
  });
});

describe('one report id, asked twice', () => {
  it('a producer sending the same report_id twice (and again once done) makes one run, generated once', async () => {
    const producer = new CreditsProducer({
      connection: app.ctx.redisUrl,
      prefix: app.prefix,
      now: () => app.clock.now(),
    });
    try {
      const reportId = '0190a000-0000-7000-8000-00000000ra01'.replace('ra', 'aa');
      const ask = () => producer.generateReport({ report_id: reportId, type: 'top_packages', params: RANGE });
      await Promise.all([ask(), ask()]);
      const run = await awaitRun(app, reportId);
      expect(run).toMatchObject({ status: 'done', row_count: 2 });
      await ask();
      expect((await awaitRun(app, reportId)).status).toBe('done');
      expect(await app.ctx.db('report_runs').where({ id: reportId })).toHaveLength(1);
      expect(await app.ctx.db('outbox_events').where({ type: 'report.ready', subject_id: reportId })).toHaveLength(1);
    } finally {
      await producer.close();
    }
  });
});

describe('what the API and the pages show beside the reports', () => {
  it('GET /v1/clients/{id}/usage gives the same net figures as the consumption report', async () => {
    for (const group_by of ['day', 'week', 'month', 'branch']) {
      const params = { ...RANGE, client: 'ra-a', credit_type: 'ra-min', group_by };
      const { rows } = await jsonRows(app, { type: 'consumption', params });
      const usage = await ok(
        'GET',
        `/v1/clients/ra-a/usage?credit_type=ra-min&from=${RANGE.from}&to=${RANGE.to}&group_by=${group_by}`,
      );
      const key = group_by === 'branch' ? 'value' : 'period_start';
      expect(usage.data, group_by).toEqual(rows.map((r) => ({ key: r[key], quantity: r.net })));
    }
  });

  it('the list of runs pages through every run once, oldest first', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const page = await ok('GET', `/v1/reports?limit=3${q}`);
      expect(page.data.length).toBeLessThanOrEqual(3);
      seen.push(...page.data.map((r: { id: string }) => r.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.length).toBe(await countRows(app, 'report_runs'));
  });

  it("the overview's figures are the reports': the chart's days, the top packages, in English and Arabic", async () => {
    // the chart: the consumption report over the last 30 local days (03-04 .. 04-02)
    const { rows } = await jsonRows(app, { type: 'consumption', params: { from: '2026-03-04', to: AT } });
    expect(rows.map((r) => [r.period_start, r.net])).toEqual([
      ['2026-03-05', '-0.2'],
      ['2026-03-09', '12.5'],
      ['2026-04-01', '1.5'],
    ]);
    const en = (await app.request('GET', '/ui?lang=en', { key: app.keys.admin })).text;
    // each bar's tooltip, its unit isolated (a name the business typed, in text that holds no <bdi>)
    expect(en).toContain('<title>5 Mar 2026: -0.2 \u2068minute\u2069</title>');
    expect(en).toContain('<title>9 Mar 2026: 12.5 \u2068minute\u2069</title>');
    expect(en).toContain('<title>1 Apr 2026: 1.5 \u2068minute\u2069</title>');
    // top packages over the last 30 days (03-03 10:00Z on): the renewal of ra-pro only, 2000
    const top = await jsonRows(app, { type: 'top_packages', params: { from: '2026-03-03T10:00:00Z', to: AT } });
    expect(top.rows.map((r) => [r.package_code, r.new_subscriptions, r.renewals, r.revenue])).toEqual([
      ['ra-pro', 0, 1, 2000],
    ]);
    expect(en).toContain('<div class="muted small">0 new · 1 renewed</div>');
    expect(en).toContain('<td class="num">USD\u00a020.00</td>'); // a no-break space, as Intl writes it
    const ar = (await app.request('GET', '/ui?lang=ar', { key: app.keys.admin })).text;
    expect(ar).toMatch(/<html[^>]*dir="rtl"/);
    expect(ar).toContain('١٢٫٥ \u2068minute\u2069</title>');
    expect(ar).toContain('<div class="muted small">٠ جديدة · ١ مجدَّدة</div>');
    // isolated, a right-to-left mark first, the symbol left to right inside (src/ui/i18n/format.ts rightToLeftMoney)
    expect(ar).toContain('\u2068\u200f٢٠٫٠٠\u00a0\u2066US$\u2069\u2069</td>');
  });

  it("a package's page: the renewals report's requests and revenue; the reports page: the row counts", async () => {
    // the page's window: local days 03-04 .. 04-02; ra-pro's one renewal on 03-10, 2000
    const { rows } = await jsonRows(app, {
      type: 'renewals',
      params: { from: '2026-03-04', to: AT, package: 'ra-pro' },
    });
    expect(rows.map((r) => [r.period_start, r.new_subscriptions, r.renewals, r.revenue])).toEqual([
      ['2026-03-10', 0, 1, 2000],
    ]);
    const en = (await app.request('GET', '/ui/packages/ra-pro?lang=en', { key: app.keys.admin })).text;
    expect(en).toContain('1 in total, USD\u00a020.00 invoiced');
    const ar = (await app.request('GET', '/ui/packages/ra-pro?lang=ar', { key: app.keys.admin })).text;
    expect(ar).toContain('الإجمالي ١، والمفوتَر \u2068\u200f٢٠٫٠٠\u00a0\u2066US$\u2069\u2069');
    const run = await runReport(app, { type: 'balances', format: 'csv' });
    const page = (await app.request('GET', '/ui/reports?lang=ar', { key: app.keys.admin })).text;
    const row = page.slice(page.indexOf(`data-report="${run.id}"`));
    // 3 rows (A's two credit types, B's one), in Arabic digits
    expect(run.row_count).toBe(3);
    expect(row.slice(0, row.indexOf('</tr>'))).toContain('<td class="num">٣</td>');
  });
  it('balances as of a past instant count what was held then', async () => {
    const at = async (client: string, asOf: string) => {
      const body = await ok('GET', `/v1/clients/${client}/balances?as_of=${encodeURIComponent(asOf)}`);
      const r = body.data.find((x: { credit_type: { code: string } }) => x.credit_type.code === 'ra-min');
      return [r.granted, r.consumed, r.remaining, r.held, r.expired];
    };
    // between h1 (20 held at 20:30Z) and its capture (21:30Z): 100.50 − 10.25 − 0.10 − 0.20 + 0.20 − 20 = 70.15
    expect(await at('ra-a', '2026-03-08T21:00:00Z')).toEqual(['100.5', '10.35', '70.15', '20', '0']);
    // after the capture: 12.5 used, 7.5 back: 100.50 − 22.85 = 77.65
    expect(await at('ra-a', '2026-03-08T22:00:00Z')).toEqual(['100.5', '22.85', '77.65', '0', '0']);
    // B at 04-01 13:00Z: the first period's 295 past its end; 300 − 1.5 − 3 held = 295.5
    expect(await at('ra-b', '2026-04-01T13:00:00Z')).toEqual(['600', '6.5', '295.5', '3', '295']);
  });
});

/**
 * A zone with summer time (Europe/London) and weeks starting on Sunday, on an app of its own: on Sunday 2026-03-29
 * the clocks go from 01:00 GMT to 02:00 BST, so that local day lasts 23 hours, 00:00Z to 23:00Z.
 *   u0  1 at 03-28 23:59:59Z      local Saturday 03-28 23:59:59 GMT
 *   u3  5 at 03-29 00:30Z         local Sunday 03-29 00:30 GMT
 *   u1  7 at 03-29 22:59:59.999Z  local Sunday 03-29 23:59:59.999 BST
 *   u2 11 at 03-29 23:00Z         local Monday 03-30 00:00 BST
 */
describe('a day of 23 hours (Europe/London, weeks from Sunday)', () => {
  let dst: TestApp;
  const steps = httpSteps(() => dst);
  beforeAll(async () => {
    dst = await startTestApp({
      roles: ['api', 'worker'],
      now: '2026-03-20T12:00:00.000Z',
      env: { BUSINESS_TZ: 'Europe/London', WEEK_START: 'sunday' },
    });
    await steps.ok('POST', '/v1/credit-types', { code: 'dst-min', name: 'Minutes', unit: 'minute' }, 201);
    await steps.ok(
      'POST',
      '/v1/packages',
      {
        code: 'dst-pack',
        name: 'Pack',
        price: 100,
        currency: 'GBP',
        validity: { count: 1, unit: 'month' },
        items: [{ credit_type: 'dst-min', units: 1000 }],
      },
      201,
    );
    await steps.ok('POST', '/v1/clients', { external_ref: 'dst-a', name: 'A' }, 201);
    await steps.ok('POST', '/v1/subscriptions', { client: 'dst-a', package: 'dst-pack' }, 201);
    await steps.clockTo('2026-03-30T00:30:00.000Z');
    const uses: Array<[number, string]> = [
      [1, '2026-03-28T23:59:59.000Z'],
      [5, '2026-03-29T00:30:00.000Z'],
      [7, '2026-03-29T22:59:59.999Z'],
      [11, '2026-03-29T23:00:00.000Z'],
    ];
    for (const [i, [quantity, at]] of uses.entries())
      await steps.ok('POST', '/v1/consumptions?wait=true', {
        client: 'dst-a',
        credit_type: 'dst-min',
        quantity,
        idempotency_key: `dst-${i}`,
        occurred_at: at,
      });
    // the nightly run at 02:00 BST on Monday 03-30: the reports of Sunday 03-29
    await steps.clockTo('2026-03-30T01:00:00.000Z');
    await steps.nightly();
  }, 120_000);
  afterAll(async () => {
    await dst.close();
  });

  it('days and Sunday weeks of the local calendar, the same in the usage endpoint', async () => {
    const day = await jsonRows(dst, { type: 'consumption', params: { from: '2026-03-28', to: '2026-03-30' } });
    // 03-28 00:00 GMT = 00:00Z; the end of 03-30 BST = 22:59:59.999Z
    expect(day.run.params).toMatchObject({ from: '2026-03-28T00:00:00.000Z', to: '2026-03-30T22:59:59.999Z' });
    // 1; 5 + 7 = 12; 11
    expect(day.rows.map((r) => [r.period_start, r.net])).toEqual([
      ['2026-03-28', '1'],
      ['2026-03-29', '12'],
      ['2026-03-30', '11'],
    ]);
    const week = await jsonRows(dst, {
      type: 'consumption',
      params: { from: '2026-03-28', to: '2026-03-30', group_by: 'week' },
    });
    // Saturday 03-28 is in the week of Sunday 03-22; 5 + 7 + 11 = 23 in the week of Sunday 03-29
    expect(week.run.params).toMatchObject({ week_start: 'sunday' });
    expect(week.rows.map((r) => [r.period_start, r.net])).toEqual([
      ['2026-03-22', '1'],
      ['2026-03-29', '23'],
    ]);
    for (const [groupBy, rows] of [
      ['day', day.rows],
      ['week', week.rows],
    ] as const) {
      const usage = await steps.ok(
        'GET',
        `/v1/clients/dst-a/usage?credit_type=dst-min&from=2026-03-28&to=2026-03-30&group_by=${groupBy}`,
      );
      expect(usage.data).toEqual(rows.map((r) => ({ key: r.period_start, quantity: r.net })));
    }
  });

  it("the nightly run covers the 23 hours of Sunday's local day", async () => {
    const run = await awaitRun(dst, nightlyReportId('consumption', '2026-03-29'));
    expect(run.params).toMatchObject({ from: '2026-03-29T00:00:00.000Z', to: '2026-03-29T22:59:59.999Z' });
    expect(parseCsv((await download(dst, run.id)).text)).toEqual([
      ['period_start', 'credit_type', 'unit', 'consumed', 'reversed', 'net'],
      ['2026-03-29', 'dst-min', 'minute', '12', '0', '12'],
    ]);
  });
});

/**
 * Once a month is archived (npm run cli -- archive-month), its ledger entries leave the live history: a consumption
 * report over it would silently leave its uses out, while GET /v1/clients/{id}/usage (read from the consumptions)
 * still counts them. Last in the file: it archives March of the main history.
 */
describe('a consumption report over an archived month', () => {
  it('is refused when its range reaches into the archived months; a default range starts after them', async () => {
    const archived = await archiveMonth(app.database.db, '2026-03', app.clock.now());
    expect(archived.ok, archived.ok ? '' : archived.detail).toBe(true);
    // March's uses are still in the usage endpoint: A's 22.85 net
    const usage = await ok(
      'GET',
      '/v1/clients/ra-a/usage?credit_type=ra-min&from=2026-03-01&to=2026-03-31&group_by=month',
    );
    expect(usage.data).toEqual([{ key: '2026-03-01', quantity: '22.85' }]);
    // the local day 04-01 starts at 03-31 21:00Z, inside the archived March (UTC)
    for (const from of ['2026-03-01', '2026-04-01', '2026-03-31T23:59:59Z']) {
      const res = await call('POST', '/v1/reports', { type: 'consumption', params: { from, to: '2026-04-02' } });
      expect(res.status, `${from}: ${res.text}`).toBe(422);
      expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual(['params.from']);
    }
    // a range ending inside the archive (and starting 30 days before it) is refused on its end
    const early = await call('POST', '/v1/reports', { type: 'consumption', params: { to: '2026-03-15' } });
    expect(early.status, early.text).toBe(422);
    expect(early.body.errors.map((e: { field: string }) => e.field)).toEqual(['params.to']);
    // from the end of the archive on, the report is whole: B's 1.5 on 04-01 (12:00 local)
    const after = await jsonRows(app, { type: 'consumption', params: { from: '2026-04-01T00:00:00Z', to: AT } });
    expect(after.rows.map((r) => [r.period_start, r.net])).toEqual([['2026-04-01', '1.5']]);
    // the default range (30 days back from now, 03-03 10:00Z) starts where the live history does
    const byDefault = await jsonRows(app, { type: 'consumption' });
    expect(byDefault.run.params).toMatchObject({ from: '2026-04-01T00:00:00.000Z', to: AT });
    expect(byDefault.rows.map((r) => [r.period_start, r.net])).toEqual([['2026-04-01', '1.5']]);
  });
});
