import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import { CreditsProducer } from '../../src/producer/index.js';
import { NO_NIGHTLY_REPORTS, startTestApp, type TestApp } from '../helpers/app.js';
import { balanceSteps, rowTotals } from '../helpers/balance-steps.js';
import { countRows } from '../helpers/fixtures.js';
import { closeVerified, httpSteps } from '../helpers/http-steps.js';
import { jsonRows } from '../helpers/reports.js';

/**
 * Issue 15 "How it will be checked": one client's story told over HTTP only, the clock moved with
 * PUT /v1/admin/clock and the sweep run with POST /v1/admin/nightly-runs, as an acceptance run does it
 * (README "Acceptance runs"). Every expected number is worked out by hand in the comment beside it.
 *
 * The cast (BUSINESS_TZ UTC):
 *   credit type `min` (minutes, 0 decimals), dimensions branch, agent
 *   G   a grant of 30, priority 50, expires 03-20 00:00           (spent first: same priority, earlier expiry)
 *   B1  the package's 100, priority 50, 03-02 09:00 → 04-02 09:00 (auto_renew, max_freeze_days 10)
 *   G2  a grant of 50, priority 60, expires 03-16 10:10           (granted on 03-05, spent last)
 */
let app: TestApp;
const CT = 'i15-min';
const PKG = 'i15-pack';
const REF = 'i15-client';
const ids: { client: string; sub: string; g: string; b1: string; g2: string; h1: string; h2: string; h3: string } = {
  client: '',
  sub: '',
  g: '',
  b1: '',
  g2: '',
  h1: '',
  h2: '',
  h3: '',
};

beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-03-02T09:00:00.000Z', env: NO_NIGHTLY_REPORTS });
});
afterAll(async () => {
  await closeVerified(app);
});

const { call, ok, clockTo, nightly } = httpSteps(() => app);
const consume = (quantity: number, key: string, metadata?: Record<string, unknown>) =>
  ok('POST', '/v1/consumptions?wait=true', {
    client: REF,
    credit_type: CT,
    quantity,
    idempotency_key: key,
    ...(metadata ? { metadata } : {}),
  });
const quote = (body: Record<string, unknown>) =>
  ok('POST', '/v1/consumptions/quote', { client: REF, credit_type: CT, ...body });
const { rowOf } = balanceSteps({ call, ok });
const row = (asOf?: string) => rowOf(REF, CT, asOf);
const ledgerOf = async (balanceId: string) => {
  const body = await ok(
    'GET',
    `/v1/clients/${REF}/statement?credit_type=${CT}&from=2026-03-01T00:00:00Z&to=2026-05-31T00:00:00Z`,
  );
  return (body.data as Array<Record<string, string>>)
    .filter((e) => e.balance_id === balanceId)
    .map((e) => [e.kind, e.amount, e.remaining_after]);
};
const eventsOf = async (type: string, subject: (data: Record<string, unknown>) => boolean) => {
  const body = await ok('GET', `/v1/events?type=${type}&limit=500`);
  return (body.data as Array<{ type: string; data: Record<string, unknown> }>).filter((e) => subject(e.data));
};

describe('issue 15 re-enacted over HTTP with a moved clock', () => {
  it('the catalog: a credit type with dimensions (at most 5), a freezable package, a client', async () => {
    const six = ['a', 'b', 'c', 'd', 'e', 'f'];
    const tooMany = await call('POST', '/v1/credit-types', { code: 'i15-x', name: 'x', unit: 'x', dimensions: six });
    expect(tooMany.status, tooMany.text).toBe(422);
    const ct = await ok(
      'POST',
      '/v1/credit-types',
      { code: CT, name: 'Minutes', unit: 'minute', dimensions: ['branch'] },
      201,
    );
    expect(ct.dimensions).toEqual(['branch']);
    const five = ['branch', 'agent', 'team', 'region', 'shift'];
    expect((await ok('PATCH', `/v1/credit-types/${CT}`, { dimensions: five })).dimensions).toEqual(five);
    expect((await call('PATCH', `/v1/credit-types/${CT}`, { dimensions: [...five, 'desk'] })).status).toBe(422);
    expect((await ok('PATCH', `/v1/credit-types/${CT}`, { dimensions: ['branch', 'agent'] })).dimensions).toEqual([
      'branch',
      'agent',
    ]);
    const pkg = await ok(
      'POST',
      '/v1/packages',
      {
        code: PKG,
        name: 'Pack',
        price: 5000,
        currency: 'USD',
        validity: { count: 1, unit: 'month' },
        items: [{ credit_type: CT, units: 100 }],
        auto_renew: true,
        max_freeze_days: 10,
      },
      201,
    );
    expect(pkg.max_freeze_days).toBe(10);
    ids.client = (await ok('POST', '/v1/clients', { external_ref: REF, name: 'Issue 15' }, 201)).id;
    const sub = await ok('POST', '/v1/subscriptions', { client: REF, package: PKG }, 201);
    // a month from 03-02 09:00
    expect(sub).toMatchObject({ status: 'active', current_period_end: '2026-04-02T09:00:00.000Z' });
    ids.sub = sub.id;
    ids.b1 = sub.balances[0].id;
    const g = await ok(
      'POST',
      `/v1/clients/${REF}/grants`,
      { credit_type: CT, units: 30, expires_at: '2026-03-20T00:00:00Z', reason: 'welcome' },
      201,
    );
    ids.g = g.id;
  });

  it('uses with dimensions, and a quote that takes what the consume job then takes', async () => {
    await clockTo('2026-03-02T10:00:00.000Z');
    // G 30 → 25
    const c1 = await consume(5, 'c1', { branch: 'cairo', agent: 'a1' });
    expect(c1).toMatchObject({
      status: 'applied',
      allocations: [{ balance_id: ids.g, amount: '5' }],
      remaining: '125',
    });

    await clockTo('2026-03-03T10:00:00.000Z');
    // 30 = G's 25 (it expires first) + 5 of B1; 125 − 30 = 95 left
    const before = { ledger: await countRows(app, 'ledger_entries'), uses: await countRows(app, 'consumptions') };
    const q = await quote({ quantity: 30 });
    expect(q).toMatchObject({ would: 'apply', quantity: '30', applied: '30', shortfall: '0', remaining: '95' });
    expect(q.allocations).toEqual([
      { balance_id: ids.g, amount: '25', expires_at: '2026-03-20T00:00:00.000Z' },
      { balance_id: ids.b1, amount: '5', expires_at: '2026-04-02T09:00:00.000Z' },
    ]);
    // a quote writes nothing
    expect({ ledger: await countRows(app, 'ledger_entries'), uses: await countRows(app, 'consumptions') }).toEqual(
      before,
    );
    const c2 = await consume(30, 'c2', { branch: 'alex' });
    expect(c2.allocations).toEqual(
      q.allocations.map((a: { balance_id: string; amount: string }) => ({
        balance_id: a.balance_id,
        amount: a.amount,
      })),
    );
    expect(c2.remaining).toBe('95');

    await clockTo('2026-03-04T10:00:00.000Z');
    // B1 95 → 90
    expect((await consume(5, 'c3')).remaining).toBe('90');
  });

  it('holds: create, read, quote around them, capture part, release, capture after release', async () => {
    await clockTo('2026-03-05T10:00:00.000Z');
    const h1 = await ok('POST', '/v1/holds?wait=true', {
      client: REF,
      credit_type: CT,
      quantity: 40,
      idempotency_key: 'call-1',
      expires_in_seconds: 600,
      metadata: { branch: 'cairo' },
    });
    // B1 90 → 50 usable, 40 held; expires 10 minutes later
    expect(h1).toMatchObject({
      status: 'held',
      quantity: '40',
      allocations: [{ balance_id: ids.b1, amount: '40' }],
      expires_at: '2026-03-05T10:10:00.000Z',
      remaining: '50',
    });
    ids.h1 = h1.id;
    expect(await ok('GET', `/v1/holds/${ids.h1}`)).toMatchObject({ id: ids.h1, status: 'held', quantity: '40' });
    // granted 30 + 100; consumed 5 + 30 + 5 = 40; 90 − 40 held = 50
    expect(rowTotals(await row())).toMatchObject({ granted: '130', consumed: '40', remaining: '50', held: '40' });
    expect((await row()).balances.find((b: { id: string }) => b.id === ids.b1)).toMatchObject({
      remaining: '50',
      held: '40',
    });
    // held units are not there to be quoted: 60 wanted, 50 usable
    expect(await quote({ quantity: 60 })).toMatchObject({
      would: 'reject',
      applied: '0',
      shortfall: '10',
      remaining: '50',
      allocations: [],
    });
    expect(await quote({ quantity: 60, mode: 'partial' })).toMatchObject({
      would: 'partial',
      applied: '50',
      shortfall: '10',
      remaining: '0',
      allocations: [{ balance_id: ids.b1, amount: '50' }],
    });

    await clockTo('2026-03-05T10:01:00.000Z');
    // the call used 10 of the 40: 10 consumed, 30 back → 50 + 30 = 80 usable
    const captured = await ok('POST', `/v1/holds/${ids.h1}/capture`, { quantity: 10 });
    expect(captured.hold).toMatchObject({ id: ids.h1, status: 'captured', captured: '10', released: '30' });
    expect(captured.consumption).toMatchObject({
      status: 'applied',
      quantity: '10',
      applied: '10',
      allocations: [{ balance_id: ids.b1, amount: '10' }],
      remaining: '80',
    });
    const again = await ok('POST', `/v1/holds/${ids.h1}/capture`, { quantity: 10 });
    expect(again.consumption.id).toBe(captured.consumption.id);
    expect((await call('POST', `/v1/holds/${ids.h1}/release`)).status).toBe(409);

    await clockTo('2026-03-05T10:02:00.000Z');
    const h2 = await ok('POST', '/v1/holds?wait=true', {
      client: ids.client,
      credit_type: CT,
      quantity: 20,
      idempotency_key: 'call-2',
    });
    // 80 − 20 = 60; the default expiry is 15 minutes
    expect(h2).toMatchObject({ status: 'held', remaining: '60', expires_at: '2026-03-05T10:17:00.000Z' });
    ids.h2 = h2.id;
    await clockTo('2026-03-05T10:03:00.000Z');
    const released = await ok('POST', `/v1/holds/${ids.h2}/release`);
    expect(released).toMatchObject({ id: ids.h2, status: 'released', released: '20' });
    expect(await ok('POST', `/v1/holds/${ids.h2}/release`)).toMatchObject({ id: ids.h2, status: 'released' });
    const late = await call('POST', `/v1/holds/${ids.h2}/capture`);
    expect(late.status, late.text).toBe(409);
    expect(late.body.code).toBe('conflict');
    expect(rowTotals(await row())).toMatchObject({ consumed: '50', remaining: '80', held: '0' });

    // more than there is: 422, recorded as rejected
    const short = await call('POST', '/v1/holds?wait=true', {
      client: REF,
      credit_type: CT,
      quantity: 81,
      idempotency_key: 'call-big',
    });
    expect(short.status, short.text).toBe(422);
    expect(short.body.code).toBe('insufficient_balance');
  });

  it('a hold left open expires by the sweep after the clock moves: hold.expired, the units come back', async () => {
    await clockTo('2026-03-05T10:04:00.000Z');
    const h3 = await ok('POST', '/v1/holds?wait=true', {
      client: REF,
      credit_type: CT,
      quantity: 10,
      idempotency_key: 'call-3',
      expires_in_seconds: 300,
    });
    // 80 − 10 = 70, expires at 10:09
    expect(h3).toMatchObject({ status: 'held', remaining: '70', expires_at: '2026-03-05T10:09:00.000Z' });
    ids.h3 = h3.id;
    const list = async (status: string) =>
      (await ok('GET', `/v1/holds?client=${REF}&status=${status}`)).data.map((h: { id: string }) => h.id);
    expect(await list('held')).toEqual([ids.h3]);
    expect(await list('captured')).toEqual([ids.h1]);
    expect(await list('released')).toEqual([ids.h2]);
    expect(await list('rejected')).toHaveLength(1);

    await clockTo('2026-03-05T10:10:00.000Z');
    // past its expires_at, before the sweep: no longer capturable
    const tooLate = await call('POST', `/v1/holds/${ids.h3}/capture`);
    expect(tooLate.status, tooLate.text).toBe(409);
    await nightly();
    expect(await ok('GET', `/v1/holds/${ids.h3}`)).toMatchObject({ status: 'expired', released: '10', held: '0' });
    expect(await list('expired')).toEqual([ids.h3]);
    expect(await list('held')).toEqual([]);
    const expired = await eventsOf('hold.expired', (d) => d.hold_id === ids.h3);
    expect(expired).toHaveLength(1);
    expect(expired[0]!.data).toMatchObject({ quantity: '10', released: '10', lapsed: '0' });
    expect((await call('POST', `/v1/holds/${ids.h3}/capture`)).status).toBe(409);
    // granted 130; consumed 5 + 30 + 5 + 10 = 50; 130 − 50 = 80, nothing held
    expect(rowTotals(await row())).toEqual({
      granted: '130',
      consumed: '50',
      remaining: '80',
      held: '0',
      expired: '0',
      unavailable: '0',
    });
    // B1: 100, −5 (c2), −5 (c3), hold −40, release +40, consume −10, hold −20, release +20, hold −10, release +10
    expect(await ledgerOf(ids.b1)).toEqual([
      ['grant', '100', '100'],
      ['consume', '-5', '95'],
      ['consume', '-5', '90'],
      ['hold', '-40', '50'],
      ['release', '40', '90'],
      ['consume', '-10', '80'],
      ['hold', '-20', '60'],
      ['release', '20', '80'],
      ['hold', '-10', '70'],
      ['release', '10', '80'],
    ]);
  });

  it('balances as of: equal to live at now, and hand-computed past instants', async () => {
    const live = await row();
    expect(await row('2026-03-05T10:10:00.000Z')).toEqual(live);
    // before anything: nothing held yet
    expect(await row('2026-03-01T00:00:00.000Z')).toBeUndefined();
    // after c1 and c2: consumed 35, 130 − 35 = 95
    expect(rowTotals(await row('2026-03-03T12:00:00Z'))).toMatchObject({
      granted: '130',
      consumed: '35',
      remaining: '95',
      held: '0',
    });
    // 30 s into H1: consumed 40, 40 held, 50 usable
    expect(rowTotals(await row('2026-03-05T10:00:30Z'))).toMatchObject({ consumed: '40', remaining: '50', held: '40' });
    // 10:05: H1 captured (10), H2 released, H3 holds 10: consumed 50, 80 − 10 = 70
    expect(rowTotals(await row('2026-03-05T10:05:00Z'))).toMatchObject({ consumed: '50', remaining: '70', held: '10' });
  });

  it('usage by a dimension and by day sums to the same total; the consumption report groups alike', async () => {
    const usage = async (groupBy: string) =>
      (await ok('GET', `/v1/clients/${REF}/usage?credit_type=${CT}&group_by=${groupBy}&from=2026-03-01&to=2026-03-31`))
        .data;
    // c1 5 cairo/a1, c2 30 alex, c3 5 none, H1's capture 10 with the hold's metadata (cairo)
    expect(await usage('branch')).toEqual([
      { key: 'alex', quantity: '30' },
      { key: 'cairo', quantity: '15' },
      { key: '(none)', quantity: '5' },
    ]);
    expect(await usage('agent')).toEqual([
      { key: 'a1', quantity: '5' },
      { key: '(none)', quantity: '45' },
    ]);
    expect(await usage('day')).toEqual([
      { key: '2026-03-02', quantity: '5' },
      { key: '2026-03-03', quantity: '30' },
      { key: '2026-03-04', quantity: '5' },
      { key: '2026-03-05', quantity: '10' },
    ]);
    expect(await usage('month')).toEqual([{ key: '2026-03-01', quantity: '50' }]);
    expect((await call('GET', `/v1/clients/${REF}/usage?credit_type=${CT}&group_by=team`)).status).toBe(422);

    const params = { client: REF, credit_type: CT, from: '2026-03-01', to: '2026-03-31' };
    const { rows } = await jsonRows<Record<string, string>>(app, {
      type: 'consumption',
      params: { ...params, group_by: 'branch' },
    });
    expect(rows.map((r) => [r.value, r.net])).toEqual([
      ['alex', '30'],
      ['cairo', '15'],
      ['(none)', '5'],
    ]);
    const byDay = await jsonRows<Record<string, string>>(app, { type: 'consumption', params });
    expect(byDay.rows.reduce((s, r) => s + Number(r.net), 0)).toBe(50);
  });

  it('forecast on this hand-made history', async () => {
    const g2 = await ok(
      'POST',
      `/v1/clients/${REF}/grants`,
      { credit_type: CT, units: 50, expires_at: '2026-03-16T10:10:00Z', priority: 60, reason: 'extra' },
      201,
    );
    ids.g2 = g2.id;
    const forecast = (windowDays: number) =>
      ok('GET', `/v1/clients/${REF}/forecast?credit_type=${CT}&window_days=${windowDays}`);
    // 5 days, (02-28 10:10, 03-05 10:10]: 5 + 30 + 5 + 10 = 50 → 10 a day. B1's 80 last 8 days (to 03-13 10:10);
    // G2 then drains 3 days to its expiry on 03-16 10:10: 30 spent, 20 expire unused; empty then: 11 days
    expect(await forecast(5)).toMatchObject({
      remaining: '130',
      burn_per_day: '10',
      days_until_empty: 11,
      empty_on: '2026-03-16',
      empty_at: '2026-03-16T10:10:00.000Z',
      expiring_unused: [{ balance_id: ids.g2, expires_at: '2026-03-16T10:10:00.000Z', units: '20' }],
    });
    // 30 days: the same 50 → 5/3 a day, shown "1.666667". B1 drains until its expiry on 04-02 09:00, 27 d 22 h 50 min
    // = 40,250 min away: 40,250 × 50 / 43,200 = 46.58 → 46 spent, 34 unused; G2 expires (03-16) before its turn,
    // all 50 unused; empty when B1 expires
    expect(await forecast(30)).toMatchObject({
      remaining: '130',
      burn_per_day: '1.666667',
      days_until_empty: 27,
      empty_on: '2026-04-02',
      empty_at: '2026-04-02T09:00:00.000Z',
      expiring_unused: [
        { balance_id: ids.b1, expires_at: '2026-04-02T09:00:00.000Z', units: '34' },
        { balance_id: ids.g2, expires_at: '2026-03-16T10:10:00.000Z', units: '50' },
      ],
    });
  });

  it('freeze across the period end: neither renewed nor expired; the sweep unfreezes at frozen_until', async () => {
    await clockTo('2026-03-28T09:00:00.000Z');
    const tooLong = await call('POST', `/v1/subscriptions/${ids.sub}/freeze`, { days: 11 });
    expect(tooLong.status, tooLong.text).toBe(422);
    const frozen = await ok('POST', `/v1/subscriptions/${ids.sub}/freeze`, { days: 10 });
    // 10 days from 03-28 09:00
    expect(frozen).toMatchObject({
      status: 'frozen',
      frozen_until: '2026-04-07T09:00:00.000Z',
      current_period_end: '2026-04-02T09:00:00.000Z',
    });
    expect(await eventsOf('subscription.frozen', (d) => d.subscription_id === ids.sub)).toHaveLength(1);
    // nothing is spendable: B1's 80 is frozen, G2 expired on 03-16 (not swept yet)
    expect(await quote({ quantity: 1 })).toMatchObject({ would: 'reject', shortfall: '1', remaining: '0' });

    await clockTo('2026-04-03T00:00:00.000Z');
    await nightly();
    const still = await ok('GET', `/v1/subscriptions/${ids.sub}`);
    expect(still).toMatchObject({ status: 'frozen', renewal_count: 0, current_period_end: '2026-04-02T09:00:00.000Z' });
    expect(still.balances.map((b: Record<string, string>) => [b.status, b.remaining, b.expires_at])).toEqual([
      ['active', '80', '2026-04-02T09:00:00.000Z'],
    ]);
    // granted 130 + 50; consumed 50; G2's 50 expired; B1's 80 frozen
    expect(rowTotals(await row())).toEqual({
      granted: '180',
      consumed: '50',
      remaining: '0',
      held: '0',
      expired: '50',
      unavailable: '80',
    });
    // as of now equals live, frozen past the old expiry as well
    expect(await row(app.clock.now().toISOString())).toEqual(await row());
    // the `balances` report counts alike: the subscription's row holds its 80 apart, the grants' row G2's 50 expired
    const report = await jsonRows<Record<string, string>>(app, { type: 'balances', params: { client: REF } });
    expect(
      report.rows.map((r) => [r.subscription_id, r.subscription_status, r.remaining, r.unavailable, r.expired]),
    ).toEqual(
      expect.arrayContaining([
        [ids.sub, 'frozen', '0', '80', '0'],
        [null, null, '0', '0', '50'],
      ]),
    );
    expect(report.rows).toHaveLength(2);
    // and the `subscriptions` report does not call it depleted: its 80 wait for the unfreeze
    const subs = await jsonRows<Record<string, unknown>>(app, { type: 'subscriptions', params: { client: REF } });
    expect(subs.rows.find((r) => r.subscription_id === ids.sub)).toMatchObject({
      status: 'frozen',
      depleted: false,
      renewal_count: 0,
    });
    // as of 03-30 (frozen, G2 past its expiry but not swept): the same
    expect(rowTotals(await row('2026-03-30T00:00:00Z'))).toMatchObject({
      remaining: '0',
      expired: '50',
      unavailable: '80',
    });

    // the sweep after frozen_until unfreezes as of 04-07 09:00: exactly 10 days frozen, so 04-02 09:00 → 04-12 09:00
    await clockTo('2026-04-07T10:00:00.000Z');
    await nightly();
    const after = await ok('GET', `/v1/subscriptions/${ids.sub}`);
    expect(after).toMatchObject({
      status: 'active',
      frozen_until: null,
      current_period_end: '2026-04-12T09:00:00.000Z',
      renewal_count: 0,
    });
    expect(after.balances.map((b: Record<string, string>) => [b.remaining, b.expires_at])).toEqual([
      ['80', '2026-04-12T09:00:00.000Z'],
    ]);
    const body = await ok(
      'GET',
      `/v1/clients/${REF}/statement?credit_type=${CT}&from=2026-04-01T00:00:00Z&to=2026-04-30T00:00:00Z`,
    );
    expect(body.data.filter((e: { kind: string }) => e.kind === 'extend')).toEqual([
      expect.objectContaining({
        balance_id: ids.b1,
        amount: '0',
        remaining_after: '80',
        previous_expires_at: '2026-04-02T09:00:00.000Z',
        expires_at: '2026-04-12T09:00:00.000Z',
      }),
    ]);
    const unfrozen = await eventsOf('subscription.unfrozen', (d) => d.subscription_id === ids.sub);
    expect(unfrozen).toHaveLength(1);
    // 10 days = 864,000 s
    expect(unfrozen[0]!.data).toMatchObject({ by: 'sweep', frozen_seconds: 864_000 });
    expect(rowTotals(await row())).toMatchObject({ remaining: '80', unavailable: '0', expired: '50' });
    // as of 04-05, replayed after the unfreeze: still frozen then, B1 past the expiry it had then (04-02 09:00)
    // yet not expired — its 80 were unavailable; G2's 50 expired
    expect(rowTotals(await row('2026-04-05T00:00:00Z'))).toMatchObject({
      consumed: '50',
      remaining: '0',
      unavailable: '80',
      expired: '50',
    });
    // as of now equals live, also after a freeze
    expect(await row(app.clock.now().toISOString())).toEqual(await row());

    // renewed where the pushed period ends; B1's 80 expire then (no rollover)
    await clockTo('2026-04-12T10:00:00.000Z');
    await nightly();
    expect(await ok('GET', `/v1/subscriptions/${ids.sub}`)).toMatchObject({
      status: 'active',
      renewal_count: 1,
      current_period_start: '2026-04-12T09:00:00.000Z',
      current_period_end: '2026-05-12T09:00:00.000Z',
    });
    // granted 180 + 100; expired 50 + 80 = 130; the new 100 usable
    expect(rowTotals(await row())).toMatchObject({ granted: '280', consumed: '50', remaining: '100', expired: '130' });
  });

  it("the producer's hold, capture and release", async () => {
    const producer = new CreditsProducer({
      connection: app.ctx.redisUrl,
      prefix: app.prefix,
      now: () => app.clock.now(),
    });
    try {
      const taken = await producer.hold({ client: REF, credit_type: CT, quantity: 7, idempotency_key: 'p-1' });
      const held = await awaitOutcome(app.ctx, 'hold', taken.jobId, { timeoutMs: 20_000 });
      if (held.state !== 'completed') throw new Error(`hold ${held.state}`);
      // 100 − 7 = 93
      expect(held.value).toMatchObject({ status: 'held', quantity: '7', remaining: '93' });
      const cap = await producer.capture({ hold_id: held.value.id, quantity: '3' });
      const answer = await awaitOutcome(app.ctx, 'capture', cap.jobId, { timeoutMs: 20_000 });
      if (answer.state !== 'completed') throw new Error(`capture ${answer.state}`);
      // 3 consumed, 4 back: 97
      expect(answer.value.consumption).toMatchObject({ applied: '3', remaining: '97' });
      const other = await producer.hold({ client: REF, credit_type: CT, quantity: 2, idempotency_key: 'p-2' });
      const second = await awaitOutcome(app.ctx, 'hold', other.jobId, { timeoutMs: 20_000 });
      if (second.state !== 'completed') throw new Error(`hold ${second.state}`);
      const rel = await producer.release({ hold_id: second.value.id });
      const back = await awaitOutcome(app.ctx, 'release', rel.jobId, { timeoutMs: 20_000 });
      expect(back).toMatchObject({ state: 'completed', value: { status: 'released', released: '2' } });
      expect(await ok('GET', `/v1/holds/${held.value.id}`)).toMatchObject({ status: 'captured', captured: '3' });
    } finally {
      await producer.close();
    }
    // consumed 50 + 3 = 53; 100 − 3 = 97
    expect(rowTotals(await row())).toMatchObject({ consumed: '53', remaining: '97', held: '0' });
  });
});
