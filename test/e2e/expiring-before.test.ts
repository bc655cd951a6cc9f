import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_NIGHTLY_REPORTS, startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { closeVerified, httpSteps } from '../helpers/http-steps.js';

/**
 * GET /v1/subscriptions?expiring_before= (API.md): the subscriptions whose period ends before that time — those
 * still to end. One that has ended (expired, cancelled) is not expiring; asked by its status, it is listed.
 */
let app: TestApp;
const { ok, clockTo } = httpSteps(() => app);
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-01-15T10:00:00.000Z', env: NO_NIGHTLY_REPORTS });
});
afterAll(async () => {
  await closeVerified(app);
});

describe('GET /v1/subscriptions?expiring_before=', () => {
  it('lists the subscriptions still to end before that time, not the expired or cancelled ones', async () => {
    const sms = await createCreditType(app);
    const daily = await createPackage(app, [{ credit_type: sms.code, units: 5 }], {
      validity: { count: 1, unit: 'day' },
    });
    const monthly = await createPackage(app, [{ credit_type: sms.code, units: 5 }]);
    const quarterly = await createPackage(app, [{ credit_type: sms.code, units: 5 }], {
      validity: { count: 3, unit: 'month' },
    });
    const client = await createClient(app);
    // expired: a day from Jan 15 10:00, not renewed, swept on Jan 17
    const expired = await subscribe(app, client.id, daily.code, { auto_renew: false });
    await clockTo('2026-01-17T10:00:00.000Z');
    const night = await ok('POST', '/v1/admin/nightly-runs', {});
    for (const phase of night.phases) expect(phase.failed, JSON.stringify(phase)).toEqual([]);
    expect(await ok('GET', `/v1/subscriptions/${expired.id}`)).toMatchObject({ status: 'expired' });
    // running to Feb 17; the same, cancelled now; running to Apr 17
    const running = await subscribe(app, client.id, monthly.code);
    const cancelled = await subscribe(app, client.id, monthly.code);
    expect(await ok('POST', `/v1/subscriptions/${cancelled.id}/cancel`, { at: 'now' })).toMatchObject({
      status: 'cancelled',
    });
    const later = await subscribe(app, client.id, quarterly.code);
    expect(later.current_period_end).toBe('2026-04-17T10:00:00.000Z');

    const ids = async (query: string) =>
      ((await ok('GET', `/v1/subscriptions?client=${client.id}&${query}`)).data as Array<{ id: string }>).map(
        (s) => s.id,
      );
    expect(await ids('expiring_before=2026-03-01T00:00:00Z')).toEqual([running.id]);
    expect(await ids('expiring_before=2026-05-01T00:00:00Z')).toEqual([running.id, later.id]);
    // an ended one, asked by its status
    expect(await ids('status=expired&expiring_before=2026-03-01T00:00:00Z')).toEqual([expired.id]);
    expect(await ids('status=cancelled&expiring_before=2026-03-01T00:00:00Z')).toEqual([cancelled.id]);
  });
});
