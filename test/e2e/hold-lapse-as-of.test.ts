import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_NIGHTLY_REPORTS, startTestApp, type TestApp } from '../helpers/app.js';
import { closeVerified, httpSteps } from '../helpers/http-steps.js';

/**
 * A hold that ran out before its balance was voided (its subscription cancelled), and expired only later (the sweep, or
 * a read that settles what the sweep owes): its units came back at its `expires_at`, while the balance was still
 * active, and were voided with the balance when it was cancelled. Balances as of an instant between the two (DOMAIN.md
 * "As of": as a live read then would have answered) show the balance active with every unit, not void.
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-02-01T00:00:00.000Z', env: NO_NIGHTLY_REPORTS });
});
afterAll(async () => {
  await closeVerified(app);
});

const { ok, clockTo } = httpSteps(() => app);

const rowOf = async (ref: string, asOf?: string) => {
  const q = asOf ? `?as_of=${encodeURIComponent(asOf)}` : '';
  const body = await ok('GET', `/v1/clients/${ref}/balances${q}`);
  return body.data[0] as { remaining: string; held: string; balances: Array<Record<string, unknown>> };
};

describe('a hold past its end, its balance voided before the sweep came', () => {
  it('as of an instant before the void, the units were back on the active balance', async () => {
    await clockTo('2026-02-01T10:00:00.000Z');
    await ok('POST', '/v1/credit-types', { code: 'lapse-void', name: 'lapse', unit: 'unit', decimals: 0 }, 201);
    await ok(
      'POST',
      '/v1/packages',
      {
        code: 'lapse-void-pack',
        name: 'lapse',
        price: 1000,
        currency: 'USD',
        validity: { count: 1, unit: 'month' },
        items: [{ credit_type: 'lapse-void', units: 10 }],
      },
      201,
    );
    await ok('POST', '/v1/clients', { external_ref: 'lapse-void-client', name: 'lapse' }, 201);
    const sub = await ok('POST', '/v1/subscriptions', { client: 'lapse-void-client', package: 'lapse-void-pack' }, 201);
    // 4 held for 15 minutes: it runs out at 10:15
    const held = await ok('POST', '/v1/holds?wait=true', {
      client: 'lapse-void-client',
      credit_type: 'lapse-void',
      quantity: 4,
      idempotency_key: 'lv-1',
    });
    expect(held).toMatchObject({ status: 'held', remaining: '6' });

    // cancelled at 11:00, with nothing having expired the hold yet: its 4 units stay held on the void balance
    await clockTo('2026-02-01T11:00:00.000Z');
    await ok('POST', `/v1/subscriptions/${sub.id}/cancel`, { at: 'now' });
    // a read: the hold is expired now, as of 10:15 — its units lapse with the balance that is void by now
    await clockTo('2026-02-01T11:30:00.000Z');
    expect(await rowOf('lapse-void-client')).toMatchObject({ remaining: '0', held: '0' });
    expect(await ok('GET', `/v1/holds/${held.id}`)).toMatchObject({ status: 'expired' });

    // at 10:30 the hold had run out and the subscription was not cancelled yet: a live read then would have expired
    // the hold first, giving its 4 units back to the active balance — 10 usable, none held, the balance active
    const then = await rowOf('lapse-void-client', '2026-02-01T10:30:00.000Z');
    expect(then.balances.map((b) => b.status)).toEqual(['active']);
    expect(then).toMatchObject({ remaining: '10', held: '0' });
    // from the cancel on, every unit void
    const after = await rowOf('lapse-void-client', '2026-02-01T11:00:00.000Z');
    expect(after.balances.map((b) => b.status)).toEqual(['void']);
    expect(after).toMatchObject({ remaining: '0', held: '0' });
  });
});
