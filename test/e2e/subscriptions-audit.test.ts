import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NO_NIGHTLY_REPORTS, startTestApp, type TestApp, type TestResponse } from '../helpers/app.js';
import { commerceScene } from '../helpers/commerce-scene.js';
import { recyclingDatabase } from '../helpers/database.js';
import { closeVerified, httpSteps } from '../helpers/http-steps.js';

/**
 * An audit of subscriptions and money over HTTP with a moved clock: buying, renewing (by hand and by the
 * nightly run), recharging, invoicing across a year, package changes after sale, suspension and
 * cancellation, month-end periods. Each test has a service of its own (the nightly run looks at every
 * subscription of its database). Expected numbers are worked out by hand in the comments; BUSINESS_TZ is UTC.
 */
let app: TestApp;
// one database, emptied for each test (a clone per test cost more than most tests)
const databases = recyclingDatabase();
afterAll(() => databases.drop());
beforeEach(async () => {
  app = await startTestApp({
    database: await databases.next(),
    roles: ['api', 'worker'],
    now: '2026-01-31T00:00:00.000Z',
    env: NO_NIGHTLY_REPORTS,
  });
});
afterEach(async () => {
  await closeVerified(app);
});

const { call, ok, clockTo, nightly } = httpSteps(() => app);

type Invoice = { number: string; kind: string; total: number; currency: string; lines: Array<{ amount: number }> };

const scene = commerceScene(ok);
const { catalog, pack, buy } = scene;
const invoices = () => scene.invoices<Invoice>();
const sub = (id: string) => ok('GET', `/v1/subscriptions/${id}`);
const remaining = async (code: string) =>
  (await ok('GET', '/v1/clients/c1/balances')).data.find(
    (r: { credit_type: { code: string } }) => r.credit_type.code === code,
  )?.remaining;
const consume = (credit_type: string, quantity: number | string, key: string) =>
  call('POST', '/v1/consumptions?wait=true', { client: 'c1', credit_type, quantity, idempotency_key: key });
const expectProblem = (res: TestResponse, status: number, code: string) => {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status, code });
  expect(typeof res.body.title).toBe('string');
  expect(typeof res.body.type).toBe('string');
  expect(typeof res.body.detail).toBe('string');
};

describe('renewal at the period end, by hand and by the nightly run', () => {
  it('31 Jan + 1 month is 28 Feb; renewing at exactly 28 Feb 00:00 then the nightly run renews once', async () => {
    await catalog();
    await pack('p1');
    const s = await buy('p1', { auto_renew: true });
    // anchor 01-31 00:00: [01-31, 02-28) — 2026 is not a leap year
    expect(s).toMatchObject({
      current_period_start: '2026-01-31T00:00:00.000Z',
      current_period_end: '2026-02-28T00:00:00.000Z',
    });
    expect(s.invoice).toMatchObject({ kind: 'subscription', total: 1999, currency: 'USD', number: 'INV-2026-000001' });

    await clockTo('2026-02-28T00:00:00.000Z');
    const r = await ok('POST', `/v1/subscriptions/${s.id}/renew?wait=true`, {});
    // the next period comes from the anchor: 01-31 + 2 months = 03-31 (not 02-28 + 1 month = 03-28)
    expect(r).toMatchObject({
      status: 'renewed',
      period_start: '2026-02-28T00:00:00.000Z',
      period_end: '2026-03-31T00:00:00.000Z',
      price: 1999,
      currency: 'USD',
      late: false,
    });
    await nightly();
    await nightly();
    const after = await sub(s.id);
    expect(after).toMatchObject({ renewal_count: 1, current_period_end: '2026-03-31T00:00:00.000Z' });
    // one sale + one renewal: two invoices, 1999 each
    expect((await invoices()).map((i) => [i.number, i.kind, i.total])).toEqual([
      ['INV-2026-000001', 'subscription', 1999],
      ['INV-2026-000002', 'renewal', 1999],
    ]);
    // old period's 100 sms expired at 02-28; the new one grants 100; 7.5 minutes likewise
    expect(await remaining('sms')).toBe('100');
    expect(await remaining('min')).toBe('7.5');
  });

  it('the nightly run renews an auto-renewing subscription once, twice in one night changes nothing', async () => {
    await catalog();
    await pack('p1', { auto_renew: true });
    const s = await buy('p1');
    await clockTo('2026-02-27T23:00:00.000Z');
    const first = await nightly();
    const count = async () => (await sub(s.id)).renewal_count;
    // the period ends 02-28 00:00, before the next run: renewed once, [02-28, 03-31)
    expect(await count()).toBe(1);
    expect((await sub(s.id)).current_period_end).toBe('2026-03-31T00:00:00.000Z');
    await nightly();
    await clockTo('2026-02-27T23:30:00.000Z');
    await nightly();
    expect(await count()).toBe(1);
    expect((await invoices()).map((i) => i.kind)).toEqual(['subscription', 'renewal']);
    expect(first.phases.length).toBeGreaterThan(0);
  });
});

describe('package changes after sale', () => {
  it('a renewal takes the new package price unless the subscription has its own; units stay the snapshot', async () => {
    await catalog();
    await pack('p1');
    const follows = await buy('p1');
    const own = await buy('p1', { price: 1500 });
    const changes = await buy('p1', { apply_package_changes: true });
    await ok('PATCH', '/v1/packages/p1', {
      price: 2500,
      items: [
        { credit_type: 'sms', units: 40 },
        { credit_type: 'min', units: '0.5' },
      ],
    });
    await clockTo('2026-02-10T00:00:00.000Z');
    const renew = (id: string) => ok('POST', `/v1/subscriptions/${id}/renew?wait=true`, {});
    const granted = (r: { balances: Array<{ credit_type: { code: string }; granted: string }> }) =>
      Object.fromEntries(r.balances.map((b) => [b.credit_type.code, b.granted]));
    // kept the package price: the new 2500; the snapshot 100 sms + 7.5 min
    const a = await renew(follows.id);
    expect(a.price).toBe(2500);
    expect(granted(a)).toEqual({ sms: '100', min: '7.5' });
    // its own 1500, the snapshot units
    const b = await renew(own.id);
    expect(b.price).toBe(1500);
    expect(granted(b)).toEqual({ sms: '100', min: '7.5' });
    // apply_package_changes: 40 sms + 0.5 min, at the package price 2500
    const c = await renew(changes.id);
    expect(c.price).toBe(2500);
    expect(granted(c)).toEqual({ sms: '40', min: '0.5' });
    const all = await invoices();
    // 3 sales (1999, 1500, 1999) then 3 renewals (2500, 1500, 2500)
    expect(all.map((i) => i.total)).toEqual([1999, 1500, 1999, 2500, 1500, 2500]);
    for (const i of all) expect(i.total).toBe(i.lines.reduce((s, l) => s + l.amount, 0));
  });
});

describe('recharge', () => {
  it('a recharge of a partly used balance, then a renewal: units and invoice amounts exact', async () => {
    await catalog();
    await pack('p1', { recharge_price: 799 });
    const s = await buy('p1');
    await clockTo('2026-02-10T00:00:00.000Z');
    expect((await consume('sms', 70, 'u1')).status).toBe(200);
    expect((await consume('min', '7.4', 'u2')).status).toBe(200);
    // 100 − 70 = 30 sms, 7.5 − 7.4 = 0.1 min
    expect(await remaining('sms')).toBe('30');
    expect(await remaining('min')).toBe('0.1');
    const rc = await ok('POST', `/v1/subscriptions/${s.id}/recharge?wait=true`, {});
    // one package's worth of every item, valid 02-10 → 02-28, invoiced at recharge_price 799
    expect(rc).toMatchObject({ status: 'recharged', price: 799, currency: 'USD' });
    expect(rc.balances).toMatchObject([
      {
        credit_type: { code: 'sms' },
        granted: '100',
        valid_from: '2026-02-10T00:00:00.000Z',
        expires_at: '2026-02-28T00:00:00.000Z',
      },
      { credit_type: { code: 'min' }, granted: '7.5', expires_at: '2026-02-28T00:00:00.000Z' },
    ]);
    // 30 + 100 = 130 sms; 0.1 + 7.5 = 7.6 min
    expect(await remaining('sms')).toBe('130');
    expect(await remaining('min')).toBe('7.6');
    // 45 sms: the package balance's 30 (same priority, same expiry, older) then 15 of the recharge → 85
    expect((await consume('sms', 45, 'u3')).status).toBe(200);
    expect(await remaining('sms')).toBe('85');

    const r = await ok('POST', `/v1/subscriptions/${s.id}/renew?wait=true`, {});
    expect(r).toMatchObject({ status: 'renewed', price: 1999, period_start: '2026-02-28T00:00:00.000Z' });
    // the renewal is early: the old period's 85 sms stay usable until 02-28, the new 100 come on top
    // but are not valid before 02-28 → usable now 85 sms, 7.6 min
    expect(await remaining('sms')).toBe('85');
    await clockTo('2026-03-01T00:00:00.000Z');
    await nightly();
    // the rollover policy is none: 85 expired, the new period's 100 sms and 7.5 min remain
    expect(await remaining('sms')).toBe('100');
    expect(await remaining('min')).toBe('7.5');
    const all = await invoices();
    expect(all.map((i) => [i.kind, i.total, i.currency])).toEqual([
      ['subscription', 1999, 'USD'],
      ['recharge', 799, 'USD'],
      ['renewal', 1999, 'USD'],
    ]);
  });

  it('a recharge with nothing used adds a full package worth; a given fee and items are taken as given', async () => {
    await catalog();
    await pack('p1');
    const s = await buy('p1');
    // no recharge_price: the price 1999
    const rc = await ok('POST', `/v1/subscriptions/${s.id}/recharge?wait=true`, {});
    expect(rc).toMatchObject({ status: 'recharged', price: 1999 });
    // 100 + 100
    expect(await remaining('sms')).toBe('200');
    const given = await ok('POST', `/v1/subscriptions/${s.id}/recharge?wait=true`, {
      items: [{ credit_type: 'min', units: '0.3' }],
      price: 7,
    });
    expect(given).toMatchObject({ status: 'recharged', price: 7 });
    // 7.5 + 7.5 + 0.3 = 15.3
    expect(await remaining('min')).toBe('15.3');
    const bad = await call('POST', `/v1/subscriptions/${s.id}/recharge?wait=true`, {
      items: [{ credit_type: 'min', units: '0.25' }],
    });
    expectProblem(bad, 422, 'validation_failed');
  });
});

describe('invoices across a year boundary', () => {
  it('numbers restart at 000001 on 1 January, gap-free; the Dec 31 nightly renewal is a 2026 invoice', async () => {
    app.clock.set('2026-12-30T10:00:00.000Z');
    await catalog();
    await pack('d1', { validity: { count: 1, unit: 'day' }, auto_renew: true, price: 333, currency: 'JPY' });
    const s = await buy('d1');
    // [12-30 10:00, 12-31 10:00)
    expect(s.invoice).toMatchObject({ number: 'INV-2026-000001', total: 333, currency: 'JPY' });
    // the nightly run renews what ends before now + 26 h (the daily cron's 24 h + 2 h of slack)
    await clockTo('2026-12-30T23:00:00.000Z');
    // ends 12-31 10:00 < 12-31 01:00 + 24 h: renewed on 12-30, a 2026 invoice; [12-31 10:00, 01-01 10:00)
    await nightly();
    await clockTo('2026-12-31T23:59:59.000Z');
    // ends 01-01 10:00 < 01-02 01:59:59: renewed at 12-31 23:59:59, still 2026; [01-01 10:00, 01-02 10:00)
    await nightly();
    await clockTo('2027-01-01T00:00:00.000Z');
    // bought 01-01 00:00: [01-01, 01-02 00:00), the first 2027 number
    await buy('d1');
    // horizon 01-02 02:00: renews the new one (ends 01-02 00:00), not the first (ends 01-02 10:00)
    await nightly();
    await clockTo('2027-01-01T09:00:00.000Z');
    await buy('d1');
    const all = await invoices();
    expect(all.map((i) => [i.number, i.kind, i.total, i.currency])).toEqual([
      ['INV-2026-000001', 'subscription', 333, 'JPY'],
      ['INV-2026-000002', 'renewal', 333, 'JPY'],
      ['INV-2026-000003', 'renewal', 333, 'JPY'],
      ['INV-2027-000001', 'subscription', 333, 'JPY'],
      ['INV-2027-000002', 'renewal', 333, 'JPY'],
      ['INV-2027-000003', 'subscription', 333, 'JPY'],
    ]);
    for (const i of all) expect(i.total).toBe(i.lines.reduce((sum, l) => sum + l.amount, 0));
    expect((await sub(s.id)).renewal_count).toBe(2);
  });
});

describe('suspension and cancellation mid-period', () => {
  it('suspended: not usable, renew and recharge 409; resumed: usable; cancelled: void, 409', async () => {
    await catalog();
    await pack('p1');
    const s = await buy('p1');
    await clockTo('2026-02-05T00:00:00.000Z');
    expect((await consume('sms', 10, 'a')).status).toBe(200);
    await ok('PATCH', `/v1/subscriptions/${s.id}`, { status: 'suspended' });
    expectProblem(await consume('sms', 1, 'b'), 422, 'insufficient_balance');
    expectProblem(await call('POST', `/v1/subscriptions/${s.id}/renew`, {}), 409, 'conflict');
    expectProblem(await call('POST', `/v1/subscriptions/${s.id}/recharge`, {}), 409, 'conflict');
    await ok('PATCH', `/v1/subscriptions/${s.id}`, { status: 'active' });
    // 100 − 10 − 1 = 89
    expect((await consume('sms', 1, 'c')).status).toBe(200);
    expect(await remaining('sms')).toBe('89');
    const cancelled = await ok('POST', `/v1/subscriptions/${s.id}/cancel`, { at: 'now' });
    expect(cancelled.status).toBe('cancelled');
    expect((await ok('POST', `/v1/subscriptions/${s.id}/cancel`, { at: 'now' })).status).toBe('cancelled');
    expect(await remaining('sms')).toBe('0');
    expectProblem(await call('POST', `/v1/subscriptions/${s.id}/renew`, {}), 409, 'conflict');
    expectProblem(await call('POST', `/v1/subscriptions/${s.id}/recharge`, {}), 409, 'conflict');
    expectProblem(
      await call('POST', '/v1/subscriptions/00000000-0000-4000-8000-000000000000/renew', {}),
      404,
      'not_found',
    );
    await nightly();
    // only the sale was invoiced
    expect((await invoices()).map((i) => i.kind)).toEqual(['subscription']);
  });

  it('cancel at period end: usable until the end, renewal refused, nothing renewed at night', async () => {
    await catalog();
    await pack('p1', { auto_renew: true });
    const s = await buy('p1');
    await ok('POST', `/v1/subscriptions/${s.id}/cancel`, { at: 'period_end' });
    expect((await consume('sms', 5, 'a')).status).toBe(200);
    expectProblem(await call('POST', `/v1/subscriptions/${s.id}/renew`, {}), 409, 'conflict');
    await clockTo('2026-02-27T23:00:00.000Z');
    await nightly();
    await clockTo('2026-02-28T23:00:00.000Z');
    await nightly();
    expect((await sub(s.id)).status).toBe('cancelled');
    expect((await invoices()).map((i) => i.kind)).toEqual(['subscription']);
  });

  it('an expired subscription renewed by hand starts a late period now', async () => {
    await catalog();
    await pack('p1');
    const s = await buy('p1');
    await clockTo('2026-03-03T12:00:00.000Z');
    await nightly();
    expect((await sub(s.id)).status).toBe('expired');
    const r = await ok('POST', `/v1/subscriptions/${s.id}/renew?wait=true`, {});
    // late: [03-03 12:00, 04-03 12:00)
    expect(r).toMatchObject({
      status: 'renewed',
      late: true,
      period_start: '2026-03-03T12:00:00.000Z',
      period_end: '2026-04-03T12:00:00.000Z',
    });
    expect(await remaining('sms')).toBe('100');
  });
});

describe('a leap year', () => {
  it('31 Jan 2028 + 1 month is 29 Feb; the renewal returns to the 31st', async () => {
    app.clock.set('2028-01-31T00:00:00.000Z');
    await catalog();
    await pack('p1');
    const s = await buy('p1');
    expect(s.current_period_end).toBe('2028-02-29T00:00:00.000Z');
    expect(s.invoice.number).toBe('INV-2028-000001');
    const r = await ok('POST', `/v1/subscriptions/${s.id}/renew?wait=true`, {});
    expect(r).toMatchObject({ period_start: '2028-02-29T00:00:00.000Z', period_end: '2028-03-31T00:00:00.000Z' });
  });
});

describe('a recharge the job can only refuse is refused at once', () => {
  it('too many decimals, an unknown credit type, a fee above 10^15: 422 without ?wait, no job', async () => {
    await catalog();
    await pack('p1');
    const s = await buy('p1');
    const recharge = (body: Record<string, unknown>) => call('POST', `/v1/subscriptions/${s.id}/recharge`, body);
    // `min` has 1 decimal: 0.25 has 2 → 422 as a consumption of 0.25 min is, not a 202 for a job that fails
    const decimals = await recharge({ items: [{ credit_type: 'min', units: '0.25' }] });
    expectProblem(decimals, 422, 'validation_failed');
    expect(decimals.body.errors).toEqual([{ field: 'items.0.units', message: 'allows at most 1 decimal place' }]);
    const unknown = await recharge({ items: [{ credit_type: 'nope', units: 1 }] });
    expectProblem(unknown, 422, 'validation_failed');
    expect(unknown.body.errors).toEqual([{ field: 'items.0.credit_type', message: 'no credit type "nope"' }]);
    // 16 digits pass the body's pattern, but money is at most 10^15 minor units
    expectProblem(await recharge({ price: '9999999999999999' }), 422, 'validation_failed');
    // nothing was invoiced; a good recharge still goes through: 7.5 + 0.2 = 7.7 min
    expect(
      (
        await ok('POST', `/v1/subscriptions/${s.id}/recharge?wait=true`, {
          items: [{ credit_type: 'min', units: '0.2' }],
        })
      ).price,
    ).toBe(1999);
    expect(await remaining('min')).toBe('7.7');
    expect((await invoices()).map((i) => i.kind)).toEqual(['subscription', 'recharge']);
  });
});

describe('a recharge after the period ended', () => {
  it('is 409 at once without ?wait, as the job would answer; after the renewal it goes through', async () => {
    await catalog();
    await pack('p1', { recharge_price: 500 });
    const s = await buy('p1');
    // [01-31, 02-28): at exactly 02-28 00:00 the period is over and nothing renewed it yet
    await clockTo('2026-02-28T00:00:00.000Z');
    expectProblem(await call('POST', `/v1/subscriptions/${s.id}/recharge?wait=true`, {}), 409, 'conflict');
    expectProblem(await call('POST', `/v1/subscriptions/${s.id}/recharge`, {}), 409, 'conflict');
    await ok('POST', `/v1/subscriptions/${s.id}/renew?wait=true`, {});
    // [02-28, 03-31): valid from now to 03-31
    const rc = await ok('POST', `/v1/subscriptions/${s.id}/recharge?wait=true`, {});
    expect(rc.balances[0]).toMatchObject({
      valid_from: '2026-02-28T00:00:00.000Z',
      expires_at: '2026-03-31T00:00:00.000Z',
    });
    expect((await invoices()).map((i) => [i.kind, i.total])).toEqual([
      ['subscription', 1999],
      ['renewal', 1999],
      ['recharge', 500],
    ]);
  });
});

describe('a frozen subscription', () => {
  it('is not renewed: 409 at once without ?wait, as the job would answer; unfrozen, it renews', async () => {
    await catalog();
    await pack('p1', { max_freeze_days: 10 });
    const s = await buy('p1');
    await clockTo('2026-02-01T00:00:00.000Z');
    expect(await ok('POST', `/v1/subscriptions/${s.id}/freeze`, { days: 5 })).toMatchObject({ status: 'frozen' });
    expectProblem(await call('POST', `/v1/subscriptions/${s.id}/renew?wait=true`, {}), 409, 'conflict');
    expectProblem(await call('POST', `/v1/subscriptions/${s.id}/renew`, {}), 409, 'conflict');
    expectProblem(await call('POST', `/v1/subscriptions/${s.id}/recharge`, {}), 409, 'conflict');
    await clockTo('2026-02-03T00:00:00.000Z');
    // frozen 2 days: the period end moves from 02-28 to 03-02
    expect(await ok('POST', `/v1/subscriptions/${s.id}/unfreeze`, {})).toMatchObject({
      status: 'active',
      current_period_end: '2026-03-02T00:00:00.000Z',
    });
    const r = await ok('POST', `/v1/subscriptions/${s.id}/renew?wait=true`, {});
    expect(r).toMatchObject({ status: 'renewed', period_start: '2026-03-02T00:00:00.000Z', price: 1999 });
    expect((await invoices()).map((i) => i.kind)).toEqual(['subscription', 'renewal']);
  });
});

describe('a recharge of a subscription bought to start later', () => {
  it('is valid from the period start, not before it: nothing is spent before the subscription starts', async () => {
    await catalog();
    await pack('p1', { recharge_price: 500 });
    // bought on 01-31 for [03-15, 04-15)
    const later = await buy('p1', { starts_at: '2026-03-15T00:00:00Z' });
    expect(later).toMatchObject({
      current_period_start: '2026-03-15T00:00:00.000Z',
      current_period_end: '2026-04-15T00:00:00.000Z',
    });
    const rc = await ok('POST', `/v1/subscriptions/${later.id}/recharge?wait=true`, {});
    // valid [03-15, 04-15) like the package's own units, not [01-31, 04-15)
    expect(rc.balances).toMatchObject([
      { credit_type: { code: 'sms' }, granted: '100', valid_from: '2026-03-15T00:00:00.000Z' },
      { credit_type: { code: 'min' }, granted: '7.5', valid_from: '2026-03-15T00:00:00.000Z' },
    ]);
    expect(await ok('GET', `/v1/invoices/${rc.invoice_id}`)).toMatchObject({
      kind: 'recharge',
      total: 500,
      period_start: '2026-03-15T00:00:00.000Z',
      period_end: '2026-04-15T00:00:00.000Z',
    });
    await clockTo('2026-02-01T00:00:00.000Z');
    expectProblem(await consume('sms', 1, 'too-soon'), 422, 'insufficient_balance');
    await clockTo('2026-03-15T00:00:00.000Z');
    // 100 of the package + 100 of the recharge
    expect(await remaining('sms')).toBe('200');
  });

  it('a subscription renewed ahead is recharged from now until the end of its latest period', async () => {
    await catalog();
    await pack('p1', { recharge_price: 500 });
    const s = await buy('p1');
    await clockTo('2026-02-10T00:00:00.000Z');
    await ok('POST', `/v1/subscriptions/${s.id}/renew?wait=true`, {});
    // API.md: the current period is the latest paid for, [02-28, 03-31); now (02-10) lies in the first one
    const rc = await ok('POST', `/v1/subscriptions/${s.id}/recharge?wait=true`, {});
    expect(rc.balances[0]).toMatchObject({
      valid_from: '2026-02-10T00:00:00.000Z',
      expires_at: '2026-03-31T00:00:00.000Z',
    });
    // 100 of the first period + 100 of the recharge usable now (the renewal's 100 from 02-28)
    expect(await remaining('sms')).toBe('200');
  });
});

describe('concurrency', () => {
  it('8 sales at once, 4 renewals by hand racing the nightly run: 16 gap-free numbers, one renewal each', async () => {
    await catalog();
    await pack('p1', { auto_renew: true });
    const subs = await Promise.all(Array.from({ length: 8 }, () => buy('p1')));
    // an archived package is no longer sold (409), but its subscriptions still renew
    await ok('PATCH', '/v1/packages/p1', { status: 'archived' });
    expectProblem(await call('POST', '/v1/subscriptions', { client: 'c1', package: 'p1' }), 409, 'conflict');
    await clockTo('2026-02-27T23:00:00.000Z');
    const byHand = Promise.all(
      subs.slice(0, 4).map((x) => call('POST', `/v1/subscriptions/${x.id}/renew?wait=true`, {})),
    );
    const night = nightly();
    for (const r of await byHand) expect(r.status, r.text).toBe(200);
    await night;
    await nightly();
    for (const x of subs) {
      expect(await sub(x.id)).toMatchObject({ renewal_count: 1, current_period_end: '2026-03-31T00:00:00.000Z' });
    }
    // 8 sales + 8 renewals = 16 numbers, 1 to 16 with no gap
    const numbers = (await invoices()).map((i) => i.number);
    expect(numbers).toEqual(Array.from({ length: 16 }, (_, k) => `INV-2026-${String(k + 1).padStart(6, '0')}`));
  });
});
