import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/**
 * Every event about a client names it twice: by id and by the caller's own reference (`client_external_ref`,
 * what a receiver routes by without calling back) — the invoice and subscription events as the balance and
 * consumption events always did. The outbox fills it in (src/db/repositories/outbox.ts), whatever wrote the event.
 */
let app: TestApp;

beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-03-10T12:00:00.000Z' });
});
afterAll(async () => {
  await app.close();
});

describe("the client's external_ref in events", () => {
  it('is in every event that names a client, beside its id', async () => {
    const ct = await createCreditType(app, { code: 'ecr-sms' });
    const pkg = await createPackage(app, [{ credit_type: ct.code, units: 10 }]);
    const client = await createClient(app, { external_ref: 'crm-ecr-7' });
    const sub = await subscribe(app, client.id, pkg.code, { activation: 'on_payment' });
    const paid = await app.request('POST', `/v1/invoices/${sub.invoice.id}/pay`, { key: app.keys.write });
    expect(paid.status, paid.text).toBe(200);
    const used = await app.request('POST', '/v1/consumptions?wait=true', {
      key: app.keys.write,
      body: { client: client.id, credit_type: ct.code, quantity: 10, idempotency_key: 'ecr-1' },
    });
    expect(used.status, used.text).toBe(200);
    const reversed = await app.request('POST', `/v1/consumptions/${used.body.id}/reverse?wait=true`, {
      key: app.keys.write,
      body: { reason: 'sent twice' },
    });
    expect(reversed.status, reversed.text).toBe(200);
    const cancelled = await app.request('POST', `/v1/subscriptions/${sub.id}/cancel`, {
      key: app.keys.write,
      body: { at: 'now' },
    });
    expect(cancelled.status, cancelled.text).toBe(200);

    const events = (await app.database
      .db('outbox_events')
      .where({ client_id: client.id })
      .orderBy('seq')
      .select('type', 'payload')) as Array<{ type: string; payload: { data: Record<string, unknown> } }>;
    const types = events.map((e) => e.type);
    for (const type of [
      'subscription.created',
      'invoice.created',
      'invoice.paid',
      'subscription.activated',
      'balance.depleted',
      'consumption.reversed',
      'subscription.cancelled',
    ])
      expect(types, type).toContain(type);
    for (const event of events.filter((e) => !e.type.startsWith('command.'))) {
      expect(event.payload.data, event.type).toMatchObject({ client_id: client.id, client_external_ref: 'crm-ecr-7' });
    }
  });
});
