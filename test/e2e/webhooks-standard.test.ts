import { randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import { createDeliveries, markEndpointDisabled } from '../../src/db/repositories/webhooks.js';
import { eventSchemaOf } from '../../src/webhooks/event-schemas.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { type Received, Receiver } from '../helpers/receiver.js';

/** What the `standardwebhooks` package makes of a delivery with this secret: its payload, or the error. */
function verify(secret: string, r: Received): { ok: true; payload: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, payload: new Webhook(secret).verify(r.body, r.headers as Record<string, string>) };
  } catch (error) {
    return { ok: false, error: String(error) };
  }
}

/** A subscription: `subscription.created` and `invoice.created` events. */
async function someEvents(app: TestApp): Promise<string> {
  const sms = await createCreditType(app);
  const pkg = await createPackage(app, [{ credit_type: sms.code, units: 5 }]);
  const client = await createClient(app);
  return (await subscribe(app, client.id, pkg.code)).id;
}

const deliveriesOf = async (app: TestApp, endpointId: string) =>
  (await app.database.db('webhook_deliveries').where({ endpoint_id: endpointId }).orderBy('created_at')) as Array<{
    id: string;
    status: string;
    last_error: string | null;
  }>;

let guarded: TestApp;
let app: TestApp;
/**
 * Each test's own receivers, started before it: what they receive is what its own endpoints were sent, whatever the
 * tests before it (in any order) registered and left.
 */
let receiver: Receiver;
let witness: Receiver;
beforeAll(async () => {
  // the production default: the SSRF guard on
  guarded = await startTestApp({
    roles: ['api', 'worker'],
    env: { WEBHOOK_MAX_ATTEMPTS: '1', WEBHOOK_TIMEOUT_MS: '2000' },
  });
  // tests and local development: receivers on 127.0.0.1
  app = await startTestApp({
    roles: ['api', 'worker'],
    env: { WEBHOOK_BACKOFF_MS: '20', WEBHOOK_MAX_ATTEMPTS: '2', WEBHOOK_ALLOW_PRIVATE: 'true' },
  });
}, 60_000);
afterAll(async () => {
  await guarded?.close();
  await app?.close();
});
beforeEach(async () => {
  receiver = new Receiver();
  witness = new Receiver();
  await receiver.start();
  await witness.start();
});
afterEach(() => {
  receiver.stop();
  witness.stop();
});

describe('the SSRF guard', () => {
  it('refuses URLs whose host is or resolves to a non-public address, at creation', async () => {
    const refused = [
      receiver.url,
      'http://localhost:8080/hook',
      'http://127.1:8080/hook',
      'http://2130706433/hook',
      'http://0x7f.0.0.1/hook',
      'http://[::1]/hook',
      'http://[::ffff:127.0.0.1]/hook',
      'http://[::ffff:a9fe:a9fe]/latest/meta-data',
      'http://169.254.169.254/latest/meta-data',
      'https://10.1.2.3/hook',
      'https://172.16.0.1/hook',
      'https://192.168.1.10/hook',
      'https://100.64.0.1/hook',
      'http://0.0.0.0/hook',
      'http://[fe80::1]/hook',
      'http://[fd00::1]/hook',
      'http://[::]/hook',
      'http://224.0.0.1/hook',
    ];
    // none stored: as many endpoints after as before (the next test writes one of its own directly)
    const stored = async () => guarded.database.db('webhook_endpoints').count('* as n').first();
    const before = await stored();
    for (const url of refused) {
      const res = await guarded.request('POST', '/v1/webhook-endpoints', { body: { url, events: ['*'] } });
      expect(res.status, `${url}: ${res.text}`).toBe(422);
      expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(res.body.errors?.[0]?.field).toBe('url');
    }
    expect(await stored()).toEqual(before);
    // a public address is taken, and so is a host that does not resolve now (each delivery vets it again)
    for (const url of [
      'https://93.184.215.14/hook',
      'https://[2606:4700:4700::1111]/hook',
      'https://hooks.invalid/x',
    ]) {
      const res = await guarded.request('POST', '/v1/webhook-endpoints', { body: { url, events: ['invoice.paid'] } });
      expect(res.status, `${url}: ${res.text}`).toBe(201);
    }
  });

  it('refuses at delivery time too: nothing is sent to an endpoint that points at a private address', async () => {
    // an endpoint stored when its host resolved elsewhere (written directly: the API refuses it now)
    const id = '0190e5c5-0000-7000-8000-00000000aaaa';
    await guarded.database.db('webhook_endpoints').insert({
      id,
      url: receiver.url,
      events: ['subscription.created'],
      secret: `whsec_${Buffer.alloc(32, 1).toString('base64')}`,
      created_at: new Date(),
    });
    const before = receiver.received.length;
    await someEvents(guarded);
    let deliveries = await deliveriesOf(guarded, id);
    for (let i = 0; i < 200 && deliveries.length === 0; i += 1) {
      // the relay runs on its own; the delivery row appears once it has (no queue to await before that)
      await new Promise((r) => setTimeout(r, 25));
      deliveries = await deliveriesOf(guarded, id);
    }
    expect(deliveries).toHaveLength(1);
    const outcome = await awaitOutcome(guarded.ctx, 'deliver', `delivery|${deliveries[0]!.id}`, {
      timeoutMs: 20_000,
      untilAdded: true,
    });
    expect(outcome.state).toBe('failed');
    const [after] = await deliveriesOf(guarded, id);
    expect(after!.status).toBe('failed');
    expect(after!.last_error).toMatch(/refused: .*127\.0\.0\.1.*loopback/);
    expect(receiver.received.length).toBe(before);
  });
});

describe('Standard Webhooks', () => {
  it('deliveries verify with the standardwebhooks package; a rotation signs with both secrets, then one', async () => {
    const endpoint = await app.request('POST', '/v1/webhook-endpoints', {
      body: { url: receiver.url, events: ['subscription.created'] },
    });
    expect(endpoint.status, endpoint.text).toBe(201);
    const first = endpoint.body.secret as string;
    expect(first).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

    await someEvents(app);
    await receiver.until(1);
    const plain = receiver.received[0]!;
    const verified = verify(first, plain);
    expect(verified).toMatchObject({ ok: true });
    const payload = (verified as { payload: { id: string } }).payload;
    expect(plain.headers['webhook-id']).toBe(payload.id);
    expect(plain.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(plain.headers['credits-signature']).toBeUndefined();
    expect(eventSchemaOf('subscription.created').safeParse(payload).success).toBe(true);

    // rotation with the default grace: the new secret and the old one both verify
    const rotated = await app.request('POST', `/v1/webhook-endpoints/${endpoint.body.id}/rotate-secret`, { body: {} });
    expect(rotated.status, rotated.text).toBe(200);
    const second = rotated.body.secret as string;
    expect(second).not.toBe(first);
    const grace = new Date(rotated.body.previous_secret_expires_at).getTime() - Date.now();
    expect(grace).toBeGreaterThan(86_000_000);
    expect(grace).toBeLessThanOrEqual(86_400_000);
    const listed = await app.request('GET', '/v1/webhook-endpoints');
    expect(listed.body.data.find((e: { id: string }) => e.id === endpoint.body.id).secret).not.toBe(second);
    await someEvents(app);
    await receiver.until(2);
    const both = receiver.received[1]!;
    expect((both.headers['webhook-signature'] as string).split(' ')).toHaveLength(2);
    expect(verify(second, both)).toMatchObject({ ok: true });
    expect(verify(first, both)).toMatchObject({ ok: true });

    // a rotation without grace: only the newest secret verifies
    const again = await app.request('POST', `/v1/webhook-endpoints/${endpoint.body.id}/rotate-secret`, {
      body: { grace_seconds: 0 },
    });
    expect(again.status, again.text).toBe(200);
    expect(again.body.previous_secret_expires_at).toBeNull();
    const third = again.body.secret as string;
    await someEvents(app);
    await receiver.until(3);
    const single = receiver.received[2]!;
    expect((single.headers['webhook-signature'] as string).split(' ')).toHaveLength(1);
    expect(verify(third, single)).toMatchObject({ ok: true });
    expect(verify(second, single)).toMatchObject({ ok: false });
    expect(verify(first, single)).toMatchObject({ ok: false });

    // bad grace, unknown endpoint
    const bad = await app.request('POST', `/v1/webhook-endpoints/${endpoint.body.id}/rotate-secret`, {
      body: { grace_seconds: -1 },
    });
    expect(bad.status).toBe(422);
    expect(
      (
        await app.request('POST', '/v1/webhook-endpoints/0190e5c5-0000-7000-8000-000000000000/rotate-secret', {
          body: {},
        })
      ).status,
    ).toBe(404);
    await app.request('DELETE', `/v1/webhook-endpoints/${endpoint.body.id}`);
  });

  it('a given secret is whsec_ + base64 of 24 to 64 bytes; an older one signs with its UTF-8 bytes', async () => {
    const b64 = (n: number) => Buffer.alloc(n, 9).toString('base64');
    for (const secret of [`whsec_${b64(23)}`, `whsec_${b64(65)}`, b64(32), 'whsec_not*base64*at*all*0123456789']) {
      const res = await app.request('POST', '/v1/webhook-endpoints', {
        body: { url: receiver.url, events: ['*'], secret },
      });
      expect(res.status, secret).toBe(422);
    }
    const given = `whsec_${b64(24)}`;
    const ok = await app.request('POST', '/v1/webhook-endpoints', {
      body: { url: receiver.url, events: ['subscription.created'], secret: given },
    });
    expect(ok.status, ok.text).toBe(201);
    expect(ok.body.secret).toBe(given);
    // a secret stored before the standard (base64url, not decodable as standard base64)
    const legacy = 'whsec_older-secret_of_base64url_characters';
    await app.database.db('webhook_endpoints').where({ id: ok.body.id }).update({ secret: legacy });
    const seen = receiver.received.length;
    await someEvents(app);
    await receiver.until(seen + 1);
    const r = receiver.received[seen]!;
    expect(verify(legacy, r)).toMatchObject({ ok: false });
    const raw = new Webhook(legacy, { format: 'raw' });
    expect(raw.verify(r.body, r.headers as Record<string, string>)).toMatchObject({ type: 'subscription.created' });
    await app.request('DELETE', `/v1/webhook-endpoints/${ok.body.id}`);
  });
});

describe('an endpoint that keeps failing', () => {
  it('is disabled with an event, gets no new deliveries, and is enabled again', async () => {
    const failing = new Receiver();
    await failing.start();
    try {
      const endpoint = await app.request('POST', '/v1/webhook-endpoints', {
        body: { url: failing.url, events: ['subscription.created'] },
      });
      const watcher = await app.request('POST', '/v1/webhook-endpoints', {
        body: { url: witness.url, events: ['subscription.created', 'webhook_endpoint.disabled'] },
      });
      expect(watcher.status, watcher.text).toBe(201);
      failing.statuses = [500, 500];
      await someEvents(app);
      await failing.until(2);
      const [delivery] = await deliveriesOf(app, endpoint.body.id);
      const outcome = await awaitOutcome(app.ctx, 'deliver', `delivery|${delivery!.id}`, { timeoutMs: 20_000 });
      expect(outcome.state).toBe('failed');
      expect((await deliveriesOf(app, endpoint.body.id))[0]!.status).toBe('failed');

      // the endpoint is disabled, and says why
      const listed = (await app.request('GET', '/v1/webhook-endpoints')).body.data.find(
        (e: { id: string }) => e.id === endpoint.body.id,
      );
      expect(listed.disabled_at).not.toBeNull();
      expect(listed.disabled_reason).toMatch(/failed 2 attempts.*500/);
      // the event reaches the other endpoint, and lists in GET /v1/events
      await witness.until(2);
      const disabledEvent = witness.received.map((r) => JSON.parse(r.body)).find((e) => e.type.startsWith('webhook_'));
      expect(disabledEvent).toMatchObject({
        type: 'webhook_endpoint.disabled',
        data: { endpoint_id: endpoint.body.id, url: failing.url },
      });
      expect(eventSchemaOf('webhook_endpoint.disabled').safeParse(disabledEvent).success).toBe(true);
      const events = await app.request('GET', '/v1/events?type=webhook_endpoint.disabled');
      // this endpoint's (another test's endpoint may have been disabled before this test)
      const ofThisEndpoint = (events.body.data as Array<{ id: string; data: { endpoint_id: string } }>).filter(
        (e) => e.data.endpoint_id === endpoint.body.id,
      );
      expect(ofThisEndpoint.map((e) => e.id)).toEqual([disabledEvent.id]);

      // the pages show it disabled, with the reason and a button to enable it
      const ui = await app.request('GET', '/ui/webhooks', { key: app.keys.admin });
      expect(ui.status).toBe(200);
      const row = ui.text.slice(ui.text.indexOf(`data-endpoint="${endpoint.body.id}"`));
      expect(row.slice(0, row.indexOf('</tr>'))).toMatch(
        /badge disabled[\s\S]*failed 2 attempts[\s\S]*data-action="enable"/,
      );
      expect(ui.text).toContain('1 disabled');

      // a new event: the witness gets it, the disabled endpoint gets no delivery
      const witnessed = witness.received.length;
      await someEvents(app);
      await witness.until(witnessed + 1);
      expect(await deliveriesOf(app, endpoint.body.id)).toHaveLength(1);
      expect(failing.received).toHaveLength(2);

      // enabled again: the next event is delivered to it
      const enabled = await app.request('POST', `/v1/webhook-endpoints/${endpoint.body.id}/enable`);
      expect(enabled.status, enabled.text).toBe(200);
      expect(enabled.body).toMatchObject({ disabled_at: null, disabled_reason: null });
      await someEvents(app);
      await failing.until(3);
      expect(failing.received[2]!.headers['credits-event-type']).toBe('subscription.created');
      await app.request('DELETE', `/v1/webhook-endpoints/${endpoint.body.id}`);
      await app.request('DELETE', `/v1/webhook-endpoints/${watcher.body.id}`);
    } finally {
      failing.stop();
    }
  });

  it('a delivery given up while its endpoint was disabled is sent again by a retry once it is enabled', async () => {
    const late = new Receiver();
    await late.start();
    try {
      const endpoint = await app.request('POST', '/v1/webhook-endpoints', {
        body: { url: late.url, events: ['subscription.created'] },
      });
      expect(endpoint.status, endpoint.text).toBe(201);
      // the interleaving: a delivery to it is still to make when it is disabled (as after another
      // delivery's last failed attempt), and then its job runs
      // (its window shut too: the relay makes no delivery of the events below, the one made by hand here stands alone)
      await markEndpointDisabled(app.database.db, endpoint.body.id, 'test', new Date());
      await someEvents(app);
      const [event] = await app.database.db('outbox_events').orderBy('seq', 'desc').limit(1).select('id');
      const [deliveryId] = await createDeliveries(
        app.database.db,
        [{ id: randomUUID(), endpoint_id: endpoint.body.id, event_id: event!.id }],
        new Date(),
      );
      const given = { id: deliveryId! };
      await app.ctx.queues.webhooks.add('deliver', { delivery_id: given.id }, { jobId: `delivery|${given.id}` });
      // its job ran, gave it up and completed
      const skipped = await awaitOutcome(app.ctx, 'deliver', `delivery|${given.id}`, {
        timeoutMs: 20_000,
        untilAdded: true,
      });
      expect(skipped.state === 'completed' && skipped.value.status).toBe('skipped');
      expect((await deliveriesOf(app, endpoint.body.id))[0]!.status).toBe('failed');

      expect((await app.request('POST', `/v1/webhook-endpoints/${endpoint.body.id}/enable`)).status).toBe(200);
      const retried = await app.request('POST', `/v1/webhook-deliveries/${given.id}/retry`);
      expect(retried.status, retried.text).toBe(202);
      await late.until(1);
      expect(late.received[0]!.headers['credits-delivery-id']).toBe(given.id);
      await app.request('DELETE', `/v1/webhook-endpoints/${endpoint.body.id}`);
    } finally {
      late.stop();
    }
  });

  it('a redirect is not followed: it is a failed attempt', async () => {
    const redirecting = new Receiver();
    await redirecting.start();
    redirecting.location = witness.url;
    try {
      const endpoint = await app.request('POST', '/v1/webhook-endpoints', {
        body: { url: redirecting.url, events: ['subscription.created'] },
      });
      const witnessed = witness.received.length;
      await someEvents(app);
      await redirecting.until(2);
      const [delivery] = await deliveriesOf(app, endpoint.body.id);
      const outcome = await awaitOutcome(app.ctx, 'deliver', `delivery|${delivery!.id}`, { timeoutMs: 20_000 });
      expect(outcome.state).toBe('failed');
      expect((await deliveriesOf(app, endpoint.body.id))[0]!.last_error).toMatch(/answered 307/);
      expect(witness.received.length).toBe(witnessed);
      // deleted, as the other tests delete theirs: a disabled endpoint left behind would count on the pages
      await app.request('DELETE', `/v1/webhook-endpoints/${endpoint.body.id}`);
    } finally {
      redirecting.stop();
    }
  });
});
