import { describe, expect, it } from 'vitest';
import { appPerTest } from '../helpers/app-per-test.js';
import { httpSteps } from '../helpers/http-steps.js';
import { jsonRows } from '../helpers/reports.js';
import { signInToUi, uiGet } from '../helpers/ui-session.js';

/**
 * The package page's chart of requests per day (back office, /ui/packages/{id}): a renewal made ahead and taken back
 * before its period began (src/services/renewal-undo.ts: a cancel at period end) was still drawn as a request, where
 * `top_packages` leaves it out of the requests of any range that ends after the undo, and the `renewals` report
 * counts it in `renewals` and its undo in `renewals_undone`. The chart now counts a package's requests as
 * `top_packages` does over the chart's days (up to now): the undone renewal is none, and the chart's total is
 * `top_packages`' requests, and `new_subscriptions + renewals − renewals_undone` of the `renewals` report, over them.
 *
 * The cast (business zone UTC; pp-3day: 1000 USD for 3 days, not renewed by itself):
 *   03-29 10:00Z  A, B and C each buy pp-3day ([03-29 10:00, 04-01 10:00)): 3 requests that day
 *   03-30 10:00Z  A and B renewed by hand, ahead ([04-01 10:00, 04-04 10:00)): 2 requests that day
 *   03-31 09:00Z  A set to cancel at period end: A's renewal taken back — 1 request left on 03-30
 */
const service = appPerTest();
const { ok, clockTo } = httpSteps(() => service.current());

/**
 * The bars of the package page's chart, in English: day (YYYY-MM-DD) → requests, days of none left out. Signed in
 * afresh (a session does not outlive the hours the clock moves).
 */
async function chartOf(pkg: string): Promise<{ bars: Map<string, number>; legend: string }> {
  const app = service.current();
  const session = await signInToUi(app.baseUrl, app.keys.admin);
  const page = await uiGet(app.baseUrl, session, `/ui/packages/${pkg}?lang=en`);
  expect(page.status).toBe(200);
  const chart = page.text.slice(page.text.indexOf('id="req-h"'), page.text.indexOf('id="psubs-h"'));
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const bars = new Map<string, number>();
  for (const [, day, month, year, value] of chart.matchAll(
    /<rect class="bar[^"]*"[^>]*><title>[^<\d]*(\d{1,2}) (\w{3}) (\d{4})[^<\d]*: ([\d,]+) [^<]*<\/title>/g,
  )) {
    const n = Number(value!.replace(/,/g, ''));
    const iso = `${year}-${String(months.indexOf(month!) + 1).padStart(2, '0')}-${day!.padStart(2, '0')}`;
    if (n > 0) bars.set(iso, n);
  }
  const legend = /<p class="legend">(.*?)<\/p>/s.exec(chart)?.[1] ?? '';
  return { bars, legend };
}

describe('the package page: a renewal taken back is no request', () => {
  it('draws a renewal while it stands, not once taken back, as top_packages and renewals count', async () => {
    await service.start('2026-03-29T10:00:00.000Z');
    const app = service.current();
    await ok('POST', '/v1/credit-types', { code: 'pp-sms', name: 'SMS', unit: 'message' }, 201);
    const pkg = await ok(
      'POST',
      '/v1/packages',
      {
        code: 'pp-3day',
        name: 'Three days',
        price: 1000,
        currency: 'USD',
        validity: { count: 3, unit: 'day' },
        items: [{ credit_type: 'pp-sms', units: 100 }],
        auto_renew: false,
      },
      201,
    );
    const subs: Record<string, string> = {};
    for (const who of ['a', 'b', 'c']) {
      await ok('POST', '/v1/clients', { external_ref: `pp-${who}`, name: who }, 201);
      subs[who] = (await ok('POST', '/v1/subscriptions', { client: `pp-${who}`, package: 'pp-3day' }, 201)).id;
    }
    await clockTo('2026-03-30T10:00:00.000Z');
    for (const who of ['a', 'b']) {
      expect(await ok('POST', `/v1/subscriptions/${subs[who]}/renew?wait=true`)).toMatchObject({
        period_start: '2026-04-01T10:00:00.000Z',
      });
    }

    // before the undo: both renewals stand
    await clockTo('2026-03-30T12:00:00.000Z');
    const before = await chartOf(pkg.id);
    expect(before.bars).toEqual(
      new Map([
        ['2026-03-29', 3],
        ['2026-03-30', 2],
      ]),
    );
    expect(before.legend).toMatch(/^5 in total/);

    // A's renewal taken back (unpaid, its period not begun): its balances and invoice voided
    await clockTo('2026-03-31T09:00:00.000Z');
    const cancelled = await ok('POST', `/v1/subscriptions/${subs.a}/cancel`, { at: 'period_end' });
    expect(cancelled).toMatchObject({ current_period_end: '2026-04-01T10:00:00.000Z', renewal_count: 0 });
    await clockTo('2026-03-31T12:00:00.000Z');
    const after = await chartOf(pkg.id);
    // 03-30: B's renewal alone; A's is no request (it was one until 03-31 09:00)
    expect(after.bars).toEqual(
      new Map([
        ['2026-03-29', 3],
        ['2026-03-30', 1],
      ]),
    );
    expect(after.legend).toMatch(/^4 in total/);

    // the same days as the reports count them: the chart's 30 days up to now
    const params = { from: '2026-03-02T00:00:00.000Z', to: '2026-03-31T12:00:00.000Z' };
    const top = (await jsonRows(app, { type: 'top_packages', params })).rows;
    expect(top).toEqual([
      expect.objectContaining({ package_code: 'pp-3day', new_subscriptions: 3, renewals: 1, requests: 4 }),
    ]);
    const renewals = (await jsonRows(app, { type: 'renewals', params: { ...params, group_by: 'day' } })).rows;
    // the renewal made on 03-30 and taken back on 03-31: in `renewals` of the one, `renewals_undone` of the other
    expect(renewals.map((r) => [r.period_start, r.new_subscriptions, r.renewals, r.renewals_undone])).toEqual([
      ['2026-03-29', 3, 0, 0],
      ['2026-03-30', 0, 2, 0],
      ['2026-03-31', 0, 0, 1],
    ]);
    const standing = renewals.reduce(
      (sum, r) => sum + Number(r.new_subscriptions) + Number(r.renewals) - Number(r.renewals_undone),
      0,
    );
    expect([...after.bars.values()].reduce((sum, n) => sum + n, 0)).toBe(standing);
  });
});
