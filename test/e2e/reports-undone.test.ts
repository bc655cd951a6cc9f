import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportRows } from '../../src/db/reports/rows.js';
import type { UndonePeriodRow } from '../../src/db/repositories/subscriptions.js';
import { balancesQuery } from '../../src/reports/balances.js';
import { nightlyReportId } from '../../src/reports/nightly.js';
import { subscriptionsQuery } from '../../src/reports/subscriptions.js';
import type { ReportQuery, ReportRow } from '../../src/reports/types.js';
import { REASON } from '../../src/services/renewal-undo.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { closeVerified, httpSteps } from '../helpers/http-steps.js';
import { awaitRun, download, jsonRows, parseCsv, runReport } from '../helpers/reports.js';

/**
 * A renewal made ahead and taken back (a cancel at period end before its period began: src/services/renewal-undo.ts)
 * never changes a past range's figures, as a void does not (reports-voids.test.ts): the undo keeps the period's row
 * in subscription_periods_undone. The `renewals` report counts the renewal when it was made and, in its last column
 * `renewals_undone`, its undo when it was made; `top_packages` leaves out the periods taken back by the end of its
 * range; the pictures of an instant between the renewal and its undo (`subscriptions`, `balances`) show the renewal
 * as the tables had it then. Business zone UTC.
 *
 * The cast (every figure worked out by hand; pu-3day: 1000 USD for 3 days, not renewed by itself):
 *   03-29 10:00Z  A and B each buy pu-3day ([03-29 10:00, 04-01 10:00))
 *   03-30 02:00Z  the nightly run: the reports of 03-29
 *   03-30 10:00Z  A renewed by hand, ahead: the period [04-01 10:00, 04-04 10:00), invoice R1 1000
 *   03-31 02:00Z  the nightly run: the reports of 03-30 (1 renewal, 1000; A's picture on the renewed period)
 *   03-31 09:00Z  A set to cancel at period end: R1's renewal taken back, R1 voided
 *   03-31 10:00Z  the cancel taken back; 11:00Z A renewed by hand again (the same period, invoice R2 1000)
 *   03-31 12:00Z  A set to cancel at period end again: the same period taken back a second time, R2 voided
 *   04-01 02:00Z  the nightly run: the reports of 03-31 (1 renewal made, 2 taken back)
 */
let app: TestApp;
const { ok, clockTo, nightly } = httpSteps(() => app);
const ids = { a: '', b: '', r1: '', r2: '' };
const PERIOD = { start: '2026-04-01T10:00:00.000Z', end: '2026-04-04T10:00:00.000Z' };

/** The pictures of an instant taken from the tables as they were then (live), to be made again later as of it. */
const pictures = {
  subscriptions: (asOf: Date, live: boolean) => subscriptionsQuery({ asOf, live }),
  balances: (asOf: Date, live: boolean) => balancesQuery({ asOf, live }),
};
type Picture = keyof typeof pictures;
const taken: Array<{ at: string; rows: Record<Picture, ReportRow[]> }> = [];
async function snap(at: string) {
  const rows = {} as Record<Picture, ReportRow[]>;
  for (const name of Object.keys(pictures) as Picture[])
    rows[name] = await reportRows(app.database.db, pictures[name](new Date(at), true));
  taken.push({ at, rows });
}
/**
 * A picture made again as of its instant, as a report run reads it (db/reports/stream.ts): without JIT, which would
 * compile the statement for seconds on this small store.
 */
const asOfRows = (query: ReportQuery) =>
  app.database.db.transaction(async (trx) => {
    await trx.raw('SET LOCAL jit = off');
    return reportRows(trx, query);
  });
/** The clock to `at`, an action, then the pictures of that instant. */
const step = async (at: string, action: () => Promise<unknown>) => {
  await clockTo(at);
  await action();
  await snap(at);
};

const renew = async () => {
  const renewed = await ok('POST', `/v1/subscriptions/${ids.a}/renew?wait=true`);
  expect([renewed.period_start, renewed.period_end]).toEqual([PERIOD.start, PERIOD.end]);
  return renewed.invoice_id as string;
};
const cancelAtPeriodEnd = async () =>
  expect(await ok('POST', `/v1/subscriptions/${ids.a}/cancel`, { at: 'period_end' })).toMatchObject({
    current_period_end: PERIOD.start,
    renewal_count: 0,
  });

beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-03-29T10:00:00.000Z' });
  await step('2026-03-29T10:00:00.000Z', async () => {
    await ok('POST', '/v1/credit-types', { code: 'pu-sms', name: 'SMS', unit: 'message' }, 201);
    await ok(
      'POST',
      '/v1/packages',
      {
        code: 'pu-3day',
        name: 'Three days',
        price: 1000,
        currency: 'USD',
        validity: { count: 3, unit: 'day' },
        items: [{ credit_type: 'pu-sms', units: 100 }],
        auto_renew: false,
      },
      201,
    );
    await ok('POST', '/v1/clients', { external_ref: 'pu-a', name: 'A' }, 201);
    await ok('POST', '/v1/clients', { external_ref: 'pu-b', name: 'B' }, 201);
    ids.a = (await ok('POST', '/v1/subscriptions', { client: 'pu-a', package: 'pu-3day' }, 201)).id;
    ids.b = (await ok('POST', '/v1/subscriptions', { client: 'pu-b', package: 'pu-3day' }, 201)).id;
  });
  await step('2026-03-30T02:00:00.000Z', () => nightly());
  await step('2026-03-30T10:00:00.000Z', async () => {
    ids.r1 = await renew();
  });
  await step('2026-03-31T02:00:00.000Z', () => nightly());
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
/** The nightly CSV of a day, and the same report asked now with that run's params: equal. */
const askedAgainAsNightly = async (type: 'renewals' | 'top_packages', day: string) => {
  const nightlyCsv = await csvOf((await awaitRun(app, nightlyReportId(type, day))).id);
  const again = await runReport(app, { type, params: { from: day, to: day }, format: 'csv' });
  expect(again.status, again.error ?? '').toBe('done');
  expect(await csvOf(again.id), `${type} of ${day}`).toEqual(nightlyCsv);
  return nightlyCsv;
};
const HEADER = [
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
];
const cols = (r: Record<string, unknown>) => [
  r.period_start,
  r.new_subscriptions,
  r.renewals,
  r.renewal_revenue,
  r.revenue,
  r.voided_revenue,
  r.renewals_undone,
];
const top = async (to: string) =>
  (await jsonRows(app, { type: 'top_packages', params: { from: '2026-03-29', to } })).rows.map((r) => [
    r.package_code,
    r.new_subscriptions,
    r.renewals,
    r.requests,
    r.revenue,
  ]);
const undoneRows = async () =>
  (await app.database
    .db('subscription_periods_undone')
    .where({ subscription_id: ids.a })
    .orderBy('undone_at')) as UndonePeriodRow[];

describe('a renewal made ahead, taken back later, stays in the past as it was reported', () => {
  it('the nightly run of 03-30, before the undo: 1 renewal (1000), none taken back', async () => {
    expect(await csvOf((await awaitRun(app, nightlyReportId('renewals', '2026-03-30'))).id)).toEqual([
      HEADER,
      ['2026-03-30', 'USD', '0', '1', '0', '0', '0', '1000', '0', '1000', '0', '0'],
    ]);
    const topCsv = await csvOf((await awaitRun(app, nightlyReportId('top_packages', '2026-03-30'))).id);
    expect(topCsv.slice(1)).toEqual([['1', 'pu-3day', 'Three days', 'USD', '0', '1', '1', '1000']]);
  });

  it('taken back on 03-31: its row kept with when and why; the reports of 03-30 asked again say the same', async () => {
    await step('2026-03-31T09:00:00.000Z', cancelAtPeriodEnd);
    expect(await app.database.db('subscription_periods').where({ subscription_id: ids.a })).toEqual([
      expect.objectContaining({ kind: 'initial', ends_at: new Date(PERIOD.start) }),
    ]);
    expect(await undoneRows()).toEqual([
      {
        id: expect.any(String),
        subscription_id: ids.a,
        starts_at: new Date(PERIOD.start),
        ends_at: new Date(PERIOD.end),
        kind: 'renewal',
        invoice_id: ids.r1,
        price: 1000n,
        late: false,
        job_id: expect.any(String),
        created_at: new Date('2026-03-30T10:00:00.000Z'),
        undone_at: new Date('2026-03-31T09:00:00.000Z'),
        reason: REASON,
        actor: expect.stringMatching(/^key:/),
      },
    ]);
    // the nightly-style question asked again of the past: the figures the nightly run wrote before the undo
    await askedAgainAsNightly('renewals', '2026-03-30');
    await askedAgainAsNightly('top_packages', '2026-03-30');
  });

  it('renewals: the renewal in the day it was made, its undo (and its void) in the day of the undo', async () => {
    const { rows } = await jsonRows(app, { type: 'renewals', params: { from: '2026-03-29', to: '2026-03-31' } });
    expect(rows.map(cols)).toEqual([
      ['2026-03-29', 2, 0, 0, 2000, 0, 0],
      ['2026-03-30', 0, 1, 1000, 1000, 0, 0],
      ['2026-03-31', 0, 0, -1000, -1000, 1000, 1],
    ]);
    // narrowed to B: none of it
    const b = await jsonRows(app, {
      type: 'renewals',
      params: { from: '2026-03-29', to: '2026-03-31', client: 'pu-b' },
    });
    expect(b.rows.map(cols)).toEqual([['2026-03-29', 1, 0, 0, 1000, 0, 0]]);
  });

  it('top packages: a period taken back after the range counts, one taken back by its end does not', async () => {
    // up to 03-30, and up to the very instant before the undo: the renewal stood (and its invoice, voided with it)
    expect(await top('2026-03-30')).toEqual([['pu-3day', 2, 1, 3, 3000]]);
    expect(await top('2026-03-31T08:59:59.999Z')).toEqual([['pu-3day', 2, 1, 3, 3000]]);
    // at the undo: taken back, its revenue with it
    expect(await top('2026-03-31T09:00:00.000Z')).toEqual([['pu-3day', 2, 0, 2, 2000]]);
  });

  it('granted again after the cancel is taken back, and taken back again: two rows of the same period', async () => {
    await step('2026-03-31T10:00:00.000Z', () =>
      ok('PATCH', `/v1/subscriptions/${ids.a}`, { cancel_at_period_end: false }),
    );
    await step('2026-03-31T11:00:00.000Z', async () => {
      ids.r2 = await renew();
    });
    expect(ids.r2).not.toBe(ids.r1);
    expect(await top('2026-03-31T11:30:00.000Z')).toEqual([['pu-3day', 2, 1, 3, 3000]]);
    await step('2026-03-31T12:00:00.000Z', cancelAtPeriodEnd);
    expect(
      (await undoneRows()).map((r) => [r.starts_at, r.ends_at, r.invoice_id, r.created_at, r.undone_at, r.reason]),
    ).toEqual([
      [
        new Date(PERIOD.start),
        new Date(PERIOD.end),
        ids.r1,
        new Date('2026-03-30T10:00:00.000Z'),
        new Date('2026-03-31T09:00:00.000Z'),
        REASON,
      ],
      [
        new Date(PERIOD.start),
        new Date(PERIOD.end),
        ids.r2,
        new Date('2026-03-31T11:00:00.000Z'),
        new Date('2026-03-31T12:00:00.000Z'),
        REASON,
      ],
    ]);
    expect(await ok('GET', `/v1/subscriptions/${ids.a}`)).toMatchObject({
      renewal_count: 0,
      current_period_end: PERIOD.start,
      cancel_at_period_end: true,
    });
    expect(await top('2026-03-31T12:00:00.000Z')).toEqual([['pu-3day', 2, 0, 2, 2000]]);

    // the nightly run of 03-31: R2 made that day (+1000), R1 and R2 taken back and voided that day
    await step('2026-04-01T02:00:00.000Z', () => nightly());
    expect(await askedAgainAsNightly('renewals', '2026-03-31')).toEqual([
      HEADER,
      ['2026-03-31', 'USD', '0', '1', '0', '0', '0', '-1000', '0', '-1000', '2000', '2'],
    ]);
    // nothing made on 03-31 stood at its end
    expect((await askedAgainAsNightly('top_packages', '2026-03-31')).slice(1)).toEqual([]);
    // 03-30 still as its nightly run said, after both undos
    await askedAgainAsNightly('renewals', '2026-03-30');
    await askedAgainAsNightly('top_packages', '2026-03-30');
    // over the month: 2 renewals made, 2 taken back (A's renewal_count: 0); their invoices net out
    const month = await jsonRows(app, {
      type: 'renewals',
      params: { from: '2026-03-01', to: '2026-03-31', group_by: 'month' },
    });
    expect(month.rows.map(cols)).toEqual([['2026-03-01', 2, 2, 0, 2000, 2000, 2]]);
  });

  it('the pictures of each instant, again later: the renewal there while it stood, gone once taken back', async () => {
    const picture = (rows: ReportRow[]) =>
      rows
        .filter((r) => r.subscription_id === ids.a && r.row_type === 'subscription')
        .map((r) => [r.period_start, r.period_end, r.renewal_count]);
    const byInstant = new Map(taken.map(({ at, rows }) => [at, picture(rows.subscriptions)]));
    const running = ['2026-03-29T10:00:00.000Z', PERIOD.start, 0];
    const renewed = [PERIOD.start, PERIOD.end, 1];
    expect(Object.fromEntries(byInstant)).toEqual({
      '2026-03-29T10:00:00.000Z': [running],
      '2026-03-30T02:00:00.000Z': [running],
      '2026-03-30T10:00:00.000Z': [renewed],
      '2026-03-31T02:00:00.000Z': [renewed],
      '2026-03-31T09:00:00.000Z': [running],
      '2026-03-31T10:00:00.000Z': [running],
      '2026-03-31T11:00:00.000Z': [renewed],
      '2026-03-31T12:00:00.000Z': [running],
      '2026-04-01T02:00:00.000Z': [running],
    });
    for (const { at, rows } of taken)
      for (const name of Object.keys(pictures) as Picture[])
        expect(await asOfRows(pictures[name](new Date(at), false)), `${name} as of ${at}`).toEqual(rows[name]);
    // the nightly picture of 03-30 (as of 03-31 00:00, A renewed then), made before the undo, is what it says now
    const nightlyRun = await awaitRun(app, nightlyReportId('subscriptions', '2026-03-30'));
    const asOf = new Date(String(nightlyRun.params.as_of));
    expect(asOf.toISOString()).toBe('2026-03-31T00:00:00.000Z');
    const then = await asOfRows(subscriptionsQuery({ asOf, live: false }));
    expect(picture(then)).toEqual([renewed]);
    const file = await csvOf(nightlyRun.id);
    const column = file[0]!.indexOf('renewal_count');
    const rowOfA = file.find((r) => r.includes(ids.a));
    expect(rowOfA?.[column]).toBe('1');
  });
});
