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
  it('subscription.created lists its items as decimal strings ("2.5"), not scaled units', async () => {
    // API.md "Shapes": quantities go out as decimal strings with the credit type's precision; the event said "250"
    const sub = await ok('POST', '/v1/subscriptions', { client: 'crm-42', package: 'starter' }, 201);
    const events = await ok('GET', '/v1/events?type=subscription.created');
    const created = events.data.find((e: { data: { subscription_id: string } }) => e.data.subscription_id === sub.id);
    // API.md "Shapes": the credit type, and the package, as objects ({id, code, …}), not their codes alone
    expect(created.data.items).toEqual([
      { credit_type: { id: expect.any(String), code: 'sms', unit: 'message' }, units: '1000' },
      { credit_type: { id: expect.any(String), code: 'support', unit: 'hour' }, units: '2.5' },
    ]);
    expect(created.data.package).toEqual({ id: sub.package.id, code: 'starter', name: expect.any(String) });
  });
});

describe('the deliveries a retry needs the id of', () => {
  it('GET /v1/webhook-endpoints/{id}/deliveries pages by cursor like every list: next_cursor, the rest', async () => {
    // API.md "Conventions": lists are paginated by cursor and answer {data, next_cursor}; this one had no cursor,
    // so past its newest 500 a failed delivery's id (for POST /v1/webhook-deliveries/{id}/retry) was out of reach
    const endpoint = await ok(
      'POST',
      '/v1/webhook-endpoints',
      { url: 'https://walk.invalid/hooks', events: ['invoice.created'] },
      201,
    );
    for (const ref of ['crm-43', 'crm-44', 'crm-45']) {
      await ok('POST', '/v1/clients', { external_ref: ref, name: ref }, 201);
      await ok('POST', '/v1/subscriptions', { client: ref, package: 'starter' }, 201);
    }
    const path = `/v1/webhook-endpoints/${endpoint.id}/deliveries`;
    await expect.poll(async () => (await ok('GET', path)).data.length, { timeout: 15_000 }).toBe(3);
    const all = await ok('GET', path);
    expect(all.next_cursor).toBeNull();

    const first = await ok('GET', `${path}?limit=2`);
    expect(first.data).toHaveLength(2);
    expect(typeof first.next_cursor).toBe('string');
    const rest = await ok('GET', `${path}?limit=2&cursor=${encodeURIComponent(first.next_cursor)}`);
    expect(rest.next_cursor).toBeNull();
    // newest first across the pages, each delivery once
    expect([...first.data, ...rest.data].map((d: { id: string }) => d.id)).toEqual(
      all.data.map((d: { id: string }) => d.id),
    );
  });
});
