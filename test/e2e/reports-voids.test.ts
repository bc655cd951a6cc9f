import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nightlyReportId } from '../../src/reports/nightly.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { closeVerified, httpSteps } from '../helpers/http-steps.js';
import { awaitRun, download, jsonRows, parseCsv, runReport } from '../helpers/reports.js';

/**
 * A void decided later never changes a past range's revenue (the QA walk of the reports): the nightly run of a day,
 * made before an invoice of that day was voided, and the same report asked again after the void say the same. The
 * `renewals` report counts an invoice when it was issued and takes its void back when the void was made; the
 * `top_packages` report leaves out the invoices voided by the end of its range. Business zone UTC.
 *
 * The cast (every figure worked out by hand):
 *   03-01 10:00Z  A and B each buy pv-month (1000 USD, a month); A recharges (300)
 *   03-02 02:00Z  the nightly run: the reports of 03-01 (renewals 2 new, 2000 + 300; top packages 2 requests, 2000)
 *   03-03 10:00Z  B renewed by hand, ahead (the period from 04-01): renewal invoice 1000
 *   03-05 09:00Z  A's sale (1000, issued 03-01) and B's renewal (1000, issued 03-03) voided, both unpaid
 */
let app: TestApp;
const { ok, clockTo, nightly } = httpSteps(() => app);
const invoices = { saleA: '', renewalB: '' };

beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-03-01T10:00:00.000Z' });
  await ok('POST', '/v1/credit-types', { code: 'pv-sms', name: 'SMS', unit: 'message' }, 201);
  await ok(
    'POST',
    '/v1/packages',
    {
      code: 'pv-month',
      name: 'Month',
      price: 1000,
      recharge_price: 300,
      currency: 'USD',
      validity: { count: 1, unit: 'month' },
      items: [{ credit_type: 'pv-sms', units: 100 }],
      auto_renew: false,
    },
    201,
  );
  await ok('POST', '/v1/clients', { external_ref: 'pv-a', name: 'A' }, 201);
  await ok('POST', '/v1/clients', { external_ref: 'pv-b', name: 'B' }, 201);
  const a = await ok('POST', '/v1/subscriptions', { client: 'pv-a', package: 'pv-month' }, 201);
  const b = await ok('POST', '/v1/subscriptions', { client: 'pv-b', package: 'pv-month' }, 201);
  invoices.saleA = a.invoice.id;
  const recharge = await app.request('POST', `/v1/subscriptions/${a.id}/recharge?wait=true`, {
    headers: { 'idempotency-key': 'pv-recharge' },
  });
  expect(recharge.status, recharge.text).toBe(200);

  await clockTo('2026-03-02T02:00:00.000Z');
  await nightly();

  await clockTo('2026-03-03T10:00:00.000Z');
  const renewed = await ok('POST', `/v1/subscriptions/${b.id}/renew?wait=true`);
  expect(renewed.period_start).toBe('2026-04-01T10:00:00.000Z');
  invoices.renewalB = renewed.invoice_id;
});

afterAll(async () => {
  await closeVerified(app);
});

/** A done run's CSV file, as records. */
const csvOf = async (id: string) => {
  const file = await download(app, id);
  expect(file.status, file.text).toBe(200);
  return parseCsv(file.text);
};

const DAY = { from: '2026-03-01', to: '2026-03-01' };

describe('a void decided later leaves the past as it was reported', () => {
  it('the nightly run of 03-01, before any void: 2 new (2000), a recharge (300), nothing voided', async () => {
    const renewals = await csvOf((await awaitRun(app, nightlyReportId('renewals', '2026-03-01'))).id);
    expect(renewals).toEqual([
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
      ['2026-03-01', 'USD', '2', '0', '1', '0', '2000', '0', '300', '2300', '0', '0'],
    ]);
    const top = await csvOf((await awaitRun(app, nightlyReportId('top_packages', '2026-03-01'))).id);
    expect(top.slice(1)).toEqual([['1', 'pv-month', 'Month', 'USD', '2', '0', '2', '2000']]);
  });

  it('voided on 03-05, the reports of 03-01 asked again say what the nightly run said', async () => {
    await clockTo('2026-03-05T09:00:00.000Z');
    for (const id of [invoices.saleA, invoices.renewalB])
      expect(await ok('POST', `/v1/invoices/${id}/void`, { reason: 'QA walk' })).toMatchObject({ status: 'void' });

    for (const type of ['renewals', 'top_packages'] as const) {
      const nightlyCsv = await csvOf(nightlyReportId(type, '2026-03-01'));
      const again = await runReport(app, { type, params: DAY, format: 'csv' });
      expect(again.status, again.error ?? '').toBe('done');
      expect(await csvOf(again.id), type).toEqual(nightlyCsv);
    }
  });

  it('renewals: each invoice in the day it was issued, each void a negative in the day it was made', async () => {
    const { rows } = await jsonRows(app, { type: 'renewals', params: { from: '2026-03-01', to: '2026-03-05' } });
    const cols = (r: Record<string, unknown>) => [
      r.period_start,
      r.new_subscriptions,
      r.renewals,
      r.recharges,
      r.new_revenue,
      r.renewal_revenue,
      r.recharge_revenue,
      r.revenue,
      r.voided_revenue,
    ];
    expect(rows.map(cols)).toEqual([
      ['2026-03-01', 2, 0, 1, 2000, 0, 300, 2300, 0],
      // B's renewal, made ahead: counted and invoiced when it was made
      ['2026-03-03', 0, 1, 0, 0, 1000, 0, 1000, 0],
      // the two voids: A's sale of 03-01 and B's renewal of 03-03 taken back today, 1000 each
      ['2026-03-05', 0, 0, 0, -1000, -1000, 0, -2000, 2000],
    ]);
    // over the month the voids net out: 2000 + 1000 + 300 issued, 2000 voided
    const month = await jsonRows(app, {
      type: 'renewals',
      params: { from: '2026-03-01', to: '2026-03-31', group_by: 'month' },
    });
    expect(month.rows.map(cols)).toEqual([['2026-03-01', 2, 1, 1, 1000, 0, 300, 1300, 2000]]);
    // narrowed to B: its renewal and its void
    const b = await jsonRows(app, {
      type: 'renewals',
      params: { from: '2026-03-02', to: '2026-03-05', client: 'pv-b' },
    });
    expect(b.rows.map(cols)).toEqual([
      ['2026-03-03', 0, 1, 0, 0, 1000, 0, 1000, 0],
      ['2026-03-05', 0, 0, 0, 0, -1000, 0, -1000, 1000],
    ]);
  });

  it('top packages: an invoice voided by the end of the range is left out, one voided after it counts', async () => {
    const top = async (to: string) =>
      (await jsonRows(app, { type: 'top_packages', params: { from: '2026-03-01', to } })).rows.map((r) => [
        r.package_code,
        r.requests,
        r.revenue,
      ]);
    // up to 03-04: nothing was voided yet then; 3 periods sold, 1000 each
    expect(await top('2026-03-04')).toEqual([['pv-month', 3, 3000]]);
    // up to 03-05: both voids made by then; the periods are still requests
    expect(await top('2026-03-05')).toEqual([['pv-month', 3, 1000]]);
    // up to the very instant before the voids: they count; at it: they do not
    expect(await top('2026-03-05T08:59:59.999Z')).toEqual([['pv-month', 3, 3000]]);
    expect(await top('2026-03-05T09:00:00.000Z')).toEqual([['pv-month', 3, 1000]]);
  });
});
