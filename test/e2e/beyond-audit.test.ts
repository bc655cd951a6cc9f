import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expireDue } from '../../src/jobs/expire.js';
import { verifyInvariants } from '../../src/services/verify.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/**
 * An audit of the features beyond the usual (holds, quotes, freezes, as_of, forecast, usage by dimension) against
 * DOMAIN.md and API.md, over HTTP: one app for the file, a client of its own per test, the clock moved by hand and
 * no scheduler (so no sweep runs unless a test runs it).
 */
let app: TestApp;
let sms: { id: string; code: string };
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-06-10T12:00:00.000Z' });
  sms = await createCreditType(app, { code: 'ba-sms', unit: 'message', dimensions: ['branch'] });
});
afterAll(async () => {
  const report = await verifyInvariants(app.database.db);
  expect(report.violations).toEqual([]);
  await app.close();
});

const at = (iso: string) => app.clock.set(iso);
const post = (path: string, body?: unknown) =>
  app.request('POST', path, { key: app.keys.write, ...(body !== undefined ? { body } : {}) });
const get = (path: string) => app.request('GET', path, { key: app.keys.read });
const use = (client: string, quantity: number | string, key: string, extra: Record<string, unknown> = {}) =>
  post('/v1/consumptions?wait=true', { client, credit_type: sms.code, quantity, idempotency_key: key, ...extra });
const hold = (client: string, quantity: number | string, key: string, extra: Record<string, unknown> = {}) =>
  post('/v1/holds?wait=true', { client, credit_type: sms.code, quantity, idempotency_key: key, ...extra });
const row = async (client: string) => {
  const res = await get(`/v1/clients/${client}/balances`);
  expect(res.status, res.text).toBe(200);
  return res.body.data.find((r: { credit_type: { code: string } }) => r.credit_type.code === sms.code);
};
/** A client with a month of `units` SMS from now (not renewed), on a package of its own (`packageExtra`). */
async function clientWith(units: number, packageExtra: Record<string, unknown> = {}) {
  const client = await createClient(app);
  const pkg = await createPackage(app, [{ credit_type: sms.code, units }], packageExtra);
  const sub = await subscribe(app, client.id, pkg.code, { auto_renew: false });
  return { client, sub, balance: sub.balances[0]! };
}

describe('a hold past its expires_at, before the sweep has come', () => {
  it('reserves nothing for a use: the use is applied, the hold is closed as expired', async () => {
    at('2026-06-10T12:00:00.000Z');
    const { client, balance } = await clientWith(10);
    const held = await hold(client.id, 8, 'h-exp', { expires_in_seconds: 60 });
    expect(held.status, held.text).toBe(200);
    // the hold expired at 12:01 (DOMAIN.md "A hold expires at expires_at"); the sweep comes every 5 minutes
    at('2026-06-10T12:03:00.000Z');
    const used = await use(client.id, 5, 'u-after-hold');
    expect(used.status, used.text).toBe(200);
    expect(used.body).toMatchObject({
      status: 'applied',
      applied: '5',
      allocations: [{ balance_id: balance.id, amount: '5' }],
      remaining: '5',
    });
    const after = await get(`/v1/holds/${held.body.id}`);
    expect(after.body).toMatchObject({ status: 'expired', released: '8', lapsed: '0' });
    expect(await row(client.id)).toMatchObject({ remaining: '5', held: '0', consumed: '5' });
  });

  it('does not refuse a new hold for the units it still reserved', async () => {
    at('2026-06-10T12:00:00.000Z');
    const { client } = await clientWith(10);
    const first = await hold(client.id, 7, 'h-old', { expires_in_seconds: 60 });
    expect(first.status, first.text).toBe(200);
    at('2026-06-10T12:02:00.000Z');
    const second = await hold(client.id, 6, 'h-new');
    expect(second.status, second.text).toBe(200);
    expect(second.body).toMatchObject({ status: 'held', held: '6', remaining: '4' });
    expect((await get(`/v1/holds/${first.body.id}`)).body).toMatchObject({ status: 'expired', released: '7' });
  });
});

describe('a subscription past its frozen_until, before the sweep has come', () => {
  it('pays for a use again, its period end and expiries pushed by exactly the frozen time', async () => {
    at('2026-06-10T12:00:00.000Z');
    const { client, sub, balance } = await clientWith(10, { max_freeze_days: 10 });
    const frozen = await post(`/v1/subscriptions/${sub.id}/freeze`, { days: 2 });
    expect(frozen.status, frozen.text).toBe(200);
    expect(frozen.body.frozen_until).toBe('2026-06-12T12:00:00.000Z');
    // unfrozen at frozen_until (DOMAIN.md "Freeze"); an hour later the sweep has not come yet
    at('2026-06-12T13:00:00.000Z');
    const used = await use(client.id, 3, 'u-after-freeze');
    expect(used.status, used.text).toBe(200);
    expect(used.body).toMatchObject({ status: 'applied', allocations: [{ balance_id: balance.id, amount: '3' }] });
    const view = (await get(`/v1/subscriptions/${sub.id}`)).body;
    // frozen for exactly 2 days: 10 Jul 12:00 → 12 Jul 12:00, the balance's expiry with it
    expect(view).toMatchObject({
      status: 'active',
      frozen_until: null,
      current_period_end: '2026-07-12T12:00:00.000Z',
    });
    expect(view.balances[0]).toMatchObject({ expires_at: '2026-07-12T12:00:00.000Z', remaining: '7' });
  });
});

describe('a release asked after the hold expired, before the sweep has come', () => {
  it('closes it as the expiry it is: its units went back while their balance was valid, and roll over', async () => {
    at('2026-06-10T12:00:00.000Z');
    const { client, sub, balance } = await clientWith(10, { rollover: { policy: 'all' }, auto_renew: true });
    // an hour before the period ends (10 Jul 12:00): a hold of 4 for 30 minutes, and the renewal
    at('2026-07-10T11:00:00.000Z');
    const held = await hold(client.id, 4, 'h-roll', { expires_in_seconds: 1800 });
    expect(held.status, held.text).toBe(200);
    const renewed = await post(`/v1/subscriptions/${sub.id}/renew?wait=true`);
    expect(renewed.status, renewed.text).toBe(200);
    // the hold ended at 11:30, the balance at 12:00; nothing swept yet when the release comes at 12:10
    at('2026-07-10T12:10:00.000Z');
    const released = await post(`/v1/holds/${held.body.id}/release`);
    expect(released.status, released.text).toBe(200);
    expect(released.body).toMatchObject({ status: 'expired', released: '4', lapsed: '0' });
    // the sweep then rolls the balance's 10 over (policy all), the 4 given back at 11:30 with the rest
    const swept = await expireDue(app.ctx, app.clock.now());
    expect(swept.ok).toBe(true);
    const balances = (await get(`/v1/subscriptions/${sub.id}`)).body.balances as Array<{
      id: string;
      source: string;
      granted: string;
      status: string;
    }>;
    expect(balances.find((b) => b.id === balance.id)).toMatchObject({ status: 'expired' });
    expect(balances.find((b) => b.source === 'rollover')).toMatchObject({ granted: '10' });
  });
});

describe('a quote while the sweep owes a closing', () => {
  it('answers what the use will do: the expired hold and the run-out freeze count as ended', async () => {
    at('2026-06-10T12:00:00.000Z');
    const { client, sub, balance } = await clientWith(10, { max_freeze_days: 10 });
    const other = await clientWith(5);
    expect((await hold(client.id, 6, 'h-q', { expires_in_seconds: 60 })).status).toBe(200);
    expect((await hold(other.client.id, 4, 'h-q2', { expires_in_seconds: 60 })).status).toBe(200);
    expect((await post(`/v1/subscriptions/${sub.id}/freeze`, { days: 1 })).status).toBe(200);
    at('2026-06-11T12:30:00.000Z');
    const quote = (c: string, quantity: number) =>
      post('/v1/consumptions/quote', { client: c, credit_type: sms.code, quantity });
    const quoted = await quote(client.id, 9);
    expect(quoted.status, quoted.text).toBe(200);
    // unfrozen at 11 Jun 12:00 (expiry 10 Jul → 11 Jul), the hold's 6 back as of 12:01 on 10 Jun
    expect(quoted.body).toMatchObject({
      would: 'apply',
      applied: '9',
      allocations: [{ balance_id: balance.id, amount: '9', expires_at: '2026-07-11T12:00:00.000Z' }],
      remaining: '1',
    });
    const otherQuote = await quote(other.client.id, 5);
    expect(otherQuote.body).toMatchObject({ would: 'apply', remaining: '0' });
    // nothing was written: the subscription still frozen as stored (a GET would settle it first, swept-reads.ts);
    // the use then agrees
    expect((await app.database.db('subscriptions').where({ id: sub.id }).first()).status).toBe('frozen');
    const used = await use(client.id, 9, 'u-q');
    expect(used.status, used.text).toBe(200);
    expect(used.body).toMatchObject({ allocations: [{ balance_id: balance.id, amount: '9' }] });
    expect(used.body.remaining).toBe(quoted.body.remaining);
  });
});

describe('a capture asked before expires_at that its worker reaches after the sweep', () => {
  it('is applied: the sweep leaves a hold whose capture was accepted in time to that capture', async () => {
    at('2026-06-10T12:00:00.000Z');
    const { client, balance } = await clientWith(10);
    const held = await hold(client.id, 5, 'h-late', { expires_in_seconds: 60 });
    expect(held.status, held.text).toBe(200);
    const queue = app.ctx.queues.consumption;
    await queue.pause();
    let captured: ReturnType<typeof post>;
    try {
      // asked at 12:00:30, half a minute before the hold ends; the workers are behind
      at('2026-06-10T12:00:30.000Z');
      captured = post(`/v1/holds/${held.body.id}/capture`, { quantity: 2 });
      const jobId = `capture|${held.body.id}`;
      await expect.poll(async () => (await app.database.db('accepted_jobs').where({ job_id: jobId })).length).toBe(1);
      // the sweep at 12:05 comes before the capture's worker
      at('2026-06-10T12:05:00.000Z');
      expect((await expireDue(app.ctx, app.clock.now())).ok).toBe(true);
    } finally {
      await queue.resume();
    }
    const answer = await captured;
    expect(answer.status, answer.text).toBe(200);
    expect(answer.body.hold).toMatchObject({ status: 'captured', captured: '2', released: '3' });
    expect(answer.body.consumption).toMatchObject({
      applied: '2',
      occurred_at: '2026-06-10T12:00:30.000Z',
      allocations: [{ balance_id: balance.id, amount: '2' }],
    });
    expect(await row(client.id)).toMatchObject({ remaining: '8', held: '0', consumed: '2' });
  });
});
