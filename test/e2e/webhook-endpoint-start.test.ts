import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { disableEndpoint } from '../../src/webhooks/endpoints.js';
import { dispatchOutbox } from '../../src/workers/relay.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/**
 * An endpoint receives the events that occur after it is made (migration 0027) and while it is not disabled (migration
 * 0029). The relay does not run here (the api role alone): the test moves the outbox itself, so that an event is still
 * to move when the endpoint is made, disabled or enabled — what a relay behind its work (a burst, a relay down for an
 * hour) meets.
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

  it('made while live and moved once it is disabled: delivered (to be given up and sent again by hand)', async () => {
    const { endpointId, sale, deliveredTo } = await endpointAndSales('https://paused.invalid/hooks');
    const live = await sale();
    await disableEndpoint(app.database.db, endpointId, { detail: 'by the test', shown: 'by the test' }, new Date());
    await sale();
    while ((await dispatchOutbox(app.ctx)) > 0);
    expect(await deliveredTo()).toEqual([live]);
  });

  it('made while disabled and moved once it is enabled again: not delivered; made after: delivered', async () => {
    const { endpointId, sale, deliveredTo } = await endpointAndSales('https://resumed.invalid/hooks');
    await disableEndpoint(app.database.db, endpointId, { detail: 'by the test', shown: 'by the test' }, new Date());
    await sale();
    const enabled = await app.request('POST', `/v1/webhook-endpoints/${endpointId}/enable`);
    expect(enabled.status, enabled.text).toBe(200);
    const after = await sale();
    // twice disabled: the first span stays shut for the events made in it
    await disableEndpoint(app.database.db, endpointId, { detail: 'again', shown: 'again' }, new Date());
    await sale();
    expect((await app.request('POST', `/v1/webhook-endpoints/${endpointId}/enable`)).status).toBe(200);
    const last = await sale();
    while ((await dispatchOutbox(app.ctx)) > 0);
    expect(await deliveredTo()).toEqual([after, last]);
  });
});

/**
 * An endpoint told of `subscription.created`, made with the relay caught up; `sale` makes a subscription (answering
 * its id) and `deliveredTo` the subscriptions the endpoint got a delivery for, in the outbox's order.
 */
async function endpointAndSales(url: string) {
  const sms = await createCreditType(app);
  const pkg = await createPackage(app, [{ credit_type: sms.code, units: 5 }]);
  const endpoint = await app.request('POST', '/v1/webhook-endpoints', {
    body: { url, events: ['subscription.created'] },
  });
  expect(endpoint.status, endpoint.text).toBe(201);
  while ((await dispatchOutbox(app.ctx)) > 0);
  const endpointId = endpoint.body.id as string;
  return {
    endpointId,
    sale: async () => (await subscribe(app, (await createClient(app)).id, pkg.code)).id,
    deliveredTo: async () =>
      (
        await app.database
          .db('webhook_deliveries as d')
          .join('outbox_events as e', 'e.id', 'd.event_id')
          .where('d.endpoint_id', endpointId)
          .orderBy('e.seq')
          .select('e.payload')
      ).map((d: { payload: { data: { subscription_id: string } } }) => d.payload.data.subscription_id),
  };
}
