import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyInvariants } from '../../src/services/verify.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, snapshotCounts, subscribe } from '../helpers/fixtures.js';

/**
 * A package whose validity is counted in Hijri months (issue 18), over HTTP with a moved clock, in a business
 * zone of Hijri users (Asia/Riyadh, UTC+3, no DST). The dates are the published Umm al-Qura ones:
 * 1 Ramadan 1447 = 2026-02-18, 1 Shawwal 1447 = 2026-03-20 (Ramadan 1447 has 30 days), 1 Dhu al-Qadah 1447 =
 * 2026-04-18 (Shawwal 1447 has 29 days); midnight in Riyadh is 21:00 UTC the day before.
 */
const RAMADAN_1 = '2026-02-17T21:00:00.000Z'; // 1 Ramadan 1447, 00:00 in Riyadh
const SHAWWAL_1 = '2026-03-19T21:00:00.000Z'; // 1 Shawwal 1447, 00:00 in Riyadh
const DHU_AL_QADAH_1 = '2026-04-17T21:00:00.000Z'; // 1 Dhu al-Qadah 1447, 00:00 in Riyadh
const HIJRI_MONTH = { count: 1, unit: 'month', calendar: 'islamic-umalqura' } as const;

let app: TestApp;
let sms: { id: string; code: string };
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: RAMADAN_1, env: { BUSINESS_TZ: 'Asia/Riyadh' } });
  sms = await createCreditType(app, { code: 'hj-sms', unit: 'message' });
});
afterAll(async () => {
  const report = await verifyInvariants(app.database.db);
  expect(report.violations).toEqual([]);
  await app.close();
});

const at = (iso: string) => app.clock.set(iso);
const renew = (id: string) => app.request('POST', `/v1/subscriptions/${id}/renew?wait=true`, { key: app.keys.write });
const view = async (id: string) => (await app.request('GET', `/v1/subscriptions/${id}`, { key: app.keys.read })).body;
const hijriPackage = (body: Record<string, unknown> = {}) =>
  createPackage(app, [{ credit_type: sms.code, units: 30 }], { validity: HIJRI_MONTH, ...body });

describe('a package validity counted in Hijri months', () => {
  it('is created and shown with its calendar; a Gregorian one says gregory', async () => {
    const pkg = await hijriPackage();
    const got = await app.request('GET', `/v1/packages/${pkg.code}`, { key: app.keys.read });
    expect(got.status).toBe(200);
    expect(got.body.validity).toEqual(HIJRI_MONTH);
    const gregorian = await createPackage(app, [{ credit_type: sms.code, units: 30 }]);
    expect((gregorian as unknown as { validity: unknown }).validity).toEqual({
      count: 1,
      unit: 'month',
      calendar: 'gregory',
    });
    const year = await createPackage(app, [{ credit_type: sms.code, units: 30 }], {
      validity: { count: 1, unit: 'year', calendar: 'islamic-umalqura' },
    });
    expect((year as unknown as { validity: unknown }).validity).toMatchObject({ unit: 'year' });
  });

  it.each([
    [{ count: 7, unit: 'day', calendar: 'islamic-umalqura' }, 'validity.calendar', /a month or a year only/],
    [{ count: 2, unit: 'week', calendar: 'islamic-umalqura' }, 'validity.calendar', /a month or a year only/],
    [{ count: 1, unit: 'month', calendar: 'islamic' }, 'validity.calendar', /./],
    [{ count: 1, unit: 'month', calendar: 'hijri' }, 'validity.calendar', /./],
  ])('refuses %o with 422 on %s and writes nothing', async (validity, field, message) => {
    const before = await snapshotCounts(app, ['packages', 'package_items']);
    const res = await app.request('POST', '/v1/packages', {
      body: {
        code: `hj-bad-${Math.random().toString(36).slice(2, 8)}`,
        name: 'Bad',
        price: 100,
        currency: 'SAR',
        validity,
        items: [{ credit_type: sms.code, units: 1 }],
      },
    });
    expect(res.status, res.text).toBe(422);
    expect(res.body.code).toBe('validation_failed');
    const problem = res.body.errors.find((e: { field: string }) => e.field === field);
    expect(problem, res.text).toBeDefined();
    expect(problem.message).toMatch(message);
    expect(await snapshotCounts(app, ['packages', 'package_items'])).toEqual(before);
  });

  it(
    'subscribed on 1 Ramadan 1447 ends at 1 Shawwal; renewed, at 1 Dhu al-Qadah; ' +
      'a Gregorian package bought at the same time is unchanged',
    async () => {
      at(RAMADAN_1);
      const pkg = await hijriPackage({ price: 5000, currency: 'SAR' });
      const gregorian = await createPackage(app, [{ credit_type: sms.code, units: 30 }]);
      const client = await createClient(app, { name: 'عميل رمضان' });

      const sub = await subscribe(app, client.id, pkg.code);
      expect(sub).toMatchObject({ current_period_start: RAMADAN_1, current_period_end: SHAWWAL_1 });
      expect(sub.balances.map((b) => b.expires_at)).toEqual([SHAWWAL_1]);
      expect((await view(sub.id)).validity).toEqual(HIJRI_MONTH);
      // 30 days: Ramadan 1447 has 30
      expect((Date.parse(SHAWWAL_1) - Date.parse(RAMADAN_1)) / 86_400_000).toBe(30);

      const renewed = await renew(sub.id);
      expect(renewed.status, renewed.text).toBe(200);
      expect(renewed.body).toMatchObject({ status: 'renewed', period_start: SHAWWAL_1, period_end: DHU_AL_QADAH_1 });
      // 29 days: Shawwal 1447 has 29
      expect((Date.parse(DHU_AL_QADAH_1) - Date.parse(SHAWWAL_1)) / 86_400_000).toBe(29);
      expect(await view(sub.id)).toMatchObject({
        current_period_start: SHAWWAL_1,
        current_period_end: DHU_AL_QADAH_1,
        renewal_count: 1,
        validity: HIJRI_MONTH,
      });
      const periods = await app.database
        .db('subscription_periods')
        .where({ subscription_id: sub.id })
        .orderBy('starts_at');
      expect(periods.map((p) => [p.starts_at.toISOString(), p.ends_at.toISOString()])).toEqual([
        [RAMADAN_1, SHAWWAL_1],
        [SHAWWAL_1, DHU_AL_QADAH_1],
      ]);

      // 18 February + 1 Gregorian month = 18 March, midnight in Riyadh
      const plain = await subscribe(app, client.id, gregorian.code);
      expect(plain).toMatchObject({ current_period_start: RAMADAN_1, current_period_end: '2026-03-17T21:00:00.000Z' });
      expect((await view(plain.id)).validity).toEqual({ count: 1, unit: 'month', calendar: 'gregory' });
      const plainRenewed = await renew(plain.id);
      expect(plainRenewed.body).toMatchObject({
        period_start: '2026-03-17T21:00:00.000Z',
        period_end: '2026-04-17T21:00:00.000Z', // 18 April, which happens to be 1 Dhu al-Qadah too
      });
    },
  );

  it('a subscription keeps its snapshot of a changed validity, unless it follows the package', async () => {
    at(RAMADAN_1);
    const pkg = await hijriPackage();
    const client = await createClient(app);
    const snapshot = await subscribe(app, client.id, pkg.code);
    const following = await subscribe(app, client.id, pkg.code, { apply_package_changes: true });
    // the validity is replaced whole: given without a calendar it is Gregorian again
    const patched = await app.request('PATCH', `/v1/packages/${pkg.code}`, {
      body: { validity: { count: 1, unit: 'month' } },
    });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body.validity).toEqual({ count: 1, unit: 'month', calendar: 'gregory' });

    expect((await renew(snapshot.id)).body).toMatchObject({ period_start: SHAWWAL_1, period_end: DHU_AL_QADAH_1 });
    expect((await view(snapshot.id)).validity).toEqual(HIJRI_MONTH);
    // the follower takes the Gregorian month from where its Hijri period ended: 20 March → 20 April (Riyadh)
    expect((await renew(following.id)).body).toMatchObject({
      period_start: SHAWWAL_1,
      period_end: '2026-04-19T21:00:00.000Z',
    });
    expect((await view(following.id)).validity).toEqual({ count: 1, unit: 'month', calendar: 'gregory' });

    // a PATCH to a Hijri week is refused, and changes nothing
    const bad = await app.request('PATCH', `/v1/packages/${pkg.code}`, {
      body: { validity: { count: 1, unit: 'week', calendar: 'islamic-umalqura' } },
    });
    expect(bad.status).toBe(422);
    expect(bad.body.errors).toEqual([expect.objectContaining({ field: 'validity.calendar' })]);
    const back = await app.request('PATCH', `/v1/packages/${pkg.code}`, { body: { validity: HIJRI_MONTH } });
    expect(back.body.validity).toEqual(HIJRI_MONTH);
  });

  it('a subscription paid for late starts its Hijri month on the day of payment', async () => {
    at(RAMADAN_1);
    const pkg = await hijriPackage();
    const client = await createClient(app);
    const sub = await subscribe(app, client.id, pkg.code, { activation: 'on_payment' });
    expect(sub.current_period_end).toBe(SHAWWAL_1);
    at('2026-02-20T06:00:00.000Z'); // 3 Ramadan, 09:00 in Riyadh
    const paid = await app.request('POST', `/v1/invoices/${sub.invoice.id}/pay`, { key: app.keys.write, body: {} });
    expect(paid.status, paid.text).toBe(200);
    // 3 Shawwal 1447, 09:00 in Riyadh
    expect(await view(sub.id)).toMatchObject({
      status: 'active',
      current_period_start: '2026-02-20T06:00:00.000Z',
      current_period_end: '2026-03-22T06:00:00.000Z',
    });
  });

  it('a freeze pushes the Hijri period by the exact frozen time, and a recharge lasts until its end', async () => {
    at(RAMADAN_1);
    const pkg = await hijriPackage({ max_freeze_days: 10 });
    const client = await createClient(app);
    const sub = await subscribe(app, client.id, pkg.code);

    at('2026-02-20T21:00:00.000Z');
    const recharged = await app.request('POST', `/v1/subscriptions/${sub.id}/recharge?wait=true`, {
      key: app.keys.write,
    });
    expect(recharged.status, recharged.text).toBe(200);
    expect(recharged.body.balances).toEqual([expect.objectContaining({ expires_at: SHAWWAL_1 })]);

    const frozen = await app.request('POST', `/v1/subscriptions/${sub.id}/freeze`, {
      key: app.keys.write,
      body: { days: 5 },
    });
    expect(frozen.status, frozen.text).toBe(200);
    at('2026-02-22T09:00:00.000Z'); // 36 hours later
    const unfrozen = await app.request('POST', `/v1/subscriptions/${sub.id}/unfreeze`, { key: app.keys.write });
    expect(unfrozen.status, unfrozen.text).toBe(200);
    const pushed = new Date(Date.parse(SHAWWAL_1) + 36 * 3_600_000).toISOString();
    expect(unfrozen.body).toMatchObject({ status: 'active', current_period_end: pushed });
    const balances = await app.database.db('balances').where({ subscription_id: sub.id });
    expect(balances.map((b) => b.expires_at.toISOString())).toEqual([pushed, pushed]);
  });
});
