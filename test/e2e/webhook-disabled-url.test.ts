import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { Receiver } from '../helpers/receiver.js';

/**
 * `webhook_endpoint.disabled` goes to every other endpoint (README "Disabled endpoints"), and those may be other
 * systems, of other owners. A receiver often authenticates the service by a secret in its own URL — user and
 * password, or a token in the query — so the event must name the endpoint without them: its id, and its URL's
 * scheme, host and path. Before, it carried the URL whole, handing one receiver's credentials to all the others.
 */
let app: TestApp;
let failing: Receiver;
let witness: Receiver;
beforeAll(async () => {
  app = await startTestApp({
    roles: ['api', 'worker'],
    env: { WEBHOOK_BACKOFF_MS: '50', WEBHOOK_MAX_ATTEMPTS: '1', WEBHOOK_ALLOW_PRIVATE: 'true' },
  });
  failing = new Receiver();
  witness = new Receiver();
  await failing.start();
  await witness.start();
});
afterAll(async () => {
  await app.close();
  failing.stop();
  witness.stop();
});

describe('an endpoint disabled', () => {
  it('is named to the other endpoints without the credentials of its URL', async () => {
    const { host } = new URL(failing.url);
    const url = `http://hook-user:s3cret-pass@${host}/hooks/in?token=t0ken-of-the-crm&v=2`;
    const endpoint = await app.request('POST', '/v1/webhook-endpoints', {
      body: { url, events: ['subscription.created'] },
    });
    expect(endpoint.status, endpoint.text).toBe(201);
    const other = await app.request('POST', '/v1/webhook-endpoints', {
      body: { url: witness.url, events: ['webhook_endpoint.disabled'] },
    });
    expect(other.status, other.text).toBe(201);
    failing.statuses = [500];

    const sms = await createCreditType(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 5 }]);
    await subscribe(app, (await createClient(app)).id, pkg.code);

    await witness.until(1);
    const [received] = witness.received;
    for (const secret of ['hook-user', 's3cret-pass', 't0ken-of-the-crm']) expect(received!.body).not.toContain(secret);
    expect(JSON.parse(received!.body)).toMatchObject({
      type: 'webhook_endpoint.disabled',
      data: { endpoint_id: endpoint.body.id, url: `http://${host}/hooks/in` },
    });
    // the list of events, which other systems reconcile from, says the same
    const listed = await app.request('GET', '/v1/events?type=webhook_endpoint.disabled');
    expect(listed.text).not.toContain('s3cret-pass');
    expect(listed.text).not.toContain('t0ken-of-the-crm');
  });

  it('is told to the others by the kind of failure; the addresses of the network stay with its operator', async () => {
    // a witness of its own: the file's witness endpoint is made by the test above, which may not have run first
    const ownWitness = new Receiver();
    await ownWitness.start();
    const ownEndpoint = await app.request('POST', '/v1/webhook-endpoints', {
      body: { url: ownWitness.url, events: ['webhook_endpoint.disabled'] },
    });
    expect(ownEndpoint.status, ownEndpoint.text).toBe(201);
    const gone = new Receiver();
    await gone.start();
    const { host } = new URL(gone.url);
    gone.stop(); // nothing listens there now: the connection is refused, and node's error names the address
    const endpoint = await app.request('POST', '/v1/webhook-endpoints', {
      body: { url: gone.url, events: ['subscription.created'] },
    });
    expect(endpoint.status, endpoint.text).toBe(201);
    const sms = await createCreditType(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 5 }]);
    await subscribe(app, (await createClient(app)).id, pkg.code);

    await ownWitness.until(1);
    expect((await app.request('DELETE', `/v1/webhook-endpoints/${ownEndpoint.body.id}`)).status).toBe(204);
    ownWitness.stop();
    const event = JSON.parse(ownWitness.received[0]!.body);
    expect(event).toMatchObject({ type: 'webhook_endpoint.disabled', data: { endpoint_id: endpoint.body.id } });
    expect(event.data.reason).toMatch(/failed 1 attempts in a row; the last: the connection was refused$/);
    expect(event.data.reason).not.toContain(host.split(':')[0]);
    // the operator's own view of the endpoint keeps the whole error
    const listed = await app.request('GET', '/v1/webhook-endpoints');
    const own = listed.body.data.find((e: { id: string }) => e.id === endpoint.body.id);
    expect(own.disabled_reason).toContain(`ECONNREFUSED ${host}`);
  });
});
