import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, snapshotCounts, subscribe } from '../helpers/fixtures.js';

let app: TestApp;
let sms: { id: string; code: string };
let hours: { id: string; code: string };
let pkg: { id: string; code: string; price: number };
beforeAll(async () => {
  app = await startTestApp({ now: '2026-01-31T09:00:00.000Z' });
  sms = await createCreditType(app, { code: 'sub-sms', unit: 'message' });
  hours = await createCreditType(app, { code: 'sub-hours', unit: 'hour', decimals: 2 });
  pkg = await createPackage(
    app,
    [
      { credit_type: sms.code, units: 100 },
      { credit_type: hours.code, units: '2.5' },
    ],
    { code: 'sub-pro', price: 4900, currency: 'USD' },
  );
});
afterAll(async () => {
  await app.close();
});

describe('subscribe: one transaction writes the subscription, its balances, their grants and the invoice', () => {
  it('creates the period in the business time zone, one balance per item and an invoice', async () => {
    const client = await createClient(app);
    const sub = await subscribe(app, client.external_ref, pkg.code);
    expect(sub).toMatchObject({
      status: 'active',
      current_period_start: '2026-01-31T09:00:00.000Z',
      // 31 January + 1 month = 28 February (2026 is not a leap year)
      current_period_end: '2026-02-28T09:00:00.000Z',
      price: 4900,
      price_source: 'package',
      currency: 'USD',
      renewal_count: 0,
    });
    expect(sub.balances.map((b) => [b.credit_type.code, b.granted, b.remaining, b.expires_at]).sort()).toEqual(
      [
        ['sub-hours', '2.5', '2.5', '2026-02-28T09:00:00.000Z'],
        ['sub-sms', '100', '100', '2026-02-28T09:00:00.000Z'],
      ].sort(),
    );
    expect(sub.invoice).toMatchObject({ kind: 'subscription', status: 'issued', total: 4900, currency: 'USD' });
    expect(sub.invoice.number).toMatch(/^INV-2026-\d{6}$/);

    const ledger = await app.database.db('ledger_entries').where({ subscription_id: sub.id }).orderBy('seq');
    expect(ledger.map((e) => [e.kind, e.amount, e.remaining_after])).toEqual(
      expect.arrayContaining([
        ['grant', 100n, 100n],
        ['grant', 250n, 250n],
      ]),
    );
    expect(ledger).toHaveLength(2);
    const events = await app.database.db('outbox_events').where({ subject_id: sub.id }).pluck('type');
    expect(events).toContain('subscription.created');
  });

  it('honours its own price, auto_renew, starts_at and lists/gets/patches it', async () => {
    const client = await createClient(app);
    const sub = await subscribe(app, client.id, pkg.id, {
      price: 3900,
      auto_renew: true,
      starts_at: '2026-02-01T00:00:00Z',
    });
    expect(sub).toMatchObject({
      price: 3900,
      price_source: 'subscription',
      auto_renew: true,
      current_period_end: '2026-03-01T00:00:00.000Z',
    });
    expect(sub.invoice.total).toBe(3900);

    const got = await app.request('GET', `/v1/subscriptions/${sub.id}`, { key: app.keys.read });
    expect(got.status).toBe(200);
    expect(got.body.balances).toHaveLength(2);

    const listed = await app.request('GET', `/v1/subscriptions?client=${client.external_ref}`, { key: app.keys.read });
    expect(listed.body.data.map((s: { id: string }) => s.id)).toEqual([sub.id]);

    const patched = await app.request('PATCH', `/v1/subscriptions/${sub.id}`, {
      key: app.keys.write,
      body: {
        price: null,
        auto_renew: false,
        auto_recharge: { enabled: true, threshold_percent: 20, max_per_period: 2 },
      },
    });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body).toMatchObject({
      price: 4900,
      price_source: 'package',
      auto_renew: false,
      auto_recharge: { enabled: true, threshold_percent: 20, max_per_period: 2 },
    });
  });

  it('gives invoice numbers without gaps, in order', async () => {
    const numbers: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const client = await createClient(app);
      numbers.push((await subscribe(app, client.id, pkg.code)).invoice.number);
    }
    const seq = numbers.map((n) => Number(n.slice(-6)));
    expect(seq[1]).toBe(seq[0]! + 1);
    expect(seq[2]).toBe(seq[1]! + 1);
  });

  it.each([
    ['an unknown client', { client: 'ghost' }, 404, 'not_found'],
    ['an unknown package', { package: 'ghost' }, 404, 'not_found'],
    ['a bad starts_at', { starts_at: 'yesterday' }, 422, 'validation_failed'],
    ['a period already over', { starts_at: '2020-01-01T00:00:00Z' }, 422, 'validation_failed'],
    ['a negative price', { price: -1 }, 422, 'validation_failed'],
    ['an unknown activation', { activation: 'later' }, 422, 'validation_failed'],
    ['an unknown field', { colour: 'red' }, 422, 'validation_failed'],
  ])('refuses %s (%j) and writes nothing', async (_what, override, status, code) => {
    const client = await createClient(app);
    const before = await snapshotCounts(app);
    const res = await app.request('POST', '/v1/subscriptions', {
      body: { client: client.id, package: pkg.code, ...override },
    });
    expect(res.status, res.text).toBe(status);
    expect(res.body.code).toBe(code);
    expect(await snapshotCounts(app)).toEqual(before);
  });

  it('refuses a subscription to an archived package with 409', async () => {
    const archived = await createPackage(app, [{ credit_type: sms.code, units: 1 }], { status: undefined });
    await app.request('PATCH', `/v1/packages/${archived.code}`, { body: { status: 'archived' } });
    const client = await createClient(app);
    const res = await app.request('POST', '/v1/subscriptions', { body: { client: client.id, package: archived.code } });
    expect(res.status).toBe(409);
    expect(res.body.code).toBe('conflict');
  });
});

describe('Idempotency-Key on a creating POST', () => {
  it('replays the first response for the same key and body, and answers 409 for another body', async () => {
    const client = await createClient(app);
    const headers = { 'idempotency-key': 'sub-once' };
    const first = await app.request('POST', '/v1/subscriptions', {
      body: { client: client.id, package: pkg.code },
      headers,
    });
    const before = await snapshotCounts(app);
    const second = await app.request('POST', '/v1/subscriptions', {
      body: { client: client.id, package: pkg.code },
      headers,
    });
    expect(second.status).toBe(201);
    expect(second.body.id).toBe(first.body.id);
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(await snapshotCounts(app)).toEqual(before);
    const other = await app.request('POST', '/v1/subscriptions', {
      body: { client: client.id, package: pkg.code, auto_renew: true },
      headers,
    });
    expect(other.status).toBe(409);
    expect(other.body.code).toBe('idempotency_conflict');
    expect(await snapshotCounts(app)).toEqual(before);
  });

  it('makes one subscription when the same request arrives many times at once', async () => {
    const client = await createClient(app);
    const headers = { 'idempotency-key': 'sub-race' };
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        app.request('POST', '/v1/subscriptions', { body: { client: client.id, package: pkg.code }, headers }),
      ),
    );
    expect(results.every((r) => r.status === 201)).toBe(true);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    const count = await app.database.db('subscriptions').where({ client_id: client.id }).count({ n: '*' });
    expect(Number(count[0]!.n)).toBe(1);
  });

  it('stores nothing for a failed request, so a corrected retry with the same key works', async () => {
    const client = await createClient(app);
    const headers = { 'idempotency-key': 'fix-and-retry' };
    const failed = await app.request('POST', '/v1/subscriptions', {
      body: { client: client.id, package: 'ghost' },
      headers,
    });
    expect(failed.status).toBe(404);
    const fixed = await app.request('POST', '/v1/subscriptions', {
      body: { client: client.id, package: pkg.code },
      headers,
    });
    expect(fixed.status).toBe(201);
  });
});

describe('cancel', () => {
  it('at period end keeps the balances and stops renewals', async () => {
    const client = await createClient(app);
    const sub = await subscribe(app, client.id, pkg.code, { auto_renew: true });
    const res = await app.request('POST', `/v1/subscriptions/${sub.id}/cancel`, {
      key: app.keys.write,
      body: { at: 'period_end' },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'active', cancel_at_period_end: true });
    expect(res.body.balances.every((b: { status: string }) => b.status === 'active')).toBe(true);
  });

  it('now voids what remains with a ledger entry per balance, once', async () => {
    const client = await createClient(app);
    const sub = await subscribe(app, client.id, pkg.code);
    const res = await app.request('POST', `/v1/subscriptions/${sub.id}/cancel`, {
      key: app.keys.write,
      body: { at: 'now', reason: 'customer left' },
    });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('cancelled');
    expect(res.body.balances.map((b: { status: string; remaining: string }) => [b.status, b.remaining])).toEqual([
      ['void', '0'],
      ['void', '0'],
    ]);
    const again = await app.request('POST', `/v1/subscriptions/${sub.id}/cancel`, {
      key: app.keys.write,
      body: { at: 'now' },
    });
    expect(again.status).toBe(200);
    const voids = await app.database.db('ledger_entries').where({ subscription_id: sub.id, kind: 'void' });
    expect(voids).toHaveLength(2);
    expect(voids.map((v) => v.reason)).toEqual(['customer left', 'customer left']);
  });

  it('answers 404 for an unknown subscription and 422 for a bad `at`', async () => {
    expect(
      (
        await app.request('POST', '/v1/subscriptions/00000000-0000-4000-8000-000000000000/cancel', {
          key: app.keys.write,
          body: {},
        })
      ).status,
    ).toBe(404);
    expect(
      (await app.request('POST', '/v1/subscriptions/not-a-uuid/cancel', { key: app.keys.write, body: {} })).status,
    ).toBe(404);
    const client = await createClient(app);
    const sub = await subscribe(app, client.id, pkg.code);
    const bad = await app.request('POST', `/v1/subscriptions/${sub.id}/cancel`, {
      key: app.keys.write,
      body: { at: 'tomorrow' },
    });
    expect(bad.status).toBe(422);
    expect(bad.body.errors[0].field).toBe('at');
  });
});
