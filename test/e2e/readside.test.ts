import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expireDue } from '../../src/jobs/expire.js';
import { verifyInvariants } from '../../src/services/verify.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { countRows, createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { jsonRows } from '../helpers/reports.js';

/**
 * Issue 15, the read side: quote, balances as of an instant, forecast, usage by dimension — each on a
 * hand-made history whose numbers are worked out in the comments.
 */
let app: TestApp;
let sms: { id: string; code: string };

beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-05-01T10:00:00.000Z' });
  sms = await createCreditType(app, { code: 'rs-sms' });
});
afterAll(async () => {
  const report = await verifyInvariants(app.database.db);
  expect(report.violations).toEqual([]);
  await app.close();
});

const at = (iso: string) => app.clock.set(iso);

async function grant(client: string, units: number, expiresAt: string, extra: Record<string, unknown> = {}) {
  const res = await app.request('POST', `/v1/clients/${client}/grants`, {
    body: { credit_type: sms.code, units, expires_at: expiresAt, reason: 'test', ...extra },
  });
  expect(res.status, res.text).toBe(201);
  return res.body as { id: string };
}

async function consume(client: string, quantity: number | string, key: string, extra: Record<string, unknown> = {}) {
  const res = await app.request('POST', '/v1/consumptions?wait=true', {
    key: app.keys.write,
    body: { client, credit_type: sms.code, quantity, idempotency_key: key, ...extra },
  });
  expect(res.status, res.text).toBe(200);
  return res.body as { id: string; allocations: Array<{ balance_id: string; amount: string }> };
}

async function reverse(id: string) {
  const res = await app.request('POST', `/v1/consumptions/${id}/reverse?wait=true`, { key: app.keys.write });
  expect(res.status, res.text).toBe(200);
}

interface Row {
  credit_type: { code: string };
  granted: string;
  consumed: string;
  remaining: string;
  expired: string;
  upcoming: string;
  unavailable: string;
  next_expiry: string | null;
  balances: Array<{
    id: string;
    remaining: string;
    status: string;
    availability: string;
    subscription_id: string | null;
  }>;
}

async function balances(client: string, asOf?: string): Promise<Row[]> {
  const query = asOf ? `?as_of=${encodeURIComponent(asOf)}` : '';
  const res = await app.request<{ data: Row[] }>('GET', `/v1/clients/${client}/balances${query}`, {
    key: app.keys.read,
  });
  expect(res.status, res.text).toBe(200);
  return res.body.data;
}

describe('POST /v1/consumptions/quote: what a use would take, nothing written', () => {
  let client: string;
  let g1: string;
  beforeAll(async () => {
    at('2026-05-01T10:00:00.000Z');
    client = (await createClient(app)).id;
    // a grant of 100 expiring first, then a package of 50: the grant is spent first
    g1 = (await grant(client, 100, '2026-05-10T00:00:00.000Z')).id;
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 50 }]);
    await subscribe(app, client, pkg.code);
  });

  it('answers the allocations of the same burn-down, in the spending order, and writes nothing', async () => {
    const before = {
      ledger: await countRows(app, 'ledger_entries'),
      consumptions: await countRows(app, 'consumptions'),
      accepted: await countRows(app, 'accepted_jobs'),
    };
    const res = await app.request('POST', '/v1/consumptions/quote', {
      key: app.keys.read,
      body: { client, credit_type: sms.code, quantity: 120 },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({
      would: 'apply',
      quantity: '120',
      applied: '120',
      shortfall: '0',
      remaining: '30',
    });
    expect(res.body.allocations).toHaveLength(2);
    expect(res.body.allocations[0]).toEqual({ balance_id: g1, amount: '100', expires_at: '2026-05-10T00:00:00.000Z' });
    expect(res.body.allocations[1].amount).toBe('20');
    expect({
      ledger: await countRows(app, 'ledger_entries'),
      consumptions: await countRows(app, 'consumptions'),
      accepted: await countRows(app, 'accepted_jobs'),
    }).toEqual(before);

    // the consume job then takes exactly what the quote said
    const used = await consume(client, 120, 'q-real');
    expect(used.allocations.map((a) => [a.balance_id, a.amount])).toEqual(
      res.body.allocations.map((a: { balance_id: string; amount: string }) => [a.balance_id, a.amount]),
    );
    await reverse(used.id);
  });

  it('a shortfall is reject by default, partial with mode=partial', async () => {
    const reject = await app.request('POST', '/v1/consumptions/quote', {
      key: app.keys.read,
      body: { client, credit_type: sms.code, quantity: 200, idempotency_key: 'whatever' },
    });
    expect(reject.status, reject.text).toBe(200);
    expect(reject.body).toMatchObject({ would: 'reject', applied: '0', shortfall: '50', remaining: '150' });
    expect(reject.body.allocations).toEqual([]);
    const partial = await app.request('POST', '/v1/consumptions/quote', {
      key: app.keys.read,
      body: { client, credit_type: sms.code, quantity: 200, mode: 'partial' },
    });
    expect(partial.body).toMatchObject({ would: 'partial', applied: '150', shortfall: '50', remaining: '0' });
  });

  it('bad input is a problem, as for a consumption', async () => {
    const missing = await app.request('POST', '/v1/consumptions/quote', {
      key: app.keys.read,
      body: { client: 'nobody-here', credit_type: sms.code, quantity: 1 },
    });
    expect(missing.status).toBe(404);
    const decimals = await app.request('POST', '/v1/consumptions/quote', {
      key: app.keys.read,
      body: { client, credit_type: sms.code, quantity: '1.5' },
    });
    expect(decimals.status).toBe(422);
    expect(decimals.body.code).toBe('validation_failed');
    const noKey = await app.request('POST', '/v1/consumptions/quote', {
      key: null,
      body: { client, credit_type: sms.code, quantity: 1 },
    });
    expect(noKey.status).toBe(401);
  });

  it('a key applied before answers what that use took (replayed), another payload under it is 409', async () => {
    // 'q-real' took 100 of G1 and 20 of the package at 10:00 (reversed since: what it was does not change)
    const original = (await app.request('GET', `/v1/consumptions?client=${client}&idempotency_key=q-real`, {
      key: app.keys.read,
    })) as { body: { data: Array<{ id: string }> } };
    const id = original.body.data[0]?.id;
    const ledger = await countRows(app, 'ledger_entries');
    const same = await app.request('POST', '/v1/consumptions/quote', {
      key: app.keys.read,
      body: { client, credit_type: sms.code, quantity: 120, idempotency_key: 'q-real' },
    });
    expect(same.status, same.text).toBe(200);
    expect(same.body).toMatchObject({
      would: 'apply',
      quantity: '120',
      applied: '120',
      shortfall: '0',
      remaining: '30',
      replayed: true,
      consumption_id: id,
    });
    expect(same.body.allocations).toContainEqual({
      balance_id: g1,
      amount: '100',
      expires_at: '2026-05-10T00:00:00.000Z',
    });
    const other = await app.request('POST', '/v1/consumptions/quote', {
      key: app.keys.read,
      body: { client, credit_type: sms.code, quantity: 121, idempotency_key: 'q-real' },
    });
    expect(other.status, other.text).toBe(409);
    expect(other.body.code).toBe('idempotency_conflict');
    expect(await countRows(app, 'ledger_entries')).toBe(ledger);
  });
});

describe('GET /v1/clients/{id}/balances?as_of=: the answer as it stood then, from the ledger', () => {
  let client: string;
  beforeAll(async () => {
    // 05-01 grant G1 100 (expires 05-10) and a package of 50 (05-01 → 06-01), spent in that order
    at('2026-05-01T10:00:00.000Z');
    client = (await createClient(app)).id;
    await grant(client, 100, '2026-05-10T00:00:00.000Z');
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 50 }]);
    await subscribe(app, client, pkg.code);
    at('2026-05-02T10:00:00.000Z');
    const c1 = await consume(client, 30, 'a1'); // G1 70, pkg 50
    at('2026-05-03T10:00:00.000Z');
    await consume(client, 80, 'a2'); // G1 0, pkg 40
    at('2026-05-04T10:00:00.000Z');
    await reverse(c1.id); // G1 30, pkg 40
    at('2026-05-11T10:00:00.000Z');
    await expireDue(app.ctx, app.clock.now()); // G1's 30 expire
    at('2026-05-12T10:00:00.000Z');
    await consume(client, 5, 'a3'); // pkg 35
  });

  it('equals the live answer at now', async () => {
    const live = await balances(client);
    expect(await balances(client, app.clock.now().toISOString())).toEqual(live);
    expect(live[0]).toMatchObject({ granted: '150', consumed: '85', remaining: '35', expired: '30' });
  });

  it.each([
    ['before anything', '2026-04-30T00:00:00.000Z', null],
    ['after the grants', '2026-05-01T12:00:00.000Z', { granted: '150', consumed: '0', remaining: '150', expired: '0' }],
    ['after two uses', '2026-05-03T12:00:00.000Z', { granted: '150', consumed: '110', remaining: '40', expired: '0' }],
    [
      'after the reversal',
      '2026-05-04T12:00:00.000Z',
      { granted: '150', consumed: '80', remaining: '70', expired: '0' },
    ],
    [
      'past the expiry, not swept yet',
      '2026-05-10T12:00:00.000Z',
      { granted: '150', consumed: '80', remaining: '40', expired: '30' },
    ],
    ['after the sweep', '2026-05-11T12:00:00.000Z', { granted: '150', consumed: '80', remaining: '40', expired: '30' }],
  ])('matches the hand-computed answer %s', async (_name, asOf, expected) => {
    const data = await balances(client, asOf);
    if (expected === null) expect(data).toEqual([]);
    else expect(data[0]).toMatchObject(expected);
  });

  it('an expired subscription and a suspended one: equal to live at now, and active before the expiry', async () => {
    at('2026-03-01T00:00:00.000Z');
    const other = (await createClient(app)).id;
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 20 }]);
    const lapsing = await subscribe(app, other, pkg.code); // 03-01 → 04-01
    const longer = await createPackage(app, [{ credit_type: sms.code, units: 20 }], {
      validity: { count: 3, unit: 'month' },
    });
    const held = await subscribe(app, other, longer.code); // 03-01 → 06-01
    at('2026-03-05T00:00:00.000Z');
    await consume(other, 5, 'x1');
    const suspended = await app.request('PATCH', `/v1/subscriptions/${held.id}`, { body: { status: 'suspended' } });
    expect(suspended.status, suspended.text).toBe(200);
    at('2026-04-02T00:00:00.000Z');
    await expireDue(app.ctx, app.clock.now());
    const status = await app.request('GET', `/v1/subscriptions/${lapsing.id}`);
    expect(status.body.status).toBe('expired');
    const live = await balances(other);
    expect(await balances(other, app.clock.now().toISOString())).toEqual(live);
    // 03-10: the lapsed one was active (15 usable), the suspended one (still suspended) holds its 20 back
    expect((await balances(other, '2026-03-10T00:00:00Z'))[0]).toMatchObject({
      consumed: '5',
      remaining: '15',
      unavailable: '20',
      expired: '0',
    });
    at('2026-05-12T10:00:00.000Z');
  });

  it('a freeze: frozen units are unavailable while it lasted, and the expiry is the one it had then', async () => {
    at('2026-08-01T00:00:00.000Z');
    const other = (await createClient(app)).id;
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 20 }], { max_freeze_days: 10 });
    const sub = await subscribe(app, other, pkg.code); // 08-01 → 09-01
    at('2026-08-05T00:00:00.000Z');
    await consume(other, 5, 'z1');
    at('2026-08-10T00:00:00.000Z');
    const frozen = await app.request('POST', `/v1/subscriptions/${sub.id}/freeze`, { body: { days: 5 } });
    expect(frozen.status, frozen.text).toBe(200);
    at('2026-08-12T00:00:00.000Z');
    const unfrozen = await app.request('POST', `/v1/subscriptions/${sub.id}/unfreeze`);
    expect(unfrozen.status, unfrozen.text).toBe(200); // 2 days frozen: the expiry moves 09-01 → 09-03
    at('2026-08-20T00:00:00.000Z');
    const live = await balances(other);
    expect(live[0]).toMatchObject({ remaining: '15', next_expiry: '2026-09-03T00:00:00.000Z' });
    expect(await balances(other, app.clock.now().toISOString())).toEqual(live);
    expect((await balances(other, '2026-08-11T00:00:00Z'))[0]).toMatchObject({ remaining: '0', unavailable: '15' });
    const before = (await balances(other, '2026-08-07T00:00:00Z'))[0]!;
    expect(before).toMatchObject({ remaining: '15', unavailable: '0', next_expiry: '2026-09-01T00:00:00.000Z' });
    at('2026-05-12T10:00:00.000Z');
  });

  it('lists the balances in the spending order they had then (a freeze since moved one behind the other)', async () => {
    at('2026-10-01T00:00:00.000Z');
    const other = (await createClient(app)).id;
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 20 }], { max_freeze_days: 10 });
    // two equal balances (same priority, expiry and start): the first bought comes first (by id)
    const first = await subscribe(app, other, pkg.code);
    await subscribe(app, other, pkg.code);
    const then = await balances(other);
    expect(then[0]!.balances[0]!.subscription_id).toBe(first.id);
    at('2026-10-05T00:00:00.000Z');
    expect((await app.request('POST', `/v1/subscriptions/${first.id}/freeze`, { body: { days: 2 } })).status).toBe(200);
    at('2026-10-06T00:00:00.000Z');
    expect((await app.request('POST', `/v1/subscriptions/${first.id}/unfreeze`)).status).toBe(200);
    // now the first expires a day later, so it comes second; on 10-01 it came first, and as of then it still does
    expect((await balances(other))[0]!.balances[1]!.subscription_id).toBe(first.id);
    expect(await balances(other, '2026-10-01T00:00:00.000Z')).toEqual(then);
    at('2026-05-12T10:00:00.000Z');
  });

  it('a suspension: its units unavailable while it lasted, usable before it began and after the resume', async () => {
    at('2026-11-01T00:00:00.000Z');
    const other = (await createClient(app)).id;
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 20 }]);
    const sub = await subscribe(app, other, pkg.code); // 11-01 → 12-01
    const patch = (status: string) => app.request('PATCH', `/v1/subscriptions/${sub.id}`, { body: { status } });
    at('2026-11-05T00:00:00.000Z');
    await consume(other, 5, 's1');
    at('2026-11-10T00:00:00.000Z');
    expect((await patch('suspended')).status).toBe(200);
    at('2026-11-12T00:00:00.000Z');
    const during = await balances(other);
    expect(during[0]).toMatchObject({ remaining: '0', unavailable: '15' });
    expect(await balances(other, app.clock.now().toISOString())).toEqual(during);
    // before the suspension began, its units were usable
    expect((await balances(other, '2026-11-07T00:00:00Z'))[0]).toMatchObject({ remaining: '15', unavailable: '0' });
    at('2026-11-15T00:00:00.000Z');
    expect((await patch('active')).status).toBe(200);
    at('2026-11-20T00:00:00.000Z');
    const live = await balances(other);
    expect(live[0]).toMatchObject({ remaining: '15', unavailable: '0' });
    expect(await balances(other, app.clock.now().toISOString())).toEqual(live);
    // resumed since: while it lasted they were unavailable, before it usable
    expect(await balances(other, '2026-11-12T00:00:00.000Z')).toEqual(during);
    expect((await balances(other, '2026-11-07T00:00:00Z'))[0]).toMatchObject({ remaining: '15', unavailable: '0' });
    at('2026-05-12T10:00:00.000Z');
  });

  it('a balance voided with nothing left (a cancel after it was used up) is void from the cancel on', async () => {
    at('2026-12-01T00:00:00.000Z');
    const other = (await createClient(app)).id;
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    const sub = await subscribe(app, other, pkg.code);
    at('2026-12-02T00:00:00.000Z');
    await consume(other, 10, 'v1');
    const before = await balances(other);
    at('2026-12-03T00:00:00.000Z');
    const cancel = await app.request('POST', `/v1/subscriptions/${sub.id}/cancel`, { body: { at: 'now' } });
    expect(cancel.status, cancel.text).toBe(200);
    const live = await balances(other);
    expect(live[0]!.balances[0]).toMatchObject({ status: 'void', availability: 'void', remaining: '0' });
    expect(await balances(other, app.clock.now().toISOString())).toEqual(live);
    expect(await balances(other, '2026-12-02T12:00:00.000Z')).toEqual(before);
    at('2026-05-12T10:00:00.000Z');
  });

  it('paid after its planned start: pending with its planned dates before the payment, moved after it', async () => {
    at('2026-12-10T00:00:00.000Z');
    const other = (await createClient(app)).id;
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    const sub = await subscribe(app, other, pkg.code, { activation: 'on_payment' }); // 12-10 → 01-10 if paid now
    const before = await balances(other);
    expect(before[0]).toMatchObject({ remaining: '0', unavailable: '10', upcoming: '0' });
    expect(before[0]!.balances[0]).toMatchObject({ valid_from: '2026-12-10T00:00:00.000Z' });
    at('2026-12-12T00:00:00.000Z');
    const invoice = (await app.request('GET', `/v1/invoices?client=${other}`)).body.data[0];
    expect(invoice.subscription_id).toBe(sub.id);
    expect((await app.request('POST', `/v1/invoices/${invoice.id}/pay`)).status).toBe(200);
    // paid two days late: the whole period from the payment, 12-12 → 01-12
    const live = await balances(other);
    expect(live[0]).toMatchObject({ remaining: '10', next_expiry: '2027-01-12T00:00:00.000Z' });
    expect(await balances(other, app.clock.now().toISOString())).toEqual(live);
    expect(await balances(other, '2026-12-11T00:00:00.000Z')).toEqual(before);
    // its statement says so: an `extend` entry, the old start and expiry beside the new expiry
    const statement = await app.request('GET', `/v1/clients/${other}/statement`);
    expect(statement.body.data.find((e: { kind: string }) => e.kind === 'extend')).toMatchObject({
      amount: '0',
      previous_valid_from: '2026-12-10T00:00:00.000Z',
      previous_expires_at: '2027-01-10T00:00:00.000Z',
      expires_at: '2027-01-12T00:00:00.000Z',
    });
    at('2026-05-12T10:00:00.000Z');
  });

  it('a day means the end of that day (BUSINESS_TZ)', async () => {
    expect(await balances(client, '2026-05-03')).toEqual(await balances(client, '2026-05-03T23:59:59.999Z'));
    expect((await balances(client, '2026-05-03'))[0]).toMatchObject({ consumed: '110', remaining: '40' });
  });

  it('refuses an as_of that is not an instant', async () => {
    const res = await app.request('GET', `/v1/clients/${client}/balances?as_of=yesterday`, { key: app.keys.read });
    expect(res.status).toBe(422);
  });
});

describe('GET /v1/clients/{id}/forecast: burn of the window, the walk in spending order', () => {
  let client: string;
  let b: string;
  beforeAll(async () => {
    // 06-01: A 500 (priority 50, expires 08-01) is spent before B 100 (priority 60, expires 07-05)
    at('2026-06-01T00:00:00.000Z');
    client = (await createClient(app)).id;
    await grant(client, 500, '2026-08-01T00:00:00.000Z');
    b = (await grant(client, 100, '2026-07-05T00:00:00.000Z', { priority: 60 })).id;
    at('2026-06-02T00:00:00.000Z');
    await consume(client, 100, 'f1');
    at('2026-06-10T00:00:00.000Z');
    await consume(client, 150, 'f2');
    at('2026-06-20T00:00:00.000Z');
    const f3 = await consume(client, 80, 'f3');
    at('2026-06-22T00:00:00.000Z');
    await reverse(f3.id);
    at('2026-06-25T00:00:00.000Z');
    await consume(client, 50, 'f4'); // A 200, B 100; net of June: 100 + 150 + 80 − 80 + 50 = 300
    at('2026-07-01T00:00:00.000Z');
  });

  const forecastOf = async (query: string) => {
    const res = await app.request('GET', `/v1/clients/${client}/forecast?${query}`, { key: app.keys.read });
    expect(res.status, res.text).toBe(200);
    return res.body;
  };

  it('30 days: 10 a day; A lasts 20 days, B expires whole on 07-05 before its turn', async () => {
    expect(await forecastOf(`credit_type=${sms.code}`)).toEqual({
      credit_type: { id: sms.id, code: sms.code, unit: 'message' },
      window_days: 30,
      remaining: '300',
      burn_per_day: '10',
      days_until_empty: 20,
      empty_on: '2026-07-21',
      empty_at: '2026-07-21T00:00:00.000Z',
      expiring_unused: [{ balance_id: b, expires_at: '2026-07-05T00:00:00.000Z', units: '100' }],
    });
  });

  it('10 days: the reversal outweighs the use (50 − 80): no burn, all expires unused, in spending order', async () => {
    const f = await forecastOf(`credit_type=${sms.code}&window_days=10`);
    expect(f).toMatchObject({ burn_per_day: '0', days_until_empty: null, empty_on: null, empty_at: null });
    expect(f.expiring_unused.map((u: { units: string }) => u.units)).toEqual(['200', '100']);
  });

  it('7 days: 50 ÷ 7 a day, shown to the millionth (7.142857); A lasts 28 days', async () => {
    // (06-24, 07-01]: 50 consumed → 50/7 a day; B expires on 07-05 whole; A's 200 last 200 × 7 / 50 = 28 days
    const f = await forecastOf(`credit_type=${sms.code}&window_days=7`);
    expect(f).toMatchObject({ burn_per_day: '7.142857', days_until_empty: 28, empty_on: '2026-07-29' });
  });

  it('the client page shows the forecast line, and balances as of a picked day', async () => {
    const auth = { authorization: `Basic ${Buffer.from(`admin:${app.keys.admin}`).toString('base64')}` };
    const live = await fetch(`${app.baseUrl}/ui/clients/${client}`, { headers: auth });
    const text = await live.text();
    expect(live.status, text).toBe(200);
    // the date is the viewer's (Intl, en-GB), with its machine-readable form beside it
    expect(text).toMatch(/runs out around <strong><time datetime="2026-07-21">21 Jul 2026<\/time><\/strong>/);
    // the burn two decimals past the credit type's (whole messages: 0.01), not the API's six
    const burn = /At ([\d.,]+) a day/.exec(text)?.[1];
    expect(burn).toMatch(/^\d+(\.\d{1,2})?$/);
    expect(text).toMatch(/100 <bdi>message<\/bdi> will expire unused/);
    expect(text).toMatch(/<input type="date" name="as_of"/);
    // 06-15, end of day: A 500 − 100 − 150 = 250, B 100
    const then = await fetch(`${app.baseUrl}/ui/clients/${client}?as_of=2026-06-15`, { headers: auth });
    const thenText = await then.text();
    expect(then.status).toBe(200);
    expect(thenText).toMatch(/Balances as of <time datetime="2026-06-15T23:59:59.999Z">15 Jun 2026, 23:59<\/time>/);
    expect(thenText).toContain('Remaining <strong>350</strong>');
    expect(thenText).not.toContain('runs out around');
  });

  it("a period renewed ahead: its balances carry the burn on from the period's end", async () => {
    // 09-01: a month of 40 (until 10-01); 09-02: 30 used; on 09-21, 30 days back: 1 a day, 10 left = 10 days
    at('2026-09-01T00:00:00.000Z');
    const renewing = (await createClient(app)).id;
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 40 }]);
    const sub = await subscribe(app, renewing, pkg.code, { auto_renew: false });
    at('2026-09-02T00:00:00.000Z');
    await consume(renewing, 30, 'r1');
    at('2026-09-21T00:00:00.000Z');
    const forecastFor = async () => {
      const res = await app.request('GET', `/v1/clients/${renewing}/forecast?credit_type=${sms.code}`, {
        key: app.keys.read,
      });
      expect(res.status, res.text).toBe(200);
      return res.body;
    };
    expect(await forecastFor()).toMatchObject({
      remaining: '10',
      burn_per_day: '1',
      days_until_empty: 10,
      empty_at: '2026-10-01T00:00:00.000Z',
      expiring_unused: [],
    });
    // renewed now: the next period (10-01 → 11-01, 40 more) is granted ahead, valid from 10-01
    const renewed = await app.request('POST', `/v1/subscriptions/${sub.id}/renew?wait=true`, { key: app.keys.write });
    expect(renewed.status, renewed.text).toBe(200);
    const next = (
      (await app.request('GET', `/v1/subscriptions/${sub.id}`, { key: app.keys.read })).body.balances as Array<{
        id: string;
        valid_from: string;
      }>
    ).find((b) => b.valid_from === '2026-10-01T00:00:00.000Z');
    expect(next).toBeDefined();
    // 10 spent by 10-01, then 1 a day of the next 40 until it ends on 11-01 (31 days): 9 expire unused then
    expect(await forecastFor()).toMatchObject({
      remaining: '10',
      days_until_empty: 41,
      empty_at: '2026-11-01T00:00:00.000Z',
      expiring_unused: [{ balance_id: next!.id, expires_at: '2026-11-01T00:00:00.000Z', units: '9' }],
    });
  });

  it('an unknown credit type is 404, a bad window 422', async () => {
    expect((await app.request('GET', `/v1/clients/${client}/forecast?credit_type=nope`)).status).toBe(404);
    expect(
      (await app.request('GET', `/v1/clients/${client}/forecast?credit_type=${sms.code}&window_days=0`)).status,
    ).toBe(422);
    expect((await app.request('GET', `/v1/clients/${client}/forecast`)).status).toBe(422);
  });
});

describe('dimensions: credit types declare them, consumptions keep their values, usage groups by them', () => {
  let client: string;
  let dim: { id: string; code: string };
  const use = async (quantity: string, key: string, metadata?: Record<string, unknown>) => {
    const res = await app.request('POST', '/v1/consumptions?wait=true', {
      key: app.keys.write,
      body: { client, credit_type: dim.code, quantity, idempotency_key: key, ...(metadata ? { metadata } : {}) },
    });
    expect(res.status, res.text).toBe(200);
    return res.body as { id: string };
  };
  const usage = async (query: string) => {
    const res = await app.request('GET', `/v1/clients/${client}/usage?credit_type=${dim.code}&${query}`, {
      key: app.keys.read,
    });
    expect(res.status, res.text).toBe(200);
    return res.body.data as Array<{ key: string; quantity: string }>;
  };
  const total = (rows: Array<{ quantity: string }>) => rows.reduce((s, r) => s + Number(r.quantity) * 10, 0) / 10;

  beforeAll(async () => {
    at('2026-07-01T09:00:00.000Z');
    dim = await createCreditType(app, { code: 'rs-dim', decimals: 1, dimensions: ['branch', 'employee'] });
    client = (await createClient(app)).id;
    await grant(client, 1000, '2027-01-01T00:00:00.000Z', { credit_type: dim.code });
    await use('10.5', 'd1', { branch: 'cairo', employee: 'e1' });
    await use('2', 'd2', { branch: 'cairo', note: 'x' });
    const alex = await use('4', 'd3', { branch: 'alex' });
    await use('3', 'd4');
    await use('1', 'd5', { branch: 7 }); // a number is kept as its text
    await use('1.5', 'd6', { branch: { nested: true } }); // not a value: (none)
    at('2026-07-03T09:00:00.000Z');
    await reverse(alex.id);
  });

  it('a credit type declares at most 5 well-formed keys, on POST and PATCH', async () => {
    expect(dim).toMatchObject({ dimensions: ['branch', 'employee'] });
    const bad = [['a', 'b', 'c', 'd', 'e', 'f'], ['Branch'], ['day'], ['branch', 'branch'], [''], 'branch'];
    for (const dimensions of bad) {
      const res = await app.request('POST', '/v1/credit-types', {
        body: { code: `rs-bad-${Math.random().toString(36).slice(2, 8)}`, name: 'x', unit: 'x', dimensions },
      });
      expect(res.status, JSON.stringify(dimensions)).toBe(422);
    }
    const other = await createCreditType(app);
    expect(other).toMatchObject({ dimensions: [] });
    const patched = await app.request('PATCH', `/v1/credit-types/${other.code}`, {
      body: { dimensions: ['region', 'employee_id'] },
    });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body.dimensions).toEqual(['region', 'employee_id']);
    expect((await app.request('PATCH', `/v1/credit-types/${other.code}`, { body: { dimensions: ['X'] } })).status).toBe(
      422,
    );
  });

  it('a consumption keeps the values of the declared keys from its metadata', async () => {
    const rows = await app.database
      .db('consumptions')
      .where({ credit_type_id: dim.id })
      .orderBy('idempotency_key')
      .select('idempotency_key', 'dimensions');
    expect(rows.map((r) => [r.idempotency_key, r.dimensions])).toEqual([
      ['d1', { branch: 'cairo', employee: 'e1' }],
      ['d2', { branch: 'cairo' }],
      ['d3', { branch: 'alex' }],
      ['d4', null],
      ['d5', { branch: '7' }],
      ['d6', null],
    ]);
    const first = await app.request('GET', `/v1/consumptions?client=${client}&idempotency_key=d1`, {
      key: app.keys.read,
    });
    expect(first.body.data[0].dimensions).toEqual({ branch: 'cairo', employee: 'e1' });
  });

  it('by a dimension: a row per value, "(none)" last, net of reversals, summing to the ungrouped total', async () => {
    const byBranch = await usage('group_by=branch&from=2026-07-01&to=2026-07-31');
    expect(byBranch).toEqual([
      { key: '7', quantity: '1' },
      { key: 'alex', quantity: '0' },
      { key: 'cairo', quantity: '12.5' },
      { key: '(none)', quantity: '4.5' },
    ]);
    const byDay = await usage('group_by=day&from=2026-07-01&to=2026-07-31');
    expect(byDay).toEqual([
      { key: '2026-07-01', quantity: '22' },
      { key: '2026-07-03', quantity: '-4' },
    ]);
    const byEmployee = await usage('group_by=employee&from=2026-07-01&to=2026-07-31');
    expect(byEmployee).toEqual([
      { key: 'e1', quantity: '10.5' },
      { key: '(none)', quantity: '7.5' },
    ]);
    const byMonth = await usage('group_by=month&from=2026-07-01&to=2026-07-31');
    expect(byMonth).toEqual([{ key: '2026-07-01', quantity: '18' }]);
    for (const rows of [byBranch, byDay, byEmployee]) expect(total(rows)).toBe(18);
  });

  it("the consumption report's group_by takes a dimension: rows per value summing to the calendar totals", async () => {
    const params = { client, credit_type: dim.code, from: '2026-07-01', to: '2026-07-31' };
    const { rows } = await jsonRows<Record<string, string>>(app, {
      type: 'consumption',
      params: { ...params, group_by: 'branch' },
    });
    expect(rows.map((r) => [r.dimension, r.value, r.consumed, r.reversed, r.net])).toEqual([
      ['branch', '7', '1', '0', '1'],
      ['branch', 'alex', '4', '4', '0'],
      ['branch', 'cairo', '12.5', '0', '12.5'],
      ['branch', '(none)', '4.5', '0', '4.5'],
    ]);
    const byDay = await jsonRows<Record<string, string>>(app, { type: 'consumption', params });
    expect(total(byDay.rows.map((r) => ({ quantity: r.net! })))).toBe(18);
    expect(total(rows.map((r) => ({ quantity: r.net! })))).toBe(18);
    const refused = await app.request('POST', '/v1/reports', {
      key: app.keys.write,
      body: { type: 'consumption', params: { ...params, group_by: 'region' } },
    });
    expect(refused.status, refused.text).toBe(422);
    const noType = await app.request('POST', '/v1/reports', {
      key: app.keys.write,
      body: { type: 'consumption', params: { group_by: 'branch' } },
    });
    expect(noType.status, noType.text).toBe(422);
  });

  it('the default range is the last 30 days; an undeclared group_by or a bad range is 422', async () => {
    expect(total(await usage('group_by=branch'))).toBe(18);
    for (const query of ['group_by=region', 'group_by=branch&from=2026-08-01&to=2026-07-01', 'to=yesterday']) {
      const res = await app.request('GET', `/v1/clients/${client}/usage?credit_type=${dim.code}&${query}`);
      expect(res.status, query).toBe(422);
    }
    expect((await app.request('GET', `/v1/clients/${client}/usage?credit_type=nope`)).status).toBe(404);
  });
});
