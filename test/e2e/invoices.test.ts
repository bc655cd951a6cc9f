import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, snapshotCounts, subscribe } from '../helpers/fixtures.js';

let app: TestApp;
let pkg: { code: string };
beforeAll(async () => {
  app = await startTestApp({ now: '2026-03-10T12:00:00.000Z' });
  const sms = await createCreditType(app, { code: 'inv-sms' });
  pkg = await createPackage(app, [{ credit_type: sms.code, units: 50 }], {
    code: 'inv-pkg',
    price: 1999,
    currency: 'EUR',
    validity: { count: 2, unit: 'week' },
  });
});
afterAll(async () => {
  await app.close();
});

describe('the sales ledger', () => {
  it("lists a client's invoices and gets one by id or number", async () => {
    const client = await createClient(app);
    const sub = await subscribe(app, client.external_ref, pkg.code);
    const list = await app.request('GET', `/v1/invoices?client=${client.external_ref}`, { key: app.keys.read });
    expect(list.status).toBe(200);
    expect(list.body.data).toHaveLength(1);
    expect(list.body.data[0]).toMatchObject({
      id: sub.invoice.id,
      kind: 'subscription',
      total: 1999,
      currency: 'EUR',
      status: 'issued',
      subscription_id: sub.id,
    });
    expect(list.body.data[0].lines).toEqual([
      { description: expect.stringContaining('inv-pkg'), credit_type: null, quantity: null, amount: 1999 },
    ]);
    const byNumber = await app.request('GET', `/v1/invoices/${sub.invoice.number}`, { key: app.keys.read });
    expect(byNumber.body.id).toBe(sub.invoice.id);
  });

  it('pays an invoice once; paying again answers the same invoice; a paid invoice cannot be voided', async () => {
    const client = await createClient(app);
    const sub = await subscribe(app, client.id, pkg.code);
    const paid = await app.request('POST', `/v1/invoices/${sub.invoice.id}/pay`, { key: app.keys.write });
    expect(paid.status).toBe(200);
    expect(paid.body).toMatchObject({ status: 'paid', paid_at: '2026-03-10T12:00:00.000Z' });
    const again = await app.request('POST', `/v1/invoices/${sub.invoice.id}/pay`, { key: app.keys.write });
    expect(again.body.paid_at).toBe(paid.body.paid_at);
    const events = await app.database.db('outbox_events').where({ subject_id: sub.invoice.id, type: 'invoice.paid' });
    expect(events).toHaveLength(1);
    const voided = await app.request('POST', `/v1/invoices/${sub.invoice.id}/void`, {
      key: app.keys.write,
      body: { reason: 'oops' },
    });
    expect(voided.status).toBe(409);
    expect(voided.body.code).toBe('conflict');
  });

  it('voids an issued invoice; a void invoice cannot be paid', async () => {
    const client = await createClient(app);
    const sub = await subscribe(app, client.id, pkg.code);
    const voided = await app.request('POST', `/v1/invoices/${sub.invoice.id}/void`, {
      key: app.keys.write,
      body: { reason: 'duplicate sale' },
    });
    expect(voided.status).toBe(200);
    expect(voided.body).toMatchObject({ status: 'void', void_reason: 'duplicate sale' });
    const before = await snapshotCounts(app);
    const pay = await app.request('POST', `/v1/invoices/${sub.invoice.id}/pay`, { key: app.keys.write });
    expect(pay.status).toBe(409);
    expect(await snapshotCounts(app)).toEqual(before);
  });

  it('answers 404 for an unknown invoice', async () => {
    expect((await app.request('GET', '/v1/invoices/INV-1999-000001', { key: app.keys.read })).status).toBe(404);
    expect(
      (await app.request('POST', '/v1/invoices/00000000-0000-4000-8000-000000000000/pay', { key: app.keys.write }))
        .status,
    ).toBe(404);
  });
});

describe('activation on payment', () => {
  it(
    'keeps the subscription pending (its balances unusable) until ' +
      'the invoice is paid, then starts the period at the payment',
    async () => {
      const client = await createClient(app);
      const sub = await subscribe(app, client.id, pkg.code, { activation: 'on_payment' });
      expect(sub.status).toBe('pending');
      app.clock.advance(3 * 86_400_000);
      const paid = await app.request('POST', `/v1/invoices/${sub.invoice.id}/pay`, { key: app.keys.write });
      expect(paid.status).toBe(200);
      const after = await app.request('GET', `/v1/subscriptions/${sub.id}`, { key: app.keys.read });
      expect(after.body).toMatchObject({
        status: 'active',
        current_period_start: '2026-03-13T12:00:00.000Z',
        current_period_end: '2026-03-27T12:00:00.000Z',
      });
      expect(after.body.balances[0]).toMatchObject({
        valid_from: '2026-03-13T12:00:00.000Z',
        expires_at: '2026-03-27T12:00:00.000Z',
        remaining: '50',
      });
      expect(paid.body.period_start).toBe('2026-03-13T12:00:00.000Z');
      // its event names the client like every subscription event, so a receiver can route it without a lookup
      const [activated] = await app.database
        .db('outbox_events')
        .where({ subject_id: sub.id, type: 'subscription.activated' })
        .pluck('payload');
      expect(activated.data).toEqual({
        subscription_id: sub.id,
        client_id: client.id,
        client_external_ref: client.external_ref,
        period_start: '2026-03-13T12:00:00.000Z',
        period_end: '2026-03-27T12:00:00.000Z',
        invoice_id: sub.invoice.id,
      });
    },
  );

  it('cancels the pending subscription when its invoice is voided, voiding its balances in the ledger', async () => {
    const client = await createClient(app);
    const sub = await subscribe(app, client.id, pkg.code, { activation: 'on_payment' });
    const voided = await app.request('POST', `/v1/invoices/${sub.invoice.id}/void`, { key: app.keys.write, body: {} });
    expect(voided.status).toBe(200);
    const after = await app.request('GET', `/v1/subscriptions/${sub.id}`, { key: app.keys.read });
    expect(after.body.status).toBe('cancelled');
    expect(after.body.balances[0]).toMatchObject({ status: 'void', remaining: '0' });
    const entries = await app.database
      .db('ledger_entries')
      .where({ subscription_id: sub.id })
      .orderBy('seq')
      .pluck('kind');
    expect(entries).toEqual(['grant', 'void']);
  });
});
