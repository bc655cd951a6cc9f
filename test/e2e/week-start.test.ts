import { afterAll, describe, expect, it } from 'vitest';
import { WEEK_STARTS, type WeekStart, weekKey } from '../../src/domain/week.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { jsonRows } from '../helpers/reports.js';

/**
 * WEEK_START over HTTP: uses on a Saturday, a Sunday and a Monday (1, 2 and 4 units, so each sum names its
 * days) land in the weekly buckets of the consumption report, of the renewals report and of the usage
 * endpoint that WEEK_START gives them — one service per week start, in Asia/Riyadh.
 */
const TZ = 'Asia/Riyadh';
const USES = [
  { at: '2026-03-14T07:00:00.000Z', quantity: 1 }, // Saturday 10:00 in Riyadh
  { at: '2026-03-15T20:59:00.000Z', quantity: 2 }, // Sunday 23:59
  { at: '2026-03-15T21:00:00.000Z', quantity: 4 }, // Monday 00:00
];
const SOLD_AT = '2026-02-28T21:30:00.000Z'; // Sunday 1 March, 00:30 in Riyadh
const EXPECTED: Record<WeekStart, { uses: Array<[string, string]>; sold: string }> = {
  saturday: { uses: [['2026-03-14', '7']], sold: '2026-02-28' },
  sunday: {
    uses: [
      ['2026-03-08', '1'],
      ['2026-03-15', '6'],
    ],
    sold: '2026-03-01',
  },
  monday: {
    uses: [
      ['2026-03-09', '3'],
      ['2026-03-16', '4'],
    ],
    sold: '2026-02-23',
  },
};

const apps: TestApp[] = [];
afterAll(async () => {
  for (const app of apps) await app.close();
});

describe.each(WEEK_STARTS)('WEEK_START=%s', (weekStart) => {
  it('buckets the reports and the usage endpoint by weeks that start on that day', async () => {
    const app = await startTestApp({
      roles: ['api', 'worker'],
      now: SOLD_AT,
      env: { BUSINESS_TZ: TZ, WEEK_START: weekStart },
    });
    apps.push(app);
    expect(app.ctx.config.WEEK_START).toBe(weekStart);
    const sms = await createCreditType(app, { code: 'wk-sms', unit: 'message' });
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 100 }]);
    const client = await createClient(app, { name: 'أسبوع' });
    await subscribe(app, client.id, pkg.code);
    for (const [i, use] of USES.entries()) {
      app.clock.set(use.at);
      const res = await app.request('POST', '/v1/consumptions?wait=true', {
        key: app.keys.write,
        body: { client: client.id, credit_type: sms.code, quantity: use.quantity, idempotency_key: `wk-${i}` },
      });
      expect(res.status, res.text).toBe(200);
    }
    app.clock.set('2026-03-20T12:00:00.000Z');
    const expected = EXPECTED[weekStart];
    // the pure rule says the same
    expect([...new Set(USES.map((u) => weekKey(new Date(u.at), TZ, weekStart)))]).toEqual(
      expected.uses.map(([week]) => week),
    );

    const range = { from: '2026-02-20', to: '2026-03-20' };
    const consumption = await jsonRows<{ period_start: string; consumed: string }>(app, {
      type: 'consumption',
      params: { ...range, group_by: 'week' },
    });
    expect(consumption.run.params).toMatchObject({ group_by: 'week', time_zone: TZ, week_start: weekStart });
    expect(consumption.rows.map((r) => [r.period_start, r.consumed])).toEqual(expected.uses);

    const renewals = await jsonRows<{ period_start: string; new_subscriptions: number }>(app, {
      type: 'renewals',
      params: { ...range, group_by: 'week' },
    });
    expect(renewals.rows.map((r) => [r.period_start, Number(r.new_subscriptions)])).toEqual([[expected.sold, 1]]);

    // by day nothing changes, and the run keeps no week start
    const byDay = await jsonRows<{ period_start: string; consumed: string }>(app, {
      type: 'consumption',
      params: { ...range, group_by: 'day' },
    });
    expect(byDay.run.params.week_start).toBeUndefined();
    expect(byDay.rows.map((r) => [r.period_start, r.consumed])).toEqual([
      ['2026-03-14', '1'],
      ['2026-03-15', '2'],
      ['2026-03-16', '4'],
    ]);

    const usage = await app.request(
      'GET',
      `/v1/clients/${client.id}/usage?credit_type=${sms.code}&group_by=week&from=2026-03-01&to=2026-03-20`,
      { key: app.keys.read },
    );
    expect(usage.status, usage.text).toBe(200);
    expect(usage.body.data.map((r: { key: string; quantity: string }) => [r.key, r.quantity])).toEqual(expected.uses);
  });
});
