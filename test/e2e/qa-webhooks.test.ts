import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import type { EventType } from '../../src/domain/event.js';
import { eventSchemaOf } from '../../src/webhooks/event-schemas.js';
import { jitterUnit, retryDelayMs, retryWindowMs } from '../../src/webhooks/retry-schedule.js';
import { startTestApp, type TestApp, type TestResponse } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { type Received, Receiver } from '../helpers/receiver.js';

/**
 * QA of webhook deliveries and GET /v1/events against README "Webhooks follow Standard Webhooks", "Webhook events",
 * retries, disabled endpoints and rotation: edges the other webhook test files leave out.
 */

const verifies = (secret: string, h: Received): boolean => {
  try {
    new Webhook(secret).verify(h.body, h.headers as Record<string, string>);
    return true;
  } catch {
    return false;
  }
};

const BACKOFF = { firstDelayMs: 300, maxDelayMs: 500 };
const MAX_ATTEMPTS = 3;

let app: TestApp;
const receivers: Receiver[] = [];
const receiver = async (): Promise<Receiver> => {
  const r = new Receiver();
  await r.start();
  receivers.push(r);
  return r;
};
const endpoint = async (url: string, events: string[]): Promise<{ id: string; secret: string }> => {
  const res = await app.request('POST', '/v1/webhook-endpoints', { body: { url, events } });
  expect(res.status, res.text).toBe(201);
  return res.body as { id: string; secret: string };
};
const deliveryRow = async (endpointId: string) =>
  (await app.database.db('webhook_deliveries').where({ endpoint_id: endpointId }).first()) as {
    id: string;
    status: string;
    attempts: number;
    next_attempt_at: Date | null;
  };
const newestSeq = async (): Promise<bigint> => {
  const row = (await app.database.db('outbox_events').max('seq as seq').first()) as { seq: string | bigint | null };
  return BigInt(row.seq ?? 0);
};

interface Sale {
  clientId: string;
  subscriptionId: string;
  invoiceId: string;
  balanceId: string;
  code: string;
}
async function sale(): Promise<Sale> {
  const sms = await createCreditType(app);
  const pkg = await createPackage(app, [{ credit_type: sms.code, units: 5 }]);
  const client = await createClient(app);
  const sub = await subscribe(app, client.id, pkg.code);
  const balance = sub.balances[0]!;
  return {
    clientId: client.id,
    subscriptionId: sub.id,
    invoiceId: sub.invoice.id,
    balanceId: balance.id,
    code: balance.credit_type.code,
  };
}

beforeAll(async () => {
  app = await startTestApp({
    roles: ['api', 'worker'],
    now: '2026-03-01T12:00:00.000Z',
    env: {
      WEBHOOK_BACKOFF_MS: String(BACKOFF.firstDelayMs),
      WEBHOOK_BACKOFF_MAX_MS: String(BACKOFF.maxDelayMs),
      WEBHOOK_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
      WEBHOOK_ALLOW_PRIVATE: 'true',
    },
  });
}, 60_000);
afterAll(async () => {
  await app?.close();
  for (const r of receivers) r.stop();
});

describe('QA: the retry schedule, the last attempt, and sending again by hand', () => {
  it('waits the documented delays, records them as next_attempt_at, disables, and retries by the rules', async () => {
    const failing = await receiver();
    const witness = await receiver();
    const hook = await endpoint(failing.url, ['subscription.created']);
    const watch = await endpoint(witness.url, ['webhook_endpoint.disabled']);
    failing.status = 500;
    failing.look = async () => await deliveryRow(hook.id);
    await sale();
    await failing.until(MAX_ATTEMPTS);
    const delivery = await deliveryRow(hook.id);
    const outcome = await awaitOutcome(app.ctx, 'deliver', `delivery|${delivery.id}`, { timeoutMs: 20_000 });
    expect(outcome.state).toBe('failed');

    const hits = failing.received;
    expect(hits.map((h) => h.headers['credits-delivery-attempt'])).toEqual(['1', '2', '3']);
    // the same event every time: the same webhook-id, each attempt signed anew and verifiable
    expect(new Set(hits.map((h) => h.headers['webhook-id'])).size).toBe(1);
    for (const h of hits) {
      expect(verifies(hook.secret, h)).toBe(true);
      // signed by the wall clock, not the service's injected one (which is months away): no timing bound tighter
      // than that is asserted (the house rule: no timing asserts)
      expect(Math.abs(Number(h.headers['webhook-timestamp']) - h.at / 1000)).toBeLessThan(3_600);
    }
    for (let retry = 1; retry < MAX_ATTEMPTS; retry += 1) {
      const expected = retryDelayMs(retry, BACKOFF, jitterUnit(delivery.id, retry));
      const gap = hits[retry]!.at - hits[retry - 1]!.at;
      // the wait BullMQ made is at least the documented one (2nd retry capped at 500 ms, not 600); how much later a
      // loaded host runs it is not asserted (no timing asserts)
      expect(gap, `retry ${retry}`).toBeGreaterThanOrEqual(expected - 5);
      // and the row said so: next_attempt_at, as the attempt before recorded it, is the delay the job was given
      const seen = hits[retry]!.seen as { attempts: number; status: string; next_attempt_at: Date };
      expect(seen).toMatchObject({ attempts: retry, status: 'pending' });
      expect(seen.next_attempt_at.getTime(), `retry ${retry}`).toBeLessThanOrEqual(hits[retry]!.at + 5);
    }

    // the last attempt: failed, no next attempt, the endpoint disabled with the event to the others
    expect(await deliveryRow(hook.id)).toMatchObject({ status: 'failed', attempts: 3, next_attempt_at: null });
    const shown = (await app.request('GET', `/v1/webhook-endpoints/${hook.id}`)).body;
    expect(shown.disabled_at).not.toBeNull();
    expect(shown.disabled_reason).toMatch(/failed 3 attempts in a row.*500/);
    await witness.until(1);
    const disabled = JSON.parse(witness.received[0]!.body);
    expect(verifies(watch.secret, witness.received[0]!)).toBe(true);
    expect(disabled).toMatchObject({
      type: 'webhook_endpoint.disabled',
      data: { endpoint_id: hook.id, url: failing.url, reason: expect.stringContaining('answered 500') },
    });
    expect(typeof disabled.data.disabled_at).toBe('string');
    expect(disabled.data.disabled_at).toBe(shown.disabled_at);

    // retry while disabled: 409; unknown: 404
    const retry = () => app.request('POST', `/v1/webhook-deliveries/${delivery.id}/retry`);
    expect((await retry()).status).toBe(409);
    expect(
      (await app.request('POST', '/v1/webhook-deliveries/0190e5c5-0000-7000-8000-000000000000/retry')).status,
    ).toBe(404);

    // an event while disabled, then enabled: that event is not sent, ever; the failed one is sent by a retry
    await sale();
    expect((await app.request('POST', `/v1/webhook-endpoints/${hook.id}/enable`)).status).toBe(200);
    failing.status = 200;
    const again = await retry();
    expect(again.status, again.text).toBe(202);
    expect(again.body).toMatchObject({ delivery_id: delivery.id, status: 'pending' });
    await failing.until(MAX_ATTEMPTS + 1);
    const resent = failing.received[MAX_ATTEMPTS]!;
    expect(resent.headers['webhook-id']).toBe(hits[0]!.headers['webhook-id']);
    expect(resent.headers['credits-delivery-id']).toBe(delivery.id);
    // QA: the attempt number carries on from the row (4), while BullMQ counts afresh: README says neither
    expect(resent.headers['credits-delivery-attempt']).toBe('4');
    expect(verifies(hook.secret, resent)).toBe(true);
    await awaitOutcome(app.ctx, 'deliver', `delivery|${delivery.id}`, { timeoutMs: 20_000 });
    expect(await deliveryRow(hook.id)).toMatchObject({ status: 'delivered', attempts: 4, next_attempt_at: null });
    expect((await retry()).status).toBe(409);
    const all = await app.database.db('webhook_deliveries').where({ endpoint_id: hook.id });
    expect(all).toHaveLength(1);
    await app.request('DELETE', `/v1/webhook-endpoints/${hook.id}`);
    await app.request('DELETE', `/v1/webhook-endpoints/${watch.id}`);
  });
});

describe('QA: GET /v1/events against what was delivered', () => {
  it('pages by seq, filters by type, and lists each event exactly as delivered', async () => {
    const all = await receiver();
    const invoices = await receiver();
    const start = await newestSeq();
    const everything = await endpoint(all.url, ['*']);
    const subset = await endpoint(invoices.url, ['invoice.created', 'invoice.paid']);

    const s = await sale();
    const paid = await app.request('POST', `/v1/invoices/${s.invoiceId}/pay`, { body: {} });
    expect(paid.status, paid.text).toBe(200);
    const consume = (quantity: string, key: string, mode?: string) =>
      app.request('POST', '/v1/consumptions?wait=true', {
        body: { client: s.clientId, credit_type: s.code, quantity, idempotency_key: key, ...(mode ? { mode } : {}) },
      });
    expect((await consume('5', `qa-${s.clientId}-1`)).status).toBe(200);
    expect((await consume('1', `qa-${s.clientId}-2`, 'reject')).status).toBe(422);
    const adjusted = await app.request('POST', `/v1/balances/${s.balanceId}/adjustments`, {
      body: { delta: '2', reason: 'qa' },
    });
    expect(adjusted.status, adjusted.text).toBe(201);
    const cancelled = await app.request('POST', `/v1/subscriptions/${s.subscriptionId}/cancel`, {
      body: { at: 'now' },
    });
    expect(cancelled.status, cancelled.text).toBeLessThan(300);

    // every event since `start`, by the admin key, one page at a time
    const listed: Array<{ seq: string; id: string; type: EventType; data: Record<string, unknown> }> = [];
    let cursor: string | null = start.toString();
    for (let page = 0; cursor !== null && page < 100; page += 1) {
      const res: TestResponse = await app.request('GET', `/v1/events?after=${cursor}&limit=2`, { key: app.keys.admin });
      expect(res.status, res.text).toBe(200);
      listed.push(...res.body.data);
      cursor = res.body.next_cursor;
      if (cursor !== null) expect(cursor).toBe(res.body.data.at(-1).seq);
    }
    // the list is in commit order; these events were written one transaction after another, so that is seq order
    const seqs = listed.map((e) => BigInt(e.seq));
    expect(seqs.every((q, i) => q > start && (i === 0 || q > seqs[i - 1]!))).toBe(true);
    const types = new Set(listed.map((e) => e.type));
    for (const t of ['subscription.created', 'invoice.created', 'invoice.paid', 'balance.depleted']) {
      expect(types, t).toContain(t);
    }

    await all.until(listed.length);
    await invoices.until(listed.filter((e) => e.type.startsWith('invoice.')).length);
    // the endpoint on '*' got each listed event once, byte for byte the listed one without its seq
    const byId = new Map(all.received.map((h) => [h.headers['webhook-id'] as string, h]));
    expect(byId.size).toBe(all.received.length);
    for (const event of listed) {
      const hit = byId.get(event.id);
      expect(hit, `${event.type} delivered`).toBeDefined();
      const { seq, ...rest } = event;
      expect(JSON.parse(hit!.body), event.type).toEqual(rest);
      expect(hit!.headers['credits-event-seq'], event.type).toBe(seq);
      expect(hit!.headers['credits-event-type']).toBe(event.type);
      expect(verifies(everything.secret, hit!)).toBe(true);
      // the README's table: each type's data, and every event about a client names it by id and by external_ref
      expect(eventSchemaOf(event.type).safeParse(rest).success, event.type).toBe(true);
      if (!event.type.startsWith('webhook_endpoint.')) {
        expect(event.data.client_id, event.type).toBe(s.clientId);
        expect(typeof event.data.client_external_ref, event.type).toBe('string');
      }
    }
    // the subset endpoint: only its types
    expect(invoices.received.map((h) => h.headers['credits-event-type']).sort()).toEqual(
      listed
        .filter((e) => e.type === 'invoice.created' || e.type === 'invoice.paid')
        .map((e) => e.type)
        .sort(),
    );

    // after=<seq of an event> leaves that event out; type= lists only that type, in seq order
    const first = listed[0]!;
    const after = await app.request('GET', `/v1/events?after=${first.seq}&limit=500`, { key: app.keys.admin });
    expect(after.body.data.map((e: { id: string }) => e.id)).not.toContain(first.id);
    expect(after.body.data[0].id).toBe(listed[1]!.id);
    const typed = await app.request('GET', `/v1/events?type=invoice.created&after=${start}`, { key: app.keys.read });
    expect(typed.status, typed.text).toBe(200);
    expect(typed.body.data.map((e: { id: string }) => e.id)).toEqual(
      listed.filter((e) => e.type === 'invoice.created').map((e) => e.id),
    );
    expect(typed.body.next_cursor).toBeNull();

    // an endpoint made now is told of none of the events above
    const late = await receiver();
    const lateHook = await endpoint(late.url, ['*']);
    const madeAt = await newestSeq();
    await sale();
    await late.until(1);
    for (const h of late.received) expect(BigInt(h.headers['credits-event-seq'] as string)).toBeGreaterThan(madeAt);
    for (const id of [everything.id, subset.id, lateHook.id])
      await app.request('DELETE', `/v1/webhook-endpoints/${id}`);
  });
});

describe('QA: the documented defaults and a delivery whose endpoint is deleted while it waits', () => {
  it('the defaults (2 s, 2 h, 24 attempts) retry for 87,390 s without jitter: more than 24 hours', () => {
    const defaults = { firstDelayMs: 2_000, maxDelayMs: 7_200_000 };
    expect(retryWindowMs(24, defaults)).toBe(87_390_000);
    expect(retryWindowMs(24, defaults)).toBeGreaterThan(86_400_000);
    // the 12th retry is the last under the cap; jitter only lengthens, by less than 20 %
    expect(retryDelayMs(12, defaults, 0)).toBe(4_096_000);
    expect(retryDelayMs(13, defaults, 0)).toBe(7_200_000);
    expect(retryDelayMs(13, defaults, 0.999_999_9)).toBeLessThan(7_200_000 * 1.2);
  });

  it('is failed with "endpoint deleted" at its next attempt, not sent, and cannot be sent again', async () => {
    const r = await receiver();
    const hook = await endpoint(r.url, ['subscription.created']);
    r.status = 503;
    await sale();
    await r.until(1);
    const delivery = await deliveryRow(hook.id);
    expect((await app.request('DELETE', `/v1/webhook-endpoints/${hook.id}`)).status).toBe(204);
    const outcome = await awaitOutcome(app.ctx, 'deliver', `delivery|${delivery.id}`, { timeoutMs: 20_000 });
    expect(outcome.state).toBe('completed');
    const row = (await app.database.db('webhook_deliveries').where({ id: delivery.id }).first()) as {
      status: string;
      last_error: string;
      attempts: number;
    };
    expect(row).toMatchObject({ status: 'failed', last_error: 'endpoint deleted', attempts: 1 });
    expect(r.received).toHaveLength(1);
    expect((await app.request('POST', `/v1/webhook-deliveries/${delivery.id}/retry`)).status).toBe(409);
    const history = await app.request('GET', `/v1/webhook-endpoints/${hook.id}/deliveries`);
    expect(history.status).toBe(200);
    expect(history.body.data.map((d: { id: string; status: string }) => [d.id, d.status])).toEqual([
      [delivery.id, 'failed'],
    ]);
  });
});
