import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runNightly } from '../../src/scheduler/nightly.js';
import { verifyInvariants } from '../../src/services/verify.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

const TZ = 'Europe/Paris';
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-01-01T08:00:00.000Z', env: { BUSINESS_TZ: TZ } });
});
afterAll(async () => {
  await app.close();
});

const local = (iso: string) => DateTime.fromISO(iso, { zone: TZ }).toJSDate();

describe('a subscription lived through a year', () => {
  it('monthly auto-renewals with rollover, a mid-period recharge, an unrenewed ' +
    'one expiring, a cancel at period end — and every invariant after', {
    timeout: 180_000,
  }, async () => {
    const sms = await createCreditType(app, { code: 'y-sms', unit: 'message' });
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 100 }], {
      code: 'y-monthly',
      price: 2000,
      currency: 'EUR',
      auto_renew: true,
      rollover: { policy: 'percent', percent: 50, cap_percent: 20 },
    });
    const loyal = await createClient(app, { name: 'Loyal' });
    const lapsing = await createClient(app, { name: 'Lapsing' });
    const leaving = await createClient(app, { name: 'Leaving' });
    app.clock.set(local('2026-01-01T09:00:00'));
    const loyalSub = await subscribe(app, loyal.id, pkg.code);
    const lapsingSub = await subscribe(app, lapsing.id, pkg.code, { auto_renew: false });
    const leavingSub = await subscribe(app, leaving.id, pkg.code);

    let consumed = 0;
    let rejected = 0;
    // 2026 and the first day of 2027 (the period ending on 1 January, 09:00, is renewed by that night's run)
    for (
      let day = DateTime.fromISO('2026-01-01', { zone: TZ });
      day.toISODate()! <= '2027-01-01';
      day = day.plus({ days: 1 })
    ) {
      // 02:00 local: the nightly sweep
      app.clock.set(day.set({ hour: 2 }).toJSDate());
      const nightly = await runNightly(app.ctx, app.clock.now(), { phaseTimeoutMs: 20_000, reports: false });
      for (const phase of nightly.phases) expect(phase.failed, `${day.toISODate()} ${phase.phase}`).toEqual([]);

      // noon: the loyal client uses 2 messages a day, 20 on the first of each month (about 80 of 100 a month)
      app.clock.set(day.set({ hour: 12 }).toJSDate());
      const quantity = day.day === 1 ? 20 : 2;
      const res = await app.request('POST', '/v1/consumptions?wait=true', {
        key: app.keys.write,
        body: { client: loyal.id, credit_type: sms.code, quantity, idempotency_key: `day-${day.toISODate()}` },
      });
      if (res.status === 200) consumed += quantity;
      else {
        expect(res.status, res.text).toBe(422);
        rejected += 1;
      }
      if (day.toISODate() === '2026-06-15') {
        const recharge = await app.request('POST', `/v1/subscriptions/${loyalSub.id}/recharge?wait=true`, {
          key: app.keys.write,
          headers: { 'idempotency-key': 'june-top-up' },
        });
        expect(recharge.status, recharge.text).toBe(200);
      }
      if (day.toISODate() === '2026-07-10') {
        const cancel = await app.request('POST', `/v1/subscriptions/${leavingSub.id}/cancel`, {
          key: app.keys.write,
          body: { at: 'period_end' },
        });
        expect(cancel.body.cancel_at_period_end).toBe(true);
      }
    }

    const loyalNow = (await app.request('GET', `/v1/subscriptions/${loyalSub.id}`, { key: app.keys.read })).body;
    // renewed every month, each period starting on the 1st, 09:00 Paris time (summer time included)
    expect(loyalNow).toMatchObject({ status: 'active', renewal_count: 12 });
    expect(loyalNow.current_period_start).toBe(local('2027-01-01T09:00:00').toISOString());
    const periods = await app.database
      .db('subscription_periods')
      .where({ subscription_id: loyalSub.id })
      .orderBy('starts_at');
    expect(periods.map((p) => DateTime.fromJSDate(p.starts_at, { zone: TZ }).toFormat('LL-dd HH:mm'))).toEqual(
      ['01', '02', '03', '04', '05', '06', '07', '08', '09', '10', '11', '12']
        .map((m) => `${m}-01 09:00`)
        .concat(['01-01 09:00']),
    );
    // one subscription invoice, twelve renewals and one recharge, numbered without gaps
    const invoices = await app.database.db('invoices').where({ subscription_id: loyalSub.id }).orderBy('sequence');
    expect(invoices.map((i) => i.kind).sort()).toEqual(
      ['recharge', ...Array(12).fill('renewal'), 'subscription'].sort(),
    );
    expect(invoices.filter((i) => i.kind === 'renewal').every((i) => i.total === 2000n)).toBe(true);

    // rollovers: every month some units moved on (capped at 20% of a period's 100)
    const rollovers = await app.database.db('balances').where({ subscription_id: loyalSub.id, source: 'rollover' });
    expect(rollovers.length).toBeGreaterThanOrEqual(11);
    expect(rollovers.every((b) => b.granted > 0n && b.granted <= 20n)).toBe(true);

    // the client's totals agree with what this test saw applied
    const totals = await app.database.db('balances').where({ client_id: loyal.id }).sum({ consumed: 'consumed' });
    expect(BigInt(totals[0]!.consumed)).toBe(BigInt(consumed));
    expect(rejected).toBe(0);

    expect((await app.request('GET', `/v1/subscriptions/${lapsingSub.id}`, { key: app.keys.read })).body).toMatchObject(
      { status: 'expired', renewal_count: 0 },
    );
    const leavingNow = (await app.request('GET', `/v1/subscriptions/${leavingSub.id}`, { key: app.keys.read })).body;
    expect(leavingNow).toMatchObject({ status: 'cancelled', renewal_count: 6 });
    expect(leavingNow.cancelled_at).toBe(local('2026-08-01T09:00:00').toISOString());

    const report = await verifyInvariants(app.database.db);
    expect(report.violations).toEqual([]);
    expect(report.ok).toBe(true);
  });
});
