import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_NIGHTLY_REPORTS, startTestApp, type TestApp } from '../helpers/app.js';
import { commerceScene } from '../helpers/commerce-scene.js';
import { closeVerified, expectEventsMatchSchemas, httpSteps } from '../helpers/http-steps.js';
import { jsonRows } from '../helpers/reports.js';

/**
 * DOMAIN.md "Cancel: … at period end (no renewal)" for a subscription the nightly run renewed ahead (26 h before its
 * period ends): the renewal made ahead and not paid is undone when the cancel at period end is asked before the old
 * period is over — its balances voided (`void` entries), its invoice voided, the subscription back on the period
 * still running, which then ends without renewal. A paid renewal is kept: the cancel comes at the end of the period
 * paid for. One service for the file (BUSINESS_TZ UTC); each test has its own client and package and its own months,
 * the clock only moving forward. Packages: 100 sms + 7.5 min for 1 month at 1999 USD, auto-renewing, rolling
 * everything over (so that a renewal that stood would receive the old period's units).
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-01-01T00:00:00.000Z', env: NO_NIGHTLY_REPORTS });
  await commerce.creditTypes();
});
afterAll(async () => {
  // every event recorded (renewals_undone included) is what its published schema says
  await expectEventsMatchSchemas(app);
  await closeVerified(app);
});

const { call, ok, clockTo, nightly } = httpSteps(() => app);
/** Its packages: 100 sms and 7.5 min a month at 19.99 USD, as the other money scenarios sell. */
const commerce = commerceScene(ok);

type Balance = { id: string; source: string; status: string; remaining: string; credit_type: { code: string } };
type Invoice = { id: string; kind: string; total: number; status: string; number: string };
type Event = { type: string; data: Record<string, unknown> };

/** A client and a package of its own, bought now. */
async function scene(name: string, extra: Record<string, unknown> = {}, buy: Record<string, unknown> = {}) {
  await ok('POST', '/v1/clients', { external_ref: name, name }, 201);
  await commerce.pack(`p-${name}`, { name, auto_renew: true, rollover: { policy: 'all' }, ...extra });
  return ok('POST', '/v1/subscriptions', { client: name, package: `p-${name}`, ...buy }, 201);
}
const sub = (id: string) => ok('GET', `/v1/subscriptions/${id}`);
const use = (client: string, credit_type: string, quantity: number, key: string) =>
  ok('POST', '/v1/consumptions?wait=true', { client, credit_type, quantity, idempotency_key: key });
/** The subscription's balances of a credit type as [source, status, remaining], oldest first. */
const lots = async (id: string, code: string) =>
  ((await sub(id)).balances as Balance[])
    .filter((b) => b.credit_type.code === code)
    .sort((a, b) => (a.id < b.id ? -1 : 1))
    .map((b) => [b.source, b.status, b.remaining]);
const invoicesOf = (id: string) => commerce.invoicesOf<Invoice>(id);
const statement = async (client: string, code: string) =>
  (
    (await ok('GET', `/v1/clients/${client}/statement?credit_type=${code}&limit=500`)).data as Array<{
      kind: string;
      amount: string;
      remaining_after: string;
    }>
  ).map((e) => [e.kind, e.amount, e.remaining_after]);
const eventsOf = async (type: string, subjectKey: string, subject: string): Promise<Event[]> =>
  ((await ok('GET', `/v1/events?type=${type}&limit=500`)).data as Event[]).filter(
    (e) => e.data[subjectKey] === subject,
  );
const periods = async (id: string) =>
  (
    (await app.database.db('subscription_periods').where({ subscription_id: id }).orderBy('starts_at')) as Array<{
      starts_at: Date;
      ends_at: Date;
      kind: string;
    }>
  ).map((p) => [p.kind, p.starts_at.toISOString(), p.ends_at.toISOString()]);
const verify = async () => {
  const report = await ok('POST', '/v1/admin/verify');
  expect(report.violations).toEqual([]);
};

describe('cancel at period end after a renewal made ahead and not paid', () => {
  it('undoes the renewal: its units and invoice void, the running period ends without renewal', async () => {
    await clockTo('2026-01-31T00:00:00.000Z');
    const s = await scene('a'); // [01-31, 02-28)
    await clockTo('2026-02-10T00:00:00.000Z');
    await use('a', 'sms', 30, 'a-1');
    // the nightly run of 02-27 00:00 renews ahead the period ending 02-28 00:00: [02-28, 03-31)
    await clockTo('2026-02-27T00:00:00.000Z');
    await nightly();
    expect(await sub(s.id)).toMatchObject({ renewal_count: 1, current_period_start: '2026-02-28T00:00:00.000Z' });
    const renewal = (await invoicesOf(s.id))[1]!;
    expect(renewal).toMatchObject({ kind: 'renewal', total: 1999, status: 'issued' });

    await clockTo('2026-02-27T06:00:00.000Z');
    const cancelled = await ok('POST', `/v1/subscriptions/${s.id}/cancel`, { at: 'period_end' });
    // back on the period still running, which now ends without renewal
    expect(cancelled).toMatchObject({
      status: 'active',
      cancel_at_period_end: true,
      current_period_start: '2026-01-31T00:00:00.000Z',
      current_period_end: '2026-02-28T00:00:00.000Z',
      renewal_count: 0,
    });
    expect(await periods(s.id)).toEqual([['initial', '2026-01-31T00:00:00.000Z', '2026-02-28T00:00:00.000Z']]);
    // the renewal's 100 sms and 7.5 min are void (never usable); the running period's stay
    expect(await lots(s.id, 'sms')).toEqual([
      ['package', 'active', '70'],
      ['package', 'void', '0'],
    ]);
    expect(await lots(s.id, 'min')).toEqual([
      ['package', 'active', '7.5'],
      ['package', 'void', '0'],
    ]);
    expect(await statement('a', 'sms')).toEqual([
      ['grant', '100', '100'],
      ['consume', '-30', '70'],
      ['grant', '100', '100'],
      ['void', '-100', '0'],
    ]);
    // the client owes nothing for the renewal it asked not to have: the invoice is void, paying it is 409
    expect((await invoicesOf(s.id)).map((i) => [i.kind, i.total, i.status])).toEqual([
      ['subscription', 1999, 'issued'],
      ['renewal', 1999, 'void'],
    ]);
    expect((await call('POST', `/v1/invoices/${renewal.id}/pay`, {})).status).toBe(409);
    // the events say when it ends, and which invoice was voided
    expect((await eventsOf('subscription.cancel_scheduled', 'subscription_id', s.id)).map((e) => e.data)).toEqual([
      expect.objectContaining({
        cancel_at: '2026-02-28T00:00:00.000Z',
        renewals_undone: [
          { period_start: '2026-02-28T00:00:00.000Z', period_end: '2026-03-31T00:00:00.000Z', invoice_id: renewal.id },
        ],
      }),
    ]);
    expect((await eventsOf('invoice.voided', 'subscription_id', s.id)).map((e) => e.data.invoice_id)).toEqual([
      renewal.id,
    ]);
    await verify();
    // the balances report: the void period's units are voided, not consumed
    const { rows } = await jsonRows(app, { type: 'balances', params: { client: 'a' } });
    expect(rows.find((r) => r.subscription_id === s.id && r.credit_type === 'sms')).toMatchObject({
      granted: '200',
      consumed: '30',
      remaining: '70',
      voided: '100',
      upcoming: '0',
    });

    // usable until the end; then cancelled, and the 60 left expire (rollover all: but nothing to roll into)
    await use('a', 'sms', 10, 'a-2');
    await clockTo('2026-02-28T00:00:00.000Z');
    await nightly();
    expect(await sub(s.id)).toMatchObject({ status: 'cancelled', renewal_count: 0 });
    expect(await statement('a', 'sms')).toEqual([
      ['grant', '100', '100'],
      ['consume', '-30', '70'],
      ['grant', '100', '100'],
      ['void', '-100', '0'],
      ['consume', '-10', '60'],
      ['expire', '-60', '0'],
    ]);
    expect((await invoicesOf(s.id)).map((i) => i.status)).toEqual(['issued', 'void']);
    expect(await eventsOf('subscription.cancelled', 'subscription_id', s.id)).toHaveLength(1);
    await verify();
  });

  it('PATCH cancel_at_period_end does the same; taken back, the nightly run renews that period again', async () => {
    await clockTo('2026-03-31T00:00:00.000Z');
    const s = await scene('b'); // [03-31, 04-30)
    await clockTo('2026-04-29T00:00:00.000Z');
    await nightly(); // renewed ahead: [04-30, 05-31)
    expect((await sub(s.id)).renewal_count).toBe(1);
    await clockTo('2026-04-29T00:10:00.000Z');
    expect(await ok('PATCH', `/v1/subscriptions/${s.id}`, { cancel_at_period_end: true })).toMatchObject({
      cancel_at_period_end: true,
      current_period_end: '2026-04-30T00:00:00.000Z',
      renewal_count: 0,
    });
    expect((await eventsOf('subscription.cancel_scheduled', 'subscription_id', s.id)).map((e) => e.data)).toEqual([
      expect.objectContaining({ cancel_at: '2026-04-30T00:00:00.000Z' }),
    ]);
    expect(await ok('PATCH', `/v1/subscriptions/${s.id}`, { cancel_at_period_end: false })).toMatchObject({
      cancel_at_period_end: false,
      current_period_end: '2026-04-30T00:00:00.000Z',
    });
    // the same period, the same job id (renewal|<subscription>|<04-30>) as the renewal undone: renewed again
    await clockTo('2026-04-29T00:20:00.000Z');
    await nightly();
    expect(await sub(s.id)).toMatchObject({
      status: 'active',
      renewal_count: 1,
      current_period_start: '2026-04-30T00:00:00.000Z',
      current_period_end: '2026-05-31T00:00:00.000Z',
    });
    expect(await periods(s.id)).toEqual([
      ['initial', '2026-03-31T00:00:00.000Z', '2026-04-30T00:00:00.000Z'],
      ['renewal', '2026-04-30T00:00:00.000Z', '2026-05-31T00:00:00.000Z'],
    ]);
    expect((await invoicesOf(s.id)).map((i) => [i.kind, i.status])).toEqual([
      ['subscription', 'issued'],
      ['renewal', 'void'],
      ['renewal', 'issued'],
    ]);
    // at the end of the old period its 100 sms roll over into the renewal that stands
    await clockTo('2026-04-30T00:00:00.000Z');
    await nightly();
    expect(await lots(s.id, 'sms')).toEqual([
      ['package', 'expired', '0'],
      ['package', 'void', '0'],
      ['package', 'active', '100'],
      ['rollover', 'active', '100'],
    ]);
    await verify();
    await ok('POST', `/v1/subscriptions/${s.id}/cancel`, { at: 'now' });
  });

  it('a renewal asked by hand, undone, is renewed again by hand (not answered by the job undone)', async () => {
    await clockTo('2026-06-01T00:00:00.000Z');
    const s = await scene('c', { auto_renew: false }); // [06-01, 07-01)
    await clockTo('2026-06-10T00:00:00.000Z');
    // the same Idempotency-Key both times: the key's answer (the job undone) is forgotten with the renewal
    const renew = async () => {
      const res = await app.request('POST', `/v1/subscriptions/${s.id}/renew?wait=true`, {
        body: {},
        headers: { 'idempotency-key': 'renew-c' },
      });
      expect(res.status, res.text).toBe(200);
      return res.body;
    };
    const first = await renew();
    expect(first).toMatchObject({ status: 'renewed', period_start: '2026-07-01T00:00:00.000Z' });
    expect(await ok('POST', `/v1/subscriptions/${s.id}/cancel`, { at: 'period_end' })).toMatchObject({
      current_period_end: '2026-07-01T00:00:00.000Z',
      renewal_count: 0,
    });
    await ok('PATCH', `/v1/subscriptions/${s.id}`, { cancel_at_period_end: false });
    const again = await renew();
    expect(again).toMatchObject({ status: 'renewed', period_start: '2026-07-01T00:00:00.000Z' });
    expect(again.invoice_id).not.toBe(first.invoice_id);
    expect((await ok('GET', `/v1/invoices/${again.invoice_id}`)).status).toBe('issued');
    expect((await ok('GET', `/v1/invoices/${first.invoice_id}`)).status).toBe('void');
    expect(await sub(s.id)).toMatchObject({ renewal_count: 1, current_period_end: '2026-08-01T00:00:00.000Z' });
    await verify();
    await ok('POST', `/v1/subscriptions/${s.id}/cancel`, { at: 'now' });
  });

  it('restores the items a renewal following the package had replaced', async () => {
    await clockTo('2026-08-01T00:00:00.000Z');
    const s = await scene('d', {}, { apply_package_changes: true }); // [08-01, 09-01)
    await ok('PATCH', '/v1/packages/p-d', { items: [{ credit_type: 'sms', units: 300 }] });
    await clockTo('2026-08-31T00:00:00.000Z');
    await nightly(); // renewed ahead with the package's new items: 300 sms
    expect((await sub(s.id)).items.map((i: { units: string }) => i.units)).toEqual(['300']);
    await ok('POST', `/v1/subscriptions/${s.id}/cancel`, { at: 'period_end' });
    expect((await sub(s.id)).items.map((i: { credit_type: { code: string }; units: string }) => i)).toMatchObject([
      { credit_type: { code: 'sms' }, units: '100' },
      { credit_type: { code: 'min' }, units: '7.5' },
    ]);
    expect(await lots(s.id, 'sms')).toEqual([
      ['package', 'active', '100'],
      ['package', 'void', '0'],
    ]);
    await verify();
    await ok('POST', `/v1/subscriptions/${s.id}/cancel`, { at: 'now' });
  });

  it('takes back every renewal made ahead of the period running (renewed twice by hand)', async () => {
    await clockTo('2026-09-01T00:00:00.000Z');
    const s = await scene('f', { auto_renew: false }); // [09-01, 10-01)
    await clockTo('2026-09-05T00:00:00.000Z');
    await ok('POST', `/v1/subscriptions/${s.id}/renew?wait=true`, {}); // [10-01, 11-01)
    await ok('POST', `/v1/subscriptions/${s.id}/renew?wait=true`, {}); // [11-01, 12-01)
    const [, second, third] = await invoicesOf(s.id);
    expect(await ok('POST', `/v1/subscriptions/${s.id}/cancel`, { at: 'period_end' })).toMatchObject({
      current_period_start: '2026-09-01T00:00:00.000Z',
      current_period_end: '2026-10-01T00:00:00.000Z',
      renewal_count: 0,
    });
    expect((await invoicesOf(s.id)).map((i) => i.status)).toEqual(['issued', 'void', 'void']);
    expect(await lots(s.id, 'sms')).toEqual([
      ['package', 'active', '100'],
      ['package', 'void', '0'],
      ['package', 'void', '0'],
    ]);
    const [scheduled] = await eventsOf('subscription.cancel_scheduled', 'subscription_id', s.id);
    expect(scheduled?.data.renewals_undone).toEqual([
      { period_start: '2026-10-01T00:00:00.000Z', period_end: '2026-11-01T00:00:00.000Z', invoice_id: second!.id },
      { period_start: '2026-11-01T00:00:00.000Z', period_end: '2026-12-01T00:00:00.000Z', invoice_id: third!.id },
    ]);
    expect(await periods(s.id)).toHaveLength(1);
    await verify();
    await ok('POST', `/v1/subscriptions/${s.id}/cancel`, { at: 'now' });
  });
});

describe('cancel at period end after a renewal made ahead and paid', () => {
  it('keeps the renewal paid for: the cancel comes at the end of that period', async () => {
    await clockTo('2026-10-01T00:00:00.000Z');
    const s = await scene('e'); // [10-01, 11-01)
    await clockTo('2026-10-31T00:00:00.000Z');
    await nightly(); // renewed ahead: [11-01, 12-01)
    const renewal = (await invoicesOf(s.id))[1]!;
    await ok('POST', `/v1/invoices/${renewal.id}/pay`, {});
    expect(await ok('POST', `/v1/subscriptions/${s.id}/cancel`, { at: 'period_end' })).toMatchObject({
      status: 'active',
      cancel_at_period_end: true,
      current_period_start: '2026-11-01T00:00:00.000Z',
      current_period_end: '2026-12-01T00:00:00.000Z',
      renewal_count: 1,
    });
    expect((await eventsOf('subscription.cancel_scheduled', 'subscription_id', s.id)).map((e) => e.data)).toEqual([
      expect.objectContaining({ cancel_at: '2026-12-01T00:00:00.000Z' }),
    ]);
    expect(await lots(s.id, 'sms')).toEqual([
      ['package', 'active', '100'],
      ['package', 'active', '100'],
    ]);
    expect((await invoicesOf(s.id)).map((i) => i.status)).toEqual(['issued', 'paid']);
    // the old period's 100 roll into the period paid for; at its end, cancelled
    await clockTo('2026-11-01T00:00:00.000Z');
    await nightly();
    await clockTo('2026-12-01T00:00:00.000Z');
    await nightly();
    expect(await sub(s.id)).toMatchObject({ status: 'cancelled', renewal_count: 1 });
    expect(await periods(s.id)).toHaveLength(2);
    await verify();
  });
});

/**
 * A recharge bought after the renewal made ahead lands in that renewal's period (src/jobs/recharge.ts: a `recharge`
 * balance of the renewed period, valid from its purchase to the renewed period's end). Taking the renewal back must
 * not leave its invoice standing while its units die: the client never pays for units taken without use.
 */
describe('cancel at period end after a renewal made ahead and a recharge bought into it', () => {
  type Lot = Balance & { valid_from: string; expires_at: string };
  const recharge = (id: string) => ok('POST', `/v1/subscriptions/${id}/recharge?wait=true`, {});
  const lotsWithValidity = async (id: string, code: string) =>
    ((await sub(id)).balances as Lot[])
      .filter((b) => b.credit_type.code === code)
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .map((b) => [b.source, b.status, b.remaining, b.expires_at]);

  it('unpaid both: voids the renewal and the recharge, their units once, and names both in the event', async () => {
    await clockTo('2027-01-01T00:00:00.000Z');
    const s = await scene('g'); // [01-01, 02-01)
    await clockTo('2027-01-31T00:00:00.000Z');
    await nightly(); // renewed ahead: [02-01, 03-01)
    await clockTo('2027-01-31T01:00:00.000Z');
    const bought = await recharge(s.id);
    // it lands in the renewed period: valid from now to that period's end
    expect(bought.balances).toMatchObject([
      { granted: '100', valid_from: '2027-01-31T01:00:00.000Z', expires_at: '2027-03-01T00:00:00.000Z' },
      { granted: '7.5', valid_from: '2027-01-31T01:00:00.000Z', expires_at: '2027-03-01T00:00:00.000Z' },
    ]);
    const [, renewal] = await invoicesOf(s.id);

    await clockTo('2027-01-31T02:00:00.000Z');
    expect(await ok('POST', `/v1/subscriptions/${s.id}/cancel`, { at: 'period_end' })).toMatchObject({
      cancel_at_period_end: true,
      current_period_end: '2027-02-01T00:00:00.000Z',
      renewal_count: 0,
    });
    expect((await invoicesOf(s.id)).map((i) => [i.kind, i.status])).toEqual([
      ['subscription', 'issued'],
      ['renewal', 'void'],
      ['recharge', 'void'],
    ]);
    expect((await call('POST', `/v1/invoices/${bought.invoice_id}/pay`, {})).status).toBe(409);
    expect(await lots(s.id, 'sms')).toEqual([
      ['package', 'active', '100'],
      ['package', 'void', '0'],
      ['recharge', 'void', '0'],
    ]);
    // each unit voided once: one `void` entry per balance, and the statement adds up to what remains
    const sms = await statement('g', 'sms');
    expect(sms.filter(([kind]) => kind === 'void')).toEqual([
      ['void', '-100', '0'],
      ['void', '-100', '0'],
    ]);
    expect(sms.reduce((sum, [, amount]) => sum + BigInt(amount!), 0n)).toBe(100n);
    expect(await statement('g', 'min')).toEqual([
      ['grant', '7.5', '7.5'],
      ['grant', '7.5', '7.5'],
      ['recharge', '7.5', '7.5'],
      ['void', '-7.5', '0'],
      ['void', '-7.5', '0'],
    ]);
    // each `void` entry names the invoice whose units it takes: the renewal's, or the recharge's
    const voids = (await app.database
      .db('ledger_entries')
      .where({ subscription_id: s.id, kind: 'void' })
      .select('balance_id', 'invoice_id')) as Array<{ balance_id: string; invoice_id: string }>;
    const recharged = new Set((bought.balances as Array<{ id: string }>).map((b) => b.id));
    expect(voids.map((v) => [recharged.has(v.balance_id), v.invoice_id]).sort()).toEqual([
      [false, renewal!.id],
      [false, renewal!.id],
      [true, bought.invoice_id],
      [true, bought.invoice_id],
    ]);
    const [scheduled] = await eventsOf('subscription.cancel_scheduled', 'subscription_id', s.id);
    expect(scheduled?.data).toMatchObject({
      cancel_at: '2027-02-01T00:00:00.000Z',
      renewals_undone: [
        { period_start: '2027-02-01T00:00:00.000Z', period_end: '2027-03-01T00:00:00.000Z', invoice_id: renewal!.id },
      ],
      recharges_voided: [
        { recharge_id: bought.recharge_id, invoice_id: bought.invoice_id, period_start: '2027-02-01T00:00:00.000Z' },
      ],
    });
    expect(
      (await eventsOf('invoice.voided', 'subscription_id', s.id)).map((e) => [e.data.invoice_id, e.data.kind]),
    ).toEqual(
      expect.arrayContaining([
        [renewal!.id, 'renewal'],
        [bought.invoice_id, 'recharge'],
      ]),
    );
    const { rows } = await jsonRows(app, { type: 'balances', params: { client: 'g' } });
    expect(rows.find((r) => r.subscription_id === s.id && r.credit_type === 'sms')).toMatchObject({
      granted: '300',
      remaining: '100',
      voided: '200',
    });
    await verify();

    // the running period ends without renewal; nothing more is voided
    await clockTo('2027-02-01T00:00:00.000Z');
    await nightly();
    expect(await sub(s.id)).toMatchObject({ status: 'cancelled' });
    expect((await statement('g', 'sms')).filter(([kind]) => kind === 'void')).toHaveLength(2);
    await verify();
  });

  it('a paid recharge keeps the renewal, as a paid renewal is kept: the cancel comes at its end', async () => {
    await clockTo('2027-02-01T00:00:00.000Z');
    const s = await scene('h'); // [02-01, 03-01)
    await clockTo('2027-02-28T00:00:00.000Z');
    await nightly(); // renewed ahead: [03-01, 04-01)
    await clockTo('2027-02-28T01:00:00.000Z');
    const bought = await recharge(s.id);
    await ok('POST', `/v1/invoices/${bought.invoice_id}/pay`, {});
    await clockTo('2027-02-28T02:00:00.000Z');
    expect(await ok('POST', `/v1/subscriptions/${s.id}/cancel`, { at: 'period_end' })).toMatchObject({
      status: 'active',
      cancel_at_period_end: true,
      current_period_start: '2027-03-01T00:00:00.000Z',
      current_period_end: '2027-04-01T00:00:00.000Z',
      renewal_count: 1,
    });
    expect((await invoicesOf(s.id)).map((i) => [i.kind, i.status])).toEqual([
      ['subscription', 'issued'],
      ['renewal', 'issued'],
      ['recharge', 'paid'],
    ]);
    expect(await lotsWithValidity(s.id, 'sms')).toEqual([
      ['package', 'active', '100', '2027-03-01T00:00:00.000Z'],
      ['package', 'active', '100', '2027-04-01T00:00:00.000Z'],
      ['recharge', 'active', '100', '2027-04-01T00:00:00.000Z'],
    ]);
    const [scheduled] = await eventsOf('subscription.cancel_scheduled', 'subscription_id', s.id);
    expect(scheduled?.data.cancel_at).toBe('2027-04-01T00:00:00.000Z');
    expect(scheduled?.data).not.toHaveProperty('renewals_undone');
    expect(scheduled?.data).not.toHaveProperty('recharges_voided');
    expect(await eventsOf('invoice.voided', 'subscription_id', s.id)).toEqual([]);
    await verify();
    await ok('POST', `/v1/subscriptions/${s.id}/cancel`, { at: 'now' });
  });

  it('an unpaid recharge already spent from keeps the renewal (its units were used: none taken back)', async () => {
    await clockTo('2027-03-01T00:00:00.000Z');
    const s = await scene('i'); // [03-01, 04-01)
    await clockTo('2027-03-31T00:00:00.000Z');
    await nightly(); // renewed ahead: [04-01, 05-01)
    await clockTo('2027-03-31T01:00:00.000Z');
    const bought = await recharge(s.id);
    // the running period's 100 first (it expires first), then 30 of the recharge
    await use('i', 'sms', 130, 'i-1');
    await clockTo('2027-03-31T02:00:00.000Z');
    expect(await ok('POST', `/v1/subscriptions/${s.id}/cancel`, { at: 'period_end' })).toMatchObject({
      current_period_end: '2027-05-01T00:00:00.000Z',
      renewal_count: 1,
    });
    expect((await invoicesOf(s.id)).map((i) => [i.kind, i.status])).toEqual([
      ['subscription', 'issued'],
      ['renewal', 'issued'],
      ['recharge', 'issued'],
    ]);
    expect((await ok('GET', `/v1/invoices/${bought.invoice_id}`)).status).toBe('issued');
    expect(await lots(s.id, 'sms')).toEqual([
      ['package', 'active', '0'],
      ['package', 'active', '100'],
      ['recharge', 'active', '70'],
    ]);
    await verify();
    await ok('POST', `/v1/subscriptions/${s.id}/cancel`, { at: 'now' });
  });

  it('a recharge into the running period is left as it is: it ends with that period', async () => {
    await clockTo('2027-04-01T00:00:00.000Z');
    const s = await scene('j'); // [04-01, 05-01)
    await clockTo('2027-04-20T00:00:00.000Z');
    const bought = await recharge(s.id); // before the renewal ahead: until 05-01
    await clockTo('2027-04-30T00:00:00.000Z');
    await nightly(); // renewed ahead: [05-01, 06-01)
    await clockTo('2027-04-30T01:00:00.000Z');
    const cancelled = await ok('POST', `/v1/subscriptions/${s.id}/cancel`, { at: 'period_end' });
    expect(cancelled).toMatchObject({ current_period_end: '2027-05-01T00:00:00.000Z', renewal_count: 0 });
    expect((await invoicesOf(s.id)).map((i) => [i.kind, i.status])).toEqual([
      ['subscription', 'issued'],
      ['recharge', 'issued'],
      ['renewal', 'void'],
    ]);
    expect(await lotsWithValidity(s.id, 'sms')).toEqual([
      ['package', 'active', '100', '2027-05-01T00:00:00.000Z'],
      ['recharge', 'active', '100', '2027-05-01T00:00:00.000Z'],
      ['package', 'void', '0', '2027-06-01T00:00:00.000Z'],
    ]);
    const [scheduled] = await eventsOf('subscription.cancel_scheduled', 'subscription_id', s.id);
    expect(scheduled?.data.renewals_undone).toHaveLength(1);
    expect(scheduled?.data).not.toHaveProperty('recharges_voided');
    expect((await eventsOf('invoice.voided', 'subscription_id', s.id)).map((e) => e.data.invoice_id)).not.toContain(
      bought.invoice_id,
    );
    await verify();
    await clockTo('2027-05-01T00:00:00.000Z');
    await nightly();
    expect(await sub(s.id)).toMatchObject({ status: 'cancelled' });
    expect(await lots(s.id, 'sms')).toEqual([
      ['package', 'expired', '0'],
      ['recharge', 'expired', '0'],
      ['package', 'void', '0'],
    ]);
    await verify();
  });

  it('cancel scheduled first: a recharge then lands in the period running, not in the renewal taken back', async () => {
    await clockTo('2027-05-01T00:00:00.000Z');
    const s = await scene('k'); // [05-01, 06-01)
    await clockTo('2027-05-31T00:00:00.000Z');
    await nightly(); // renewed ahead: [06-01, 07-01)
    await clockTo('2027-05-31T01:00:00.000Z');
    await ok('POST', `/v1/subscriptions/${s.id}/cancel`, { at: 'period_end' });
    await clockTo('2027-05-31T02:00:00.000Z');
    const bought = await recharge(s.id);
    expect(bought.balances).toMatchObject([
      { granted: '100', expires_at: '2027-06-01T00:00:00.000Z' },
      { granted: '7.5', expires_at: '2027-06-01T00:00:00.000Z' },
    ]);
    expect(await lotsWithValidity(s.id, 'sms')).toEqual([
      ['package', 'active', '100', '2027-06-01T00:00:00.000Z'],
      ['package', 'void', '0', '2027-07-01T00:00:00.000Z'],
      ['recharge', 'active', '100', '2027-06-01T00:00:00.000Z'],
    ]);
    await verify();
    await clockTo('2027-06-01T00:00:00.000Z');
    await nightly();
    expect(await sub(s.id)).toMatchObject({ status: 'cancelled' });
    await verify();
  });

  it('PATCH cancel_at_period_end takes the recharge back the same way', async () => {
    await clockTo('2027-06-02T00:00:00.000Z');
    const s = await scene('l'); // [06-02, 07-02)
    await clockTo('2027-07-01T00:00:00.000Z');
    await nightly(); // renewed ahead: [07-02, 08-02)
    await clockTo('2027-07-01T01:00:00.000Z');
    const bought = await recharge(s.id);
    expect(await ok('PATCH', `/v1/subscriptions/${s.id}`, { cancel_at_period_end: true })).toMatchObject({
      current_period_end: '2027-07-02T00:00:00.000Z',
      renewal_count: 0,
    });
    expect((await ok('GET', `/v1/invoices/${bought.invoice_id}`)).status).toBe('void');
    const [scheduled] = await eventsOf('subscription.cancel_scheduled', 'subscription_id', s.id);
    expect(scheduled?.data.recharges_voided).toEqual([
      { recharge_id: bought.recharge_id, invoice_id: bought.invoice_id, period_start: '2027-07-02T00:00:00.000Z' },
    ]);
    await verify();
    await ok('POST', `/v1/subscriptions/${s.id}/cancel`, { at: 'now' });
  });
});
