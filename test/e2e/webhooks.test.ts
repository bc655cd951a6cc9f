import { createHmac } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import { signatureHeader, verifySignature } from '../../src/webhooks/signature.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { Receiver } from '../helpers/receiver.js';

/**
 * The signature as a receiver that never saw this code base would check it, from Standard Webhooks alone:
 * `webhook-signature: v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<raw body>">` keyed with the
 * base64-decoded part of the `whsec_` secret. Written with node:crypto directly, not with
 * src/webhooks/signature.ts, so that a mistake shared by the signer and the project's verifier cannot pass unseen.
 */
function receiverAccepts(secret: string, headers: IncomingMessage['headers'], rawBody: string): boolean {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signature = headers['webhook-signature'];
  if (typeof id !== 'string' || typeof timestamp !== 'string' || typeof signature !== 'string') return false;
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${rawBody}`, 'utf8').digest('base64');
  return signature.split(' ').includes(`v1,${expected}`);
}

/** The same check by the `standardwebhooks` npm package (what receivers use). */
function libraryAccepts(secret: string, headers: IncomingMessage['headers'], rawBody: string): boolean {
  try {
    new Webhook(secret).verify(rawBody, headers as Record<string, string>);
    return true;
  } catch {
    return false;
  }
}

let app: TestApp;
/**
 * Each test's own receiver, started by it: what one receives is only its test's endpoint's deliveries, whatever
 * endpoints the tests before it (in any order) left registered, and the statuses it answers are its test's alone.
 */
let receiver: Receiver;
const secret = `whsec_${Buffer.from('the test secret of 32 bytes long').toString('base64')}`;
beforeAll(async () => {
  app = await startTestApp({
    roles: ['api', 'worker'],
    now: '2026-04-01T00:00:00.000Z',
    env: { WEBHOOK_BACKOFF_MS: '50', WEBHOOK_MAX_ATTEMPTS: '2', WEBHOOK_ALLOW_PRIVATE: 'true' },
  });
});
afterAll(async () => {
  await app.close();
});
beforeEach(async () => {
  receiver = new Receiver();
  await receiver.start();
});
afterEach(() => {
  receiver.stop();
});

describe('webhooks: every event of the outbox reaches its endpoints, signed', () => {
  it(
    'delivers subscription and invoice events, retries a ' + 'receiver that fails first, and records each attempt',
    async () => {
      const endpoint = await app.request('POST', '/v1/webhook-endpoints', {
        body: { url: receiver.url, events: ['subscription.created', 'invoice.created'], secret },
      });
      expect(endpoint.status, endpoint.text).toBe(201);
      expect(endpoint.body.secret).toBe(secret);
      const listed = await app.request('GET', '/v1/webhook-endpoints');
      const listedOne = listed.body.data.find((e: { id: string }) => e.id === endpoint.body.id);
      expect(listedOne.secret).not.toBe(secret);

      receiver.statuses = [500];
      const sms = await createCreditType(app);
      const pkg = await createPackage(app, [{ credit_type: sms.code, units: 5 }]);
      const client = await createClient(app);
      const sub = await subscribe(app, client.id, pkg.code);

      // 2 events; the first attempt of the first delivery fails with 500 and is retried
      await receiver.until(3);
      const deliveries = await app.database.db('webhook_deliveries').where({ endpoint_id: endpoint.body.id });
      expect(deliveries).toHaveLength(2);
      for (const d of deliveries) {
        const outcome = await awaitOutcome(app.ctx, 'deliver', `delivery|${d.id}`, { timeoutMs: 20_000 });
        expect(outcome.state).toBe('completed');
      }
      const final = await app.database.db('webhook_deliveries').where({ endpoint_id: endpoint.body.id });
      expect(final.map((d) => d.status)).toEqual(['delivered', 'delivered']);
      const attempts = await app.database
        .db('webhook_attempts')
        .whereIn(
          'delivery_id',
          final.map((d) => d.id),
        )
        .orderBy('started_at');
      expect(attempts.map((a) => a.status_code).sort()).toEqual([200, 200, 500]);

      const types = receiver.received.map((r) => r.headers['credits-event-type']);
      expect(types).toEqual(expect.arrayContaining(['subscription.created', 'invoice.created']));
      const created = receiver.received.find((r) => r.headers['credits-event-type'] === 'subscription.created')!;
      const payload = JSON.parse(created.body) as { type: string; data: { subscription_id: string } };
      expect(payload).toMatchObject({ type: 'subscription.created', data: { subscription_id: sub.id } });
      // an invoice's event names its client: a receiver that books it needs no second call
      const invoiced = receiver.received.find((r) => r.headers['credits-event-type'] === 'invoice.created')!;
      expect(JSON.parse(invoiced.body)).toMatchObject({
        type: 'invoice.created',
        data: { client_id: client.id, subscription_id: sub.id, kind: 'subscription' },
      });

      // every delivery is signed with the endpoint's secret over its exact body, as an independent
      // receiver recomputes it; the same delivery with its body tampered with, or checked with another
      // secret, is refused
      // each delivery names its event's place in GET /v1/events: a receiver reconciles from there (?after=<seq>)
      const events = await app.request('GET', '/v1/events?limit=500', { key: app.keys.admin });
      expect(events.status, events.text).toBe(200);
      const seqOf = new Map((events.body.data as Array<{ id: string; seq: string }>).map((e) => [e.id, e.seq]));
      for (const r of receiver.received) {
        expect(r.headers['credits-event-seq'], r.headers['credits-event-type'] as string).toBe(
          seqOf.get(r.headers['credits-event-id'] as string),
        );
        expect(r.headers['webhook-id']).toBe(r.headers['credits-event-id']);
        expect(r.headers['webhook-timestamp']).toMatch(/^\d+$/);
        expect(r.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
        expect(r.headers['credits-signature']).toBeUndefined();
        expect(receiverAccepts(secret, r.headers, r.body)).toBe(true);
        expect(libraryAccepts(secret, r.headers, r.body)).toBe(true);
        const tampered = r.body.replace(/"type":"/, '"type":"x');
        expect(tampered).not.toBe(r.body);
        expect(receiverAccepts(secret, r.headers, tampered)).toBe(false);
        expect(libraryAccepts(secret, r.headers, tampered)).toBe(false);
        const otherSecret = `whsec_${Buffer.from('another secret, 32 bytes long!!!').toString('base64')}`;
        expect(libraryAccepts(otherSecret, r.headers, r.body)).toBe(false);
        // the verifier the project offers receivers agrees with the independent check
        const headers = {
          id: r.headers['webhook-id'] as string,
          timestamp: r.headers['webhook-timestamp'] as string,
          signature: r.headers['webhook-signature'] as string,
        };
        expect(verifySignature(secret, headers, r.body, Number(headers.timestamp))).toMatchObject({ ok: true });
      }
      // a retry carries the same webhook-id (the event's): the receiver's de-duplication key
      const ids = receiver.received.map((r) => r.headers['webhook-id']);
      expect(new Set(ids).size).toBe(2);
      const history = await app.request('GET', `/v1/webhook-endpoints/${endpoint.body.id}/deliveries`);
      expect(history.body.data.map((d: { status: string }) => d.status)).toEqual(['delivered', 'delivered']);
    },
  );

  it('a receiver refuses a bad signature: wrong secret, tampered body, stale timestamp', () => {
    const body = JSON.stringify({ type: 'invoice.paid', data: { total: 100 } });
    const now = 1_800_000_000;
    const id = '0190e5c5-0000-7000-8000-000000000001';
    const signature = signatureHeader([secret], id, now, body);
    const headers = { id, timestamp: String(now), signature };
    const raw = { 'webhook-id': id, 'webhook-timestamp': String(now), 'webhook-signature': signature };
    // what the project signs is what an independent receiver computes
    expect(receiverAccepts(secret, raw, body)).toBe(true);
    expect(receiverAccepts(secret, raw, body.replace('100', '1'))).toBe(false);
    expect(verifySignature(secret, headers, body, now)).toEqual({ ok: true, timestamp: now });
    const another = `whsec_${Buffer.from('yet another secret 32 bytes long').toString('base64')}`;
    expect(verifySignature(another, headers, body, now)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifySignature(secret, headers, body.replace('100', '1'), now)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifySignature(secret, { ...headers, id: `${id}0` }, body, now)).toEqual({ ok: false, reason: 'mismatch' });
    expect(verifySignature(secret, headers, body, now + 301)).toEqual({
      ok: false,
      reason: 'timestamp_out_of_tolerance',
    });
    expect(verifySignature(secret, { ...headers, signature: 'v1=abc' }, body, now)).toEqual({
      ok: false,
      reason: 'malformed',
    });
    expect(verifySignature(secret, {}, body, now)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('stops delivering to a deleted endpoint and refuses bad endpoints', async () => {
    const bad = await app.request('POST', '/v1/webhook-endpoints', {
      body: { url: 'ftp://example.test', events: ['*'] },
    });
    expect(bad.status).toBe(422);
    const unknownEvent = await app.request('POST', '/v1/webhook-endpoints', {
      body: { url: receiver.url, events: ['balance.exploded'] },
    });
    expect(unknownEvent.status).toBe(422);
    const shortSecret = await app.request('POST', '/v1/webhook-endpoints', {
      body: { url: receiver.url, events: ['*'], secret: 'short' },
    });
    expect(shortSecret.status).toBe(422);
    const notAdmin = await app.request('POST', '/v1/webhook-endpoints', {
      key: app.keys.write,
      body: { url: receiver.url, events: ['*'] },
    });
    expect(notAdmin.status).toBe(403);
    const endpoint = await app.request('POST', '/v1/webhook-endpoints', { body: { url: receiver.url, events: ['*'] } });
    expect(endpoint.body.secret).toMatch(/^whsec_/);
    expect((await app.request('DELETE', `/v1/webhook-endpoints/${endpoint.body.id}`)).status).toBe(204);
    expect((await app.request('DELETE', `/v1/webhook-endpoints/${endpoint.body.id}`)).status).toBe(404);
  });

  it('a delivery that ran out of attempts is failed for good, and sent again on request', async () => {
    // this test's receiver serves this one endpoint
    const endpoint = await app.request('POST', '/v1/webhook-endpoints', {
      body: { url: receiver.url, events: ['invoice.voided'], secret },
    });
    expect(endpoint.status, endpoint.text).toBe(201);
    const sms = await createCreditType(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 5 }]);
    const client = await createClient(app);
    const sub = await subscribe(app, client.id, pkg.code);
    receiver.statuses = [503, 503];
    const seenBefore = receiver.received.length;
    await app.request('POST', `/v1/invoices/${sub.invoice.id}/void`, { key: app.keys.write, body: {} });
    await receiver.until(seenBefore + 2);
    const [delivery] = await app.database.db('webhook_deliveries').where({ endpoint_id: endpoint.body.id });
    const failed = await awaitOutcome(app.ctx, 'deliver', `delivery|${delivery!.id}`, { timeoutMs: 20_000 });
    expect(failed.state).toBe('failed');
    expect((await app.database.db('webhook_deliveries').where({ id: delivery!.id }).first()).status).toBe('failed');
    // the endpoint is disabled by its failing delivery: a retry waits until it is enabled
    const disabled = (await app.request('GET', '/v1/webhook-endpoints')).body.data.find(
      (e: { id: string }) => e.id === endpoint.body.id,
    );
    expect(disabled.disabled_at).not.toBeNull();
    expect((await app.request('POST', `/v1/webhook-deliveries/${delivery!.id}/retry`)).status).toBe(409);
    const enabled = await app.request('POST', `/v1/webhook-endpoints/${endpoint.body.id}/enable`);
    expect(enabled.status, enabled.text).toBe(200);
    expect(enabled.body.disabled_at).toBeNull();

    const retried = await app.request('POST', `/v1/webhook-deliveries/${delivery!.id}/retry`);
    expect(retried.status, retried.text).toBe(202);
    const done = await awaitOutcome(app.ctx, 'deliver', `delivery|${delivery!.id}`, { timeoutMs: 20_000 });
    expect(done.state).toBe('completed');
    expect((await app.database.db('webhook_deliveries').where({ id: delivery!.id }).first()).status).toBe('delivered');
    expect((await app.request('POST', `/v1/webhook-deliveries/${delivery!.id}/retry`)).status).toBe(409);
    expect(
      (await app.request('POST', '/v1/webhook-deliveries/00000000-0000-4000-8000-000000000000/retry')).status,
    ).toBe(404);
  });

  it('keeps a deleted endpoint’s deliveries readable (its history); 404 only for an endpoint never made', async () => {
    const endpoint = await app.request('POST', '/v1/webhook-endpoints', {
      body: { url: receiver.url, events: ['invoice.voided'] },
    });
    expect(endpoint.status, endpoint.text).toBe(201);
    const sms = await createCreditType(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 5 }]);
    const sub = await subscribe(app, (await createClient(app)).id, pkg.code);
    receiver.statuses = [];
    const seen = receiver.received.length;
    await app.request('POST', `/v1/invoices/${sub.invoice.id}/void`, { key: app.keys.write, body: {} });
    await receiver.until(seen + 1);
    const [delivery] = await app.database.db('webhook_deliveries').where({ endpoint_id: endpoint.body.id });
    const sent = await awaitOutcome(app.ctx, 'deliver', `delivery|${delivery!.id}`, { timeoutMs: 20_000 });
    expect(sent.state).toBe('completed');
    const before = await app.request('GET', `/v1/webhook-endpoints/${endpoint.body.id}/deliveries`);
    expect(before.status, before.text).toBe(200);

    expect((await app.request('DELETE', `/v1/webhook-endpoints/${endpoint.body.id}`)).status).toBe(204);
    // gone from the endpoints, but what was delivered to it, when and how, is still there to reconcile with
    const listed = (await app.request('GET', '/v1/webhook-endpoints')).body.data as Array<{ id: string }>;
    expect(listed.map((e) => e.id)).not.toContain(endpoint.body.id);
    // read by its id it is still there, saying when it was deleted, its secret masked as in the list
    const read = await app.request('GET', `/v1/webhook-endpoints/${endpoint.body.id}`);
    expect(read.status, read.text).toBe(200);
    expect(read.body).toEqual({
      ...endpoint.body,
      secret: `${endpoint.body.secret.slice(0, 6)}…${endpoint.body.secret.slice(-4)}`,
      deleted_at: app.clock.now().toISOString(),
    });
    const after = await app.request('GET', `/v1/webhook-endpoints/${endpoint.body.id}/deliveries`);
    expect(after.status, after.text).toBe(200);
    expect(after.body).toEqual(before.body);
    expect(after.body.data).toEqual([
      expect.objectContaining({ id: delivery!.id, event_type: 'invoice.voided', status: 'delivered', attempts: 1 }),
    ]);
    const filtered = await app.request('GET', `/v1/webhook-endpoints/${endpoint.body.id}/deliveries?status=failed`);
    expect(filtered.status).toBe(200);
    expect(filtered.body.data).toEqual([]);
    // nothing is sent to it again, and an id that never named an endpoint is still 404
    expect((await app.request('POST', `/v1/webhook-deliveries/${delivery!.id}/retry`)).status).toBe(409);
    const never = await app.request('GET', '/v1/webhook-endpoints/00000000-0000-4000-8000-000000000000/deliveries');
    expect(never.status).toBe(404);
    expect((await app.request('GET', '/v1/webhook-endpoints/nope/deliveries')).status).toBe(404);
    expect((await app.request('GET', '/v1/webhook-endpoints/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await app.request('GET', '/v1/webhook-endpoints/nope')).status).toBe(404);
  });
});
