import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { closeVerified, httpSteps } from '../helpers/http-steps.js';

/**
 * What a new user met following README.md's walkthrough ("Try it with curl") that the service got wrong. The
 * catalog is the README's own: `sms` (0 decimals), `support` (2 decimals), the package `starter`, the client crm-42.
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-12-03T10:00:00.000Z' });
  await ok('POST', '/v1/credit-types', { code: 'sms', name: 'SMS', unit: 'message' }, 201);
  await ok('POST', '/v1/credit-types', { code: 'support', name: 'Support', unit: 'hour', decimals: 2 }, 201);
  await ok(
    'POST',
    '/v1/packages',
    {
      code: 'starter',
      name: 'Starter',
      price: 4900,
      currency: 'USD',
      validity: { count: 1, unit: 'month' },
      items: [
        { credit_type: 'sms', units: 1000 },
        { credit_type: 'support', units: '2.5' },
      ],
    },
    201,
  );
  await ok('POST', '/v1/clients', { external_ref: 'crm-42', name: 'Acme' }, 201);
});
afterAll(async () => {
  await closeVerified(app);
});

const { ok } = httpSteps(() => app);

describe('the events of the walkthrough', () => {
  it('subscription.created lists its items as decimal strings of the credit type ("2.5"), not scaled units', async () => {
    // API.md "Shapes": quantities go out as decimal strings with the credit type's precision; the event said "250"
    const sub = await ok('POST', '/v1/subscriptions', { client: 'crm-42', package: 'starter' }, 201);
    const events = await ok('GET', '/v1/events?type=subscription.created');
    const created = events.data.find((e: { data: { subscription_id: string } }) => e.data.subscription_id === sub.id);
    expect(created.data.items).toEqual([
      { credit_type: 'sms', units: '1000' },
      { credit_type: 'support', units: '2.5' },
    ]);
  });
});
