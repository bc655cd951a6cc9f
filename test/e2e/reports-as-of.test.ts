import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportRows } from '../../src/db/reports/rows.js';
import { balancesQuery } from '../../src/reports/balances.js';
import { csvLine } from '../../src/reports/csv.js';
import { expiringQuery } from '../../src/reports/expiring.js';
import { nightlyReportId } from '../../src/reports/nightly.js';
import { renewalsQuery } from '../../src/reports/renewals.js';
import { subscriptionsQuery } from '../../src/reports/subscriptions.js';
import type { ReportQuery, ReportRow } from '../../src/reports/types.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { closeVerified, httpSteps } from '../helpers/http-steps.js';
import { download } from '../helpers/reports.js';

/**
 * The reports that are a picture of one instant (`balances`, `subscriptions`, `expiring`) made later — the nightly
 * run at 04:53 labelled as of midnight, a run regenerated — answer what the tables said at that instant: after each
 * step of a month (uses, a hold that runs out, a freeze ended by the sweep, a suspension, a reversal, a grant that
 * expires, a renewal, an expiry) each picture is taken from the tables as they are (`live`), and at the end every
 * one is made again as of its instant from the ledger and the histories (db/reports/as-of.ts): equal, row by row.
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2027-06-01T00:00:00.000Z' });
});
afterAll(async () => {
  await closeVerified(app);
});

const { call, ok, clockTo, nightly } = httpSteps(() => app);
const CLIENTS = ['rao-a', 'rao-b', 'rao-c'];
const pictures = {
  balances: (asOf: Date, live: boolean) => balancesQuery({ asOf, live }),
  subscriptions: (asOf: Date, live: boolean) => subscriptionsQuery({ asOf, live }),
  expiring: (asOf: Date, live: boolean) => expiringQuery({ asOf, daysAhead: 7, live }),
} satisfies Record<string, (asOf: Date, live: boolean) => ReportQuery>;
type Picture = keyof typeof pictures;
const taken: Array<{ at: string; rows: Record<Picture, ReportRow[]> }> = [];

/** What each picture shows now: every client read first, so that what the sweep owes it is done (as a read does). */
async function snap(at: string) {
  for (const ref of CLIENTS) await ok('GET', `/v1/clients/${ref}/balances`);
  const asOf = new Date(at);
  const rows = {} as Record<Picture, ReportRow[]>;
  for (const name of Object.keys(pictures) as Picture[])
    rows[name] = await reportRows(app.database.db, pictures[name](asOf, true));
  taken.push({ at, rows });
}
const step = async (at: string, action: () => Promise<unknown>) => {
  await clockTo(at);
  await action();
  await snap(at);
};
const use = async (client: string, quantity: number, key: string) => {
  const res = await call('POST', '/v1/consumptions?wait=true', {
    client,
    credit_type: 'rao-sms',
    quantity,
    idempotency_key: key,
  });
  expect(res.status, res.text).toBe(200);
  return res.body.id as string;
};
const hold = async (client: string, quantity: number, key: string, seconds: number) => {
  const res = await call('POST', '/v1/holds?wait=true', {
    client,
    credit_type: 'rao-sms',
    quantity,
    idempotency_key: key,
    expires_in_seconds: seconds,
  });
  expect(res.status, res.text).toBe(200);
};

describe('a picture made later equals the one taken at its instant', () => {
  it('balances, subscriptions and expiring over a month, and the nightly run after that night’s renewal', async () => {
    const sub: Record<string, string> = {};
    await step('2027-06-01T00:00:00.000Z', async () => {
      await ok('POST', '/v1/credit-types', { code: 'rao-sms', name: 'SMS', unit: 'message' }, 201);
      const pack = (code: string, units: number, autoRenew: boolean) =>
        ok(
          'POST',
          '/v1/packages',
          {
            code,
            name: code,
            price: 1000,
            currency: 'USD',
            validity: { count: 1, unit: 'month' },
            items: [{ credit_type: 'rao-sms', units }],
            auto_renew: autoRenew,
            max_freeze_days: 10,
          },
          201,
        );
      await pack('rao-monthly', 100, true);
      await pack('rao-once', 50, false);
      for (const ref of CLIENTS) await ok('POST', '/v1/clients', { external_ref: ref, name: ref }, 201);
      sub.a = (await ok('POST', '/v1/subscriptions', { client: 'rao-a', package: 'rao-monthly' }, 201)).id;
      sub.b = (await ok('POST', '/v1/subscriptions', { client: 'rao-b', package: 'rao-once' }, 201)).id;
    });
    let reversed = '';
    await step('2027-06-05T00:00:00.000Z', async () => {
      reversed = await use('rao-a', 30, 'a-1');
      await use('rao-b', 10, 'b-1');
      // runs out 06-06, settled only by the next read
      await hold('rao-a', 20, 'a-h1', 86_400);
    });
    await step('2027-06-07T00:00:00.000Z', async () => {
      // until 06-12: ended by the sweep (or a read) after it
      await ok('POST', `/v1/subscriptions/${sub.b}/freeze`, { days: 5 });
      await ok(
        'POST',
        '/v1/clients/rao-c/grants',
        { credit_type: 'rao-sms', units: 40, expires_at: '2027-06-20T00:00:00Z', reason: 'goodwill' },
        201,
      );
    });
    await step('2027-06-09T00:00:00.000Z', () => ok('POST', `/v1/consumptions/${reversed}/reverse?wait=true`));
    await step('2027-06-10T00:00:00.000Z', () => ok('PATCH', `/v1/subscriptions/${sub.a}`, { status: 'suspended' }));
    await step('2027-06-15T00:00:00.000Z', async () => {
      await ok('PATCH', `/v1/subscriptions/${sub.a}`, { status: 'active' });
      await use('rao-c', 15, 'c-1');
      await use('rao-b', 5, 'b-2');
    });
    // the grant past its expiry, not swept
    await step('2027-06-21T00:00:00.000Z', () => use('rao-a', 12, 'a-2'));
    // open across the renewal: runs out 07-07
    await step('2027-06-30T12:00:00.000Z', () => hold('rao-a', 10, 'a-h2', 7 * 86_400));
    await step('2027-07-01T00:00:00.000Z', async () => {});
    const midnight = taken.at(-1)!;
    await step('2027-07-01T04:53:00.000Z', () => nightly());
    // the run for 06-30, made at 04:53 after that night's renewal: as of 07-01 00:00, what the tables said then
    for (const name of Object.keys(pictures) as Picture[]) {
      const run = await ok('GET', `/v1/reports/${nightlyReportId(name, '2027-06-30')}`);
      expect(run).toMatchObject({ status: 'done', params: { as_of: midnight.at } });
      const file = await download(app, run.id);
      const { columns } = pictures[name](new Date(midnight.at), true);
      const lines = [columns, ...midnight.rows[name].map((r) => columns.map((c) => r[c]))].map((l) =>
        csvLine(l).replace(/\r?\n$/, ''),
      );
      expect(
        file.text.split(/\r?\n/).filter((l) => l !== ''),
        name,
      ).toEqual(lines);
    }
    // the renewal is in the live picture since, not in the one of midnight
    const renewedNow = taken.at(-1)!.rows.subscriptions.find((r) => r.subscription_id === sub.a);
    const renewedThen = midnight.rows.subscriptions.find((r) => r.subscription_id === sub.a);
    expect([renewedThen?.renewal_count, renewedNow?.renewal_count]).toEqual([0, 1]);
    // B's period, pushed by its 5 frozen days (07-01 → 07-06), ends; A's second hold runs out 07-07
    await step('2027-07-08T00:00:00.000Z', () => nightly());
    // the sweep recorded B's expiry on 07-08: it counts on 07-06, when its period ended (as its picture says)
    const renewals = await reportRows(
      app.database.db,
      renewalsQuery({
        from: new Date('2027-07-01T00:00:00.000Z'),
        to: new Date('2027-07-08T23:59:59.999Z'),
        groupBy: 'day',
        timeZone: 'UTC',
      }),
    );
    expect(renewals.map((r) => [r.period_start, r.renewals, r.expirations])).toEqual([
      ['2027-07-01', 1, 0],
      ['2027-07-06', 0, 1],
    ]);

    for (const { at, rows } of taken) {
      for (const name of Object.keys(pictures) as Picture[]) {
        const later = await reportRows(app.database.db, pictures[name](new Date(at), false));
        expect(later, `${name} as of ${at}`).toEqual(rows[name]);
      }
    }
    // and none of them was empty: the pictures compared show something
    expect(taken.every(({ rows }) => rows.balances.length > 0 && rows.subscriptions.length > 0)).toBe(true);
    expect(taken.some(({ rows }) => rows.expiring.length > 0)).toBe(true);
  });
});
