import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import { EVENT_TYPES } from '../../src/domain/event.js';
import { jobIdOf } from '../../src/jobs/definitions.js';
import { startScheduler } from '../../src/scheduler/index.js';
import { verifyInvariants } from '../../src/services/verify.js';
import type { ExpiryResult } from '../../src/views/maintenance.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { recyclingDatabase } from '../helpers/database.js';
import { createClient, createCreditType, createPackage, snapshotCounts, subscribe } from '../helpers/fixtures.js';
import { jsonRows } from '../helpers/reports.js';

/**
 * DOMAIN.md "Edges that must hold": no lapse by accident, paying after the period passed, the
 * rollover cap per credit type, and what a suspended subscription keeps. Each test has a service of
 * its own: the expiry sweep looks at every subscription of its database, so tests that move time
 * must not see each other's subscriptions.
 */
let app: TestApp;
let sms: { id: string; code: string };
// one database, emptied for each test (a clone per test cost more than most tests)
const databases = recyclingDatabase();
afterAll(() => databases.drop());
beforeEach(async () => {
  app = await startTestApp({
    database: await databases.next(),
    roles: ['api', 'worker'],
    now: '2026-01-10T00:00:00.000Z',
  });
  sms = await createCreditType(app, { code: 'e-sms', unit: 'message' });
});
afterEach(async () => {
  const report = await verifyInvariants(app.database.db);
  expect(report.violations).toEqual([]);
  await app.close();
});

const at = (iso: string) => app.clock.set(iso);
const view = async (id: string) => (await app.request('GET', `/v1/subscriptions/${id}`, { key: app.keys.read })).body;
const consume = (client: string, quantity: number, key: string) =>
  app.request('POST', '/v1/consumptions?wait=true', {
    key: app.keys.write,
    body: { client, credit_type: sms.code, quantity, idempotency_key: key },
  });
const events = (subjectId: string) =>
  app.database.db('outbox_events').where({ subject_id: subjectId }).orderBy('seq').pluck('type');
const eventData = async (subjectId: string, type: string) =>
  (await app.database.db('outbox_events').where({ subject_id: subjectId, type }).orderBy('seq')).map(
    (e) => e.payload.data as Record<string, unknown>,
  );

/** An `expire` job pushed straight into BullMQ, as a producer or a scheduler would, and its result. */
async function sweep(asOf: string): Promise<ExpiryResult> {
  const data = { as_of: asOf };
  const jobId = jobIdOf('expire', data);
  await app.ctx.queues.maintenance.add('expire', data, { jobId });
  const outcome = await awaitOutcome(app.ctx, 'expire', jobId, { timeoutMs: 20_000 });
  if (outcome.state !== 'completed') throw new Error(`expire job ${jobId}: ${JSON.stringify(outcome)}`);
  return outcome.value;
}

describe('no lapse by accident', () => {
  it(
    'an expire job pushed straight into BullMQ after the period ended ' +
      'renews an auto-renewing subscription instead of expiring it',
    async () => {
      const client = await createClient(app);
      const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }], {
        price: 1500,
        validity: { count: 7, unit: 'day' },
        auto_renew: true,
        rollover: { policy: 'all' },
      });
      const sub = await subscribe(app, client.id, pkg.code);
      expect((await consume(client.id, 4, 'before-the-end')).status).toBe(200);

      // no nightly run: the period ended at 17 January 00:00 and nothing renewed it
      at('2026-01-17T06:00:00.000Z');
      const result = await sweep('2026-01-17T06:00:00.000Z');
      expect(await view(sub.id)).toMatchObject({
        status: 'active',
        current_period_start: '2026-01-17T00:00:00.000Z',
        current_period_end: '2026-01-24T00:00:00.000Z',
        renewal_count: 1,
      });
      expect(result).toMatchObject({ subscriptions_renewed: 1, subscriptions_expired: 0 });
      const periods = await app.database
        .db('subscription_periods')
        .where({ subscription_id: sub.id })
        .orderBy('starts_at');
      expect(periods.map((p) => [p.kind, p.job_id])).toEqual([
        ['initial', null],
        ['renewal', jobIdOf('renew', { subscription_id: sub.id, period_end: '2026-01-17T00:00:00.000Z' })],
      ]);
      const invoices = await app.database.db('invoices').where({ subscription_id: sub.id }).orderBy('sequence');
      expect(invoices.map((i) => [i.kind, Number(i.total)])).toEqual([
        ['subscription', 1500],
        ['renewal', 1500],
      ]);
      // the old period's balance expired into the new period: its 6 unused units rolled over
      const balances = (await view(sub.id)).balances as Array<{ source: string; status: string; granted: string }>;
      expect(balances.map((b) => [b.source, b.status, b.granted]).sort()).toEqual([
        ['package', 'active', '10'],
        ['package', 'expired', '10'],
        ['rollover', 'active', '6'],
      ]);
      expect(await events(sub.id)).not.toContain('subscription.expired');
      expect((await consume(client.id, 16, 'after-the-renewal')).status).toBe(200);
    },
  );

  it('renews every period that ended since, one after the other, and rolls over through each', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }], {
      validity: { count: 7, unit: 'day' },
      auto_renew: true,
      rollover: { policy: 'all' },
    });
    const sub = await subscribe(app, client.id, pkg.code);
    expect((await consume(client.id, 4, 'only-use')).status).toBe(200);

    // two periods ended (17 and 24 January) while nothing ran
    at('2026-01-25T00:00:00.000Z');
    const result = await sweep('2026-01-25T00:00:00.000Z');
    expect(await view(sub.id)).toMatchObject({
      status: 'active',
      current_period_start: '2026-01-24T00:00:00.000Z',
      current_period_end: '2026-01-31T00:00:00.000Z',
      renewal_count: 2,
    });
    expect(result).toMatchObject({ subscriptions_renewed: 1, subscriptions_expired: 0 });
    const live = ((await view(sub.id)).balances as Array<{ source: string; status: string; remaining: string }>)
      .filter((b) => b.status === 'active')
      .map((b) => [b.source, b.remaining])
      .sort();
    // 6 left of the first period, then 10 of the second, all rolled over into the third
    expect(live).toEqual([
      ['package', '10'],
      ['rollover', '16'],
    ]);
    // swept again a minute later: nothing is due any more
    const before = await snapshotCounts(app, ['balances', 'ledger_entries', 'invoices', 'subscription_periods']);
    at('2026-01-25T00:01:00.000Z');
    const again = await sweep('2026-01-25T00:01:00.000Z');
    expect(again).toMatchObject({ subscriptions_renewed: 0, balances_expired: 0, subscriptions_expired: 0 });
    expect(await snapshotCounts(app, ['balances', 'ledger_entries', 'invoices', 'subscription_periods'])).toEqual(
      before,
    );
  });

  it('still expires what must expire: no auto_renew, or set to cancel at period end', async () => {
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }], {
      validity: { count: 7, unit: 'day' },
      auto_renew: true,
    });
    const lapsing = await subscribe(app, (await createClient(app)).id, pkg.code, { auto_renew: false });
    const leaving = await subscribe(app, (await createClient(app)).id, pkg.code);
    const cancel = await app.request('POST', `/v1/subscriptions/${leaving.id}/cancel`, {
      key: app.keys.write,
      body: { at: 'period_end' },
    });
    expect(cancel.status, cancel.text).toBe(200);
    at('2026-01-18T00:00:00.000Z');
    const result = await sweep('2026-01-18T00:00:00.000Z');
    expect((await view(lapsing.id)).status).toBe('expired');
    expect((await view(leaving.id)).status).toBe('cancelled');
    expect(result).toMatchObject({ subscriptions_renewed: 0, subscriptions_expired: 1, subscriptions_cancelled: 1 });
  });

  it('a scheduler that starts after a missed night catches up: renewals due, then an expiry sweep', async () => {
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }], {
      validity: { count: 7, unit: 'day' },
      auto_renew: true,
    });
    const overdue = await subscribe(app, (await createClient(app)).id, pkg.code);
    const lapsed = await subscribe(app, (await createClient(app)).id, pkg.code, { auto_renew: false });
    at('2026-01-12T00:00:00.000Z');
    const endingSoon = await subscribe(app, (await createClient(app)).id, pkg.code);

    // the scheduler was down at the nightly minutes of 17 and 18 January (02:00); it starts at 18 January 09:30
    at('2026-01-18T09:30:00.000Z');
    const scheduler = startScheduler(app.ctx);
    try {
      // the catch-up has enqueued its jobs once this resolves; then wait for each job by its id
      await scheduler.caughtUp;
      const expireJob = jobIdOf('expire', { as_of: '2026-01-18T09:30:00.000Z' });
      const expired = await awaitOutcome(app.ctx, 'expire', expireJob, { timeoutMs: 20_000 });
      expect(expired, JSON.stringify(expired)).toMatchObject({
        state: 'completed',
        // the overdue one is renewed by the renewal phase's job or by the sweep itself, whichever runs first
        value: { subscriptions_expired: 1, subscriptions_awaiting_renewal: 0 },
      });
      // due before the next nightly run (19 January 02:00, and its slack): renewed at start, by a renewal job
      const renewJob = jobIdOf('renew', { subscription_id: endingSoon.id, period_end: endingSoon.current_period_end });
      const renewed = await awaitOutcome(app.ctx, 'renew', renewJob, { timeoutMs: 20_000 });
      expect(renewed, JSON.stringify(renewed)).toMatchObject({ state: 'completed', value: { status: 'renewed' } });
    } finally {
      await scheduler.stop();
    }
    expect(await view(overdue.id)).toMatchObject({
      status: 'active',
      current_period_start: '2026-01-17T00:00:00.000Z',
    });
    expect(await view(endingSoon.id)).toMatchObject({
      status: 'active',
      current_period_start: '2026-01-19T00:00:00.000Z',
    });
    expect(await view(lapsed.id)).toMatchObject({ status: 'expired', expired_at: '2026-01-17T00:00:00.000Z' });
  });
});

describe('paying after the period passed buys nothing', () => {
  it(
    'a payment after the period ended is refused even before ' + 'the sweep ran, and the sweep then voids the invoice',
    async () => {
      const client = await createClient(app);
      const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }], { price: 900 });
      const sub = await subscribe(app, client.id, pkg.code, { activation: 'on_payment' });
      at(sub.current_period_end);
      const before = await snapshotCounts(app, ['balances', 'ledger_entries', 'invoices', 'outbox_events']);
      const pay = await app.request('POST', `/v1/invoices/${sub.invoice.id}/pay`, { key: app.keys.write });
      expect(pay.status, pay.text).toBe(409);
      expect(pay.body.code).toBe('conflict');
      expect(await snapshotCounts(app, ['balances', 'ledger_entries', 'invoices', 'outbox_events'])).toEqual(before);
      expect((await view(sub.id)).status).toBe('pending');
      expect(await sweep(sub.current_period_end)).toMatchObject({ subscriptions_expired: 1, invoices_voided: 1 });
      const invoice = await app.request('GET', `/v1/invoices/${sub.invoice.id}`, { key: app.keys.read });
      expect(invoice.body.status).toBe('void');
    },
  );

  it(
    'the sweep expires an unpaid pending subscription and voids ' +
      'its invoice; paying it then is 409 and grants nothing',
    async () => {
      const client = await createClient(app);
      const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }], { price: 900 });
      const sub = await subscribe(app, client.id, pkg.code, { activation: 'on_payment' });
      expect(sub).toMatchObject({ status: 'pending', invoice: { status: 'issued' } });

      at('2026-02-10T00:00:01.000Z');
      const result = await sweep('2026-02-10T00:00:01.000Z');
      expect((await view(sub.id)).status).toBe('expired');
      const invoice = await app.request('GET', `/v1/invoices/${sub.invoice.id}`, { key: app.keys.read });
      expect(invoice.body).toMatchObject({ status: 'void', voided_at: '2026-02-10T00:00:01.000Z' });
      expect(result).toMatchObject({ subscriptions_expired: 1, invoices_voided: 1 });
      const voided = await eventData(sub.invoice.id, 'invoice.voided');
      expect(voided).toEqual([expect.objectContaining({ invoice_id: sub.invoice.id, subscription_id: sub.id })]);

      const before = await snapshotCounts(app, [
        'balances',
        'ledger_entries',
        'invoices',
        'subscription_periods',
        'outbox_events',
      ]);
      const pay = await app.request('POST', `/v1/invoices/${sub.invoice.id}/pay`, { key: app.keys.write });
      expect(pay.status, pay.text).toBe(409);
      expect(pay.body.code).toBe('conflict');
      expect(
        await snapshotCounts(app, ['balances', 'ledger_entries', 'invoices', 'subscription_periods', 'outbox_events']),
      ).toEqual(before);
      expect((await view(sub.id)).status).toBe('expired');
      expect((await consume(client.id, 1, 'after-paying-late')).status).toBe(422);
    },
  );
});

describe('the rollover cap holds per subscription and credit type', () => {
  it('a package balance and two recharges of one credit type roll over one cap, not three', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }], {
      rollover: { policy: 'percent', percent: 50, cap_percent: 50 },
    });
    const sub = await subscribe(app, client.id, pkg.code);
    at('2026-01-11T00:00:00.000Z');
    for (const key of ['r-1', 'r-2']) {
      const res = await app.request('POST', `/v1/subscriptions/${sub.id}/recharge?wait=true`, {
        key: app.keys.write,
        headers: { 'idempotency-key': key },
      });
      expect(res.status, res.text).toBe(200);
    }
    const renewed = await app.request('POST', `/v1/subscriptions/${sub.id}/renew?wait=true`, { key: app.keys.write });
    expect(renewed.status, renewed.text).toBe(200);

    at(sub.current_period_end);
    expect(await sweep(sub.current_period_end)).toMatchObject({ balances_expired: 3 });
    // 30 unused: 50% is 15, but the cap is 50% of one period's 10 units — 5 in all
    const rolled = await app.database
      .db('ledger_entries')
      .where({ subscription_id: sub.id, kind: 'rollover' })
      .andWhere('amount', '<', 0);
    expect(rolled.reduce((sum, e) => sum + -BigInt(e.amount), 0n)).toBe(5n);
    const rollovers = (await view(sub.id)).balances.filter((b: { source: string }) => b.source === 'rollover');
    expect(rollovers.map((b: { granted: string }) => b.granted)).toEqual(['5']);
    // taken in spending order: the package balance (valid from the period's start) gives them
    expect(rolled.map((e) => e.balance_id)).toEqual([sub.balances[0]!.id]);
    const expired = await app.database.db('ledger_entries').where({ subscription_id: sub.id, kind: 'expire' });
    expect(expired.reduce((sum, e) => sum + -BigInt(e.amount), 0n)).toBe(25n);
  });
});

describe('a suspended subscription', () => {
  it('renewed then suspended keeps its rollover at the old period end', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }], { rollover: { policy: 'all' } });
    const sub = await subscribe(app, client.id, pkg.code);
    expect((await consume(client.id, 4, 'before-suspending')).status).toBe(200);
    const renewed = await app.request('POST', `/v1/subscriptions/${sub.id}/renew?wait=true`, { key: app.keys.write });
    expect(renewed.status, renewed.text).toBe(200);
    const suspended = await app.request('PATCH', `/v1/subscriptions/${sub.id}`, {
      key: app.keys.write,
      body: { status: 'suspended' },
    });
    expect(suspended.status, suspended.text).toBe(200);

    at(sub.current_period_end);
    await sweep(sub.current_period_end);
    const balances = (await view(sub.id)).balances as Array<{ source: string; status: string; granted: string }>;
    expect(balances.find((b) => b.source === 'rollover')).toMatchObject({ status: 'active', granted: '6' });
    expect((await view(sub.id)).status).toBe('suspended');
  });

  it(
    'set to cancel at period end keeps its balances until ' + 'then, and is cancelled (not expired) by the sweep',
    async () => {
      const client = await createClient(app);
      const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
      const sub = await subscribe(app, client.id, pkg.code);
      await app.request('PATCH', `/v1/subscriptions/${sub.id}`, { key: app.keys.write, body: { status: 'suspended' } });
      const cancel = await app.request('POST', `/v1/subscriptions/${sub.id}/cancel`, {
        key: app.keys.write,
        body: { at: 'period_end' },
      });
      expect(cancel.status, cancel.text).toBe(200);
      expect(cancel.body).toMatchObject({ status: 'suspended', cancel_at_period_end: true, cancelled_at: null });
      expect(cancel.body.balances.map((b: { status: string; remaining: string }) => [b.status, b.remaining])).toEqual([
        ['active', '10'],
      ]);
      expect(await eventData(sub.id, 'subscription.cancel_scheduled')).toEqual([
        {
          subscription_id: sub.id,
          client_id: client.id,
          client_external_ref: client.external_ref,
          status: 'suspended',
          cancel_at: sub.current_period_end,
        },
      ]);
      // resumed before the end, it can be used until then
      await app.request('PATCH', `/v1/subscriptions/${sub.id}`, { key: app.keys.write, body: { status: 'active' } });
      expect((await consume(client.id, 1, 'still-mine')).status).toBe(200);
      await app.request('PATCH', `/v1/subscriptions/${sub.id}`, { key: app.keys.write, body: { status: 'suspended' } });

      at(sub.current_period_end);
      const result = await sweep(sub.current_period_end);
      expect(await view(sub.id)).toMatchObject({ status: 'cancelled', cancelled_at: sub.current_period_end });
      expect(result).toMatchObject({ subscriptions_cancelled: 1, subscriptions_expired: 0 });
      expect(await events(sub.id)).toContain('subscription.cancelled');
      expect(await events(sub.id)).not.toContain('subscription.expired');
    },
  );
});

describe('every subscription change has an event', () => {
  it(
    'PATCH of price, auto_renew, auto_recharge and the other ' +
      'settings records subscription.updated with what changed',
    async () => {
      const client = await createClient(app);
      const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }], { price: 1000 });
      const sub = await subscribe(app, client.id, pkg.code);
      const patch = (body: Record<string, unknown>) =>
        app.request('PATCH', `/v1/subscriptions/${sub.id}`, { key: app.keys.write, body });

      expect((await patch({ price: 700, auto_renew: true, auto_recharge: { max_per_period: 3 } })).status).toBe(200);
      expect((await patch({ metadata: { plan: 'gold' }, apply_package_changes: true })).status).toBe(200);
      expect((await patch({ price: null })).status).toBe(200);
      // nothing changes: no event
      expect((await patch({ auto_renew: true })).status).toBe(200);

      expect(await eventData(sub.id, 'subscription.updated')).toEqual([
        {
          subscription_id: sub.id,
          client_id: client.id,
          client_external_ref: client.external_ref,
          changes: {
            price: 700,
            currency: 'USD',
            price_source: 'subscription',
            auto_renew: true,
            auto_recharge: { enabled: false, threshold_percent: 10, max_per_period: 3 },
          },
          previous: {
            price: 1000,
            currency: 'USD',
            price_source: 'package',
            auto_renew: false,
            auto_recharge: { enabled: false, threshold_percent: 10, max_per_period: 1 },
          },
        },
        {
          subscription_id: sub.id,
          client_id: client.id,
          client_external_ref: client.external_ref,
          changes: { apply_package_changes: true, metadata: { plan: 'gold' } },
          previous: { apply_package_changes: false, metadata: {} },
        },
        {
          subscription_id: sub.id,
          client_id: client.id,
          client_external_ref: client.external_ref,
          changes: { price: 1000, currency: 'USD', price_source: 'package' },
          previous: { price: 700, currency: 'USD', price_source: 'subscription' },
        },
      ]);
    },
  );

  it(
    'scheduling a cancel at period end records ' + 'subscription.cancel_scheduled, by POST …/cancel or by PATCH',
    async () => {
      const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
      const byCancel = await subscribe(app, (await createClient(app)).id, pkg.code);
      const byPatch = await subscribe(app, (await createClient(app)).id, pkg.code);
      for (let i = 0; i < 2; i += 1) {
        const res = await app.request('POST', `/v1/subscriptions/${byCancel.id}/cancel`, {
          key: app.keys.write,
          body: { at: 'period_end' },
        });
        expect(res.status, res.text).toBe(200);
      }
      const patched = await app.request('PATCH', `/v1/subscriptions/${byPatch.id}`, {
        key: app.keys.write,
        body: { cancel_at_period_end: true },
      });
      expect(patched.status, patched.text).toBe(200);
      // asked twice, scheduled once
      expect(await events(byCancel.id)).toEqual(['subscription.created', 'subscription.cancel_scheduled']);
      expect(await events(byPatch.id)).toEqual(['subscription.created', 'subscription.cancel_scheduled']);
      expect(await eventData(byPatch.id, 'subscription.cancel_scheduled')).toEqual([
        expect.objectContaining({ subscription_id: byPatch.id, cancel_at: byPatch.current_period_end }),
      ]);
      // and taking it back is a change of a setting
      await app.request('PATCH', `/v1/subscriptions/${byPatch.id}`, {
        key: app.keys.write,
        body: { cancel_at_period_end: false },
      });
      expect(await eventData(byPatch.id, 'subscription.updated')).toEqual([
        expect.objectContaining({
          changes: { cancel_at_period_end: false },
          previous: { cancel_at_period_end: true },
        }),
      ]);
      // a pending subscription has no period running to cancel at: refused, nothing recorded
      const pending = await subscribe(app, (await createClient(app)).id, pkg.code, { activation: 'on_payment' });
      const refused = await app.request('PATCH', `/v1/subscriptions/${pending.id}`, {
        key: app.keys.write,
        body: { cancel_at_period_end: true },
      });
      expect(refused.status, refused.text).toBe(409);
      expect(await events(pending.id)).toEqual(['subscription.created']);
      // webhook endpoints can ask for both by type
      expect(EVENT_TYPES).toEqual(expect.arrayContaining(['subscription.updated', 'subscription.cancel_scheduled']));
    },
  );
});

describe('the renewals report keeps the past', () => {
  it('a lapse renewed late still counts as an expiration in the bucket where it lapsed', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }], {
      validity: { count: 7, unit: 'day' },
    });
    const sub = await subscribe(app, client.id, pkg.code);
    at('2026-01-17T01:00:00.000Z');
    expect(await sweep('2026-01-17T01:00:00.000Z')).toMatchObject({ subscriptions_expired: 1 });
    at('2026-01-20T12:00:00.000Z');
    const renewed = await app.request('POST', `/v1/subscriptions/${sub.id}/renew?wait=true`, { key: app.keys.write });
    expect(renewed.status, renewed.text).toBe(200);
    expect(renewed.body).toMatchObject({ late: true });
    expect((await view(sub.id)).status).toBe('active');

    const { rows } = await jsonRows<Record<string, unknown>>(app, {
      type: 'renewals',
      params: { from: '2026-01-01', to: '2026-01-31', group_by: 'day' },
    });
    expect(rows.find((r) => r.period_start === '2026-01-17')).toMatchObject({ expirations: 1, renewals: 0 });
    expect(rows.find((r) => r.period_start === '2026-01-20')).toMatchObject({ expirations: 0, renewals: 1 });
    expect(await app.database.db('subscription_lapses').where({ subscription_id: sub.id })).toEqual([
      expect.objectContaining({
        subscription_id: sub.id,
        client_id: client.id,
        package_id: pkg.id,
        period_end: new Date('2026-01-17T00:00:00.000Z'),
        // at its period's end, though the sweep came an hour later
        expired_at: new Date('2026-01-17T00:00:00.000Z'),
      }),
    ]);
  });
});

// a recharge is valid from now, but not before a subscription bought to start later has started — also once its
// first period was renewed ahead (renewed was read as begun, and its units could be spent before the start)
describe('a recharge of a subscription bought to start later', () => {
  it('is valid from the first period’s start even once that period was renewed ahead', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    // bought on 10 Jan to start on 20 Jan: [20 Jan, 20 Feb), then renewed ahead: [20 Feb, 20 Mar)
    const sub = await subscribe(app, client.id, pkg.code, { starts_at: '2026-01-20T00:00:00.000Z' });
    const renewed = await app.request('POST', `/v1/subscriptions/${sub.id}/renew?wait=true`, { key: app.keys.write });
    expect(renewed.status, renewed.text).toBe(200);
    const recharged = await app.request('POST', `/v1/subscriptions/${sub.id}/recharge?wait=true`, {
      key: app.keys.write,
      headers: { 'idempotency-key': 'later-recharge' },
    });
    expect(recharged.status, recharged.text).toBe(200);
    // nothing of the subscription runs before 20 Jan: its recharge's units are spent from then, as its package's are
    // (a recharge of the same subscription not renewed is valid from 20 Jan)
    expect(recharged.body.balances.map((b: { valid_from: string }) => b.valid_from)).toEqual([
      '2026-01-20T00:00:00.000Z',
    ]);
    const use = await app.request('POST', '/v1/consumptions?wait=true', {
      key: app.keys.write,
      body: { client: client.id, credit_type: sms.code, quantity: 1, idempotency_key: 'before-start' },
    });
    expect(use.status, use.text).toBe(422);
  });
});
