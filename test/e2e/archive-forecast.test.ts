import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveMonth } from '../../src/services/archive.js';
import { verifyInvariants } from '../../src/services/verify.js';
import { NO_NIGHTLY_REPORTS, startTestApp, type TestApp } from '../helpers/app.js';
import { sixMonthsOfHundred } from '../helpers/archive-scene.js';

/**
 * Review finding: the forecast's burn is the net consumption of its window, summed from the ledger's `consume` and
 * `reverse` entries — and an archived month's entries are no longer live. A window reaching into an archived month
 * silently lost its uses: after archive-month the same client, with the same uses, burned nothing and never ran
 * empty. The usage endpoint, read from the consumptions, still counts them; the burn is the same sums.
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-02-10T10:00:00.000Z', env: NO_NIGHTLY_REPORTS });
});
afterAll(async () => {
  expect((await verifyInvariants(app.database.db)).violations).toEqual([]);
  await app.close();
});

const at = (iso: string) => app.clock.set(iso);

describe('the forecast after its window’s month was archived', () => {
  it('burns what was used in the window, archived or not', async () => {
    const { sms, client, use } = await sixMonthsOfHundred(app, 'af');
    // 20 used on 20 February and 12 on 25 February, 2 of them given back on 26 February: 30 net in the window
    at('2026-02-20T10:00:00.000Z');
    await use(20, 'af-1');
    at('2026-02-25T10:00:00.000Z');
    const second = await use(12, 'af-2');
    at('2026-02-26T10:00:00.000Z');
    const partial = await app.request('POST', `/v1/consumptions/${second}/reverse?wait=true`, {
      key: app.keys.write,
      body: {},
    });
    expect(partial.status, partial.text).toBe(200);
    await use(10, 'af-3');

    at('2026-03-05T10:00:00.000Z');
    const forecast = async () => {
      const res = await app.request('GET', `/v1/clients/${client.id}/forecast?credit_type=${sms.code}&window_days=30`, {
        key: app.keys.read,
      });
      expect(res.status, res.text).toBe(200);
      return res.body;
    };
    const before = await forecast();
    expect(before).toMatchObject({ remaining: '70', burn_per_day: '1', days_until_empty: 70 });

    const february = await archiveMonth(app.database.db, '2026-02', app.clock.now());
    expect(february.ok, february.ok ? '' : february.detail).toBe(true);
    expect(await forecast()).toEqual(before);
  });
});
