import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runNightly } from '../../src/scheduler/nightly.js';
import { unfreezeSubscription } from '../../src/services/freeze.js';
import { verifyInvariants } from '../../src/services/verify.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, snapshotCounts, subscribe } from '../helpers/fixtures.js';

/**
 * DOMAIN.md "Freeze" over HTTP with a moved clock: a frozen subscription pays for nothing and is neither renewed
 * nor expired; at unfreeze (by hand, or by the sweep at frozen_until) its period end and its balances' expiries
 * move later by the exact frozen time, with `extend` ledger entries. Every figure below is computed by hand.
 */
let app: TestApp;
let sms: { id: string; code: string };
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-03-01T00:00:00.000Z' });
  sms = await createCreditType(app, { code: 'fz-sms', unit: 'message' });
});
afterAll(async () => {
  const report = await verifyInvariants(app.database.db);
  expect(report.violations).toEqual([]);
  await app.close();
});

const at = (iso: string) => app.clock.set(iso);
const nightly = () => runNightly(app.ctx, app.clock.now(), { phaseTimeoutMs: 15_000, reports: false });
const consume = (client: string, quantity: number, key: string) =>
  app.request('POST', '/v1/consumptions?wait=true', {
    key: app.keys.write,
    body: { client, credit_type: sms.code, quantity, idempotency_key: key },
  });
const freeze = (id: string, body?: unknown) =>
  app.request('POST', `/v1/subscriptions/${id}/freeze`, { key: app.keys.write, body });
const unfreeze = (id: string) => app.request('POST', `/v1/subscriptions/${id}/unfreeze`, { key: app.keys.write });
const view = async (id: string) => (await app.request('GET', `/v1/subscriptions/${id}`, { key: app.keys.read })).body;
const balancesOf = async (client: string) =>
  (await app.request('GET', `/v1/clients/${client}/balances`, { key: app.keys.read })).body.data[0];
const eventsOf = async (subject: string) =>
  (await app.database.db('outbox_events').where({ subject_id: subject }).orderBy('seq')) as Array<{
    type: string;
    payload: { data: Record<string, unknown> };
  }>;

interface BalanceView {
  id: string;
  source: string;
  status: string;
  remaining: string;
  expires_at: string;
}

describe('freeze across a period end, then unfreeze by hand', () => {
  it('neither renewed nor expired while frozen; unfreeze pushes period end and expiries by frozen time', async () => {
    at('2026-03-01T00:00:00.000Z');
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }], {
      auto_renew: true,
      max_freeze_days: 20,
    });
    const sub = await subscribe(app, client.id, pkg.code);
    expect(sub.current_period_end).toBe('2026-04-01T00:00:00.000Z');
    expect((await consume(client.id, 3, 'before-freeze')).status).toBe(200);
    at('2026-03-05T00:00:00.000Z');
    const recharged = await app.request('POST', `/v1/subscriptions/${sub.id}/recharge?wait=true`, {
      key: app.keys.write,
    });
    expect(recharged.status, recharged.text).toBe(200);

    // frozen on 25 March at 06:00 for 15 days: until 9 April 06:00
    at('2026-03-25T06:00:00.000Z');
    const frozen = await freeze(sub.id, { days: 15 });
    expect(frozen.status, frozen.text).toBe(200);
    expect(frozen.body).toMatchObject({
      status: 'frozen',
      frozen_at: '2026-03-25T06:00:00.000Z',
      frozen_until: '2026-04-09T06:00:00.000Z',
      current_period_end: '2026-04-01T00:00:00.000Z',
    });
    // frozen again, or renewed by hand: 409
    expect((await freeze(sub.id, { days: 1 })).status).toBe(409);
    const renew = await app.request('POST', `/v1/subscriptions/${sub.id}/renew?wait=true`, { key: app.keys.write });
    expect(renew.status, renew.text).toBe(409);

    // it pays for nothing: 7 + 10 units held, none spendable
    const refused = await consume(client.id, 1, 'while-frozen');
    expect(refused.status, refused.text).toBe(422);
    expect(refused.body.code).toBe('insufficient_balance');
    expect(await balancesOf(client.id)).toMatchObject({ remaining: '0', unavailable: '17' });

    // across the period end (1 April) and two nightly sweeps: not renewed, not expired
    at('2026-04-01T00:00:00.000Z');
    await nightly();
    at('2026-04-03T00:00:00.000Z');
    await nightly();
    const still = await view(sub.id);
    expect(still).toMatchObject({
      status: 'frozen',
      renewal_count: 0,
      current_period_end: '2026-04-01T00:00:00.000Z',
    });
    expect((still.balances as BalanceView[]).map((b) => [b.status, b.remaining, b.expires_at])).toEqual([
      ['active', '7', '2026-04-01T00:00:00.000Z'],
      ['active', '10', '2026-04-01T00:00:00.000Z'],
    ]);
    expect(await app.database.db('ledger_entries').where({ subscription_id: sub.id, kind: 'expire' })).toHaveLength(0);
    const listed = await app.request('GET', `/v1/subscriptions?client=${client.id}&status=frozen`, {
      key: app.keys.read,
    });
    expect(listed.body.data.map((s: { id: string }) => s.id)).toEqual([sub.id]);
    expect(await app.database.db('subscription_periods').where({ subscription_id: sub.id })).toHaveLength(1);

    // unfrozen by hand on 5 April at 18:00: frozen 11 days 12 hours, so 1 April 00:00 becomes 12 April 12:00
    at('2026-04-05T18:00:00.000Z');
    const unfrozen = await unfreeze(sub.id);
    expect(unfrozen.status, unfrozen.text).toBe(200);
    expect(unfrozen.body).toMatchObject({
      status: 'active',
      frozen_at: null,
      frozen_until: null,
      current_period_start: '2026-03-01T00:00:00.000Z',
      current_period_end: '2026-04-12T12:00:00.000Z',
    });
    expect((unfrozen.body.balances as BalanceView[]).map((b) => [b.source, b.remaining, b.expires_at])).toEqual([
      ['package', '7', '2026-04-12T12:00:00.000Z'],
      ['recharge', '10', '2026-04-12T12:00:00.000Z'],
    ]);
    const period = await app.database.db('subscription_periods').where({ subscription_id: sub.id }).first();
    expect(period.ends_at.toISOString()).toBe('2026-04-12T12:00:00.000Z');

    // one `extend` entry per balance: amount 0, remaining unchanged, the old and the new expiry
    const statement = await app.request('GET', `/v1/clients/${client.id}/statement`, { key: app.keys.read });
    const extended = statement.body.data.filter((e: { kind: string }) => e.kind === 'extend');
    expect(extended).toEqual([
      expect.objectContaining({
        amount: '0',
        remaining_after: '7',
        previous_expires_at: '2026-04-01T00:00:00.000Z',
        expires_at: '2026-04-12T12:00:00.000Z',
      }),
      expect.objectContaining({
        amount: '0',
        remaining_after: '10',
        previous_expires_at: '2026-04-01T00:00:00.000Z',
        expires_at: '2026-04-12T12:00:00.000Z',
      }),
    ]);
    expect((await unfreeze(sub.id)).status).toBe(409);

    // spendable again
    const used = await consume(client.id, 2, 'after-unfreeze');
    expect(used.status, used.text).toBe(200);
    expect(used.body.remaining).toBe('15');

    // events, in order, with the pushed time (11.5 days = 993,600 s)
    const events = await eventsOf(sub.id);
    const types = events.map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['subscription.frozen', 'subscription.unfrozen']));
    expect(types.indexOf('subscription.frozen')).toBeLessThan(types.indexOf('subscription.unfrozen'));
    expect(events.find((e) => e.type === 'subscription.frozen')!.payload.data).toMatchObject({
      frozen_at: '2026-03-25T06:00:00.000Z',
      frozen_until: '2026-04-09T06:00:00.000Z',
    });
    expect(events.find((e) => e.type === 'subscription.unfrozen')!.payload.data).toMatchObject({
      by: 'hand',
      frozen_seconds: 993_600,
      previous_period_end: '2026-04-01T00:00:00.000Z',
      current_period_end: '2026-04-12T12:00:00.000Z',
      balances_extended: 2,
    });

    // 11.5 of the 20 days are used in this period: 9 more is beyond max_freeze_days, and changes nothing
    const before = await snapshotCounts(app, ['subscription_freezes', 'outbox_events']);
    const beyond = await freeze(sub.id, { days: 9 });
    expect(beyond.status, beyond.text).toBe(422);
    expect(beyond.body).toMatchObject({ code: 'validation_failed', errors: [{ field: 'days' }] });
    expect(await snapshotCounts(app, ['subscription_freezes', 'outbox_events'])).toEqual(before);
    expect((await view(sub.id)).status).toBe('active');

    // the renewal starts where the pushed period ends
    at('2026-04-12T12:00:00.000Z');
    await nightly();
    expect(await view(sub.id)).toMatchObject({
      status: 'active',
      renewal_count: 1,
      current_period_start: '2026-04-12T12:00:00.000Z',
      current_period_end: '2026-05-12T12:00:00.000Z',
    });
  });
});

describe('the sweep unfreezes at frozen_until', () => {
  it('as by hand at frozen_until, however late it runs', async () => {
    at('2026-06-01T00:00:00.000Z');
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 5 }], { max_freeze_days: 10 });
    const sub = await subscribe(app, client.id, pkg.code);
    expect(sub.current_period_end).toBe('2026-07-01T00:00:00.000Z');

    at('2026-06-10T00:00:00.000Z');
    const frozen = await freeze(sub.id, { until: '2026-06-15T12:00:00Z' });
    expect(frozen.status, frozen.text).toBe(200);
    expect(frozen.body.frozen_until).toBe('2026-06-15T12:00:00.000Z');

    // before frozen_until the sweep leaves it frozen
    at('2026-06-15T00:00:00.000Z');
    await nightly();
    expect((await view(sub.id)).status).toBe('frozen');

    // the sweep runs 15 hours after frozen_until: the push is still 5.5 days, so 1 July becomes 6 July 12:00
    at('2026-06-16T03:00:00.000Z');
    const report = await nightly();
    expect(report.phases.find((p) => p.phase === 'expiry')).toMatchObject({ completed: 1 });
    const after = await view(sub.id);
    expect(after).toMatchObject({
      status: 'active',
      frozen_at: null,
      frozen_until: null,
      current_period_end: '2026-07-06T12:00:00.000Z',
    });
    expect((after.balances as BalanceView[]).map((b) => b.expires_at)).toEqual(['2026-07-06T12:00:00.000Z']);
    const record = await app.database.db('subscription_freezes').where({ subscription_id: sub.id }).first();
    expect(record).toMatchObject({ ended_by: 'sweep' });
    expect(record.unfrozen_at.toISOString()).toBe('2026-06-15T12:00:00.000Z');
    const unfrozen = (await eventsOf(sub.id)).find((e) => e.type === 'subscription.unfrozen');
    expect(unfrozen?.payload.data).toMatchObject({ by: 'sweep', frozen_seconds: 475_200 });
    expect((await consume(client.id, 1, 'after-sweep')).status).toBe(200);

    // without `until` or `days`, a second freeze takes what is left: 10 − 5.5 = 4.5 days
    const rest = await freeze(sub.id);
    expect(rest.status, rest.text).toBe(200);
    expect(rest.body.frozen_until).toBe('2026-06-20T15:00:00.000Z');
    // and the day it runs out, the balance is not swept away while frozen
    at('2026-07-07T00:00:00.000Z');
    await nightly();
    // the sweep first unfroze it at 20 June 15:00 (4.5 days more): 6 July 12:00 became 11 July 00:00
    expect(await view(sub.id)).toMatchObject({ status: 'active', current_period_end: '2026-07-11T00:00:00.000Z' });
  });
});

describe('a reversal while frozen', () => {
  it('gives the units back to a balance past its date (its expiry moves at unfreeze), never loses them', async () => {
    at('2026-09-01T00:00:00.000Z');
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }], { max_freeze_days: 20 });
    const sub = await subscribe(app, client.id, pkg.code);
    expect(sub.current_period_end).toBe('2026-10-01T00:00:00.000Z');
    const used = await consume(client.id, 4, 'before-freeze');
    expect(used.status, used.text).toBe(200);

    at('2026-09-25T00:00:00.000Z');
    expect((await freeze(sub.id, { days: 10 })).status).toBe(200);
    // past the balance's date (1 October), still frozen (until 5 October): the use is reversed
    at('2026-10-02T00:00:00.000Z');
    const reversed = await app.request('POST', `/v1/consumptions/${used.body.id}/reverse?wait=true`, {
      key: app.keys.write,
    });
    expect(reversed.status, reversed.text).toBe(200);
    const [balance] = (await view(sub.id)).balances as BalanceView[];
    expect(balance!.remaining).toBe('10');

    // unfrozen on 3 October after 8 days: the balance ends on 9 October, with the units given back
    at('2026-10-03T00:00:00.000Z');
    expect((await unfreeze(sub.id)).status).toBe(200);
    const [after] = (await view(sub.id)).balances as BalanceView[];
    expect(after).toMatchObject({ remaining: '10', expires_at: '2026-10-09T00:00:00.000Z' });
  });
});

describe('an adjustment while frozen', () => {
  it('adds units to a balance past its old date (its clock stopped: not expired); it keeps them', async () => {
    at('2026-11-01T00:00:00.000Z');
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }], { max_freeze_days: 20 });
    const sub = await subscribe(app, client.id, pkg.code);
    expect(sub.current_period_end).toBe('2026-12-01T00:00:00.000Z');
    at('2026-11-25T00:00:00.000Z');
    expect((await freeze(sub.id, { days: 10 })).status).toBe(200);
    // 2 December: past the balance's date (1 December), frozen until 5 December
    at('2026-12-02T00:00:00.000Z');
    const [balance] = (await view(sub.id)).balances as BalanceView[];
    const adjust = (delta: string) =>
      app.request('POST', `/v1/balances/${balance!.id}/adjustments`, {
        key: app.keys.admin,
        body: { delta, reason: 'goodwill while frozen' },
      });
    const added = await adjust('5');
    expect(added.status, added.text).toBe(201);
    expect(added.body).toMatchObject({ kind: 'adjust', amount: '5', remaining_after: '15' });
    // unfrozen on 3 December after 8 days: the balance ends on 9 December with 15
    at('2026-12-03T00:00:00.000Z');
    expect((await unfreeze(sub.id)).status).toBe(200);
    const [after] = (await view(sub.id)).balances as BalanceView[];
    expect(after).toMatchObject({ remaining: '15', expires_at: '2026-12-09T00:00:00.000Z' });
    // a balance really past its date is still refused
    at('2026-12-10T00:00:00.000Z');
    const late = await adjust('1');
    expect(late.status, late.text).toBe(409);
  });
});

describe('the sweep and a freeze that is not due', () => {
  it('a sweep that listed an older freeze leaves a new one alone (unfrozen and frozen again meanwhile)', async () => {
    at('2026-11-01T00:00:00.000Z');
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 5 }], { max_freeze_days: 20 });
    const sub = await subscribe(app, client.id, pkg.code);
    expect((await freeze(sub.id, { days: 5 })).status).toBe(200);
    // the sweep's turn comes for this subscription as of 3 November, but its freeze runs to 6 November
    const swept = await unfreezeSubscription(app.database.db, sub.id, {
      by: 'sweep',
      at: new Date('2026-11-03T00:00:00.000Z'),
      now: app.clock.now(),
      actor: 'sweep',
    });
    expect(swept.ok).toBe(false);
    expect(await view(sub.id)).toMatchObject({ status: 'frozen', frozen_until: '2026-11-06T00:00:00.000Z' });
  });
});

describe('who may freeze', () => {
  it('422 when the package allows no freezing; PATCH on the package turns it on; 409/404 for the rest', async () => {
    at('2026-08-01T00:00:00.000Z');
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 5 }]);
    const sub = await subscribe(app, client.id, pkg.code);
    const refused = await freeze(sub.id, { days: 1 });
    expect(refused.status, refused.text).toBe(422);
    expect(refused.body).toMatchObject({ code: 'validation_failed', errors: [{ field: 'days' }] });

    const patched = await app.request('PATCH', `/v1/packages/${pkg.id}`, { body: { max_freeze_days: 3 } });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body.max_freeze_days).toBe(3);
    expect((await freeze(sub.id, { until: '2026-07-31T00:00:00Z' })).status).toBe(422);
    expect((await freeze(sub.id, { days: 4 })).status).toBe(422);

    expect((await unfreeze(sub.id)).status).toBe(409);
    await app.request('PATCH', `/v1/subscriptions/${sub.id}`, { key: app.keys.write, body: { status: 'suspended' } });
    expect((await freeze(sub.id, { days: 1 })).status).toBe(409);
    await app.request('PATCH', `/v1/subscriptions/${sub.id}`, { key: app.keys.write, body: { status: 'active' } });
    expect((await freeze(sub.id, { days: 3 })).status).toBe(200);
    // a frozen subscription is not resumed by PATCH: only unfreeze starts its clock
    const patch = await app.request('PATCH', `/v1/subscriptions/${sub.id}`, {
      key: app.keys.write,
      body: { status: 'active' },
    });
    expect(patch.status).toBe(409);
    // cancelled now while frozen: its units are voided and the freeze ends
    const cancel = await app.request('POST', `/v1/subscriptions/${sub.id}/cancel`, {
      key: app.keys.write,
      body: { at: 'now' },
    });
    expect(cancel.status, cancel.text).toBe(200);
    expect(cancel.body).toMatchObject({ status: 'cancelled', frozen_at: null, frozen_until: null });

    expect((await freeze('00000000-0000-4000-8000-000000000000', { days: 1 })).status).toBe(404);
    expect((await unfreeze('00000000-0000-4000-8000-000000000000')).status).toBe(404);
    const none = await app.request('POST', '/v1/packages', {
      body: {
        code: 'fz-bad',
        name: 'x',
        price: 1,
        currency: 'USD',
        validity: { count: 1, unit: 'month' },
        items: [{ credit_type: sms.code, units: 1 }],
        max_freeze_days: 0,
      },
    });
    expect(none.status).toBe(422);
  });
});

describe('a retried freeze or unfreeze (Idempotency-Key)', () => {
  it('replays the first answer once frozen (not 409), one freeze and one event; another body is 409', async () => {
    at('2026-09-01T00:00:00.000Z');
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }], { max_freeze_days: 20 });
    const sub = await subscribe(app, client.id, pkg.code);
    const post = (path: string, key: string, body?: unknown) =>
      app.request('POST', `/v1/subscriptions/${sub.id}/${path}`, {
        key: app.keys.write,
        headers: { 'idempotency-key': key },
        body,
      });
    const first = await post('freeze', 'fz-1', { days: 5 });
    expect(first.status, first.text).toBe(200);
    at('2026-09-01T00:00:05.000Z');
    const again = await post('freeze', 'fz-1', { days: 5 });
    expect(again.status, again.text).toBe(200);
    expect(again.body).toEqual(first.body);
    const other = await post('freeze', 'fz-1', { days: 6 });
    expect(other.status).toBe(409);
    expect(other.body.code).toBe('idempotency_conflict');

    at('2026-09-03T00:00:00.000Z');
    const thawed = await post('unfreeze', 'uf-1');
    expect(thawed.status, thawed.text).toBe(200);
    expect(thawed.body).toMatchObject({ status: 'active', current_period_end: '2026-10-03T00:00:00.000Z' });
    const thawedAgain = await post('unfreeze', 'uf-1');
    expect(thawedAgain.status, thawedAgain.text).toBe(200);
    expect(thawedAgain.body).toEqual(thawed.body);
    // without a key, a second unfreeze is the conflict it always was
    expect((await unfreeze(sub.id)).status).toBe(409);
    const types = (await eventsOf(sub.id)).map((e) => e.type).filter((t) => t.includes('frozen'));
    expect(types).toEqual(['subscription.frozen', 'subscription.unfrozen']);
  });
});
