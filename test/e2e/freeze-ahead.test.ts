import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNDONE_BY_FREEZE } from '../../src/services/freeze.js';
import { NO_NIGHTLY_REPORTS, startTestApp, type TestApp } from '../helpers/app.js';
import { commerceScene } from '../helpers/commerce-scene.js';
import { closeVerified, expectEventsMatchSchemas, httpSteps } from '../helpers/http-steps.js';

/**
 * DOMAIN.md "Freeze" for a subscription the nightly run renewed ahead (within its look-ahead of 26 h): frozen in
 * that last day or two, its clock stops on the period still running. An unpaid renewal made ahead is taken back
 * first (balances and invoice voided, as a cancel at period end takes it) and made again at the end the unfreeze
 * sets; a paid one stands and the freeze is refused. One service for the file (BUSINESS_TZ UTC), a client and a
 * package per test, the clock only moving forward. Packages: 100 sms + 7.5 min a month at 19.99 USD, auto-renewing,
 * up to 10 frozen days a period.
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-01-01T00:00:00.000Z', env: NO_NIGHTLY_REPORTS });
  await commerce.creditTypes();
});
afterAll(async () => {
  await expectEventsMatchSchemas(app);
  await closeVerified(app);
});

const { call, ok, clockTo, nightly } = httpSteps(() => app);
const commerce = commerceScene(ok);

type Balance = { id: string; status: string; remaining: string; expires_at: string; credit_type: { code: string } };
type Invoice = { id: string; kind: string; total: number; status: string; number: string };
type Event = { type: string; data: Record<string, unknown> };

async function scene(name: string) {
  await ok('POST', '/v1/clients', { external_ref: name, name }, 201);
  await commerce.pack(`p-${name}`, { name, auto_renew: true, max_freeze_days: 10 });
  return ok('POST', '/v1/subscriptions', { client: name, package: `p-${name}` }, 201);
}
const sub = (id: string) => ok('GET', `/v1/subscriptions/${id}`);
/** The subscription's sms balances as [status, remaining, expires_at], oldest first. */
const sms = async (id: string) =>
  ((await sub(id)).balances as Balance[])
    .filter((b) => b.credit_type.code === 'sms')
    .sort((a, b) => (a.id < b.id ? -1 : 1))
    .map((b) => [b.status, b.remaining, b.expires_at]);
const invoicesOf = (id: string) => commerce.invoicesOf<Invoice>(id);
const eventsOf = async (type: string, subject: string): Promise<Event[]> =>
  ((await ok('GET', `/v1/events?type=${type}&limit=500`)).data as Event[]).filter(
    (e) => e.data.subscription_id === subject,
  );

describe('frozen after a renewal made ahead and not paid', () => {
  it('takes the renewal back, freezes the running period, and renews again at the end the unfreeze sets', async () => {
    await clockTo('2026-01-31T00:00:00.000Z');
    const s = await scene('a'); // [01-31, 02-28)
    // the nightly run of 02-27 00:00 renews ahead the period ending 02-28 00:00: [02-28, 03-31)
    await clockTo('2026-02-27T00:00:00.000Z');
    await nightly();
    expect(await sub(s.id)).toMatchObject({ renewal_count: 1, current_period_start: '2026-02-28T00:00:00.000Z' });
    const renewal = (await invoicesOf(s.id))[1]!;
    expect(renewal).toMatchObject({ kind: 'renewal', status: 'issued' });

    // frozen on 02-27 12:00 for 3 days: until 03-02 12:00
    await clockTo('2026-02-27T12:00:00.000Z');
    const frozen = await ok('POST', `/v1/subscriptions/${s.id}/freeze`, { days: 3 });
    expect(frozen).toMatchObject({
      status: 'frozen',
      frozen_at: '2026-02-27T12:00:00.000Z',
      frozen_until: '2026-03-02T12:00:00.000Z',
      current_period_start: '2026-01-31T00:00:00.000Z',
      current_period_end: '2026-02-28T00:00:00.000Z',
      renewal_count: 0,
    });
    expect((await invoicesOf(s.id)).map((i) => [i.kind, i.status])).toEqual([
      ['subscription', 'issued'],
      ['renewal', 'void'],
    ]);
    expect(await sms(s.id)).toEqual([
      ['active', '100', '2026-02-28T00:00:00.000Z'],
      ['void', '0', '2026-03-31T00:00:00.000Z'],
    ]);
    const [frozenEvent] = await eventsOf('subscription.frozen', s.id);
    expect(frozenEvent?.data.renewals_undone).toEqual([
      { period_start: '2026-02-28T00:00:00.000Z', period_end: '2026-03-31T00:00:00.000Z', invoice_id: renewal.id },
    ]);
    // the period taken back is kept, with the freeze's reason (the renewals report counts it when it was made)
    expect(
      await app.database
        .db('subscription_periods_undone')
        .where({ subscription_id: s.id })
        .select('starts_at', 'invoice_id', 'created_at', 'undone_at', 'reason'),
    ).toEqual([
      {
        starts_at: new Date('2026-02-28T00:00:00.000Z'),
        invoice_id: renewal.id,
        created_at: new Date('2026-02-27T00:00:00.000Z'),
        undone_at: new Date('2026-02-27T12:00:00.000Z'),
        reason: UNDONE_BY_FREEZE,
      },
    ]);
    // the night passes the old period end: frozen, neither renewed nor expired
    await clockTo('2026-03-01T00:00:00.000Z');
    await nightly();
    expect(await sub(s.id)).toMatchObject({ status: 'frozen', renewal_count: 0 });

    // unfrozen by hand on 03-01 12:00: 2 days frozen, the period ends 03-02 00:00, its units expire then
    await clockTo('2026-03-01T12:00:00.000Z');
    expect(await ok('POST', `/v1/subscriptions/${s.id}/unfreeze`)).toMatchObject({
      status: 'active',
      current_period_end: '2026-03-02T00:00:00.000Z',
    });
    // that night renews it again, ahead of its new end: [03-02, 04-02), a new invoice
    await nightly();
    expect(await sub(s.id)).toMatchObject({
      status: 'active',
      renewal_count: 1,
      current_period_start: '2026-03-02T00:00:00.000Z',
      current_period_end: '2026-04-02T00:00:00.000Z',
    });
    expect((await invoicesOf(s.id)).map((i) => [i.kind, i.status])).toEqual([
      ['subscription', 'issued'],
      ['renewal', 'void'],
      ['renewal', 'issued'],
    ]);
    expect((await sms(s.id)).map(([status, remaining]) => [status, remaining])).toEqual([
      ['active', '100'],
      ['void', '0'],
      ['active', '100'],
    ]);
  });
});

describe('frozen after a renewal made ahead and paid', () => {
  it('is refused (409): the period it points at has not begun; nothing changes', async () => {
    await clockTo('2026-05-31T00:00:00.000Z');
    const s = await scene('b'); // [05-31, 06-30)
    await clockTo('2026-06-29T00:00:00.000Z');
    await nightly();
    const renewal = (await invoicesOf(s.id))[1]!;
    await ok('POST', `/v1/invoices/${renewal.id}/pay`);
    await clockTo('2026-06-29T12:00:00.000Z');
    const refused = await call('POST', `/v1/subscriptions/${s.id}/freeze`, { days: 3 });
    expect(refused.status, refused.text).toBe(409);
    expect(await sub(s.id)).toMatchObject({
      status: 'active',
      renewal_count: 1,
      current_period_start: '2026-06-30T00:00:00.000Z',
    });
    expect((await invoicesOf(s.id)).map((i) => [i.kind, i.status])).toEqual([
      ['subscription', 'issued'],
      ['renewal', 'paid'],
    ]);
  });
});

describe('frozen after a renewal made ahead that a recharge was bought into', () => {
  it('is refused (409): the recharge keeps the renewal, nothing the client bought is voided', async () => {
    await clockTo('2026-08-31T00:00:00.000Z');
    const s = await scene('c'); // [08-31, 09-30)
    await clockTo('2026-09-29T00:00:00.000Z');
    await nightly();
    await clockTo('2026-09-29T06:00:00.000Z');
    const recharged = await call('POST', `/v1/subscriptions/${s.id}/recharge?wait=true`);
    expect(recharged.status, recharged.text).toBe(200);
    const refused = await call('POST', `/v1/subscriptions/${s.id}/freeze`, { days: 3 });
    expect(refused.status, refused.text).toBe(409);
    expect((await invoicesOf(s.id)).map((i) => [i.kind, i.status])).toEqual([
      ['subscription', 'issued'],
      ['renewal', 'issued'],
      ['recharge', 'issued'],
    ]);
    expect((await sms(s.id)).every(([status]) => status === 'active')).toBe(true);
  });
});
