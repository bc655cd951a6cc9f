import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { closeVerified, httpSteps } from '../helpers/http-steps.js';
import { jsonRows } from '../helpers/reports.js';

/**
 * The balances report's `used_percent` (the QA walk of the reports): what was consumed, of what was granted for the
 * periods already begun. A period renewed ahead and not yet begun holds units nothing could have used: counted in
 * the share, it showed a period 27 % used as 13.5 %. Business zone UTC; every figure worked out by hand.
 *
 * The cast: up-month, 100 messages a month (1000 USD), bought on 03-01 10:00Z
 *   up-a  uses 27, renewed ahead on 03-20 (its next period, 04-01 → 05-01, 100 upcoming)
 *   up-b  uses 50, renewed ahead on 03-20, then suspended: the renewed 100 are unavailable, not upcoming
 *   up-c  bought on 03-01 to start on 03-15: nothing begun on 03-20
 */
let app: TestApp;
const { ok, clockTo } = httpSteps(() => app);

const use = (client: string, quantity: number, key: string) =>
  ok('POST', '/v1/consumptions?wait=true', { client, credit_type: 'up-sms', quantity, idempotency_key: key });

beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-03-01T10:00:00.000Z' });
  await ok('POST', '/v1/credit-types', { code: 'up-sms', name: 'SMS', unit: 'message' }, 201);
  await ok(
    'POST',
    '/v1/packages',
    {
      code: 'up-month',
      name: 'Month',
      price: 1000,
      currency: 'USD',
      validity: { count: 1, unit: 'month' },
      items: [{ credit_type: 'up-sms', units: 100 }],
      auto_renew: true,
    },
    201,
  );
  const subs: Record<string, string> = {};
  for (const ref of ['up-a', 'up-b', 'up-c']) {
    await ok('POST', '/v1/clients', { external_ref: ref, name: ref }, 201);
    const body = { client: ref, package: 'up-month', ...(ref === 'up-c' ? { starts_at: '2026-03-15T00:00:00Z' } : {}) };
    subs[ref] = (await ok('POST', '/v1/subscriptions', body, 201)).id;
  }
  await clockTo('2026-03-10T10:00:00.000Z');
  await use('up-a', 27, 'a-1');
  await use('up-b', 50, 'b-1');
  await clockTo('2026-03-12T10:00:00.000Z');
  for (const ref of ['up-a', 'up-b']) {
    const renewed = await ok('POST', `/v1/subscriptions/${subs[ref]}/renew?wait=true`);
    expect(renewed.period_start).toBe('2026-04-01T10:00:00.000Z');
  }
  await ok('PATCH', `/v1/subscriptions/${subs['up-b']}`, { status: 'suspended' });
});

afterAll(async () => {
  await closeVerified(app);
});

const report = async () =>
  (await jsonRows(app, { type: 'balances' })).rows.map((r) => [
    r.client_ref,
    r.granted,
    r.consumed,
    r.remaining,
    r.unavailable,
    r.upcoming,
    r.expired,
    r.used_percent,
  ]);

describe('used_percent: consumed of what was granted for the periods begun', () => {
  it('leaves out a period renewed ahead, upcoming or held by a suspended subscription', async () => {
    await clockTo('2026-03-20T10:00:00.000Z');
    expect(await report()).toEqual([
      // 27 of the 100 of the period begun (not of the 200 granted with the renewal): 27 %
      ['up-a', '200', '27', '73', '0', '100', '0', 27],
      // suspended: its 50 left and the renewed 100 are unavailable; 50 of the 100 begun: 50 %
      ['up-b', '200', '50', '0', '150', '0', '0', 50],
      // its period began on 03-15: nothing used of 100
      ['up-c', '100', '0', '100', '0', '0', '0', 0],
    ]);
  });

  it('a period not begun yet has no share used (null, as with nothing granted)', async () => {
    // up-d, bought on 03-20 to start on 04-15: 100 granted, none begun
    await ok('POST', '/v1/clients', { external_ref: 'up-d', name: 'up-d' }, 201);
    await ok(
      'POST',
      '/v1/subscriptions',
      { client: 'up-d', package: 'up-month', starts_at: '2026-04-15T00:00:00Z' },
      201,
    );
    const later = await jsonRows(app, { type: 'balances', params: { client: 'up-d' } });
    expect(later.rows.map((r) => [r.granted, r.upcoming, r.used_percent])).toEqual([['100', '100', null]]);
  });

  it('once the renewed period has begun, it counts: 27 of 200', async () => {
    await clockTo('2026-04-02T10:00:00.000Z');
    const rows = await report();
    // up-a: the first period's 73 expired on 04-01, the second's 100 usable; 27/200 = 13.5 %
    expect(rows[0]).toEqual(['up-a', '200', '27', '100', '0', '0', '73', 13.5]);
  });
});
