import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_NIGHTLY_REPORTS, startTestApp, type TestApp } from '../helpers/app.js';
import { closeVerified, expectEventsMatchSchemas, httpSteps } from '../helpers/http-steps.js';
import { jsonRows } from '../helpers/reports.js';

/**
 * The capabilities of issue 15 (API.md "Added 2026-12-02", DOMAIN.md "Holds, quotes, freezes, dimensions") driven
 * over HTTP as an outsider would, with the clock moved by PUT /v1/admin/clock, every expected number worked out by
 * hand from the documents alone (in the comments). The steps build on each other, in order.
 *
 * The cast (BUSINESS_TZ UTC): `sms` (whole messages, dimensions branch and employee) and `support` (hours, 2
 * decimals); package `basic` 100 sms + 10.5 support, 1 month, priority 60, max_freeze_days 10; package `promo`
 * 20 sms, 2 months, priority 10 (spent first although it expires later), free, no freezing; client `acme`.
 * From 2026-03-01 00:00: S1 = basic [03-01, 04-01) with balances B1 (sms 100) and H1 (support 10.5);
 * S2 = promo [03-01, 05-01) with B2 (sms 20). Later: goodwill grants G and G2 (priority 5), holds HA…HH, freezes
 * that push S1 to 04-07 18:00, its renewal, and a freeze of S2 once promo is patched to allow 3 days.
 * Where the documents allow two readings, the comment at the step names the one the service takes.
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-03-01T00:00:00.000Z', env: NO_NIGHTLY_REPORTS });
});
afterAll(async () => {
  await expectEventsMatchSchemas(app);
  await closeVerified(app);
});

const { call, ok, clockTo, nightly } = httpSteps(() => app);

/** The row of one credit type in GET /v1/clients/acme/balances (optionally `as_of`). */
async function row(code: string, asOf?: string) {
  const q = asOf === undefined ? '' : `?as_of=${encodeURIComponent(asOf)}`;
  const body = await ok('GET', `/v1/clients/acme/balances${q}`);
  const found = body.data.find((r: { credit_type: { code: string } }) => r.credit_type.code === code);
  expect(found, `no ${code} row in ${JSON.stringify(body)}`).toBeDefined();
  return found;
}
const at = (iso: string) => new Date(iso).toISOString();
const problem = (res: { status: number; headers: Headers; body: { code: string } }, status: number, code: string) => {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body.code).toBe(code);
};
/** An answer without its `replayed` flag (README: a repeat says `replayed: true`; the rest is the same answer). */
function unreplayed(body: unknown): unknown {
  if (Array.isArray(body)) return body.map(unreplayed);
  if (body === null || typeof body !== 'object') return body;
  return Object.fromEntries(
    Object.entries(body)
      .filter(([k]) => k !== 'replayed')
      .map(([k, v]) => [k, unreplayed(v)]),
  );
}
/**
 * The live balances answer at each instant the walk left, taken just before the clock moved on: afterwards,
 * `as_of` that instant must answer the same ("the same shape as at that instant, from the ledger").
 */
const liveAt = new Map<string, unknown>();
let current = '2026-03-01T00:00:00.000Z';
async function moveTo(iso: string) {
  liveAt.set(current, await ok('GET', '/v1/clients/acme/balances'));
  await clockTo(iso);
  current = iso;
}
const events = async (type: string) => (await ok('GET', `/v1/events?type=${type}&limit=500`)).data;

const ids: Record<string, string> = {};

describe('acceptance walk of issue 15, numbers by hand', () => {
  it('sets up the catalog, the client and two subscriptions (03-01 00:00)', async () => {
    await ok(
      'POST',
      '/v1/credit-types',
      {
        code: 'sms',
        name: 'SMS',
        unit: 'message',
        dimensions: ['branch', 'employee'],
      },
      201,
    );
    await ok('POST', '/v1/credit-types', { code: 'support', name: 'Support', unit: 'hour', decimals: 2 }, 201);
    const sms = await ok('GET', '/v1/credit-types/sms');
    expect(sms.dimensions).toEqual(['branch', 'employee']);
    // six dimensions: "≤ 5 keys"
    const six = await call('PATCH', '/v1/credit-types/support', { dimensions: ['a', 'b', 'c', 'd', 'e', 'f'] });
    problem(six, 422, 'validation_failed');
    const basic = {
      code: 'basic',
      name: 'Basic',
      price: 4900,
      currency: 'USD',
      validity: { count: 1, unit: 'month' },
      items: [
        { credit_type: 'sms', units: 100 },
        { credit_type: 'support', units: '10.5' },
      ],
      priority: 60,
      max_freeze_days: 10,
    };
    const pkg = await ok('POST', '/v1/packages', basic, 201);
    expect(pkg).toMatchObject({ priority: 60, max_freeze_days: 10 });
    await ok(
      'POST',
      '/v1/packages',
      {
        code: 'promo',
        name: 'Promo',
        price: 0,
        currency: 'USD',
        validity: { count: 2, unit: 'month' },
        items: [{ credit_type: 'sms', units: 20 }],
        priority: 10,
      },
      201,
    );
    await ok('POST', '/v1/clients', { external_ref: 'acme', name: 'Acme' }, 201);
    const s1 = await ok('POST', '/v1/subscriptions', { client: 'acme', package: 'basic' }, 201);
    expect(at(s1.current_period_start)).toBe('2026-03-01T00:00:00.000Z');
    expect(at(s1.current_period_end)).toBe('2026-04-01T00:00:00.000Z');
    const s2 = await ok('POST', '/v1/subscriptions', { client: 'acme', package: 'promo' }, 201);
    expect(at(s2.current_period_end)).toBe('2026-05-01T00:00:00.000Z');
    ids.S1 = s1.id;
    ids.S2 = s2.id;
    const bal = (s: { balances: Array<{ id: string; credit_type: { code: string } }> }, code: string) =>
      s.balances.find((b) => b.credit_type.code === code)?.id ?? '';
    ids.B1 = bal(s1, 'sms');
    ids.H1 = bal(s1, 'support');
    ids.B2 = bal(s2, 'sms');
    expect(await row('sms')).toMatchObject({
      granted: '120',
      consumed: '0',
      remaining: '120',
      expired: '0',
      held: '0',
      unavailable: '0',
      upcoming: '0',
    });
    expect(at((await row('sms')).next_expiry)).toBe('2026-04-01T00:00:00.000Z');
    expect(await row('support')).toMatchObject({ granted: '10.5', remaining: '10.5', held: '0' });
  });

  it('spends the priority-10 promo first, then quotes without writing (03-02 10:00, 03-03 10:00)', async () => {
    await moveTo('2026-03-02T10:00:00.000Z');
    // 15 sms: B2 (priority 10) before B1 (priority 60) though B2 expires later → B2 20 − 15 = 5; total 105
    const u1 = await ok('POST', '/v1/consumptions?wait=true', {
      client: 'acme',
      credit_type: 'sms',
      quantity: 15,
      idempotency_key: 'u1',
      metadata: { branch: 'cairo', employee: 'e1' },
    });
    expect(u1).toMatchObject({ status: 'applied', quantity: '15', applied: '15', shortfall: '0', remaining: '105' });
    expect(u1.allocations).toMatchObject([{ balance_id: ids.B2, amount: '15' }]);
    // 2.25 hours of support from H1 → 8.25
    const s1 = await ok('POST', '/v1/consumptions?wait=true', {
      client: 'acme',
      credit_type: 'support',
      quantity: '2.25',
      idempotency_key: 's1',
    });
    expect(s1).toMatchObject({ status: 'applied', applied: '2.25', remaining: '8.25' });

    await moveTo('2026-03-03T10:00:00.000Z');
    const ledgerBefore = (await ok('GET', '/v1/clients/acme/statement?limit=500')).data.length;
    // 30 sms: B2's 5 then 25 of B1 → 75 left
    const q = await ok('POST', '/v1/consumptions/quote', { client: 'acme', credit_type: 'sms', quantity: 30 });
    expect(q).toMatchObject({
      would: 'apply',
      quantity: '30',
      applied: '30',
      shortfall: '0',
      allocations: [
        { balance_id: ids.B2, amount: '5', expires_at: expect.any(String) },
        { balance_id: ids.B1, amount: '25', expires_at: expect.any(String) },
      ],
      remaining: '75',
    });
    expect(q.allocations.map((a: { expires_at: string }) => at(a.expires_at))).toEqual([
      '2026-05-01T00:00:00.000Z',
      '2026-04-01T00:00:00.000Z',
    ]);
    // 200 in mode partial: 105 applied, 95 short, nothing left
    const partial = await ok('POST', '/v1/consumptions/quote', {
      client: 'acme',
      credit_type: 'sms',
      quantity: 200,
      mode: 'partial',
    });
    expect(partial).toMatchObject({
      would: 'partial',
      quantity: '200',
      applied: '105',
      shortfall: '95',
      remaining: '0',
    });
    // 200 in mode reject (the default): nothing would be applied, the balances stay
    const reject = await ok('POST', '/v1/consumptions/quote', { client: 'acme', credit_type: 'sms', quantity: 200 });
    expect(reject).toMatchObject({ would: 'reject', quantity: '200', applied: '0', remaining: '105' });
    // a read key may quote
    const byReader = await app.request('POST', '/v1/consumptions/quote', {
      key: app.keys.read,
      body: { client: 'acme', credit_type: 'sms', quantity: 1 },
    });
    expect(byReader.status, byReader.text).toBe(200);
    problem(
      await call('POST', '/v1/consumptions/quote', { client: 'acme', credit_type: 'support', quantity: '0.125' }),
      422,
      'validation_failed',
    );
    // "writes nothing"
    expect((await ok('GET', '/v1/clients/acme/statement?limit=500')).data.length).toBe(ledgerBefore);
    expect(await row('sms')).toMatchObject({ remaining: '105', consumed: '15' });
  });

  it('holds 50 sms in the spending order and captures 20 of them (03-03 10:00 → 10:05)', async () => {
    const body = {
      client: 'acme',
      credit_type: 'sms',
      quantity: 50,
      idempotency_key: 'h1',
      expires_in_seconds: 600,
      metadata: { branch: 'giza' },
    };
    const held = await ok('POST', '/v1/holds?wait=true', body);
    // B2's 5 then 45 of B1 → 105 − 50 = 55 left; expires 600 s from now
    expect(held).toMatchObject({ status: 'held', quantity: '50', remaining: '55' });
    expect(held.allocations).toMatchObject([
      { balance_id: ids.B2, amount: '5' },
      { balance_id: ids.B1, amount: '45' },
    ]);
    expect(at(held.expires_at)).toBe('2026-03-03T10:10:00.000Z');
    ids.HA = held.id;
    // the same key and body: the same answer; another body under it: 409 idempotency_conflict
    expect((await ok('POST', '/v1/holds?wait=true', body)).id).toBe(ids.HA);
    problem(await call('POST', '/v1/holds?wait=true', { ...body, quantity: 51 }), 409, 'idempotency_conflict');
    expect(await ok('GET', `/v1/holds/${ids.HA}`)).toMatchObject({ id: ids.HA, status: 'held', quantity: '50' });
    const listed = await ok('GET', '/v1/holds?client=acme&status=held');
    expect(listed.data.map((h: { id: string }) => h.id)).toEqual([ids.HA]);
    expect(listed).toHaveProperty('next_cursor');
    const withHold = await row('sms');
    expect(withHold).toMatchObject({ granted: '120', consumed: '15', remaining: '55', held: '50' });
    const heldOn = (id: string | undefined) => withHold.balances.find((b: { id: string }) => b.id === id);
    expect(heldOn(ids.B2)).toMatchObject({ remaining: '0', held: '5' });
    expect(heldOn(ids.B1)).toMatchObject({ remaining: '55', held: '45' });
    // a quote sees only what is not held: 60 > 55
    const quote = await ok('POST', '/v1/consumptions/quote', { client: 'acme', credit_type: 'sms', quantity: 60 });
    expect(quote).toMatchObject({ would: 'reject', applied: '0', shortfall: '5', remaining: '55' });
    const holdEntries = (await ok('GET', '/v1/clients/acme/statement?credit_type=sms&limit=500')).data.filter(
      (e: { kind: string }) => e.kind === 'hold',
    );
    expect(holdEntries.map((e: { amount: string; balance_id: string }) => [e.balance_id, e.amount])).toEqual([
      [ids.B2, '-5'],
      [ids.B1, '-45'],
    ]);

    await moveTo('2026-03-03T10:05:00.000Z');
    // capture 20 in the hold's order: B2 5, B1 15; the other 30 go back to B1 → 105 − 20 = 85
    const captured = await ok('POST', `/v1/holds/${ids.HA}/capture`, { quantity: 20 });
    expect(captured.hold).toMatchObject({ id: ids.HA, status: 'captured' });
    expect(captured.consumption).toMatchObject({ status: 'applied', quantity: '20' });
    expect(captured.consumption.allocations).toMatchObject([
      { balance_id: ids.B2, amount: '5' },
      { balance_id: ids.B1, amount: '15' },
    ]);
    // again: the same answer
    const repeat = await ok('POST', `/v1/holds/${ids.HA}/capture`, { quantity: 20 });
    expect(unreplayed(repeat)).toEqual(unreplayed(captured));
    // a release after the capture: 409 (README: "so is this one after the capture above")
    problem(await call('POST', `/v1/holds/${ids.HA}/release`), 409, 'conflict');
    expect(await row('sms')).toMatchObject({ consumed: '35', remaining: '85', held: '0' });
    // DOMAIN.md: the capture "releases the rest (ledger release, positive)"; README: every held unit comes back
    // first (one release per balance), then the capture consumes — the same net 30 back, written as 4 entries,
    // balance after balance in the hold's order
    const entries = (await ok('GET', '/v1/clients/acme/statement?credit_type=sms&limit=500')).data;
    const name = (id: string) => (id === ids.B1 ? 'B1' : id === ids.B2 ? 'B2' : id);
    expect(
      entries
        .slice(-4)
        .map(
          (e: { kind: string; balance_id: string; amount: string; remaining_after: string }) =>
            `${e.kind} ${name(e.balance_id)} ${e.amount} → ${e.remaining_after}`,
        ),
    ).toEqual(['release B2 5 → 5', 'consume B2 -5 → 0', 'release B1 45 → 100', 'consume B1 -15 → 85']);
    // every held unit comes back (5 + 45) or the rest (30) only: either way 50 − 20 = 30 net released
  });

  it('refuses capture over the hold, capture after release, hold beyond the balance (03-04 09:00)', async () => {
    await moveTo('2026-03-04T09:00:00.000Z');
    const hb = await ok('POST', '/v1/holds?wait=true', {
      client: 'acme',
      credit_type: 'sms',
      quantity: 10,
      idempotency_key: 'h2',
    });
    // B2 is empty: all 10 from B1; 85 − 10 = 75; default expiry 15 minutes
    expect(hb).toMatchObject({ status: 'held', quantity: '10', remaining: '75' });
    expect(hb.allocations).toMatchObject([{ balance_id: ids.B1, amount: '10' }]);
    expect(at(hb.expires_at)).toBe('2026-03-04T09:15:00.000Z');
    ids.HB = hb.id;
    // "≤ held": 11 is out of range for this hold
    problem(await call('POST', `/v1/holds/${ids.HB}/capture`, { quantity: 11 }), 422, 'validation_failed');
    const released = await ok('POST', `/v1/holds/${ids.HB}/release`);
    expect(released).toMatchObject({ id: ids.HB, status: 'released' });
    expect(unreplayed(await ok('POST', `/v1/holds/${ids.HB}/release`))).toEqual(unreplayed(released));
    problem(await call('POST', `/v1/holds/${ids.HB}/capture`), 409, 'conflict');
    expect(await row('sms')).toMatchObject({ remaining: '85', held: '0' });

    // 86 > 85: 422 insufficient_balance, and the hold is recorded rejected
    const short = await call('POST', '/v1/holds?wait=true', {
      client: 'acme',
      credit_type: 'sms',
      quantity: 86,
      idempotency_key: 'h3',
    });
    problem(short, 422, 'insufficient_balance');
    const rejected = await ok('GET', '/v1/holds?client=acme&status=rejected');
    expect(rejected.data).toHaveLength(1);
    expect(rejected.data[0]).toMatchObject({ status: 'rejected', quantity: '86' });
    expect(await row('sms')).toMatchObject({ remaining: '85', held: '0' });

    // support, 2 decimals: hold 1.25 of H1's 8.25 → 7; capture 0.5 → consumed 0.5, the 0.75 back → 7.75
    const hd = await ok('POST', '/v1/holds?wait=true', {
      client: 'acme',
      credit_type: 'support',
      quantity: '1.25',
      idempotency_key: 'h4',
    });
    expect(hd).toMatchObject({ status: 'held', quantity: '1.25', remaining: '7' });
    ids.HD = hd.id;
    const part = await ok('POST', `/v1/holds/${ids.HD}/capture`, { quantity: '0.5' });
    expect(part.consumption).toMatchObject({ status: 'applied', quantity: '0.5' });
    expect(part.consumption.allocations).toMatchObject([{ balance_id: ids.H1, amount: '0.5' }]);
    expect(await row('support')).toMatchObject({ consumed: '2.75', remaining: '7.75', held: '0' });
  });

  it('lets an unclaimed hold expire: capture past expires_at is 409, the sweep releases (03-04 09:02)', async () => {
    const he = await ok('POST', '/v1/holds?wait=true', {
      client: 'acme',
      credit_type: 'sms',
      quantity: 5,
      idempotency_key: 'h5',
      expires_in_seconds: 60,
    });
    expect(he).toMatchObject({ status: 'held', remaining: '80' });
    ids.HE = he.id;
    await moveTo('2026-03-04T09:02:00.000Z');
    problem(await call('POST', `/v1/holds/${ids.HE}/capture`), 409, 'conflict');
    await nightly();
    expect(await ok('GET', `/v1/holds/${ids.HE}`)).toMatchObject({ status: 'expired' });
    expect(await row('sms')).toMatchObject({ remaining: '85', held: '0', consumed: '35' });
    const expired = await events('hold.expired');
    expect(expired).toHaveLength(1);
    expect(expired[0].data).toMatchObject({ hold_id: ids.HE, quantity: '5', released: '5', lapsed: '0' });
    problem(await call('POST', `/v1/holds/${ids.HE}/capture`), 409, 'conflict');
  });

  it('records dimensions and groups usage by them, net of reversals (03-05 12:00)', async () => {
    await moveTo('2026-03-05T12:00:00.000Z');
    const use = (key: string, quantity: number, metadata?: Record<string, string>) =>
      ok('POST', '/v1/consumptions?wait=true', {
        client: 'acme',
        credit_type: 'sms',
        quantity,
        idempotency_key: key,
        ...(metadata ? { metadata } : {}),
      });
    // from B1: 85 − 37 = 48, − 3 = 45, − 4 = 41, − 6 = 35, reversed + 6 = 41
    expect(await use('u2', 37, { branch: 'alex' })).toMatchObject({ remaining: '48' });
    expect(await use('u3', 3)).toMatchObject({ remaining: '45' });
    expect(await use('u4', 4, { branch: 'cairo', employee: 'e2' })).toMatchObject({ remaining: '41' });
    const u5 = await use('u5', 6, { branch: 'alex' });
    expect(u5).toMatchObject({ remaining: '35' });
    ids.u5 = u5.id;
    await ok('POST', `/v1/consumptions/${ids.u5}/reverse?wait=true`);
    expect(await row('sms')).toMatchObject({ remaining: '41', held: '0' });

    const usage = async (q: string) =>
      (await ok('GET', `/v1/clients/acme/usage?credit_type=sms&from=2026-03-01&to=2026-03-31&${q}`)).data;
    // by day: 03-02 15; 03-03 the capture 20; 03-05 37 + 3 + 4 (+ 6 − 6)
    const byDay = await usage('group_by=day');
    expect(byDay.map((r: { key: string; quantity: string }) => [r.key.slice(0, 10), r.quantity])).toEqual([
      ['2026-03-02', '15'],
      ['2026-03-03', '20'],
      ['2026-03-05', '44'],
    ]);
    // by branch: cairo 15 + 4, giza the capture of the hold that carried branch giza, alex 37, (none) 3
    const byBranch = await usage('group_by=branch');
    expect(Object.fromEntries(byBranch.map((r: { key: string; quantity: string }) => [r.key, r.quantity]))).toEqual({
      alex: '37',
      cairo: '19',
      giza: '20',
      '(none)': '3',
    });
    expect(byBranch.at(-1).key).toBe('(none)');
    const total = (rows: Array<{ quantity: string }>) => rows.reduce((s, r) => s + Number(r.quantity), 0);
    expect(total(byBranch)).toBe(79);
    expect(total(byDay)).toBe(79);
    // by employee: e1 15, e2 4, every other use has none
    const byEmployee = await usage('group_by=employee');
    expect(Object.fromEntries(byEmployee.map((r: { key: string; quantity: string }) => [r.key, r.quantity]))).toEqual({
      e1: '15',
      e2: '4',
      '(none)': '60',
    });
    // a key the credit type does not declare
    problem(await call('GET', '/v1/clients/acme/usage?credit_type=sms&group_by=colour'), 422, 'validation_failed');
    // the consumption report grouped by branch says the same
    const { rows } = await jsonRows<{ value: string; net: string }>(app, {
      type: 'consumption',
      params: { from: '2026-03-01', to: '2026-03-31', group_by: 'branch', credit_type: 'sms', client: 'acme' },
    });
    expect(Object.fromEntries(rows.map((r) => [r.value, r.net]))).toEqual({
      alex: '37',
      cairo: '19',
      giza: '20',
      '(none)': '3',
    });
  });

  it('reads balances as of past instants from the ledger, and as of now as live (03-05 12:00)', async () => {
    // 03-02 12:00: after u1 (B2 −15) and s1 (H1 −2.25), before the hold
    expect(await row('sms', '2026-03-02T12:00:00Z')).toMatchObject({
      granted: '120',
      consumed: '15',
      remaining: '105',
      held: '0',
    });
    expect(await row('support', '2026-03-02T12:00:00Z')).toMatchObject({ consumed: '2.25', remaining: '8.25' });
    // 03-03 10:02: the 50 held, not yet captured
    expect(await row('sms', '2026-03-03T10:02:00Z')).toMatchObject({ consumed: '15', remaining: '55', held: '50' });
    // 03-04 09:00:30: the capture of 20 done, HE's 5 held (made 09:00, due 09:01, swept 09:02)
    expect(await row('sms', '2026-03-04T09:00:30Z')).toMatchObject({ consumed: '35', remaining: '80', held: '5' });
    // before anything was granted: no row, or a row of zeros
    const now = await ok('GET', '/v1/clients/acme/balances?as_of=2026-03-05T12:00:00Z');
    const live = await ok('GET', '/v1/clients/acme/balances');
    expect(now).toEqual(live);
  });

  it('freezes within max_freeze_days, stops spending, and unfreezes early (03-10 → 03-12 06:00)', async () => {
    await moveTo('2026-03-10T00:00:00.000Z');
    problem(await call('POST', `/v1/subscriptions/${ids.S1}/freeze`, { days: 11 }), 422, 'validation_failed');
    problem(await call('POST', `/v1/subscriptions/${ids.S2}/freeze`, { days: 1 }), 422, 'validation_failed');
    const frozen = await ok('POST', `/v1/subscriptions/${ids.S1}/freeze`, { days: 4 });
    expect(frozen).toMatchObject({ id: ids.S1, status: 'frozen' });
    expect(at(frozen.frozen_until)).toBe('2026-03-14T00:00:00.000Z');
    // B1's 41 and H1's 7.75 are unavailable; B2 is empty
    expect(await row('sms')).toMatchObject({ remaining: '0', unavailable: '41' });
    expect(await row('support')).toMatchObject({ remaining: '0', unavailable: '7.75' });
    problem(
      await call('POST', '/v1/consumptions?wait=true', {
        client: 'acme',
        credit_type: 'support',
        quantity: 1,
        idempotency_key: 's2',
      }),
      422,
      'insufficient_balance',
    );
    // the use refused while frozen is a consumption.rejected
    const refusals = await events('consumption.rejected');
    expect(refusals.filter((e: { data: unknown }) => JSON.stringify(e.data).includes('"s2"'))).toHaveLength(1);
    // a forecast now walks the usable balances only: B2 is empty and B1 is frozen, so empty today
    const whileFrozen = await ok('GET', '/v1/clients/acme/forecast?credit_type=sms&window_days=7');
    expect(whileFrozen).toMatchObject({ remaining: '0', days_until_empty: 0, empty_on: '2026-03-10' });
    const frozenEvents = await events('subscription.frozen');
    expect(frozenEvents).toHaveLength(1);
    expect(frozenEvents[0].data).toMatchObject({ subscription_id: ids.S1, status: 'frozen' });
    expect(at(frozenEvents[0].data.frozen_until)).toBe('2026-03-14T00:00:00.000Z');

    // frozen 2 days 6 hours = 194,400 s: period end and expiries 04-01 00:00 → 04-03 06:00
    await moveTo('2026-03-12T06:00:00.000Z');
    const thawed = await ok('POST', `/v1/subscriptions/${ids.S1}/unfreeze`);
    expect(thawed).toMatchObject({ id: ids.S1, status: 'active' });
    expect(at(thawed.current_period_end)).toBe('2026-04-03T06:00:00.000Z');
    for (const id of [ids.B1, ids.H1]) {
      expect(at((await ok('GET', `/v1/balances/${id}`)).expires_at)).toBe('2026-04-03T06:00:00.000Z');
    }
    // B2 belongs to S2, which was not frozen
    expect(at((await ok('GET', `/v1/balances/${ids.B2}`)).expires_at)).toBe('2026-05-01T00:00:00.000Z');
    const extend = (await ok('GET', '/v1/clients/acme/statement?limit=500')).data.filter(
      (e: { kind: string }) => e.kind === 'extend',
    );
    expect(extend.map((e: { balance_id: string; amount: string }) => [e.balance_id, e.amount]).sort()).toEqual(
      [
        [ids.B1, '0'],
        [ids.H1, '0'],
      ].sort(),
    );
    for (const e of extend) {
      expect(at(e.previous_expires_at)).toBe('2026-04-01T00:00:00.000Z');
      expect(at(e.expires_at)).toBe('2026-04-03T06:00:00.000Z');
    }
    const unfrozen = await events('subscription.unfrozen');
    expect(unfrozen).toHaveLength(1);
    expect(unfrozen[0].data).toMatchObject({ by: 'hand', frozen_seconds: 194_400, balances_extended: 2 });
    expect(at(unfrozen[0].data.previous_period_end)).toBe('2026-04-01T00:00:00.000Z');
    expect(at(unfrozen[0].data.current_period_end)).toBe('2026-04-03T06:00:00.000Z');
    expect(await row('sms')).toMatchObject({ remaining: '41', unavailable: '0' });

    // 10 − 2.25 = 7.75 days left of this period's allowance: 8 is too many; {} takes all 7.75 → 03-20 00:00
    problem(await call('POST', `/v1/subscriptions/${ids.S1}/freeze`, { days: 8 }), 422, 'validation_failed');
    const again = await ok('POST', `/v1/subscriptions/${ids.S1}/freeze`, {});
    expect(at(again.frozen_until)).toBe('2026-03-20T00:00:00.000Z');
    // 12 hours later: 04-03 06:00 → 04-03 18:00
    await moveTo('2026-03-12T18:00:00.000Z');
    const thawedAgain = await ok('POST', `/v1/subscriptions/${ids.S1}/unfreeze`);
    expect(at(thawedAgain.current_period_end)).toBe('2026-04-03T18:00:00.000Z');
    expect(at((await ok('GET', `/v1/balances/${ids.B1}`)).expires_at)).toBe('2026-04-03T18:00:00.000Z');
    expect(at((await row('sms')).next_expiry)).toBe('2026-04-03T18:00:00.000Z');
  });

  it('reads a frozen instant as of then (03-11 00:00)', async () => {
    // S1 was frozen [03-10 00:00, 03-12 06:00); B1 then expired at 04-01
    const then = await row('sms', '2026-03-11T00:00:00Z');
    // next_expiry is of usable units (the schema says so), and none were usable then
    expect(then).toMatchObject({ remaining: '0', unavailable: '41', next_expiry: null });
    const b1 = then.balances.find((b: { id: string }) => b.id === ids.B1);
    expect(b1).toMatchObject({ remaining: '41', availability: 'unavailable' });
    expect(at(b1.expires_at)).toBe('2026-04-01T00:00:00.000Z');
    const b2 = then.balances.find((b: { id: string }) => b.id === ids.B2);
    expect(b2).toMatchObject({ remaining: '0', availability: 'usable' });
  });

  it('forecasts with a burn that does not divide evenly (03-12 18:00)', async () => {
    // window of 9 days: [03-03 18:00, 03-12 18:00): u2 37 + u3 3 + u4 4 + u5 6 − 6 reversed = 44 sms
    // (the capture at 03-03 10:05 and u1 at 03-02 are before it). Burn 44/9 = 4.888… a day.
    // Left: B2 0, B1 41 expiring 04-03 18:00 (22 days away). 41 / (44/9) = 369/44 = 8.386… days < 22:
    // nothing expires unused; empty 8 days 9 h 16 m 21.8 s from now → 2026-03-21T03:16:21.818Z.
    const sms = await ok('GET', '/v1/clients/acme/forecast?credit_type=sms&window_days=9');
    expect(sms).toMatchObject({ remaining: '41', days_until_empty: 8, expiring_unused: [] });
    expect(sms.credit_type).toMatchObject({ code: 'sms' });
    expect(sms.empty_on).toBe('2026-03-21');
    // burn_per_day is shown rounded (README: half up), to the credit type's decimals today ("5" for 4.888…):
    // the lead is changing how many decimals it shows, so only its value is held here
    expect(Number(sms.burn_per_day)).toBeCloseTo(44 / 9, 0);
    // the instant (an addition beside empty_on): 369/44 days = 724,581,818.18 ms after 03-12 18:00
    expect(sms.empty_at).toBe('2026-03-21T03:16:21.818Z');

    // support, same window: only HD's capture of 0.5 (03-04 09:00) → 0.5/9 = 0.0555… an hour a day.
    // In the 22 days to H1's expiry: 0.5 × 22 / 9 = 1.2222 → 1.22 spent (rounded down), 7.75 − 1.22 = 6.53 unused;
    // nothing is left after the expiry: empty at 04-03 18:00, 22 days.
    const support = await ok('GET', '/v1/clients/acme/forecast?credit_type=support&window_days=9');
    expect(support).toMatchObject({
      remaining: '7.75',
      expiring_unused: [{ balance_id: ids.H1, units: '6.53' }],
    });
    expect(at(support.expiring_unused[0].expires_at)).toBe('2026-04-03T18:00:00.000Z');
    expect(Number(support.burn_per_day)).toBeCloseTo(0.5 / 9, 1);
    expect(support.days_until_empty).toBe(22);
    expect(support.empty_on).toBe('2026-04-03');

    // a window of 1 day holds no support use: burn 0, no empty day, all 7.75 expire unused
    const idle = await ok('GET', '/v1/clients/acme/forecast?credit_type=support&window_days=1');
    expect(idle).toMatchObject({
      remaining: '7.75',
      days_until_empty: null,
      empty_on: null,
      expiring_unused: [{ balance_id: ids.H1, units: '7.75' }],
    });
    expect(Number(idle.burn_per_day)).toBe(0);
  });

  it('captures units of a balance expired meanwhile; a release lets them expire (03-12 18:00 → 03-13)', async () => {
    // a goodwill grant G of 10 sms, priority 5 (before B2 and B1), expiring 03-13 00:00
    const grant = await app.request('POST', '/v1/clients/acme/grants', {
      headers: { 'idempotency-key': 'goodwill-1' },
      body: { credit_type: 'sms', units: 10, expires_at: '2026-03-13T00:00:00Z', priority: 5, reason: 'goodwill' },
    });
    expect(grant.status, grant.text).toBe(201);
    ids.G = grant.body.id ?? grant.body.balance?.id;
    expect(ids.G).toBeTruthy();
    // a hold for more than 7 days: 7 × 86,400 = 604,800 s at most
    const long = await call('POST', '/v1/holds?wait=true', {
      client: 'acme',
      credit_type: 'sms',
      quantity: 1,
      idempotency_key: 'h-long',
      expires_in_seconds: 604_801,
    });
    problem(long, 422, 'validation_failed');
    problem(await call('GET', '/v1/holds/00000000-0000-4000-8000-000000000000'), 404, 'not_found');

    await moveTo('2026-03-12T23:50:00.000Z');
    const hold = (key: string) =>
      ok('POST', '/v1/holds?wait=true', {
        client: 'acme',
        credit_type: 'sms',
        quantity: 4,
        idempotency_key: key,
        expires_in_seconds: 1800,
      });
    // G first: 41 + 10 = 51 usable; − 4 = 47; − 4 = 43
    const hf = await hold('h6');
    expect(hf).toMatchObject({ status: 'held', remaining: '47' });
    expect(hf.allocations).toMatchObject([{ balance_id: ids.G, amount: '4' }]);
    const hg = await hold('h7');
    expect(hg).toMatchObject({ status: 'held', remaining: '43' });
    ids.HF = hf.id;
    ids.HG = hg.id;

    // 03-13 00:02: G has expired (not swept): its 2 free units are expired, its 8 held stay held
    await moveTo('2026-03-13T00:02:00.000Z');
    expect(await row('sms')).toMatchObject({
      granted: '130',
      consumed: '79',
      expired: '2',
      held: '8',
      remaining: '41',
    });

    await moveTo('2026-03-13T00:05:00.000Z');
    // "a capture of such units still succeeds — they were reserved while valid"
    const captured = await ok('POST', `/v1/holds/${ids.HF}/capture`);
    expect(captured.hold).toMatchObject({ status: 'captured' });
    expect(captured.consumption).toMatchObject({ status: 'applied', quantity: '4' });
    expect(captured.consumption.allocations).toMatchObject([{ balance_id: ids.G, amount: '4' }]);
    // "Units held from a balance that expired meanwhile are not revived on release (they expire)"
    const released = await ok('POST', `/v1/holds/${ids.HG}/release`);
    expect(released).toMatchObject({ status: 'released', released: '0', lapsed: '4' });
    // 130 granted − 83 consumed − 6 expired (G's 2 + the 4 released) − 0 held = 41
    expect(await row('sms')).toMatchObject({ consumed: '83', expired: '6', held: '0', remaining: '41' });
    const g = await ok('GET', `/v1/balances/${ids.G}`);
    // its 2 unheld units stay on it until the sweep, counted as expired (README: "even before the sweep")
    expect(g).toMatchObject({ remaining: '2', availability: 'expired' });
    const gEntries = (await ok('GET', '/v1/clients/acme/statement?credit_type=sms&limit=500')).data
      .filter((e: { balance_id: string }) => e.balance_id === ids.G)
      .map((e: { kind: string; amount: string }) => `${e.kind} ${e.amount}`);
    expect(gEntries).toEqual(expect.arrayContaining(['hold -4', 'consume -4', 'expire -4']));
    const lists = async (status: string) =>
      (await ok('GET', `/v1/holds?client=acme&status=${status}`)).data.map((h: { id: string }) => h.id).sort();
    expect(await lists('captured')).toEqual([ids.HA, ids.HD, ids.HF].sort());
    expect(await lists('released')).toEqual([ids.HB, ids.HG].sort());
    expect(await lists('expired')).toEqual([ids.HE]);
    expect(await lists('held')).toEqual([]);
  });

  it('as of 03-13 00:02 reads the held units of the expired grant (from the ledger)', async () => {
    expect(await row('sms', '2026-03-13T00:02:00Z')).toMatchObject({
      granted: '130',
      consumed: '79',
      expired: '2',
      held: '8',
      remaining: '41',
    });
  });

  it('freezes for a day: nothing to hold or quote; the sweep unfreezes, pushing exactly 1 day (→ 03-15)', async () => {
    const frozen = await ok('POST', `/v1/subscriptions/${ids.S1}/freeze`, { days: 1 });
    expect(at(frozen.frozen_until)).toBe('2026-03-14T00:05:00.000Z');
    problem(
      await call('POST', '/v1/holds?wait=true', {
        client: 'acme',
        credit_type: 'sms',
        quantity: 1,
        idempotency_key: 'h8',
      }),
      422,
      'insufficient_balance',
    );
    expect(
      await ok('POST', '/v1/consumptions/quote', { client: 'acme', credit_type: 'sms', quantity: 1 }),
    ).toMatchObject({ would: 'reject', applied: '0', remaining: '0' });
    problem(await call('POST', `/v1/subscriptions/${ids.S2}/unfreeze`), 409, 'conflict');

    // the sweep two days later unfreezes it, but pushes only up to frozen_until: 1 day, 04-03 18:00 → 04-04 18:00
    await moveTo('2026-03-15T00:00:00.000Z');
    await nightly();
    const s1 = await ok('GET', `/v1/subscriptions/${ids.S1}`);
    expect(s1).toMatchObject({ status: 'active' });
    expect(at(s1.current_period_end)).toBe('2026-04-04T18:00:00.000Z');
    expect(at((await ok('GET', `/v1/balances/${ids.B1}`)).expires_at)).toBe('2026-04-04T18:00:00.000Z');
    const unfrozen = await events('subscription.unfrozen');
    expect(unfrozen).toHaveLength(3);
    expect(unfrozen.at(-1).data).toMatchObject({ by: 'sweep', frozen_seconds: 86_400 });
    expect(await events('subscription.frozen')).toHaveLength(3);
    problem(await call('POST', `/v1/subscriptions/${ids.S1}/unfreeze`), 409, 'conflict');
    // used so far: 2.25 + 0.5 + 1 = 3.75 days of 10 → 6.25 days = until 03-21 06:00 at most
    problem(
      await call('POST', `/v1/subscriptions/${ids.S1}/freeze`, { until: '2026-03-21T06:00:01Z' }),
      422,
      'validation_failed',
    );
  });

  it('forecasts over the default 30-day window and sums usage by month (03-15 00:00)', async () => {
    // window [02-13, 03-15): every sms use, 15 + 20 + 37 + 3 + 4 + 4 (+ 6 − 6) = 83 → 83/30 = 2.7666… a day.
    // B1's 41 expire 04-04 18:00, 20.75 days away (2.7666 × 20.75 = 57.4 > 41): empty first, after
    // 41 × 30 / 83 = 1230/83 = 14.8192771… days → 14 whole days; 1,280,385,542.16 ms → 03-29T19:39:45.542Z
    const sms = await ok('GET', '/v1/clients/acme/forecast?credit_type=sms');
    expect(sms).toMatchObject({ remaining: '41', days_until_empty: 14, empty_on: '2026-03-29', expiring_unused: [] });
    expect(sms.empty_at).toBe('2026-03-29T19:39:45.542Z');
    expect(Number(sms.burn_per_day)).toBeCloseTo(83 / 30, 0);
    problem(await call('GET', '/v1/clients/acme/forecast?credit_type=sms&window_days=0'), 422, 'validation_failed');
    const month = await ok(
      'GET',
      '/v1/clients/acme/usage?credit_type=sms&from=2026-03-01&to=2026-03-31&group_by=month',
    );
    expect(month.data.map((r: { key: string; quantity: string }) => [r.key.slice(0, 7), r.quantity])).toEqual([
      ['2026-03', '83'],
    ]);
    // the capture of HF (no metadata) joins (none): 3 + 4
    const branch = await ok(
      'GET',
      '/v1/clients/acme/usage?credit_type=sms&from=2026-03-01&to=2026-03-31&group_by=branch',
    );
    expect(Object.fromEntries(branch.data.map((r: { key: string; quantity: string }) => [r.key, r.quantity]))).toEqual({
      alex: '37',
      cairo: '19',
      giza: '20',
      '(none)': '7',
    });
  });

  it('walks the balances in the spending order when a cheaper-priority grant comes first (03-15 00:00)', async () => {
    // G2: 30 sms, priority 5, until 05-01. Burn 83/30 a day as before. G2 lasts 900/83 = 10.84 days; B1 then has
    // 20.75 − 10.84 = 9.906 days before 04-04 18:00: 822.25/30 = 27.41 → 27 spent, 41 − 27 = 14 expire unused;
    // B2 is empty; nothing is left after 04-04 18:00: 20 whole days, empty on 04-04
    const grant = await app.request('POST', '/v1/clients/acme/grants', {
      headers: { 'idempotency-key': 'goodwill-2' },
      body: { credit_type: 'sms', units: 30, expires_at: '2026-05-01T00:00:00Z', priority: 5, reason: 'goodwill' },
    });
    expect(grant.status, grant.text).toBe(201);
    ids.G2 = grant.body.id ?? grant.body.balance?.id;
    const sms = await ok('GET', '/v1/clients/acme/forecast?credit_type=sms&window_days=30');
    expect(sms).toMatchObject({
      remaining: '71',
      days_until_empty: 20,
      empty_on: '2026-04-04',
      expiring_unused: [{ balance_id: ids.B1, units: '14' }],
    });
    expect(at(sms.expiring_unused[0].expires_at)).toBe('2026-04-04T18:00:00.000Z');
    // the default window is 30 days: the same answer
    expect(await ok('GET', '/v1/clients/acme/forecast?credit_type=sms')).toEqual(sms);
  });

  it('answers 202 queued without wait, then the same hold; refuses captures of 0 or too fine (03-15)', async () => {
    const body = { client: 'acme', credit_type: 'sms', quantity: 2, idempotency_key: 'h9' };
    const queued = await call('POST', '/v1/holds', body);
    expect(queued.status, queued.text).toBe(202);
    expect(queued.body).toMatchObject({ id: expect.any(String), status: 'queued' });
    // G2 first: 71 − 2 = 69
    const held = await ok('POST', '/v1/holds?wait=true', body);
    expect(held).toMatchObject({ id: queued.body.id, status: 'held', remaining: '69' });
    expect(held.allocations).toMatchObject([{ balance_id: ids.G2, amount: '2' }]);
    ids.HH = held.id;
    for (const quantity of [0, -1, '1.5']) {
      problem(await call('POST', `/v1/holds/${ids.HH}/capture`, { quantity }), 422, 'validation_failed');
    }
    // capture 1: the other 1 goes back → 70
    const captured = await ok('POST', `/v1/holds/${ids.HH}/capture`, { quantity: 1 });
    expect(captured.hold).toMatchObject({ status: 'captured', captured: '1', released: '1' });
    expect(captured.consumption).toMatchObject({ quantity: '1', remaining: '70' });
    // captured again with the same quantity: "again → same answer"; another quantity is another capture, 409
    const again = await ok('POST', `/v1/holds/${ids.HH}/capture`, { quantity: 1 });
    expect(unreplayed(again)).toEqual(unreplayed(captured));
    problem(await call('POST', `/v1/holds/${ids.HH}/capture`, { quantity: 2 }), 409, 'conflict');
    // by week (Monday first): 03-02…03-08 15 + 20 + 44; 03-09…03-15 HF's 4 (03-13) and HH's 1 (03-15)
    const weeks = await ok('GET', '/v1/clients/acme/usage?credit_type=sms&from=2026-03-01&to=2026-03-31&group_by=week');
    expect(weeks.data.map((r: { key: string; quantity: string }) => [r.key.slice(0, 10), r.quantity])).toEqual([
      ['2026-03-02', '79'],
      ['2026-03-09', '5'],
    ]);
    // usage `to` as a day means the whole day (as a report's): 03-05 alone holds 37 + 3 + 4
    const day = await ok('GET', '/v1/clients/acme/usage?credit_type=sms&from=2026-03-05&to=2026-03-05&group_by=day');
    expect(day.data.map((r: { key: string; quantity: string }) => [r.key.slice(0, 10), r.quantity])).toEqual([
      ['2026-03-05', '44'],
    ]);
  });

  it('a freeze over the old period end: nothing expires or renews while frozen (04-03 → 04-06)', async () => {
    await moveTo('2026-04-03T00:00:00.000Z');
    // 6.25 days left of the allowance: 5 fit → until 04-08 00:00
    const frozen = await ok('POST', `/v1/subscriptions/${ids.S1}/freeze`, { days: 5 });
    expect(at(frozen.frozen_until)).toBe('2026-04-08T00:00:00.000Z');
    problem(await call('POST', `/v1/subscriptions/${ids.S1}/freeze`, { days: 1 }), 409, 'conflict');

    // 04-05: the period would have ended at 04-04 18:00; frozen, it neither expires nor renews
    await moveTo('2026-04-05T00:00:00.000Z');
    await nightly();
    const s1 = await ok('GET', `/v1/subscriptions/${ids.S1}`);
    expect(s1).toMatchObject({ status: 'frozen' });
    expect(at(s1.current_period_end)).toBe('2026-04-04T18:00:00.000Z');
    expect(await events('subscription.renewed')).toEqual([]);
    expect(await events('subscription.expired')).toEqual([]);
    // B1's 41 wait, unavailable (not expired); G2's 29 are usable; expired stays G's 6
    expect(await row('sms')).toMatchObject({ remaining: '29', unavailable: '41', expired: '6', held: '0' });
    expect(await row('support')).toMatchObject({ remaining: '0', unavailable: '7.75', expired: '0' });

    // unfrozen at 04-06 00:00 after 3 days: 04-04 18:00 → 04-07 18:00
    await moveTo('2026-04-06T00:00:00.000Z');
    const thawed = await ok('POST', `/v1/subscriptions/${ids.S1}/unfreeze`);
    expect(at(thawed.current_period_end)).toBe('2026-04-07T18:00:00.000Z');
    expect(at((await ok('GET', `/v1/balances/${ids.H1}`)).expires_at)).toBe('2026-04-07T18:00:00.000Z');
    expect(await row('sms')).toMatchObject({ remaining: '70', unavailable: '0', expired: '6' });
  });

  it('probes what an outsider would try next: boundaries and bad input (04-06 00:00)', async () => {
    // a hold is expired AT its expires_at (as a balance is at its own): a capture at that very instant is 409
    const edge = await ok('POST', '/v1/holds?wait=true', {
      client: 'acme',
      credit_type: 'sms',
      quantity: 1,
      idempotency_key: 'h10',
      expires_in_seconds: 60,
    });
    expect(at(edge.expires_at)).toBe('2026-04-06T00:01:00.000Z');
    for (const bad of [{ expires_in_seconds: 0 }, { quantity: '0.5' }, { quantity: 0 }]) {
      const res = await call('POST', '/v1/holds?wait=true', {
        client: 'acme',
        credit_type: 'sms',
        quantity: 1,
        idempotency_key: `bad-${JSON.stringify(bad)}`,
        ...bad,
      });
      problem(res, 422, 'validation_failed');
    }
    await moveTo('2026-04-06T00:01:00.000Z');
    problem(await call('POST', `/v1/holds/${edge.id}/capture`), 409, 'conflict');
    // released at its expiry instead: API.md says release → 200 `status: "released"`, capture after expiry → 409;
    // the service answers 200 with the hold closed as `expired` (its unit back on G2, valid until 05-01)
    const letGo = await ok('POST', `/v1/holds/${edge.id}/release`);
    expect(letGo).toMatchObject({ status: 'expired', released: '1', lapsed: '0' });
    // the quote of a reject names the shortfall: 200 − 70 usable = 130
    const reject = await ok('POST', '/v1/consumptions/quote', { client: 'acme', credit_type: 'sms', quantity: 200 });
    expect(reject).toMatchObject({ would: 'reject', applied: '0', shortfall: '130' });
    // freezing into the past, or for no time
    problem(
      await call('POST', `/v1/subscriptions/${ids.S1}/freeze`, { until: '2026-04-05T00:00:00Z' }),
      422,
      'validation_failed',
    );
    problem(await call('POST', `/v1/subscriptions/${ids.S1}/freeze`, { days: 0 }), 422, 'validation_failed');
    // a list of every hold of the client, paged by 4
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const page: { data: Array<{ id: string }>; next_cursor: string | null } = await ok(
        'GET',
        `/v1/holds?client=acme&limit=4${q}`,
      );
      expect(page.data.length).toBeLessThanOrEqual(4);
      seen.push(...page.data.map((h) => h.id));
      cursor = page.next_cursor;
    } while (cursor);
    // HA HB HC(rejected) HD HE HF HG HH h8(rejected while frozen) edge
    expect(seen).toHaveLength(10);
    expect(new Set(seen).size).toBe(10);
  });

  it('renews after the freezes: the next period starts where the pushed one ended; a new allowance', async () => {
    // S1's period ends 04-07 18:00 (pushed 6.25 days in all); renewed ahead at 04-06 00:01:
    // [04-07 18:00, 05-07 18:00), 100 sms and 10.5 support upcoming
    const renewed = await ok('POST', `/v1/subscriptions/${ids.S1}/renew?wait=true`);
    expect(renewed).toBeDefined();
    const s1 = await ok('GET', `/v1/subscriptions/${ids.S1}`);
    expect(at(s1.current_period_start)).toBe('2026-04-07T18:00:00.000Z');
    expect(at(s1.current_period_end)).toBe('2026-05-07T18:00:00.000Z');
    expect(await row('sms')).toMatchObject({ upcoming: '100' });
    expect(await row('support')).toMatchObject({ upcoming: '10.5', remaining: '7.75' });
    // renewed ahead and paid: its current period has not started, nothing to stop (an unpaid renewal made ahead
    // would be taken back by the freeze, freeze-ahead.test.ts)
    const invoices = await ok('GET', `/v1/invoices?subscription=${ids.S1}&limit=100`);
    const renewal = (invoices.data as Array<{ id: string; kind: string; status: string }>).find(
      (i) => i.kind === 'renewal' && i.status === 'issued',
    );
    await ok('POST', `/v1/invoices/${renewal?.id}/pay`);
    problem(await call('POST', `/v1/subscriptions/${ids.S1}/freeze`, { days: 1 }), 409, 'conflict');

    // 04-08: the old period is over (B1's 41 and H1's 7.75 expire): G2 29 + 100; 10 fresh freeze days
    await moveTo('2026-04-08T00:00:00.000Z');
    await nightly();
    expect(await row('sms')).toMatchObject({ remaining: '129', upcoming: '0', expired: '47' });
    expect(await row('support')).toMatchObject({ remaining: '10.5', expired: '7.75' });
    const frozen = await ok('POST', `/v1/subscriptions/${ids.S1}/freeze`, {});
    expect(at(frozen.frozen_until)).toBe('2026-04-18T00:00:00.000Z');
    await moveTo('2026-04-09T00:00:00.000Z');
    const thawed = await ok('POST', `/v1/subscriptions/${ids.S1}/unfreeze`);
    expect(at(thawed.current_period_end)).toBe('2026-05-08T18:00:00.000Z');
    expect(thawed.frozen_until ?? null).toBeNull();
  });

  it('reverses March uses in April: each counts when it was given back, and only what came back (04-09)', async () => {
    const find = async (key: string) =>
      (await ok('GET', `/v1/consumptions?client=acme&idempotency_key=${key}`)).data[0];
    // u4 (4 sms of B1, 03-05): B1 expired 04-07 18:00. DOMAIN.md rule 5: "an expired one is not revived: its part
    // is recorded as expired" — given back to B1 and expired there at once (a reverse and an expire entry): the
    // reversal says expired 4, returned 0; consumed 84 → 80, expired 47 → 51, remaining unchanged
    const u4 = await find('u4');
    const reversed = await ok('POST', `/v1/consumptions/${u4.id}/reverse?wait=true`);
    expect(reversed).toMatchObject({ status: 'reversed', returned: '0', expired: '4' });
    expect(await row('sms')).toMatchObject({ consumed: '80', expired: '51', remaining: '129' });
    // HH's capture (1 sms of G2, 03-15): G2 is valid until 05-01, the unit goes back → 130
    const hh = await ok('GET', `/v1/holds/${ids.HH}`);
    const back = await ok('POST', `/v1/consumptions/${hh.consumption_id}/reverse?wait=true`);
    expect(back).toMatchObject({ status: 'reversed', returned: '1', expired: '0' });
    expect(await row('sms')).toMatchObject({ consumed: '79', remaining: '130' });

    const usage = async (q: string) =>
      (await ok('GET', `/v1/clients/acme/usage?credit_type=sms&from=2026-03-01&to=2026-04-30&${q}`)).data.map(
        (r: { key: string; quantity: string }) => [r.key, r.quantity],
      );
    // "net of reversals", by when each happened: given back on 04-09, u4's 4 and HH's 1 count on 04-09 (−5)
    const byDay = [
      ['2026-03-02', '15'],
      ['2026-03-03', '20'],
      ['2026-03-05', '44'],
      ['2026-03-13', '4'],
      ['2026-03-15', '1'],
      ['2026-04-09', '-5'],
    ];
    expect(await usage('group_by=day')).toEqual(byDay);
    // the net sums to what the balances call consumed
    expect(byDay.reduce((sum, [, q]) => sum + Number(q), 0)).toBe(79);
    // (none): u3 3, HF 4, HH 1 − 1
    const byBranch = [
      ['alex', '37'],
      ['cairo', '15'],
      ['giza', '20'],
      ['(none)', '7'],
    ];
    expect(await usage('group_by=branch')).toEqual(byBranch);
    // the consumption report (from the ledger) says the same, day by day and branch by branch
    const params = { from: '2026-03-01', to: '2026-04-30', credit_type: 'sms', client: 'acme' };
    const days = await jsonRows<{ period_start: string; net: string }>(app, {
      type: 'consumption',
      params: { ...params, group_by: 'day' },
    });
    expect(days.rows.map((r) => [r.period_start, r.net])).toEqual(byDay);
    const branches = await jsonRows<{ value: string; net: string }>(app, {
      type: 'consumption',
      params: { ...params, group_by: 'branch' },
    });
    expect(branches.rows.map((r) => [r.value, r.net])).toEqual(byBranch);
  });

  it('a hold taken before a freeze is captured during it; the rest goes back unavailable (04-09 → 04-10)', async () => {
    // the longest hold: 7 days
    const hold = await ok('POST', '/v1/holds?wait=true', {
      client: 'acme',
      credit_type: 'support',
      quantity: 2,
      idempotency_key: 'h11',
      expires_in_seconds: 604_800,
    });
    expect(hold).toMatchObject({ status: 'held', remaining: '8.5' });
    expect(at(hold.expires_at)).toBe('2026-04-16T00:00:00.000Z');
    // 9 of this period's 10 days are left (1 used 04-08)
    const frozen = await ok('POST', `/v1/subscriptions/${ids.S1}/freeze`, { days: 2 });
    expect(at(frozen.frozen_until)).toBe('2026-04-11T00:00:00.000Z');
    expect(await row('support')).toMatchObject({ remaining: '0', unavailable: '8.5', held: '2' });
    // reserved while the subscription ran: captured during the freeze (like units whose balance expired);
    // consumed 2.25 + 0.5 + 1.5 = 4.25, the other 0.5 back on H1' where it waits: 10.5 − 1.5 = 9 unavailable
    const captured = await ok('POST', `/v1/holds/${hold.id}/capture`, { quantity: '1.5' });
    expect(captured.consumption).toMatchObject({ status: 'applied', quantity: '1.5' });
    expect(await row('support')).toMatchObject({ remaining: '0', unavailable: '9', held: '0', consumed: '4.25' });
    problem(await call('GET', '/v1/holds?client=acme&status=open'), 422, 'validation_failed');
    // one day later: 05-08 18:00 → 05-09 18:00
    await moveTo('2026-04-10T00:00:00.000Z');
    const thawed = await ok('POST', `/v1/subscriptions/${ids.S1}/unfreeze`);
    expect(at(thawed.current_period_end)).toBe('2026-05-09T18:00:00.000Z');
    expect(await row('support')).toMatchObject({ remaining: '9', unavailable: '0' });
    // before the client existed: nothing to show
    const before = await ok('GET', '/v1/clients/acme/balances?as_of=2026-02-01T00:00:00Z');
    expect(before.data).toEqual([]);
  });

  it('a package patched to allow freezing lets its running subscription freeze (04-10 → 04-11)', async () => {
    // README: PATCH the package's max_freeze_days, then freeze a subscription of it
    const patched = await ok('PATCH', '/v1/packages/promo', { max_freeze_days: 3 });
    expect(patched).toMatchObject({ max_freeze_days: 3 });
    problem(await call('POST', `/v1/subscriptions/${ids.S2}/freeze`, { days: 4 }), 422, 'validation_failed');
    const frozen = await ok('POST', `/v1/subscriptions/${ids.S2}/freeze`, { days: 3 });
    expect(at(frozen.frozen_until)).toBe('2026-04-13T00:00:00.000Z');
    const listed = await ok('GET', '/v1/subscriptions?client=acme&status=frozen');
    expect(listed.data.map((x: { id: string }) => x.id)).toEqual([ids.S2]);
    // a day later: S2's period end and B2's expiry 05-01 → 05-02
    await moveTo('2026-04-11T00:00:00.000Z');
    const thawed = await ok('POST', `/v1/subscriptions/${ids.S2}/unfreeze`);
    expect(at(thawed.current_period_end)).toBe('2026-05-02T00:00:00.000Z');
    expect(at((await ok('GET', `/v1/balances/${ids.B2}`)).expires_at)).toBe('2026-05-02T00:00:00.000Z');
  });

  it('honours an Idempotency-Key header on POST /v1/holds like every creating POST (04-11)', async () => {
    const send = (quantity: number, key: string) =>
      app.request('POST', '/v1/holds?wait=true', {
        headers: { 'idempotency-key': 'hold-header-1' },
        body: { client: 'acme', credit_type: 'sms', quantity, idempotency_key: key, expires_in_seconds: 60 },
      });
    const first = await send(1, 'h12');
    expect(first.status, first.text).toBe(200);
    const again = await send(1, 'h12');
    expect(again.status, again.text).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    problem(await send(2, 'h13'), 409, 'idempotency_conflict');
    await ok('POST', `/v1/holds/${first.body.id}/release`);
  });

  it('as_of every instant the walk left answers what the live balances answered then', async () => {
    liveAt.set(current, await ok('GET', '/v1/clients/acme/balances'));
    expect(liveAt.size).toBeGreaterThan(15);
    for (const [instant, live] of liveAt) {
      const asOf = await ok('GET', `/v1/clients/acme/balances?as_of=${encodeURIComponent(instant)}`);
      expect(asOf, `as_of ${instant}`).toEqual(live);
    }
  });
});
