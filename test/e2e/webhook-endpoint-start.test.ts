import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatchOutbox } from '../../src/workers/relay.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/**
 * An endpoint receives the events that occur after it is made (migration 0027). The relay does not run here (the api
 * role alone): the test moves the outbox itself, so that an event made before the endpoint is still to move when the
 * endpoint is made — what a relay behind its work (a burst, a relay down for an hour) meets.
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ roles: ['api'], now: '2026-12-03T10:00:00.000Z' });
});
afterAll(async () => {
  await app.close();
});

describe('a webhook endpoint made while the relay is behind', () => {
  it('is told of the events after it, not of those still to move when it was made', async () => {
    const sms = await createCreditType(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 5 }]);
    await subscribe(app, (await createClient(app)).id, pkg.code);
    const endpoint = await app.request('POST', '/v1/webhook-endpoints', {
      body: { url: 'https://start.invalid/hooks', events: ['subscription.created'] },
    });
    expect(endpoint.status, endpoint.text).toBe(201);
    const after = await subscribe(app, (await createClient(app)).id, pkg.code);
    // both events are still to move: neither has been matched to an endpoint yet
    const undispatched = await app.database.db('outbox_events').whereNull('dispatched_at').count('* as n').first();
    expect(Number(undispatched?.n)).toBeGreaterThanOrEqual(2);

    while ((await dispatchOutbox(app.ctx)) > 0);
    const delivered = await app.database
      .db('webhook_deliveries as d')
      .join('outbox_events as e', 'e.id', 'd.event_id')
      .where('d.endpoint_id', endpoint.body.id)
      .select('e.payload');
    expect(
      delivered.map((d: { payload: { data: { subscription_id: string } } }) => d.payload.data.subscription_id),
    ).toEqual([after.id]);
  });
});
