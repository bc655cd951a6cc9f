import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runNightly } from '../../src/scheduler/nightly.js';
import { verifyInvariants } from '../../src/services/verify.js';
import { NO_NIGHTLY_REPORTS, startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, snapshotCounts, subscribe } from '../helpers/fixtures.js';

let app: TestApp;
let sms: { id: string; code: string };
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-01-31T10:00:00.000Z', env: NO_NIGHTLY_REPORTS });
  sms = await createCreditType(app, { code: 'l-sms', unit: 'message' });
});
afterAll(async () => {
  const report = await verifyInvariants(app.database.db);
  expect(report.violations).toEqual([]);
  await app.close();
});

const at = (iso: string) => app.clock.set(iso);
const renew = (id: string, headers: Record<string, string> = {}) =>
  app.request('POST', `/v1/subscriptions/${id}/renew?wait=true`, { key: app.keys.write, headers });
const recharge = (id: string, body?: unknown, headers: Record<string, string> = {}) =>
  app.request('POST', `/v1/subscriptions/${id}/recharge?wait=true`, { key: app.keys.write, body, headers });
const consume = (client: string, quantity: number, key: string) =>
  app.request('POST', '/v1/consumptions?wait=true', {
    key: app.keys.write,
    body: { client, credit_type: sms.code, quantity, idempotency_key: key },
  });
const view = async (id: string) => (await app.request('GET', `/v1/subscriptions/${id}`, { key: app.keys.read })).body;

describe('renew', () => {
  it(
    'starts the next period where the last ended, grants ' + 'new balances and invoices the renewal, once per period',
    async () => {
      at('2026-01-31T10:00:00.000Z');
      const client = await createClient(app);
      const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }], { price: 1500 });
      const sub = await subscribe(app, client.id, pkg.code);
      const res = await renew(sub.id, { 'idempotency-key': 'renew-once' });
      expect(res.status, res.text).toBe(200);
      expect(res.body).toMatchObject({
        status: 'renewed',
        period_start: '2026-02-28T10:00:00.000Z',
        period_end: '2026-03-31T10:00:00.000Z',
        late: false,
        price: 1500,
      });
      const invoice = await app.request('GET', `/v1/invoices/${res.body.invoice_id}`, { key: app.keys.read });
      expect(invoice.body).toMatchObject({ kind: 'renewal', total: 1500, period_start: '2026-02-28T10:00:00.000Z' });

      // the same request again (a retry with the same key) answers the same renewal and grants nothing
      const before = await snapshotCounts(app, ['balances', 'invoices', 'ledger_entries']);
      const again = await renew(sub.id, { 'idempotency-key': 'renew-once' });
      expect(again.status).toBe(200);
      expect(again.body.invoice_id).toBe(res.body.invoice_id);
      expect(await snapshotCounts(app, ['balances', 'invoices', 'ledger_entries'])).toEqual(before);
      const after = await view(sub.id);
      expect(after).toMatchObject({
        current_period_start: '2026-02-28T10:00:00.000Z',
        current_period_end: '2026-03-31T10:00:00.000Z',
        renewal_count: 1,
      });
    },
  );

  it('a renewal job for a period already renewed grants nothing (two schedulers, two clicks)', async () => {
    at('2026-01-31T10:00:00.000Z');
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    const sub = await subscribe(app, client.id, pkg.code);
    const data = {
      subscription_id: sub.id,
      period_end: sub.current_period_end,
      accepted_at: app.clock.now().toISOString(),
    };
    await app.ctx.queues.renewal.add('renew', data, { jobId: 'direct-1' });
    await app.ctx.queues.renewal.add('renew', data, { jobId: 'direct-2' });
    const { awaitOutcome } = await import('../../src/commands/index.js');
    const results = await Promise.all([
      awaitOutcome(app.ctx, 'renew', 'direct-1'),
      awaitOutcome(app.ctx, 'renew', 'direct-2'),
    ]);
    const statuses = results
      .map((r) => (r.state === 'completed' ? (r.value as { status: string }).status : r.state))
      .sort();
    expect(statuses).toEqual(['already_renewed', 'renewed']);
    expect(await app.database.db('subscription_periods').where({ subscription_id: sub.id })).toHaveLength(2);
    expect(await app.database.db('invoices').where({ subscription_id: sub.id, kind: 'renewal' })).toHaveLength(1);
  });

  it('a late renewal of an expired subscription starts now', async () => {
    at('2026-01-10T00:00:00.000Z');
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }], {
      validity: { count: 7, unit: 'day' },
    });
    const sub = await subscribe(app, client.id, pkg.code);
    at('2026-01-20T12:00:00.000Z');
    await runNightly(app.ctx, app.clock.now(), { phaseTimeoutMs: 15_000 });
    expect((await view(sub.id)).status).toBe('expired');
    const res = await renew(sub.id);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({
      late: true,
      period_start: '2026-01-20T12:00:00.000Z',
      period_end: '2026-01-27T12:00:00.000Z',
    });
    expect(await view(sub.id)).toMatchObject({ status: 'active', current_period_start: '2026-01-20T12:00:00.000Z' });
  });

  it('refuses to renew a cancelled subscription (409) or an unknown one (404)', async () => {
    at('2026-01-31T10:00:00.000Z');
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    const sub = await subscribe(app, client.id, pkg.code);
    await app.request('POST', `/v1/subscriptions/${sub.id}/cancel`, { key: app.keys.write, body: { at: 'now' } });
    const before = await snapshotCounts(app, ['invoices', 'balances', 'accepted_jobs']);
    const res = await renew(sub.id);
    expect(res.status).toBe(409);
    expect(res.body.code).toBe('conflict');
    expect(await snapshotCounts(app, ['invoices', 'balances', 'accepted_jobs'])).toEqual(before);
    expect((await renew('00000000-0000-4000-8000-000000000000')).status).toBe(404);
  });
});

describe('fees', () => {
  it(
    'a new package price applies to renewals that follow ' + 'the package, not to a subscription with its own price',
    async () => {
      at('2026-01-31T10:00:00.000Z');
      const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }], { price: 1000 });
      const following = await subscribe(app, (await createClient(app)).id, pkg.code);
      const own = await subscribe(app, (await createClient(app)).id, pkg.code, { price: 800 });
      await app.request('PATCH', `/v1/packages/${pkg.code}`, { body: { price: 1200 } });
      expect((await renew(following.id)).body.price).toBe(1200);
      expect((await renew(own.id)).body.price).toBe(800);
      await app.request('PATCH', `/v1/subscriptions/${own.id}`, { key: app.keys.write, body: { price: 700 } });
      expect((await renew(own.id)).body.price).toBe(700);
    },
  );

  it("renews with the package's current items only when asked to (apply_package_changes)", async () => {
    at('2026-01-31T10:00:00.000Z');
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    const snapshot = await subscribe(app, (await createClient(app)).id, pkg.code);
    const follows = await subscribe(app, (await createClient(app)).id, pkg.code, { apply_package_changes: true });
    await app.request('PATCH', `/v1/packages/${pkg.code}`, { body: { items: [{ credit_type: sms.code, units: 25 }] } });
    expect((await renew(snapshot.id)).body.balances[0].granted).toBe('10');
    expect((await renew(follows.id)).body.balances[0].granted).toBe('25');
  });
});

describe('recharge', () => {
  it("adds one package's worth valid until the period ends, invoiced at recharge_price, once per key", async () => {
    at('2026-02-10T00:00:00.000Z');
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }], { price: 1000, recharge_price: 600 });
    const sub = await subscribe(app, client.id, pkg.code);
    const res = await recharge(sub.id, undefined, { 'idempotency-key': 'top-up-1' });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({
      status: 'recharged',
      price: 600,
      balances: [{ granted: '10', valid_from: '2026-02-10T00:00:00.000Z', expires_at: sub.current_period_end }],
    });
    const invoice = await app.request('GET', `/v1/invoices/${res.body.invoice_id}`, { key: app.keys.read });
    expect(invoice.body).toMatchObject({ kind: 'recharge', total: 600 });
    const again = await recharge(sub.id, undefined, { 'idempotency-key': 'top-up-1' });
    expect(again.status).toBe(200);
    expect(again.body.recharge_id).toBe(res.body.recharge_id);
    expect(await app.database.db('recharges').where({ subscription_id: sub.id })).toHaveLength(1);
    const conflict = await recharge(sub.id, { price: 1 }, { 'idempotency-key': 'top-up-1' });
    expect(conflict.status).toBe(409);
    expect(conflict.body.code).toBe('idempotency_conflict');
  });

  it('recharges the items and fee given, and refuses bad input without writing', async () => {
    at('2026-02-10T00:00:00.000Z');
    const hours = await createCreditType(app, { code: 'l-hours', unit: 'hour', decimals: 1 });
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    const sub = await subscribe(app, client.id, pkg.code);
    const res = await recharge(sub.id, { items: [{ credit_type: hours.code, units: '2.5' }], price: 250 });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ price: 250, balances: [{ credit_type: { code: 'l-hours' }, granted: '2.5' }] });
    const before = await snapshotCounts(app, ['invoices', 'balances', 'recharges', 'accepted_jobs']);
    const bad = await recharge(sub.id, { items: [{ credit_type: hours.code, units: '2.55' }] });
    expect(bad.status).toBe(422);
    expect(bad.body.code).toBe('validation_failed');
    const badPrice = await recharge(sub.id, { price: -5 });
    expect(badPrice.status).toBe(422);
    expect(await snapshotCounts(app, ['invoices', 'balances', 'recharges', 'accepted_jobs'])).toEqual(before);
  });

  it('auto-recharges when a balance falls to its threshold, at most max_per_period times a period', async () => {
    at('2026-02-10T00:00:00.000Z');
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    const sub = await subscribe(app, client.id, pkg.code, {
      auto_recharge: { enabled: true, threshold_percent: 50, max_per_period: 1 },
    });
    expect((await consume(client.id, 6, 'auto-1')).status).toBe(200);
    // the relay turns the command into a recharge job; wait for that job, not for time
    const jobId = `recharge|${sub.id}|auto-${sub.balances[0]!.id}`;
    const { awaitOutcome } = await import('../../src/commands/index.js');
    const outcome = await awaitOutcome(app.ctx, 'recharge', jobId, { timeoutMs: 15_000, untilAdded: true });
    expect(outcome).toMatchObject({ state: 'completed', value: { status: 'recharged', auto: true } });
    if (outcome.state !== 'completed') return;
    const rechargeBalance = outcome.value.balances[0]!;
    // spend the recharge below its threshold too: it asks for a second recharge, which the cap (1 a period) stops
    expect((await consume(client.id, 13, 'auto-2')).status).toBe(200);
    const second = await awaitOutcome(app.ctx, 'recharge', `recharge|${sub.id}|auto-${rechargeBalance.id}`, {
      timeoutMs: 15_000,
      untilAdded: true,
    });
    expect(second).toEqual({
      state: 'completed',
      value: expect.objectContaining({ status: 'skipped', reason: 'max_per_period (1) reached', auto: true }),
    });
    const recharges = await app.database.db('recharges').where({ subscription_id: sub.id, auto: true });
    expect(recharges).toHaveLength(1);
  });

  it('refuses a recharge of a cancelled subscription', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    const sub = await subscribe(app, client.id, pkg.code);
    await app.request('POST', `/v1/subscriptions/${sub.id}/cancel`, { key: app.keys.write, body: { at: 'now' } });
    expect((await recharge(sub.id)).status).toBe(409);
  });
});

describe('adjust', () => {
  it('adds and removes units with a reason, never below zero', async () => {
    at('2026-02-10T00:00:00.000Z');
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    const sub = await subscribe(app, client.id, pkg.code);
    const balanceId = sub.balances[0]!.id;
    const add = await app.request('POST', `/v1/balances/${balanceId}/adjustments`, {
      body: { delta: 5, reason: 'goodwill' },
    });
    expect(add.status, add.text).toBe(201);
    expect(add.body).toMatchObject({ kind: 'adjust', amount: '5', remaining_after: '15', reason: 'goodwill' });
    const remove = await app.request('POST', `/v1/balances/${balanceId}/adjustments`, {
      body: { delta: '-3', reason: 'correction' },
    });
    expect(remove.body).toMatchObject({ amount: '-3', remaining_after: '12' });
    const before = await snapshotCounts(app, ['ledger_entries']);
    const tooMuch = await app.request('POST', `/v1/balances/${balanceId}/adjustments`, {
      body: { delta: -13, reason: 'oops' },
    });
    expect(tooMuch.status).toBe(422);
    expect(tooMuch.body.code).toBe('insufficient_balance');
    const noReason = await app.request('POST', `/v1/balances/${balanceId}/adjustments`, { body: { delta: 1 } });
    expect(noReason.status).toBe(422);
    const writeKey = await app.request('POST', `/v1/balances/${balanceId}/adjustments`, {
      key: app.keys.write,
      body: { delta: 1, reason: 'x' },
    });
    expect(writeKey.status).toBe(403);
    expect(await snapshotCounts(app, ['ledger_entries'])).toEqual(before);
    const balance = await app.request('GET', `/v1/balances/${balanceId}`, { key: app.keys.read });
    expect(balance.body).toMatchObject({ granted: '10', remaining: '12' });
  });
});

describe('expiry, rollover and cancel at period end', () => {
  it.each([
    ['none', { policy: 'none' }, '0', '6', 3],
    ['all', { policy: 'all' }, '6', '0', 4],
    ['percent with a cap', { policy: 'percent', percent: 50, cap_percent: 20 }, '2', '4', 5],
  ])(
    'rollover %s: unused units of a renewed period move to the next; the rest expire',
    async (_name, rollover, rolled, expired, month) => {
      // each case in its own month: the sweep's job id is its minute, and one minute is swept once
      const start = `2026-0${month}-01T00:00:00.000Z`;
      at(start);
      const client = await createClient(app);
      const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }], { rollover });
      const sub = await subscribe(app, client.id, pkg.code);
      await consume(client.id, 4, `roll-${_name}`);
      await renew(sub.id);
      at(sub.current_period_end);
      await runNightly(app.ctx, app.clock.now(), { phaseTimeoutMs: 15_000 });
      const balances = (await app.request('GET', `/v1/subscriptions/${sub.id}`, { key: app.keys.read })).body
        .balances as Array<{ source: string; status: string; granted: string; expired: string }>;
      const old = balances.find((b) => b.status === 'expired')!;
      expect(old.expired).toBe(expired);
      const rolledBalance = balances.find((b) => b.source === 'rollover');
      if (rolled === '0') expect(rolledBalance).toBeUndefined();
      else expect(rolledBalance).toMatchObject({ granted: rolled, status: 'active' });
    },
  );

  it(
    'expires a subscription whose period ended without ' + 'renewal, and cancels one set to cancel at period end',
    async () => {
      at('2026-08-01T00:00:00.000Z');
      const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
      const lapsing = await subscribe(app, (await createClient(app)).id, pkg.code);
      const leaving = await subscribe(app, (await createClient(app)).id, pkg.code, { auto_renew: true });
      await app.request('POST', `/v1/subscriptions/${leaving.id}/cancel`, {
        key: app.keys.write,
        body: { at: 'period_end' },
      });
      at('2026-08-31T02:00:00.000Z');
      const nightly = await runNightly(app.ctx, app.clock.now(), { phaseTimeoutMs: 15_000 });
      // a subscription set to cancel is not renewed, even with auto_renew
      expect(await app.database.db('subscription_periods').where({ subscription_id: leaving.id })).toHaveLength(1);
      expect(nightly.phases.every((p) => p.failed.length === 0)).toBe(true);
      at('2026-09-01T02:00:00.000Z');
      await runNightly(app.ctx, app.clock.now(), { phaseTimeoutMs: 15_000 });
      expect((await view(lapsing.id)).status).toBe('expired');
      expect((await view(leaving.id)).status).toBe('cancelled');
      const events = await app.database
        .db('outbox_events')
        .whereIn('subject_id', [lapsing.id, leaving.id])
        .pluck('type');
      expect(events).toEqual(expect.arrayContaining(['subscription.expired', 'subscription.cancelled']));
      const expiredEntries = await app.database
        .db('ledger_entries')
        .where({ subscription_id: lapsing.id, kind: 'expire' });
      expect(expiredEntries.map((e) => e.amount)).toEqual([-10n]);
    },
  );
});

describe('suspend and resume', () => {
  it("a suspended subscription's balances pay for nothing until it resumes", async () => {
    at('2026-02-10T00:00:00.000Z');
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    const sub = await subscribe(app, client.id, pkg.code);
    const suspended = await app.request('PATCH', `/v1/subscriptions/${sub.id}`, {
      key: app.keys.write,
      body: { status: 'suspended' },
    });
    expect(suspended.status, suspended.text).toBe(200);
    expect(suspended.body.status).toBe('suspended');
    const refused = await consume(client.id, 1, 'while-suspended');
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({ code: 'insufficient_balance', remaining: '0' });
    expect((await renew(sub.id)).status).toBe(409);
    const resumed = await app.request('PATCH', `/v1/subscriptions/${sub.id}`, {
      key: app.keys.write,
      body: { status: 'active' },
    });
    expect(resumed.body.status).toBe('active');
    expect((await consume(client.id, 1, 'after-resume')).status).toBe(200);
    const events = await app.database.db('outbox_events').where({ subject_id: sub.id }).pluck('type');
    expect(events).toEqual(expect.arrayContaining(['subscription.suspended', 'subscription.resumed']));
    await app.request('POST', `/v1/subscriptions/${sub.id}/cancel`, { key: app.keys.write, body: { at: 'now' } });
    const again = await app.request('PATCH', `/v1/subscriptions/${sub.id}`, {
      key: app.keys.write,
      body: { status: 'suspended' },
    });
    expect(again.status).toBe(409);
  });
});
