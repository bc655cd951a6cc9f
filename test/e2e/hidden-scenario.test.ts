import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { closeVerified, httpSteps } from '../helpers/http-steps.js';
import { download, jsonRows, parseCsv, runReport } from '../helpers/reports.js';

/**
 * A stand-in for the hidden acceptance checker: one scenario over HTTP with a moved clock, exercising each
 * capability of DOMAIN.md / API.md, every expected number worked out by hand from the documents (and the README)
 * alone, before the scenario was first run. BUSINESS_TZ is Asia/Riyadh (UTC+3, no DST): business midnight is 21:00Z.
 *
 * Cast: `sms` (message, 0 decimals, dimension `branch`), `support` (hour, 1 decimal).
 * `basic`: 10000 SAR, 1 month, 100 sms + 2.5 support, recharge_price 4000, max_freeze_days 10, priority 50.
 * `promo`: 500 SAR, 2 months, 60 sms, priority 10. After S1 is sold, basic becomes 12000 SAR and 150 sms.
 *
 * T0 = 2027-01-30T22:00Z (Riyadh 31 Jan 01:00). S1 = basic [01-30 22:00Z, 02-27 22:00Z) — 31 Jan + 1 month in
 * Riyadh is 28 Feb 01:00 (UTC arithmetic would say 02-28 22:00Z). Balances B1s 100, B1h 2.5.
 * 01-31 22:00Z C0 10 sms (riyadh) → B1s 90. 02-01 22:00Z C1 1.5 h → B1h 1.
 * 02-09 22:00Z S2 = basic at 12000 (auto_renew) [02-09 22:00Z, 03-09 22:00Z): B2s 150, B2h 2.5;
 * P = promo [02-09 22:00Z, 04-09 22:00Z): BPs 60 (priority 10).
 * 02-09 23:00Z C2 120 sms (jeddah) → BPs 60 (priority first), B1s 60 (expires first) → sms 180.
 * Holds 02-10 00:00Z: H1 2 h → B1h 1, B2h 1; capture 1.5 → B1h 1, B2h 0.5, 0.5 back → support 2.
 * 02-10 22:00Z recharge S1: S1's own items (100 sms, 2.5 h, not the package's new 150) until 02-27 22:00Z, 4000.
 * 02-11 22:00Z freeze S2 3 days; unfreeze 02-13 10:00Z: 36 h → S2 ends 03-11 10:00Z.
 * 02-15 22:00Z C5 130 sms (riyadh) → B1s 30, B1r 100. 02-16 22:00Z C6 5 h partial → 4.5 applied, 0.5 short.
 * 02-20 22:00Z S2 price 11000; renew S1 by hand: [02-27 22:00Z, 03-30 22:00Z), invoiced at the package's price
 * now (12000: S1 kept the package price), S1's items (100, 2.5); P2 = promo [02-20 22:00Z, 04-20 22:00Z).
 * 02-21 22:00Z forecast sms. 03-10 23:30Z nightly run renews S2 [03-11 10:00Z, 04-11 10:00Z) at 11000.
 * 03-31 00:00Z (03:00 Riyadh) nightly run: S1 expires (100 sms, 2.5 h), so does B2s (150); S1, set to follow the
 * package, renewed late from now to 04-30 00:00Z with 150 sms; S2 recharged with 1.5 h for 2500; C2 reversed (60
 * back to BPs, B1s's 60 not revived); C7 250 sms brings S2's balance to its 20 % threshold: auto-recharge; S2
 * cancelled now. 12-31 20:30Z / 21:30Z: the last
 * invoice of 2027 and the first of 2028 in Riyadh.
 * Where the documents allow two readings, the comment at the step says which one the service takes.
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({
    roles: ['api', 'worker'],
    now: '2027-01-30T22:00:00.000Z',
    env: { BUSINESS_TZ: 'Asia/Riyadh' },
  });
});
afterAll(async () => {
  await closeVerified(app);
});

const { call, ok, clockTo, nightly } = httpSteps(() => app);
/** How many events of a type GET /v1/events lists. */
const count = async (type: string) => (await ok('GET', `/v1/events?type=${type}&limit=500`)).data.length;
const at = (iso: string) => new Date(iso).toISOString();
const problem = (res: { status: number; headers: Headers; body: { code: string } }, status: number, code: string) => {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body.code).toBe(code);
};
async function row(code: string, asOf?: string) {
  const q = asOf === undefined ? '' : `?as_of=${encodeURIComponent(asOf)}`;
  const body = await ok('GET', `/v1/clients/acme/balances${q}`);
  const found = body.data.find((r: { credit_type: { code: string } }) => r.credit_type.code === code);
  expect(found, `no ${code} row in ${JSON.stringify(body)}`).toBeDefined();
  return found;
}
type Sub = { id: string; balances: Array<{ id: string; credit_type: { code: string } }> };
const balOf = (s: Sub, code: string) => s.balances.find((b) => b.credit_type.code === code)?.id ?? '';
const allocs = (list: Array<{ balance_id: string; amount: string }>) => list.map((a) => [a.balance_id, a.amount]);
const use = (key: string, credit_type: string, quantity: number | string, extra: Record<string, unknown> = {}) => ({
  client: 'acme',
  credit_type,
  quantity,
  idempotency_key: key,
  ...extra,
});
const ids: Record<string, string> = {};

describe('the hidden scenario, numbers by hand (Asia/Riyadh)', () => {
  it('sets up the catalog and sells S1 at T0; the package then changes its fee and units', async () => {
    await ok('POST', '/v1/credit-types', { code: 'sms', name: 'SMS', unit: 'message', dimensions: ['branch'] }, 201);
    const support = await ok(
      'POST',
      '/v1/credit-types',
      { code: 'support', name: 'Support', unit: 'hour', decimals: 1 },
      201,
    );
    expect(support).toMatchObject({ code: 'support', unit: 'hour', decimals: 1 });
    const basic = {
      code: 'basic',
      name: 'Basic',
      price: 10000,
      currency: 'SAR',
      validity: { count: 1, unit: 'month' },
      items: [
        { credit_type: 'sms', units: 100 },
        { credit_type: 'support', units: '2.5' },
      ],
      recharge_price: 4000,
      max_freeze_days: 10,
    };
    // 2.55 hours: more decimals than the credit type's 1
    const bad = await call('POST', '/v1/packages', {
      ...basic,
      items: [{ credit_type: 'support', units: '2.55' }],
    });
    problem(bad, 422, 'validation_failed');
    const pkg = await ok('POST', '/v1/packages', basic, 201);
    expect(pkg).toMatchObject({ price: 10000, currency: 'SAR', recharge_price: 4000, priority: 50 });
    await ok(
      'POST',
      '/v1/packages',
      {
        code: 'promo',
        name: 'Promo',
        price: 500,
        currency: 'SAR',
        validity: { count: 2, unit: 'month' },
        items: [{ credit_type: 'sms', units: 60 }],
        priority: 10,
      },
      201,
    );
    await ok('POST', '/v1/clients', { external_ref: 'acme', name: 'Acme' }, 201);
    // an upsert that finds it answers 200
    await ok('POST', '/v1/clients', { external_ref: 'acme', name: 'Acme' }, 200);

    const s1 = await ok('POST', '/v1/subscriptions', { client: 'acme', package: 'basic' }, 201);
    expect(s1).toMatchObject({ status: 'active', price: 10000 });
    // 31 Jan 01:00 Riyadh + 1 month = 28 Feb 01:00 Riyadh = 02-27 22:00Z
    expect(at(s1.current_period_start)).toBe('2027-01-30T22:00:00.000Z');
    expect(at(s1.current_period_end)).toBe('2027-02-27T22:00:00.000Z');
    expect(s1.invoice).toMatchObject({
      number: 'INV-2027-000001',
      kind: 'subscription',
      total: 10000,
      currency: 'SAR',
    });
    ids.S1 = s1.id;
    ids.B1s = balOf(s1, 'sms');
    ids.B1h = balOf(s1, 'support');
    expect(await row('sms')).toMatchObject({ granted: '100', consumed: '0', remaining: '100', expired: '0' });
    expect(await row('support')).toMatchObject({ granted: '2.5', remaining: '2.5' });
    expect(at((await row('sms')).next_expiry)).toBe('2027-02-27T22:00:00.000Z');

    const changed = await ok('PATCH', '/v1/packages/basic', {
      price: 12000,
      items: [
        { credit_type: 'sms', units: 150 },
        { credit_type: 'support', units: '2.5' },
      ],
    });
    expect(changed).toMatchObject({ price: 12000, recharge_price: 4000 });
    // S1 keeps what it bought: its balances are untouched
    expect(await row('sms')).toMatchObject({ granted: '100', remaining: '100' });
  });

  it('consumes with exact decimals (01-31 22:00Z, 02-01 22:00Z)', async () => {
    await clockTo('2027-01-31T22:00:00.000Z');
    const c0 = await ok('POST', '/v1/consumptions?wait=true', use('c0', 'sms', 10, { metadata: { branch: 'riyadh' } }));
    expect(c0).toMatchObject({ status: 'applied', quantity: '10', applied: '10', shortfall: '0', remaining: '90' });
    expect(allocs(c0.allocations)).toEqual([[ids.B1s, '10']]);
    await clockTo('2027-02-01T22:00:00.000Z');
    problem(await call('POST', '/v1/consumptions?wait=true', use('c1', 'support', '0.25')), 422, 'validation_failed');
    const c1 = await ok('POST', '/v1/consumptions?wait=true', use('c1', 'support', '1.5'));
    expect(c1).toMatchObject({ status: 'applied', quantity: '1.5', applied: '1.5', remaining: '1' });
    expect(allocs(c1.allocations)).toEqual([[ids.B1h, '1.5']]);
  });

  it('sells S2 at the new fee and units and the promo (02-09 22:00Z)', async () => {
    await clockTo('2027-02-09T22:00:00.000Z');
    const s2 = await ok('POST', '/v1/subscriptions', { client: 'acme', package: 'basic', auto_renew: true }, 201);
    expect(s2).toMatchObject({ status: 'active', price: 12000, auto_renew: true });
    expect(at(s2.current_period_end)).toBe('2027-03-09T22:00:00.000Z');
    expect(s2.invoice).toMatchObject({ number: 'INV-2027-000002', total: 12000, currency: 'SAR' });
    ids.S2 = s2.id;
    ids.B2s = balOf(s2, 'sms');
    ids.B2h = balOf(s2, 'support');
    const p = await ok('POST', '/v1/subscriptions', { client: 'acme', package: 'promo' }, 201);
    expect(at(p.current_period_end)).toBe('2027-04-09T22:00:00.000Z');
    expect(p.invoice).toMatchObject({ number: 'INV-2027-000003', total: 500 });
    ids.P = p.id;
    ids.BPs = balOf(p, 'sms');
    // sms: 90 + 150 + 60; support: 1 + 2.5
    expect(await row('sms')).toMatchObject({ granted: '310', consumed: '10', remaining: '300' });
    expect(await row('support')).toMatchObject({ granted: '5', consumed: '1.5', remaining: '3.5' });
    const s2Sms = (await row('sms')).balances.find((b: { id: string }) => b.id === ids.B2s);
    expect(s2Sms).toMatchObject({ granted: '150', remaining: '150' });
  });

  it('spends priority first, then soonest expiry, exactly once, never below zero (02-09 23:00Z)', async () => {
    await clockTo('2027-02-09T23:00:00.000Z');
    const body = use('c2', 'sms', 120, { metadata: { branch: 'jeddah' } });
    const c2 = await ok('POST', '/v1/consumptions?wait=true', body);
    expect(c2).toMatchObject({ status: 'applied', applied: '120', shortfall: '0', remaining: '180' });
    expect(allocs(c2.allocations)).toEqual([
      [ids.BPs, '60'],
      [ids.B1s, '60'],
    ]);
    const again = await ok('POST', '/v1/consumptions?wait=true', body);
    expect(again).toMatchObject({ id: c2.id, status: 'applied', applied: '120' });
    expect(allocs(again.allocations)).toEqual(allocs(c2.allocations));
    problem(await call('POST', '/v1/consumptions?wait=true', { ...body, quantity: 121 }), 409, 'idempotency_conflict');
    expect(await row('sms')).toMatchObject({ consumed: '130', remaining: '180' });

    const short = await call('POST', '/v1/consumptions?wait=true', use('c3', 'sms', 200));
    problem(short, 422, 'insufficient_balance');
    expect(short.body).toMatchObject({
      consumption_status: 'rejected',
      quantity: '200',
      applied: '0',
      shortfall: '20',
      remaining: '180',
    });
    expect(short.body.allocations).toEqual([]);
    expect(await row('sms')).toMatchObject({ consumed: '130', remaining: '180' });
  });

  it('quotes without writing anything', async () => {
    const before = (await ok('GET', '/v1/clients/acme/statement?limit=500')).data.length;
    const q = await ok('POST', '/v1/consumptions/quote', { client: 'acme', credit_type: 'sms', quantity: 40 });
    expect(q).toMatchObject({ would: 'apply', quantity: '40', applied: '40', shortfall: '0', remaining: '140' });
    expect(allocs(q.allocations)).toEqual([
      [ids.B1s, '30'],
      [ids.B2s, '10'],
    ]);
    expect(q.allocations.map((a: { expires_at: string }) => at(a.expires_at))).toEqual([
      '2027-02-27T22:00:00.000Z',
      '2027-03-09T22:00:00.000Z',
    ]);
    const partial = await ok('POST', '/v1/consumptions/quote', {
      client: 'acme',
      credit_type: 'sms',
      quantity: 200,
      mode: 'partial',
    });
    expect(partial).toMatchObject({ would: 'partial', applied: '180', shortfall: '20', remaining: '0' });
    const reject = await ok('POST', '/v1/consumptions/quote', { client: 'acme', credit_type: 'sms', quantity: 200 });
    expect(reject).toMatchObject({ would: 'reject', shortfall: '20' });
    expect((await ok('GET', '/v1/clients/acme/statement?limit=500')).data.length).toBe(before);
    expect(await row('sms')).toMatchObject({ consumed: '130', remaining: '180' });
  });

  it('holds, captures part, releases, and lets a hold expire (02-10 00:00Z → 00:02Z)', async () => {
    await clockTo('2027-02-10T00:00:00.000Z');
    const h1 = await ok('POST', '/v1/holds?wait=true', {
      ...use('h1', 'support', 2),
      expires_in_seconds: 600,
    });
    expect(h1).toMatchObject({ status: 'held', quantity: '2', remaining: '1.5' });
    expect(at(h1.expires_at)).toBe('2027-02-10T00:10:00.000Z');
    expect(allocs(h1.allocations)).toEqual([
      [ids.B1h, '1'],
      [ids.B2h, '1'],
    ]);
    expect(await row('support')).toMatchObject({ remaining: '1.5', held: '2' });
    const cap = await ok('POST', `/v1/holds/${h1.id}/capture`, { quantity: '1.5' });
    expect(cap.hold).toMatchObject({ id: h1.id, status: 'captured' });
    expect(cap.consumption).toMatchObject({ status: 'applied', quantity: '1.5' });
    expect(allocs(cap.consumption.allocations)).toEqual([
      [ids.B1h, '1'],
      [ids.B2h, '0.5'],
    ]);
    const capAgain = await ok('POST', `/v1/holds/${h1.id}/capture`, { quantity: '1.5' });
    expect(capAgain.consumption.id).toBe(cap.consumption.id);
    problem(await call('POST', `/v1/holds/${h1.id}/release`), 409, 'conflict');
    expect(await row('support')).toMatchObject({ consumed: '3', remaining: '2', held: '0' });

    const h2 = await ok('POST', '/v1/holds?wait=true', use('h2', 'sms', 40));
    expect(h2).toMatchObject({ status: 'held', remaining: '140' });
    expect(allocs(h2.allocations)).toEqual([
      [ids.B1s, '30'],
      [ids.B2s, '10'],
    ]);
    const rel = await ok('POST', `/v1/holds/${h2.id}/release`);
    expect(rel).toMatchObject({ id: h2.id, status: 'released' });
    expect(await ok('POST', `/v1/holds/${h2.id}/release`)).toMatchObject({ status: 'released' });
    problem(await call('POST', `/v1/holds/${h2.id}/capture`, {}), 409, 'conflict');
    expect(await row('sms')).toMatchObject({ remaining: '180', held: '0' });

    const h3 = await ok('POST', '/v1/holds?wait=true', { ...use('h3', 'sms', 5), expires_in_seconds: 60 });
    expect(allocs(h3.allocations)).toEqual([[ids.B1s, '5']]);
    expect(at(h3.expires_at)).toBe('2027-02-10T00:01:00.000Z');
    await clockTo('2027-02-10T00:02:00.000Z');
    expect(await ok('GET', `/v1/holds/${h3.id}`)).toMatchObject({ status: 'expired' });
    problem(await call('POST', `/v1/holds/${h3.id}/capture`, {}), 409, 'conflict');
    expect(await row('sms')).toMatchObject({ consumed: '130', remaining: '180', held: '0' });
  });

  it("recharges S1 with S1's own items, invoiced at the recharge price (02-10 22:00Z)", async () => {
    await clockTo('2027-02-10T22:00:00.000Z');
    const res = await app.request('POST', `/v1/subscriptions/${ids.S1}/recharge?wait=true`, {
      headers: { 'idempotency-key': 'top-1' },
    });
    expect(res.status, res.text).toBe(200);
    // 90 − 60 = 30 on B1s, + 100 recharge, + 150 on B2s; support 0 + 2.5 + 2
    expect(await row('sms')).toMatchObject({ granted: '410', remaining: '280' });
    expect(await row('support')).toMatchObject({ granted: '7.5', remaining: '4.5' });
    const sms = (await row('sms')).balances;
    const recharged = sms.filter((b: { source: string }) => b.source === 'recharge');
    expect(recharged).toHaveLength(1);
    expect(recharged[0]).toMatchObject({ granted: '100', remaining: '100' });
    expect(at(recharged[0].expires_at)).toBe('2027-02-27T22:00:00.000Z');
    ids.B1rs = recharged[0].id;
    ids.B1rh = (await row('support')).balances.find((b: { source: string }) => b.source === 'recharge').id;
    // c3 (200 sms, rejected at 180) sent again now that 280 are there: the first result, nothing changes
    const c3 = await call('POST', '/v1/consumptions?wait=true', use('c3', 'sms', 200));
    problem(c3, 422, 'insufficient_balance');
    expect(c3.body).toMatchObject({ consumption_status: 'rejected', applied: '0' });
    expect(await row('sms')).toMatchObject({ consumed: '130', remaining: '280' });
    const inv = (await ok('GET', '/v1/invoices?client=acme')).data;
    const rechargeInv = inv.filter((i: { kind: string }) => i.kind === 'recharge');
    expect(rechargeInv).toHaveLength(1);
    expect(rechargeInv[0]).toMatchObject({ number: 'INV-2027-000004', total: 4000, currency: 'SAR' });
  });

  it('freezes S2 and pushes its expiries by the exact frozen time (02-11 22:00Z → 02-13 10:00Z)', async () => {
    await clockTo('2027-02-11T22:00:00.000Z');
    problem(await call('POST', `/v1/subscriptions/${ids.S2}/freeze`, { days: 11 }), 422, 'validation_failed');
    const frozen = await ok('POST', `/v1/subscriptions/${ids.S2}/freeze`, { days: 3 });
    expect(frozen).toMatchObject({ status: 'frozen' });
    expect(at(frozen.frozen_until)).toBe('2027-02-14T22:00:00.000Z');
    // S2's 150 sms and 2 h pay for nothing while frozen
    expect(await row('sms')).toMatchObject({ remaining: '130', unavailable: '150' });
    expect(await row('support')).toMatchObject({ remaining: '2.5', unavailable: '2' });
    const short = await call('POST', '/v1/consumptions?wait=true', use('c4', 'sms', 140));
    problem(short, 422, 'insufficient_balance');
    expect(short.body).toMatchObject({ shortfall: '10', remaining: '130' });

    // forecast while frozen, 30 days back: C0 10 + C2 120 = 130 → 4.333333 a day. B1s 30 (6.92 days), then B1r
    // until 02-27 22:00Z (day 16): 39.33 spent, 61 unused; then B2s, usable again from frozen_until, expiring at
    // 03-09 22:00Z + the 3 frozen days = 03-12 22:00Z (day 29): 13 days × 4.333 = 56.33 spent, 94 unused; then empty
    const f = await ok('GET', '/v1/clients/acme/forecast?credit_type=sms&window_days=30');
    expect(f).toMatchObject({
      remaining: '130',
      burn_per_day: '4.333333',
      days_until_empty: 29,
      empty_on: '2027-03-13',
    });
    expect(
      f.expiring_unused.map((e: { balance_id: string; expires_at: string; units: string }) => [
        e.balance_id,
        at(e.expires_at),
        e.units,
      ]),
    ).toEqual([
      [ids.B1rs, '2027-02-27T22:00:00.000Z', '61'],
      [ids.B2s, '2027-03-12T22:00:00.000Z', '94'],
    ]);

    await clockTo('2027-02-13T10:00:00.000Z');
    const thawed = await ok('POST', `/v1/subscriptions/${ids.S2}/unfreeze`);
    expect(thawed).toMatchObject({ status: 'active' });
    // 36 h frozen: 03-09 22:00Z + 36 h
    expect(at(thawed.current_period_end)).toBe('2027-03-11T10:00:00.000Z');
    const b2s = (await row('sms')).balances.find((b: { id: string }) => b.id === ids.B2s);
    expect(at(b2s.expires_at)).toBe('2027-03-11T10:00:00.000Z');
    const extend = (await ok('GET', '/v1/clients/acme/statement?credit_type=sms&limit=500')).data.filter(
      (e: { kind: string }) => e.kind === 'extend',
    );
    expect(extend).toHaveLength(1);
    expect(extend[0]).toMatchObject({ balance_id: ids.B2s, amount: '0' });
    expect(await row('sms')).toMatchObject({ remaining: '280', unavailable: '0' });
  });

  it('spends across S1 and its recharge, then a partial use (02-15 22:00Z, 02-16 22:00Z)', async () => {
    await clockTo('2027-02-15T22:00:00.000Z');
    // sent three times at once (two waiting, one not): applied once, the same use in every answer
    const body = use('c5', 'sms', 130, { metadata: { branch: 'riyadh' } });
    const [w1, w2, bare] = await Promise.all([
      call('POST', '/v1/consumptions?wait=true', body),
      call('POST', '/v1/consumptions?wait=true', body),
      call('POST', '/v1/consumptions', body),
    ]);
    expect([w1?.status, w2?.status, bare?.status], `${w1?.text} ${w2?.text} ${bare?.text}`).toEqual([200, 200, 202]);
    const c5 = w1?.body;
    expect(w2?.body.id).toBe(c5.id);
    expect(bare?.body.id).toBe(c5.id);
    expect(c5).toMatchObject({ status: 'applied', applied: '130', remaining: '150' });
    expect(w2?.body).toMatchObject({ status: 'applied', applied: '130', remaining: '150' });
    expect(await row('sms')).toMatchObject({ consumed: '260', remaining: '150' });
    expect(allocs(c5.allocations)).toEqual([
      [ids.B1s, '30'],
      [ids.B1rs, '100'],
    ]);
    await clockTo('2027-02-16T22:00:00.000Z');
    const c6 = await ok('POST', '/v1/consumptions?wait=true', use('c6', 'support', 5, { mode: 'partial' }));
    expect(c6).toMatchObject({
      status: 'partial',
      quantity: '5',
      applied: '4.5',
      shortfall: '0.5',
      remaining: '0',
    });
    expect(allocs(c6.allocations)).toEqual([
      [ids.B1rh, '2.5'],
      [ids.B2h, '2'],
    ]);
  });

  it("renews S1 by hand: the package's price, S1's own items; once per key (02-20 22:00Z)", async () => {
    await clockTo('2027-02-20T22:00:00.000Z');
    expect(await ok('PATCH', `/v1/subscriptions/${ids.S2}`, { price: 11000 })).toMatchObject({ price: 11000 });
    const renew = () =>
      app.request('POST', `/v1/subscriptions/${ids.S1}/renew?wait=true`, { headers: { 'idempotency-key': 'r-1' } });
    const first = await renew();
    expect(first.status, first.text).toBe(200);
    const second = await renew();
    expect(second.status, second.text).toBe(200);
    const s1 = await ok('GET', `/v1/subscriptions/${ids.S1}`);
    expect(s1).toMatchObject({ renewal_count: 1 });
    expect(at(s1.current_period_start)).toBe('2027-02-27T22:00:00.000Z');
    expect(at(s1.current_period_end)).toBe('2027-03-30T22:00:00.000Z');
    const renewals = (await ok('GET', '/v1/invoices?client=acme')).data.filter(
      (i: { kind: string }) => i.kind === 'renewal',
    );
    expect(renewals).toHaveLength(1);
    expect(renewals[0]).toMatchObject({ number: 'INV-2027-000005', total: 12000, currency: 'SAR' });
    const sale = (body: unknown) =>
      app.request('POST', '/v1/subscriptions', { body, headers: { 'idempotency-key': 'sale-p2' } });
    const p2Res = await sale({ client: 'acme', package: 'promo' });
    expect(p2Res.status, p2Res.text).toBe(201);
    const p2 = p2Res.body;
    const p2Again = await sale({ client: 'acme', package: 'promo' });
    expect(p2Again.status, p2Again.text).toBe(201);
    expect(p2Again.body.id).toBe(p2.id);
    problem(await sale({ client: 'acme', package: 'basic' }), 409, 'idempotency_conflict');
    expect((await ok('GET', '/v1/invoices?client=acme')).data).toHaveLength(6);
    expect(at(p2.current_period_end)).toBe('2027-04-20T22:00:00.000Z');
    expect(p2.invoice).toMatchObject({ number: 'INV-2027-000006', total: 500 });
    ids.P2 = p2.id;
    ids.BP2s = balOf(p2, 'sms');
    const sms = await row('sms');
    // usable: B2s 150 + P2 60; S1's next period (100, not the package's 150) starts 02-27 22:00Z
    expect(sms).toMatchObject({ remaining: '210', upcoming: '100' });
    const upcoming = sms.balances.find((b: { availability: string }) => b.availability === 'upcoming');
    ids.B1p1s = upcoming.id;
    expect(at(upcoming.valid_from)).toBe('2027-02-27T22:00:00.000Z');
    expect(at(upcoming.expires_at)).toBe('2027-03-30T22:00:00.000Z');
    expect(await row('support')).toMatchObject({ remaining: '0', upcoming: '2.5' });
  });

  it("keeps each balance's ledger chain: remaining_after, oldest first", async () => {
    const entries = (await ok('GET', '/v1/clients/acme/statement?credit_type=sms&limit=500')).data.filter(
      (e: { balance_id: string }) => e.balance_id === ids.B1s,
    );
    // grant 100, C0 −10, C2 −60, H2 −30 / +30, H3 −5 / +5 (expired), C5 −30
    expect(
      entries.map((e: { kind: string; amount: string; remaining_after: string }) => [
        e.kind,
        e.amount,
        e.remaining_after,
      ]),
    ).toEqual([
      ['grant', '100', '100'],
      ['consume', '-10', '90'],
      ['consume', '-60', '30'],
      ['hold', '-30', '0'],
      ['release', '30', '30'],
      ['hold', '-5', '25'],
      ['release', '5', '30'],
      ['consume', '-30', '0'],
    ]);
  });

  it('reads balances as of a past instant', async () => {
    // 02-09 22:30Z: after S2 and P were sold, before C2
    expect(await row('sms', '2027-02-09T22:30:00.000Z')).toMatchObject({
      granted: '310',
      consumed: '10',
      remaining: '300',
      expired: '0',
    });
    expect(await row('support', '2027-02-09T22:30:00.000Z')).toMatchObject({
      granted: '5',
      consumed: '1.5',
      remaining: '3.5',
    });
    // 02-12 00:00Z: S2 frozen; its 150 sms unavailable, the rest 30 + 100
    expect(await row('sms', '2027-02-12T00:00:00.000Z')).toMatchObject({ remaining: '130', unavailable: '150' });
  });

  it('forecasts sms from a hand-made history (02-21 22:00Z)', async () => {
    await clockTo('2027-02-21T22:00:00.000Z');
    // 30 days back: C0 10 + C2 120 + C5 130 = 260 → 26/3 a day. P2's 60 first (priority 10), in 6.92 days; then
    // B2s until it expires at 03-11 10:00Z (17.5 days from now): 10.58 days × 26/3 = 91.67 spent, 59 unused (an
    // expiry's spent units round down); then S1's next 100 in 11.54 days: empty after 29.04 days.
    const f30 = await ok('GET', '/v1/clients/acme/forecast?credit_type=sms&window_days=30');
    expect(f30).toMatchObject({ remaining: '210', burn_per_day: '8.666667', days_until_empty: 29 });
    expect(f30.expiring_unused).toHaveLength(1);
    expect(f30.expiring_unused[0]).toMatchObject({ balance_id: ids.B2s, units: '59' });
    expect(at(f30.expiring_unused[0].expires_at)).toBe('2027-03-11T10:00:00.000Z');
    // 14 days back: 120 + 130 = 250 → 17.857143 a day; 60 + 150 + 100 = 310 units last 17.36 days, none unused
    const f14 = await ok('GET', '/v1/clients/acme/forecast?credit_type=sms&window_days=14');
    expect(f14).toMatchObject({ remaining: '210', burn_per_day: '17.857143', days_until_empty: 17 });
    expect(f14.expiring_unused).toEqual([]);
    // the day it runs out, in Riyadh: 02-21 22:00Z + 29.04 days = 03-22 22:55Z (23 Mar 01:55 Riyadh); + 17.36 days
    // = 03-11 06:38Z
    expect(f30.empty_on).toBe('2027-03-23');
    expect(f14.empty_on).toBe('2027-03-11');
  });

  it('has recorded one event per change so far (no nightly run yet)', async () => {
    // c3 and c4 (c3 sent again is the same use)
    expect(await count('consumption.rejected')).toBe(2);
    expect(await count('subscription.created')).toBe(4);
    expect(await count('invoice.created')).toBe(6);
    expect(await count('subscription.renewed')).toBe(1);
    expect(await count('subscription.recharged')).toBe(1);
    expect(await count('subscription.frozen')).toBe(1);
    expect(await count('subscription.unfrozen')).toBe(1);
    expect(await count('subscription.updated')).toBe(1);
    // H3, expired by the read that found it past due
    expect(await count('hold.expired')).toBe(1);
  });

  it('groups usage by a dimension and by business day, summing to the total', async () => {
    const byBranch = await ok(
      'GET',
      '/v1/clients/acme/usage?credit_type=sms&group_by=branch&from=2027-01-01&to=2027-02-28',
    );
    const asMap = (d: Array<{ key: string; quantity: string }>) =>
      Object.fromEntries(d.map((r) => [r.key, r.quantity]));
    expect(asMap(byBranch.data)).toEqual({ riyadh: '140', jeddah: '120' });
    // the groups add up to what the client consumed of sms: 10 + 120 + 130
    const summed = byBranch.data.reduce((n: bigint, r: { quantity: string }) => n + BigInt(r.quantity), 0n);
    expect(String(summed)).toBe((await row('sms')).consumed);
    const byDay = await ok('GET', '/v1/clients/acme/usage?credit_type=sms&group_by=day&from=2027-01-01&to=2027-02-28');
    // Riyadh days: C0 01-31 22:00Z is 1 Feb, C2 02-09 23:00Z is 10 Feb, C5 02-15 22:00Z is 16 Feb
    expect(byDay.data.map((r: { key: string; quantity: string }) => [r.key.slice(0, 10), r.quantity])).toEqual([
      ['2027-02-01', '10'],
      ['2027-02-10', '120'],
      ['2027-02-16', '130'],
    ]);
    const byWeek = await ok(
      'GET',
      '/v1/clients/acme/usage?credit_type=sms&group_by=week&from=2027-01-01&to=2027-02-28',
    );
    // Monday weeks in Riyadh: 1 Feb (a Monday), 8 Feb, 15 Feb
    expect(byWeek.data.map((r: { key: string; quantity: string }) => [r.key.slice(0, 10), r.quantity])).toEqual([
      ['2027-02-01', '10'],
      ['2027-02-08', '120'],
      ['2027-02-15', '130'],
    ]);
    const support = await ok(
      'GET',
      '/v1/clients/acme/usage?credit_type=support&group_by=day&from=2027-01-01&to=2027-02-28',
    );
    expect(support.data.map((r: { key: string; quantity: string }) => [r.key.slice(0, 10), r.quantity])).toEqual([
      ['2027-02-02', '1.5'],
      ['2027-02-10', '1.5'],
      ['2027-02-17', '4.5'],
    ]);
  });

  it('starts and ends a balance at the exact instant: valid_from <= occurred_at < expires_at (quotes)', async () => {
    const quote = (credit_type: string, quantity: number) =>
      ok('POST', '/v1/consumptions/quote', { client: 'acme', credit_type, quantity });
    // S1's renewed period begins 02-27 22:00Z: a millisecond before, its 2.5 h are not there yet
    await clockTo('2027-02-27T21:59:59.999Z');
    expect(await quote('support', 1)).toMatchObject({ would: 'reject', shortfall: '1', remaining: '0' });
    await clockTo('2027-02-27T22:00:00.000Z');
    const q = await quote('support', 1);
    expect(q).toMatchObject({ would: 'apply', remaining: '1.5' });
    expect(q.allocations.map((a: { expires_at: string }) => at(a.expires_at))).toEqual(['2027-03-30T22:00:00.000Z']);
    // the old period's balances ended at that instant: sms is P2 60 + B2s 150 + S1's new 100
    expect(await row('sms')).toMatchObject({ remaining: '310', upcoming: '0' });
    // an idempotency_key already applied answers what that use took, replayed
    const replay = await ok(
      'POST',
      '/v1/consumptions/quote',
      use('c5', 'sms', 130, { metadata: { branch: 'riyadh' } }),
    );
    expect(replay).toMatchObject({ replayed: true, applied: '130' });
    expect(allocs(replay.allocations)).toEqual([
      [ids.B1s, '30'],
      [ids.B1rs, '100'],
    ]);
  });

  it('leaves S2 alone in a nightly run before its pushed end comes in sight (03-09 21:30Z)', async () => {
    // 10 Mar 00:30 Riyadh: the next run is 11 Mar 02:00 Riyadh; S2's period, pushed by the freeze, ends 03-11 10:00Z,
    // past that run's reach (26 h → 03-10 23:30Z); its end before the freeze (03-09 22:00Z) must not count
    await clockTo('2027-03-09T21:30:00.000Z');
    await nightly();
    const s2 = await ok('GET', `/v1/subscriptions/${ids.S2}`);
    expect(s2).toMatchObject({ status: 'active', renewal_count: 0 });
    expect(at(s2.current_period_end)).toBe('2027-03-11T10:00:00.000Z');
    expect((await ok('GET', '/v1/invoices?client=acme')).data).toHaveLength(6);
  });

  it('renews S2 in the nightly run at its own price (03-10 23:30Z)', async () => {
    await clockTo('2027-03-10T23:30:00.000Z');
    await nightly();
    const s2 = await ok('GET', `/v1/subscriptions/${ids.S2}`);
    expect(s2).toMatchObject({ status: 'active', renewal_count: 1, price: 11000 });
    expect(at(s2.current_period_start)).toBe('2027-03-11T10:00:00.000Z');
    expect(at(s2.current_period_end)).toBe('2027-04-11T10:00:00.000Z');
    const invoices = (await ok('GET', '/v1/invoices?client=acme')).data;
    const last = invoices.find((i: { number: string }) => i.number === 'INV-2027-000007');
    expect(last).toMatchObject({ kind: 'renewal', total: 11000, currency: 'SAR' });
    expect(invoices).toHaveLength(7);
    // S2's next period: its own items (150 sms, 2.5 h), upcoming until 03-11 10:00Z
    expect(await row('sms')).toMatchObject({ upcoming: '150' });
    expect(await row('support')).toMatchObject({ upcoming: '2.5' });
  });

  it('reports status, consumed vs remaining, use over time, renewals and top packages (03-10 23:30Z)', async () => {
    const range = { from: '2027-01-01T00:00:00.000Z', to: '2027-03-31T00:00:00.000Z' };
    const subs = (await jsonRows(app, { type: 'subscriptions' })).rows;
    expect(subs.filter((r) => r.row_type === 'summary').map((r) => [r.package_code, r.status, r.count])).toEqual([
      ['basic', 'active', 2],
      ['promo', 'active', 2],
    ]);
    // days left from 03-10 23:30Z, a part of a day counted whole: S1 19.94, S2 31.44, P 29.94, P2 40.94
    const one = (id: string | undefined) => subs.find((r) => r.subscription_id === id);
    expect(one(ids.S1)).toMatchObject({ days_left: 20, depleted: false, renewal_count: 1 });
    expect(one(ids.S2)).toMatchObject({ days_left: 32, renewal_count: 1 });
    expect(one(ids.P)).toMatchObject({ days_left: 30, depleted: true });
    expect(one(ids.P2)).toMatchObject({ days_left: 41, depleted: false });

    const balRun = await jsonRows(app, { type: 'balances' });
    expect(balRun.run).toMatchObject({ status: 'done', format: 'json', row_count: 6 });
    const bal = balRun.rows;
    const cols = (r: Record<string, unknown>) => [
      r.subscription_id,
      r.credit_type,
      r.granted,
      r.consumed,
      r.remaining,
      r.upcoming,
      r.expired,
    ];
    expect(bal.map(cols)).toEqual([
      [ids.S1, 'sms', '300', '200', '100', '0', '0'],
      [ids.S1, 'support', '7.5', '5', '2.5', '0', '0'],
      [ids.S2, 'sms', '300', '0', '150', '150', '0'],
      [ids.S2, 'support', '5', '2.5', '0', '2.5', '0'],
      [ids.P, 'sms', '60', '60', '0', '0', '0'],
      [ids.P2, 'sms', '60', '0', '60', '0', '0'],
    ]);
    // of what was granted for the periods begun: S2's support used all 2.5 h of its running period (the renewed
    // 2.5 h, from 03-11 10:00Z, are upcoming)
    expect(bal.map((r) => r.used_percent)).toEqual([66.7, 66.7, 0, 100, 100, 0]);

    const cons = (await jsonRows(app, { type: 'consumption', params: { ...range, group_by: 'day' } })).rows;
    expect(cons.map((r) => [r.period_start, r.credit_type, r.net])).toEqual([
      ['2027-02-01', 'sms', '10'],
      ['2027-02-02', 'support', '1.5'],
      ['2027-02-10', 'sms', '120'],
      ['2027-02-10', 'support', '1.5'],
      ['2027-02-16', 'sms', '130'],
      ['2027-02-17', 'support', '4.5'],
    ]);
    const ren = (await jsonRows(app, { type: 'renewals', params: { ...range, group_by: 'month' } })).rows;
    expect(
      ren.map((r) => [r.period_start, r.new_subscriptions, r.renewals, r.recharges, r.expirations, r.revenue]),
    ).toEqual([
      ['2027-01-01', 1, 0, 0, 0, 10000],
      ['2027-02-01', 3, 1, 1, 0, 29000],
      ['2027-03-01', 0, 1, 0, 0, 11000],
    ]);
    // per package: basic C0 10 + C2's 60 from S1 + C5 130 = 200; promo C2's 60; support all basic
    const perPackage = (
      await jsonRows(app, { type: 'consumption', params: { ...range, group_by: 'month', per: 'package' } })
    ).rows;
    expect(perPackage.map((r) => [r.period_start, r.credit_type, r.package_code, r.net])).toEqual([
      ['2027-02-01', 'sms', 'basic', '200'],
      ['2027-02-01', 'sms', 'promo', '60'],
      ['2027-02-01', 'support', 'basic', '7.5'],
    ]);
    // within 7 days: B2s's 150 (03-11 10:00Z); B2h has nothing left to lose
    const expiring = async (days: number) =>
      (await jsonRows(app, { type: 'expiring', params: { days_ahead: days } })).rows.map((r) => [
        r.row_type,
        r.expires_at,
        r.days_left,
        r.subscription_id,
        r.balance_id,
        r.remaining ?? r.remains,
      ]);
    expect(await expiring(7)).toEqual([['balance', '2027-03-11T10:00:00.000Z', 1, ids.S2, ids.B2s, '150']]);
    // within 30 days (to 04-09 23:30Z): also S1's period and its balances, and P's period (nothing left)
    expect(await expiring(30)).toEqual([
      ['balance', '2027-03-11T10:00:00.000Z', 1, ids.S2, ids.B2s, '150'],
      ['subscription', '2027-03-30T22:00:00.000Z', 20, ids.S1, null, 'sms: 100; support: 2.5'],
      ['balance', '2027-03-30T22:00:00.000Z', 20, ids.S1, ids.B1p1s, '100'],
      ['balance', '2027-03-30T22:00:00.000Z', 20, ids.S1, expect.any(String), '2.5'],
      ['subscription', '2027-04-09T22:00:00.000Z', 30, ids.P, null, 'sms: 0'],
    ]);
    const top = (await jsonRows(app, { type: 'top_packages', params: range })).rows;
    expect(top.map((r) => [r.rank, r.package_code, r.new_subscriptions, r.renewals, r.requests, r.revenue])).toEqual([
      [1, 'basic', 2, 2, 4, 45000],
      [2, 'promo', 2, 0, 2, 1000],
    ]);
  });

  it("moves from S2's old period to its new one at 03-11 10:00Z exactly (quotes)", async () => {
    const quote = () => ok('POST', '/v1/consumptions/quote', { client: 'acme', credit_type: 'sms', quantity: 211 });
    await clockTo('2027-03-11T09:59:59.999Z');
    // P2 60 (priority 10), B2s 150 (ends 10:00Z), then 1 of S1's 100
    const before = await quote();
    expect(before).toMatchObject({ would: 'apply', remaining: '99' });
    expect(allocs(before.allocations)).toEqual([
      [ids.BP2s, '60'],
      [ids.B2s, '150'],
      [ids.B1p1s, '1'],
    ]);
    await clockTo('2027-03-11T10:00:00.000Z');
    // B2s is over; S2's new 150 begins: P2 60, S1's 100 (03-30), 51 of S2's new (04-11)
    const after = await quote();
    expect(after).toMatchObject({ would: 'apply', remaining: '99' });
    expect(allocs(after.allocations).map(([, amount]) => amount)).toEqual(['60', '100', '51']);
    expect(after.allocations[1].balance_id).toBe(ids.B1p1s);
  });

  it('expires S1 and S2’s old period in the sweep (03-31 00:00Z = 03:00 Riyadh)', async () => {
    await clockTo('2027-03-31T00:00:00.000Z');
    await nightly();
    expect(await ok('GET', `/v1/subscriptions/${ids.S1}`)).toMatchObject({ status: 'expired' });
    expect(await ok('GET', `/v1/subscriptions/${ids.S2}`)).toMatchObject({ status: 'active' });
    // sms: S1's next 100 and B2s's 150 expired; left S2's new 150 and P2's 60
    expect(await row('sms')).toMatchObject({ granted: '720', consumed: '260', expired: '250', remaining: '210' });
    expect(await row('support')).toMatchObject({
      granted: '12.5',
      consumed: '7.5',
      expired: '2.5',
      remaining: '2.5',
    });
    // as of 02-28 00:00Z: S1's renewed period had begun (100 usable), B2s (150) and P2 (60) too
    expect(await row('sms', '2027-02-28T00:00:00.000Z')).toMatchObject({
      granted: '570',
      consumed: '260',
      expired: '0',
      remaining: '310',
      upcoming: '0',
    });
  });

  it('renews the expired S1 from now, recharges S2 with items and a fee, reverses C2 (03-31 00:00Z)', async () => {
    // from now on S1 follows the package's items: its next period has the 150 sms basic has had since T0
    expect(await ok('PATCH', `/v1/subscriptions/${ids.S1}`, { apply_package_changes: true })).toMatchObject({
      apply_package_changes: true,
    });
    const renewed = await ok('POST', `/v1/subscriptions/${ids.S1}/renew?wait=true`);
    expect(renewed).toBeDefined();
    const s1 = await ok('GET', `/v1/subscriptions/${ids.S1}`);
    expect(s1).toMatchObject({ status: 'active', renewal_count: 2 });
    const s1New = s1.balances.filter((b: { valid_from: string }) => at(b.valid_from) === '2027-03-31T00:00:00.000Z');
    expect(
      s1New.map((b: { credit_type: { code: string }; granted: string }) => [b.credit_type.code, b.granted]),
    ).toEqual([
      ['sms', '150'],
      ['support', '2.5'],
    ]);
    // a late period starts now: 31 Mar 03:00 Riyadh + 1 month = 30 Apr 03:00 Riyadh
    expect(at(s1.current_period_start)).toBe('2027-03-31T00:00:00.000Z');
    expect(at(s1.current_period_end)).toBe('2027-04-30T00:00:00.000Z');
    const top = await app.request('POST', `/v1/subscriptions/${ids.S2}/recharge?wait=true`, {
      headers: { 'idempotency-key': 'top-2' },
      body: { items: [{ credit_type: 'support', units: '1.5' }], price: 2500 },
    });
    expect(top.status, top.text).toBe(200);
    const invoices = (await ok('GET', '/v1/invoices?client=acme')).data;
    const byNumber = (n: string) => invoices.find((i: { number: string }) => i.number === n);
    expect(byNumber('INV-2027-000008')).toMatchObject({ kind: 'renewal', total: 12000 });
    expect(byNumber('INV-2027-000009')).toMatchObject({ kind: 'recharge', total: 2500 });
    expect(invoices).toHaveLength(9);

    const c2 = (await ok('GET', '/v1/consumptions?client=acme&idempotency_key=c2')).data[0];
    const rev = await call('POST', `/v1/consumptions/${c2.id}/reverse?wait=true`);
    expect(rev.status, rev.text).toBe(200);
    const again = await call('POST', `/v1/consumptions/${c2.id}/reverse?wait=true`);
    // BPs gets its 60 back (valid until 04-09 22:00Z); B1s's 60 is not revived: recorded as expired
    expect(rev.body).toMatchObject({ status: 'reversed', returned: '60', expired: '60', replayed: false });
    // reversed once: the same answer again
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ status: 'reversed', returned: '60', expired: '60', replayed: true });
    // BPs gets its 60 back (valid until 04-09 22:00Z); B1s's 60 is not revived: DOMAIN.md rule 5 "its part is
    // recorded as expired" — given back to B1s and expired there at once, so the whole use is taken back from
    // consumed (260 − 120) and B1s's 60 count as expired (250 + 60); remaining grows by BPs's 60 only
    expect(await row('sms')).toMatchObject({ granted: '870', consumed: '140', expired: '310', remaining: '420' });
    expect(await row('support')).toMatchObject({
      granted: '16.5',
      consumed: '7.5',
      expired: '2.5',
      remaining: '6.5',
    });
  });

  it('auto-recharges S2 when its balance falls to its threshold (03-31 00:00Z)', async () => {
    expect(
      await ok('PATCH', `/v1/subscriptions/${ids.S2}`, {
        auto_recharge: { enabled: true, threshold_percent: 20, max_per_period: 1 },
      }),
    ).toMatchObject({ auto_recharge: { enabled: true, threshold_percent: 20, max_per_period: 1 } });
    const body = use('c7', 'sms', 250, { metadata: { branch: 'riyadh' } });
    const queued = await ok('POST', '/v1/consumptions', body, 202);
    expect(queued).toMatchObject({ id: expect.any(String) });
    const c7 = await ok('POST', '/v1/consumptions?wait=true', body);
    expect(c7).toMatchObject({ id: queued.id, status: 'applied', applied: '250', remaining: '170' });
    // BPs 60 (priority 10, 04-09), P2 60 (priority 10, 04-20), then S2's new 150 (04-11) down to 20 ≤ 20 % of 150
    expect(allocs(c7.allocations).map(([, amount]) => amount)).toEqual(['60', '60', '130']);
    expect(c7.allocations[0].balance_id).toBe(ids.BPs);
    expect(c7.allocations[1].balance_id).toBe(ids.BP2s);
    const s2New = c7.allocations[2].balance_id;
    const { awaitOutcome } = await import('../../src/commands/index.js');
    const outcome = await awaitOutcome(app.ctx, 'recharge', `recharge|${ids.S2}|auto-${s2New}`, {
      timeoutMs: 15_000,
      untilAdded: true,
    });
    expect(outcome).toMatchObject({ state: 'completed', value: { status: 'recharged', auto: true } });
    const invoices = (await ok('GET', '/v1/invoices?client=acme')).data;
    expect(invoices.find((i: { number: string }) => i.number === 'INV-2027-000010')).toMatchObject({
      kind: 'recharge',
      total: 4000,
    });
    expect(await row('sms')).toMatchObject({ granted: '1020', consumed: '390', expired: '310', remaining: '320' });
    expect(await row('support')).toMatchObject({ granted: '19', consumed: '7.5', expired: '2.5', remaining: '9' });
    const byBranch = await ok(
      'GET',
      '/v1/clients/acme/usage?credit_type=sms&group_by=branch&from=2027-01-01&to=2027-04-01',
    );
    // riyadh 10 + 130 + 250; jeddah 120 − 120 given back (60 returned, 60 expired where it went back): 390 in all,
    // the balances' consumed
    expect(byBranch.data).toEqual([
      { key: 'jeddah', quantity: '0' },
      { key: 'riyadh', quantity: '390' },
    ]);
  });

  it('reports the whole story in JSON and CSV alike (03-31 00:00Z)', async () => {
    const range = { from: '2027-01-01T00:00:00.000Z', to: '2027-04-01T00:00:00.000Z' };
    const ren = (await jsonRows(app, { type: 'renewals', params: { ...range, group_by: 'month' } })).rows;
    expect(
      ren.map((r) => [r.period_start, r.new_subscriptions, r.renewals, r.recharges, r.expirations, r.revenue]),
    ).toEqual([
      ['2027-01-01', 1, 0, 0, 0, 10000],
      ['2027-02-01', 3, 1, 1, 0, 29000],
      ['2027-03-01', 0, 2, 2, 1, 29500],
    ]);
    const top = (await jsonRows(app, { type: 'top_packages', params: range })).rows;
    expect(top.map((r) => [r.package_code, r.requests, r.revenue])).toEqual([
      ['basic', 5, 57000],
      ['promo', 2, 1000],
    ]);
    const bal = (await jsonRows(app, { type: 'balances' })).rows;
    const cols = (r: Record<string, unknown>) => [
      r.subscription_id,
      r.credit_type,
      r.granted,
      r.consumed,
      r.remaining,
      r.expired,
    ];
    expect(bal.map(cols)).toEqual([
      [ids.S1, 'sms', '450', '140', '150', '160'],
      [ids.S1, 'support', '10', '5', '2.5', '2.5'],
      [ids.S2, 'sms', '450', '130', '170', '150'],
      [ids.S2, 'support', '9', '2.5', '6.5', '0'],
      [ids.P, 'sms', '60', '60', '0', '0'],
      [ids.P2, 'sms', '60', '60', '0', '0'],
    ]);
    const cons = (await jsonRows(app, { type: 'consumption', params: { ...range, group_by: 'month' } })).rows;
    // the reversal counts when it was made (the report sums the ledger): 31 Mar, 120 given back
    expect(cons.map((r) => [r.period_start, r.credit_type, r.consumed, r.reversed, r.net])).toEqual([
      ['2027-02-01', 'sms', '260', '0', '260'],
      ['2027-02-01', 'support', '7.5', '0', '7.5'],
      ['2027-03-01', 'sms', '250', '120', '130'],
    ]);
    // a day given as a date is a Riyadh day: 10 Feb holds C2 (02-09 23:00Z) and the capture (02-10 00:00Z)
    const day = await jsonRows(app, {
      type: 'consumption',
      params: { from: '2027-02-10', to: '2027-02-10', group_by: 'day' },
    });
    expect(day.rows.map((r) => [r.period_start, r.credit_type, r.net])).toEqual([
      ['2027-02-10', 'sms', '120'],
      ['2027-02-10', 'support', '1.5'],
    ]);
    for (const type of ['balances', 'renewals', 'top_packages', 'subscriptions', 'consumption', 'expiring']) {
      const params = type === 'balances' || type === 'subscriptions' || type === 'expiring' ? {} : range;
      const json = await jsonRows(app, { type, params });
      const run = await runReport(app, { type, format: 'csv', params });
      const file = await download(app, run.id);
      expect(file.status).toBe(200);
      const [head, ...rows] = parseCsv(file.text);
      expect(rows.length, type).toBe(json.rows.length);
      const asText = (v: unknown) => (v === null || v === undefined ? '' : String(v));
      expect(
        rows.map((r) => Object.fromEntries((head ?? []).map((h, i) => [h, r[i]]))),
        type,
      ).toEqual(json.rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, asText(v)]))));
    }
    const nightlyRuns = (await ok('GET', '/v1/reports?trigger=nightly&limit=100')).data;
    expect(new Set(nightlyRuns.map((r: { type: string }) => r.type))).toEqual(
      new Set(['subscriptions', 'balances', 'consumption', 'renewals', 'top_packages', 'expiring']),
    );
  });

  it('records one event per change, refuses without a key or scope, answers a short use queued then 422', async () => {
    // the nightly cleanup forgot the events from before 03-01 (30 days, README); since then: S2's and S1's
    // renewals, S2's two recharges, S1's expiry, C2's reversal, four invoices
    expect(await count('invoice.created')).toBe(4);
    expect(await count('subscription.renewed')).toBe(2);
    expect(await count('subscription.recharged')).toBe(2);
    expect(await count('subscription.expired')).toBe(1);
    expect(await count('consumption.reversed')).toBe(1);
    expect(await count('consumption.rejected')).toBe(0);
    problem(await app.request('POST', '/v1/packages', { key: null, body: {} }), 401, 'unauthorized');
    problem(await app.request('POST', '/v1/packages', { key: app.keys.read, body: {} }), 403, 'forbidden');

    const body = use('c8', 'sms', 10000);
    const queued = await ok('POST', '/v1/consumptions', body, 202);
    expect(queued).toMatchObject({ id: expect.any(String) });
    const short = await call('POST', '/v1/consumptions?wait=true', body);
    problem(short, 422, 'insufficient_balance');
    expect(short.body).toMatchObject({
      id: queued.id,
      consumption_status: 'rejected',
      applied: '0',
      shortfall: '9680',
      remaining: '320',
    });
    expect(await count('consumption.rejected')).toBe(1);
  });

  it('cancels S2 now (its units void), then numbers invoices by the Riyadh year (→ 12-31 21:30Z)', async () => {
    const cancelled = await ok('POST', `/v1/subscriptions/${ids.S2}/cancel`, { at: 'now' });
    expect(cancelled).toMatchObject({ status: 'cancelled' });
    // sms: S2's 20 left of its period and the 150 of its auto-recharge; support 2.5 + 1.5 + 2.5
    expect(await row('sms')).toMatchObject({ voided: '170', remaining: '150' });
    expect(await row('support')).toMatchObject({ voided: '6.5', remaining: '2.5' });
    problem(await call('POST', `/v1/subscriptions/${ids.S2}/renew?wait=true`), 409, 'conflict');

    await ok('POST', '/v1/clients', { external_ref: 'beta', name: 'Beta' }, 201);
    await clockTo('2027-12-31T20:30:00.000Z');
    const late = await ok('POST', '/v1/subscriptions', { client: 'beta', package: 'promo' }, 201);
    expect(late.invoice).toMatchObject({ number: 'INV-2027-000011' });
    // 31 Dec 23:30 Riyadh + 2 months = 29 Feb 2028 23:30 Riyadh
    expect(at(late.current_period_end)).toBe('2028-02-29T20:30:00.000Z');
    await clockTo('2027-12-31T21:30:00.000Z');
    const early = await ok('POST', '/v1/subscriptions', { client: 'beta', package: 'promo' }, 201);
    // 1 Jan 2028 00:30 in Riyadh: the year's first invoice; + 2 months = 1 Mar 00:30 Riyadh
    expect(early.invoice).toMatchObject({ number: 'INV-2028-000001' });
    expect(at(early.current_period_end)).toBe('2028-02-29T21:30:00.000Z');
  });

  it('lets no auto-renewing period lapse: the sweep renews each missed period in turn (→ 2028-03-15)', async () => {
    // 1 Jan 2028 00:30 Riyadh; basic is 12000 and 150 sms + 2.5 h now
    const b = await ok('POST', '/v1/subscriptions', { client: 'beta', package: 'basic', auto_renew: true }, 201);
    expect(b.invoice).toMatchObject({ number: 'INV-2028-000002', total: 12000 });
    expect(at(b.current_period_end)).toBe('2028-01-31T21:30:00.000Z');
    // no run from then to 15 Mar: the periods ending 1 Feb and 1 Mar 00:30 Riyadh were never renewed
    await clockTo('2028-03-15T00:00:00.000Z');
    await nightly();
    const s = await ok('GET', `/v1/subscriptions/${b.id}`);
    expect(s).toMatchObject({ status: 'active', renewal_count: 2 });
    expect(at(s.current_period_start)).toBe('2028-02-29T21:30:00.000Z');
    expect(at(s.current_period_end)).toBe('2028-03-31T21:30:00.000Z');
    const invoices = (await ok('GET', '/v1/invoices?client=beta')).data;
    expect(
      invoices
        .map((i: { number: string; kind: string; total: number }) => [i.number, i.kind, i.total])
        .sort((x: string[], y: string[]) => String(x[0]).localeCompare(String(y[0]))),
    ).toEqual([
      ['INV-2027-000011', 'subscription', 500],
      ['INV-2028-000001', 'subscription', 500],
      ['INV-2028-000002', 'subscription', 12000],
      ['INV-2028-000003', 'renewal', 12000],
      ['INV-2028-000004', 'renewal', 12000],
    ]);
    // both promos (60 each) and two periods of basic (150 each) expired unused; the third period's 150 is left
    const beta = (await ok('GET', '/v1/clients/beta/balances')).data;
    const of = (code: string) => beta.find((r: { credit_type: { code: string } }) => r.credit_type.code === code);
    expect(of('sms')).toMatchObject({ granted: '570', consumed: '0', expired: '420', remaining: '150' });
    expect(of('support')).toMatchObject({ granted: '7.5', expired: '5', remaining: '2.5' });
  });

  it('keeps an on_payment subscription pending until its invoice is paid (2028-03-15)', async () => {
    const p = await ok(
      'POST',
      '/v1/subscriptions',
      { client: 'beta', package: 'promo', activation: 'on_payment' },
      201,
    );
    expect(p).toMatchObject({ status: 'pending' });
    expect(p.invoice).toMatchObject({ number: 'INV-2028-000005', total: 500, status: 'issued' });
    const sms = async () =>
      (await ok('GET', '/v1/clients/beta/balances')).data.find(
        (r: { credit_type: { code: string } }) => r.credit_type.code === 'sms',
      );
    expect(await sms()).toMatchObject({ remaining: '150', unavailable: '60' });
    expect(await ok('POST', `/v1/invoices/${p.invoice.id}/pay`)).toMatchObject({ status: 'paid' });
    expect(await ok('GET', `/v1/subscriptions/${p.id}`)).toMatchObject({ status: 'active' });
    expect(await sms()).toMatchObject({ remaining: '210', unavailable: '0' });
  });
});
