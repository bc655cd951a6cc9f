import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyInvariants } from '../../src/services/verify.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, snapshotCounts, subscribe } from '../helpers/fixtures.js';

let app: TestApp;
let sms: { id: string; code: string };
let hours: { id: string; code: string };
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-01-20T12:00:00.000Z' });
  sms = await createCreditType(app, { code: 'c-sms', unit: 'message' });
  hours = await createCreditType(app, { code: 'c-hours', unit: 'hour', decimals: 2 });
});
afterAll(async () => {
  const report = await verifyInvariants(app.database.db);
  expect(report.violations).toEqual([]);
  await app.close();
});

const consume = (body: Record<string, unknown>, wait = true) =>
  app.request('POST', `/v1/consumptions${wait ? '?wait=true' : ''}`, { key: app.keys.write, body });

async function remainingOf(subscriptionId: string): Promise<Record<string, string>> {
  const res = await app.request('GET', `/v1/subscriptions/${subscriptionId}`, { key: app.keys.read });
  return Object.fromEntries(
    res.body.balances.map((b: { credit_type: { code: string }; remaining: string }) => [
      b.credit_type.code,
      b.remaining,
    ]),
  );
}

describe('?wait=true listens only while someone waits (commands/outcome.ts)', () => {
  it('accepting without waiting opens no listener; the first waiter opens it and gets its result', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 5 }]);
    await subscribe(app, client.id, pkg.code, { starts_at: '2026-01-01T00:00:00Z' });
    const queued = await consume(
      { client: client.id, credit_type: sms.code, quantity: 1, idempotency_key: 'l1' },
      false,
    );
    expect(queued.status).toBe(202);
    // the api reads no event of the queue while nobody waits
    expect(app.ctx.queueEvents.consumption).toBeUndefined();
    const waited = await consume({ client: client.id, credit_type: sms.code, quantity: 2, idempotency_key: 'l2' });
    expect(waited.status).toBe(200);
    expect(waited.body).toMatchObject({ status: 'applied', quantity: '2' });
    expect(app.ctx.queueEvents.consumption).toBeDefined();
    // and one that waits for a use applied before reads its result
    const again = await consume({ client: client.id, credit_type: sms.code, quantity: 1, idempotency_key: 'l1' });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ status: 'applied', quantity: '1' });
  });
});

describe('rule 2: spending order — priority first, then soonest expiry', () => {
  it('takes a free low-priority package first, then the balance expiring soonest, then the next', async () => {
    const client = await createClient(app);
    const monthly = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    const free = await createPackage(app, [{ credit_type: sms.code, units: 3 }], {
      price: 0,
      priority: 10,
      validity: { count: 3, unit: 'month' },
    });
    const early = await subscribe(app, client.id, monthly.code, { starts_at: '2026-01-01T00:00:00Z' }); // ends 1 Feb
    const later = await subscribe(app, client.id, monthly.code, { starts_at: '2026-01-10T00:00:00Z' }); // ends 10 Feb
    const gift = await subscribe(app, client.id, free.code); // ends 20 April, priority 10

    const res = await consume({
      client: client.external_ref,
      credit_type: sms.code,
      quantity: 15,
      idempotency_key: 'order-1',
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body.allocations).toEqual([
      { balance_id: gift.balances[0]!.id, amount: '3' },
      { balance_id: early.balances[0]!.id, amount: '10' },
      { balance_id: later.balances[0]!.id, amount: '2' },
    ]);
    expect(res.body).toMatchObject({ status: 'applied', applied: '15', shortfall: '0', remaining: '8' });
    expect(await remainingOf(later.id)).toEqual({ 'c-sms': '8' });
  });

  it('does not use a balance that expires exactly at occurred_at (valid_from <= at < expires_at)', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 5 }]);
    // ends 2026-02-01T00:00Z
    const first = await subscribe(app, client.id, pkg.code, { starts_at: '2026-01-01T00:00:00Z' });
    const second = await subscribe(app, client.id, pkg.code, { starts_at: '2026-01-15T00:00:00Z' });
    // occurred_at may not be more than a few minutes ahead of now: move the clock to the boundary
    app.clock.set('2026-02-01T00:00:00.000Z');
    try {
      const res = await consume({
        client: client.id,
        credit_type: sms.code,
        quantity: 1,
        idempotency_key: 'edge',
        occurred_at: first.balances[0]!.expires_at,
      });
      expect(res.status, res.text).toBe(200);
      expect(res.body.allocations).toEqual([{ balance_id: second.balances[0]!.id, amount: '1' }]);
      const justBefore = await consume({
        client: client.id,
        credit_type: sms.code,
        quantity: 1,
        idempotency_key: 'edge-before',
        occurred_at: '2026-01-31T23:59:59.999Z',
      });
      expect(justBefore.body.allocations).toEqual([{ balance_id: first.balances[0]!.id, amount: '1' }]);
    } finally {
      app.clock.set('2026-01-20T12:00:00.000Z');
    }
  });
});

describe('rule 3: never below zero, with a clear answer when short', () => {
  it('mode=reject (default) refuses a use larger than what is left and changes nothing', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 5 }]);
    const sub = await subscribe(app, client.id, pkg.code);
    const before = await snapshotCounts(app, ['balances', 'ledger_entries', 'consumption_allocations']);
    const res = await consume({ client: client.id, credit_type: sms.code, quantity: 6, idempotency_key: 'too-much' });
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({
      code: 'insufficient_balance',
      status: 422,
      consumption_status: 'rejected',
      quantity: '6',
      applied: '0',
      shortfall: '1',
      remaining: '5',
      allocations: [],
    });
    expect(await snapshotCounts(app, ['balances', 'ledger_entries', 'consumption_allocations'])).toEqual(before);
    expect(await remainingOf(sub.id)).toEqual({ 'c-sms': '5' });
    const recorded = await app.request('GET', `/v1/consumptions/${res.body.id}`, { key: app.keys.read });
    expect(recorded.body).toMatchObject({ status: 'rejected', code: 'insufficient_balance' });
    const events = await app.database.db('outbox_events').where({ subject_id: res.body.id }).pluck('type');
    expect(events).toEqual(['consumption.rejected']);
  });

  it('mode=partial takes what there is and records the shortfall', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 5 }]);
    const sub = await subscribe(app, client.id, pkg.code);
    const res = await consume({
      client: client.id,
      credit_type: sms.code,
      quantity: 8,
      idempotency_key: 'partial',
      mode: 'partial',
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'partial', applied: '5', shortfall: '3', remaining: '0' });
    expect(await remainingOf(sub.id)).toEqual({ 'c-sms': '0' });
    const events = await app.database.db('outbox_events').where({ subject_id: sub.balances[0]!.id }).pluck('type');
    expect(events.sort()).toEqual(['balance.depleted', 'balance.low']);
  });

  it('keeps decimals exact and refuses more decimals than the credit type allows', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: hours.code, units: '10' }]);
    const sub = await subscribe(app, client.id, pkg.code);
    for (const [key, quantity] of [
      ['h1', '0.1'],
      ['h2', 0.2],
      ['h3', '2.25'],
    ] as const) {
      const res = await consume({ client: client.id, credit_type: hours.code, quantity, idempotency_key: key });
      expect(res.status, res.text).toBe(200);
    }
    expect(await remainingOf(sub.id)).toEqual({ 'c-hours': '7.45' });
    const before = await snapshotCounts(app, ['consumptions', 'accepted_jobs']);
    const bad = await consume({ client: client.id, credit_type: hours.code, quantity: '0.125', idempotency_key: 'h4' });
    expect(bad.status).toBe(422);
    expect(bad.body).toMatchObject({
      code: 'validation_failed',
      errors: [{ field: 'quantity', message: 'allows at most 2 decimal places' }],
    });
    expect(await snapshotCounts(app, ['consumptions', 'accepted_jobs'])).toEqual(before);
  });

  it.each([
    ['a negative quantity', { quantity: -1 }, 422, 'quantity'],
    ['a zero quantity', { quantity: '0' }, 422, 'quantity'],
    ['a quantity that is not a number', { quantity: 'ten' }, 422, 'quantity'],
    ['a quantity above 10^15', { quantity: '1000000000000001' }, 422, 'quantity'],
    ['no idempotency_key', { idempotency_key: undefined }, 422, 'idempotency_key'],
    ['an unknown mode', { mode: 'maybe' }, 422, 'mode'],
    ['a time in the future', { occurred_at: '2027-01-01T00:00:00Z' }, 422, 'occurred_at'],
    ['an unknown client', { client: 'nobody' }, 404, 'client'],
    ['an unknown credit type', { credit_type: 'nothing' }, 404, 'credit_type'],
  ])('refuses %s and accepts nothing', async (_what, override, status, field) => {
    const client = await createClient(app);
    const before = await snapshotCounts(app, ['consumptions', 'accepted_jobs', 'ledger_entries']);
    const res = await consume(
      { client: client.id, credit_type: sms.code, quantity: 1, idempotency_key: `bad-${field}`, ...override },
      false,
    );
    expect(res.status, res.text).toBe(status);
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    expect(await snapshotCounts(app, ['consumptions', 'accepted_jobs', 'ledger_entries'])).toEqual(before);
  });
});

describe('rule 4: exactly once per (client, idempotency_key)', () => {
  it(
    'answers 202 queued, then the same result for a ' + 'repeat, and 409 for the same key with another payload',
    async () => {
      const client = await createClient(app);
      const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
      const sub = await subscribe(app, client.id, pkg.code);
      const body = {
        client: client.external_ref,
        credit_type: sms.code,
        quantity: 4,
        idempotency_key: 'once',
        reference: 'order-77',
      };
      const queued = await consume(body, false);
      expect(queued.status).toBe(202);
      expect(queued.body).toEqual({ id: expect.any(String), status: 'queued' });
      const first = await consume(body);
      expect(first.status).toBe(200);
      expect(first.body.id).toBe(queued.body.id);
      const again = await consume({ ...body, client: client.id });
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ id: queued.body.id, replayed: true, applied: '4', remaining: '6' });
      expect(await remainingOf(sub.id)).toEqual({ 'c-sms': '6' });
      const conflict = await consume({ ...body, quantity: 5 });
      expect(conflict.status).toBe(409);
      expect(conflict.body.code).toBe('idempotency_conflict');
      const byKey = await app.request('GET', `/v1/consumptions?client=${client.external_ref}&idempotency_key=once`, {
        key: app.keys.read,
      });
      expect(byKey.body.data).toHaveLength(1);
      expect(byKey.body.data[0]).toMatchObject({ id: queued.body.id, status: 'applied', reference: 'order-77' });
      const entries = await app.database.db('ledger_entries').where({ consumption_id: queued.body.id });
      expect(entries).toHaveLength(1);
    },
  );
});

describe('rule 5: a reversal gives the units back, once', () => {
  it('returns each allocation to its balance and answers the first reversal when repeated', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    const sub = await subscribe(app, client.id, pkg.code);
    const used = await consume({
      client: client.id,
      credit_type: sms.code,
      quantity: 7,
      idempotency_key: 'to-reverse',
    });
    const reversed = await app.request('POST', `/v1/consumptions/${used.body.id}/reverse?wait=true`, {
      key: app.keys.write,
      body: { reason: 'refund' },
    });
    expect(reversed.status, reversed.text).toBe(200);
    expect(reversed.body).toMatchObject({ status: 'reversed', returned: '7', expired: '0', replayed: false });
    expect(await remainingOf(sub.id)).toEqual({ 'c-sms': '10' });
    const again = await app.request('POST', `/v1/consumptions/${used.body.id}/reverse?wait=true`, {
      key: app.keys.write,
      body: {},
    });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ returned: '7', replayed: true });
    expect(await remainingOf(sub.id)).toEqual({ 'c-sms': '10' });
    const kinds = await app.database
      .db('ledger_entries')
      .where({ subscription_id: sub.id })
      .orderBy('seq')
      .pluck('kind');
    expect(kinds).toEqual(['grant', 'consume', 'reverse']);
    const view = await app.request('GET', `/v1/consumptions/${used.body.id}`, { key: app.keys.read });
    expect(view.body).toMatchObject({ status: 'reversed', reversal: { returned: '7', expired: '0' } });
  });

  it('refuses to reverse a rejected consumption (409) or an unknown one (404)', async () => {
    const client = await createClient(app);
    const rejected = await consume({
      client: client.id,
      credit_type: sms.code,
      quantity: 1,
      idempotency_key: 'nothing-there',
    });
    expect(rejected.status).toBe(422);
    const res = await app.request('POST', `/v1/consumptions/${rejected.body.id}/reverse`, {
      key: app.keys.write,
      body: {},
    });
    expect(res.status).toBe(409);
    expect(
      (
        await app.request('POST', '/v1/consumptions/00000000-0000-4000-8000-000000000000/reverse', {
          key: app.keys.write,
          body: {},
        })
      ).status,
    ).toBe(404);
  });
});

describe('batch', () => {
  it('accepts up to 1,000 uses in one request, one id each, applied exactly once', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 1000 }]);
    const sub = await subscribe(app, client.id, pkg.code);
    const items = Array.from({ length: 300 }, (_, i) => ({
      client: client.id,
      credit_type: sms.code,
      quantity: 2,
      idempotency_key: `b-${i}`,
    }));
    const res = await app.request('POST', '/v1/consumptions/batch', { key: app.keys.write, body: { items } });
    expect(res.status, res.text).toBe(202);
    expect(res.body.data).toHaveLength(300);
    expect(new Set(res.body.data.map((d: { id: string }) => d.id)).size).toBe(300);
    // a repeat with ?wait=true waits for each job's own outcome
    for (const item of items) {
      const done = await consume(item);
      expect(done.status).toBe(200);
    }
    expect(await remainingOf(sub.id)).toEqual({ 'c-sms': '400' });
    const replay = await app.request('POST', '/v1/consumptions/batch', { key: app.keys.write, body: { items } });
    expect(replay.status).toBe(202);
    expect(replay.body.data.every((d: { status: string }) => d.status === 'applied')).toBe(true);
    expect(await remainingOf(sub.id)).toEqual({ 'c-sms': '400' });
  });

  it('refuses the whole batch for a malformed item, naming it; one its credit type refuses fails alone', async () => {
    const client = await createClient(app);
    const before = await snapshotCounts(app, ['consumptions', 'accepted_jobs', 'consumption_failures']);
    const res = await app.request('POST', '/v1/consumptions/batch', {
      key: app.keys.write,
      body: {
        items: [
          { client: client.id, credit_type: sms.code, quantity: 1, idempotency_key: 'ok-1' },
          { client: client.id, credit_type: sms.code, quantity: -1, idempotency_key: 'bad-1' },
        ],
      },
    });
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([{ field: 'items.1.quantity', message: 'must not be negative' }]);
    expect(await snapshotCounts(app, ['consumptions', 'accepted_jobs', 'consumption_failures'])).toEqual(before);
    // a quantity only its credit type refuses (sms: whole messages) is that use's failure alone (issue 14)
    const alone = await app.request('POST', '/v1/consumptions/batch?wait=true', {
      key: app.keys.write,
      body: {
        items: [
          { client: client.id, credit_type: sms.code, quantity: 1, idempotency_key: 'ok-2' },
          { client: client.id, credit_type: sms.code, quantity: 1.5, idempotency_key: 'bad-2' },
        ],
      },
    });
    expect(alone.status, alone.text).toBe(200);
    expect(alone.body.data[1]).toEqual({
      id: expect.any(String),
      status: 'failed',
      idempotency_key: 'bad-2',
      code: 'validation_failed',
      detail: 'quantity must be a whole number for this credit type',
    });
    // the client holds nothing: the other use is rejected, short of balance — its own outcome
    expect(alone.body.data[0]).toMatchObject({ idempotency_key: 'ok-2', status: 'rejected' });
    const tooMany = await app.request('POST', '/v1/consumptions/batch', {
      key: app.keys.write,
      body: {
        items: Array.from({ length: 1001 }, (_, i) => ({
          client: client.id,
          credit_type: sms.code,
          quantity: 1,
          idempotency_key: `x${i}`,
        })),
      },
    });
    expect(tooMany.status).toBe(422);
  });
});

describe('balances and statement', () => {
  it('shows per credit type what was granted, consumed and remains, and the ledger with remaining_after', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [
      { credit_type: sms.code, units: 10 },
      { credit_type: hours.code, units: '1.5' },
    ]);
    const sub = await subscribe(app, client.id, pkg.code);
    await consume({ client: client.id, credit_type: sms.code, quantity: 4, idempotency_key: 's1' });
    await consume({ client: client.id, credit_type: hours.code, quantity: '0.5', idempotency_key: 's2' });
    const balances = await app.request('GET', `/v1/clients/${client.external_ref}/balances`, { key: app.keys.read });
    expect(balances.status).toBe(200);
    const byCode = Object.fromEntries(
      balances.body.data.map((row: { credit_type: { code: string } }) => [row.credit_type.code, row]),
    );
    expect(byCode['c-sms']).toMatchObject({
      granted: '10',
      consumed: '4',
      remaining: '6',
      expired: '0',
      next_expiry: sub.current_period_end,
    });
    expect(byCode['c-hours']).toMatchObject({ granted: '1.5', consumed: '0.5', remaining: '1' });
    const statement = await app.request('GET', `/v1/clients/${client.id}/statement?credit_type=${sms.code}`, {
      key: app.keys.read,
    });
    expect(
      statement.body.data.map((e: { kind: string; amount: string; remaining_after: string }) => [
        e.kind,
        e.amount,
        e.remaining_after,
      ]),
    ).toEqual([
      ['grant', '10', '10'],
      ['consume', '-4', '6'],
    ]);
    const paged = await app.request('GET', `/v1/clients/${client.id}/statement?limit=1`, { key: app.keys.read });
    expect(paged.body.data).toHaveLength(1);
    const next = await app.request(
      'GET',
      `/v1/clients/${client.id}/statement?limit=10&cursor=${paged.body.next_cursor}`,
      { key: app.keys.read },
    );
    expect(next.body.data).toHaveLength(3);
    expect((await app.request('GET', '/v1/clients/nobody/balances', { key: app.keys.read })).status).toBe(404);
  });
});
