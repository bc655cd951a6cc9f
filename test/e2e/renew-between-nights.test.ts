import { describe, expect, it } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import { jobIds } from '../../src/jobs/job-id.js';
import { askRenewals } from '../../src/jobs/renew.js';
import { renewalLookaheadMs } from '../../src/jobs/renewal-lookahead.js';
import { enqueueMaintenance } from '../../src/scheduler/nightly.js';
import { appPerTest } from '../helpers/app-per-test.js';
import { httpSteps } from '../helpers/http-steps.js';

/**
 * DOMAIN.md "Auto-renew": each night renews ahead every auto_renew subscription whose period ends before the next run
 * (26 h ahead for `0 2 * * *` in UTC) — but only those renewable when it looks. A subscription that becomes renewable
 * after the night's renewals (unfrozen by hand, by the sweep or by a read or a use settling the sweep's due; auto_renew
 * turned on; a cancel at period end taken back; resumed; a purchase starting in the past; a payment activating it on a
 * short day of daylight saving) with a period ending before the next night gets that renewal at once — the very job
 * the night asks for, `renewal|<subscription>|<period end>` — so a use just after the period's end finds the next
 * period's units instead of 422 `insufficient_balance` until the expiry sweep renews it. The next night asks again and
 * changes nothing; a period ending past the last night's horizon is left to the next night. BUSINESS_TZ is UTC (one
 * case in America/New_York); the clock is the service's own, moved with PUT /v1/admin/clock; no scheduler runs
 * (roles api and worker): nights run through POST /v1/admin/nightly-runs, sweeps as `expire` jobs the test enqueues.
 *
 * Each test: clients `a` (the trigger, its period ending 9 Feb 18:00 — 16 h after the night of 9 Feb 02:00, whose
 * horizon is 10 Feb 04:00, and 8 h before the next night) and, where it says, `z` (the same trigger, its period ending
 * past that horizon: the next night's to renew). Monthly packages of 100 sms, auto-renewing, up to 10 frozen days.
 */
const app = appPerTest({ eventsMatchSchemas: true });
const { current } = app;
const { call, ok, clockTo, nightly } = httpSteps(current);

async function start(now: string, env: Record<string, string> = {}): Promise<void> {
  await app.start(now, env);
  await ok('POST', '/v1/credit-types', { code: 'sms', name: 'SMS', unit: 'message' }, 201);
  await ok(
    'POST',
    '/v1/packages',
    {
      code: 'monthly',
      name: 'Monthly',
      price: 1999,
      currency: 'USD',
      validity: { count: 1, unit: 'month' },
      items: [{ credit_type: 'sms', units: 100 }],
      auto_renew: true,
      max_freeze_days: 10,
    },
    201,
  );
}

type Sub = { id: string; status: string; current_period_end: string; renewal_count: number; invoice: { id: string } };
/** A client of its own buying `pkg` now. */
const buy = async (ref: string, extra: Record<string, unknown> = {}, pkg = 'monthly'): Promise<Sub> => {
  await ok('POST', '/v1/clients', { external_ref: ref, name: ref }, 201);
  return ok('POST', '/v1/subscriptions', { client: ref, package: pkg, ...extra }, 201);
};
const view = (id: string): Promise<Sub> => ok('GET', `/v1/subscriptions/${id}`);
const use = (client: string, key: string) =>
  call('POST', '/v1/consumptions?wait=true', { client, credit_type: 'sms', quantity: 1, idempotency_key: key });
const invoicesOf = async (id: string) =>
  ((await ok('GET', `/v1/invoices?subscription=${id}&limit=500`)).data as Array<{ kind: string; status: string }>)
    .map((i) => [i.kind, i.status])
    .sort();
const renewedEvents = async (id: string) =>
  ((await ok('GET', '/v1/events?type=subscription.renewed&limit=500')).data as Array<{ data: Record<string, unknown> }>)
    .map((e) => e.data)
    .filter((d) => d.subscription_id === id);

/** The renewal job of the period ending at `end` (API.md `renewal:<subscription>:<period_end>`). */
const renewalJob = (id: string, end: string) => jobIds.renewal(id, new Date(end));
const jobState = async (jobId: string) => (await current().ctx.queues.renewal.getJob(jobId))?.getState();

/** Waits for the renewal of the period ending at `end`, as the night's phase waits for it; answers its result. */
async function renewedAhead(id: string, end: string) {
  const outcome = await awaitOutcome(current().ctx, 'renew', renewalJob(id, end), { timeoutMs: 20_000 });
  expect(outcome.state, JSON.stringify(outcome)).toBe('completed');
  if (outcome.state !== 'completed') throw new Error(`the renewal of ${id} did not complete`);
  expect(outcome.value).toMatchObject({ status: 'renewed', period_start: end, late: false });
  return outcome.value;
}

type Renewal = Awaited<ReturnType<typeof renewedAhead>>;

/** A use a minute after `end`, before any sweep or night: applied from the renewal's balance (not 422). */
async function expectUsedFromRenewal(client: string, end: string, renewal: Renewal) {
  await clockTo(new Date(new Date(end).getTime() + 60_000).toISOString());
  const used = await use(client, `${client}-after-end`);
  expect(used.status, used.text).toBe(200);
  expect(used.body).toMatchObject({
    status: 'applied',
    applied: '1',
    allocations: [{ balance_id: renewal.balances[0]!.id, amount: '1' }],
  });
}

/** An expiry sweep as of `asOf` (an EXPIRE_CRON tick, not the night's), waited for. */
async function sweep(asOf: string) {
  const job = await enqueueMaintenance(current().ctx, 'expire', new Date(asOf));
  const outcome = await awaitOutcome(current().ctx, 'expire', job.jobId, { timeoutMs: 20_000 });
  expect(outcome.state, JSON.stringify(outcome)).toBe('completed');
  if (outcome.state !== 'completed') throw new Error(`the sweep as of ${asOf} did not complete`);
  return outcome.value;
}

/**
 * The period ending at `end` was renewed ahead: a use a minute after `end` (no sweep since, no night) is applied from
 * the renewed period's balance, not refused 422; then the next night (10 Feb 02:00) asks for nothing more of it —
 * one renewal, one renewal invoice, one `subscription.renewed`.
 */
async function expectUsableAfterEndAndRenewedOnce(client: string, id: string, end: string, renewal: Renewal) {
  await expectUsedFromRenewal(client, end, renewal);
  await clockTo('2026-02-10T02:00:00.000Z');
  await nightly();
  expect(await view(id)).toMatchObject({ status: 'active', renewal_count: 1 });
  expect(await invoicesOf(id)).toEqual([
    ['renewal', 'issued'],
    ['subscription', 'issued'],
  ]);
  expect(await renewedEvents(id)).toHaveLength(1);
}

/** `z` was not renewed early (no job for its period), and the next night renewed it, as any subscription. */
async function expectLeftToTheNextNight(id: string, end: string) {
  expect(await jobState(renewalJob(id, end))).toBe('completed');
  expect(await view(id)).toMatchObject({ status: 'active', renewal_count: 1 });
}

const A_END = '2026-02-09T18:00:00.000Z';
const NIGHT = '2026-02-09T02:00:00.000Z';

it('looks 26 h ahead from each night at 02:00 UTC: the night of 9 Feb renews what ends before 10 Feb 04:00', () => {
  expect(renewalLookaheadMs('0 2 * * *', 'UTC')).toBe(26 * 3_600_000);
});

describe('unfrozen between two nights', () => {
  it('by hand: its end moved before the next night, it is renewed ahead at once; past the horizon, not', async () => {
    // a: [9 Jan 16:00, 9 Feb 16:00); z: [10 Jan 02:00, 10 Feb 02:00)
    await start('2026-01-09T16:00:00.000Z');
    const a = await buy('a');
    await clockTo('2026-01-10T02:00:00.000Z');
    const z = await buy('z');
    // frozen on 9 Feb 01:00: the night of 9 Feb passes them by
    await clockTo('2026-02-09T01:00:00.000Z');
    for (const s of [a, z]) await ok('POST', `/v1/subscriptions/${s.id}/freeze`, { days: 5 });
    await clockTo(NIGHT);
    expect((await nightly()).phases[0]).toMatchObject({ phase: 'renewals', jobs: 0 });
    // unfrozen by hand at 03:00, 2 h frozen: a's end 9 Feb 16:00 + 2 h = 18:00, before the night's horizon (10 Feb
    // 04:00) — renewed ahead now; z's 10 Feb 02:00 + 2 h = 04:00, the horizon itself — the next night's
    await clockTo('2026-02-09T03:00:00.000Z');
    expect(await ok('POST', `/v1/subscriptions/${a.id}/unfreeze`)).toMatchObject({
      status: 'active',
      current_period_end: A_END,
    });
    expect(await ok('POST', `/v1/subscriptions/${z.id}/unfreeze`)).toMatchObject({
      current_period_end: '2026-02-10T04:00:00.000Z',
    });
    const renewal = await renewedAhead(a.id, A_END);
    // a new anchor where the moved period ends
    expect(renewal).toMatchObject({ period_end: '2026-03-09T18:00:00.000Z' });
    expect(await jobState(renewalJob(z.id, '2026-02-10T04:00:00.000Z'))).toBeUndefined();
    expect(await view(z.id)).toMatchObject({ renewal_count: 0 });
    await expectUsableAfterEndAndRenewedOnce('a', a.id, A_END, renewal);
    await expectLeftToTheNextNight(z.id, '2026-02-10T04:00:00.000Z');
  });

  it('by the expiry sweep at frozen_until, at any time of day', async () => {
    await start('2026-01-09T16:00:00.000Z');
    const a = await buy('a');
    // frozen 9 Feb 00:00 until 02:30 (2.5 h), past the night of 9 Feb: its end moves to 18:30
    await clockTo('2026-02-09T00:00:00.000Z');
    await ok('POST', `/v1/subscriptions/${a.id}/freeze`, { until: '2026-02-09T02:30:00.000Z' });
    await clockTo(NIGHT);
    expect((await nightly()).phases[0]).toMatchObject({ phase: 'renewals', jobs: 0 });
    // an EXPIRE_CRON sweep at 09:05 ends the freeze at its frozen_until, and asks for the renewal ahead
    await clockTo('2026-02-09T09:05:00.000Z');
    expect(await sweep('2026-02-09T09:05:00.000Z')).toMatchObject({ subscriptions_unfrozen: 1 });
    const end = '2026-02-09T18:30:00.000Z';
    expect(await view(a.id)).toMatchObject({ status: 'active' });
    const renewal = await renewedAhead(a.id, end);
    await expectUsableAfterEndAndRenewedOnce('a', a.id, end, renewal);
  });

  it('by a read or a use settling what the sweep owes (past frozen_until, before any sweep)', async () => {
    await start('2026-01-09T16:00:00.000Z');
    const a = await buy('a');
    const u = await buy('u');
    // frozen 9 Feb 01:00 until 03:00, over the night of 9 Feb: their ends move to 18:00
    await clockTo('2026-02-09T01:00:00.000Z');
    for (const s of [a, u]) await ok('POST', `/v1/subscriptions/${s.id}/freeze`, { until: '2026-02-09T03:00:00.000Z' });
    await clockTo(NIGHT);
    expect((await nightly()).phases[0]).toMatchObject({ phase: 'renewals', jobs: 0 });
    await clockTo('2026-02-09T12:00:00.000Z');
    // a: read past its frozen_until — unfrozen by the read, its renewal asked (the period renewed is the one the
    // unfreeze moved to end at 18:00: renewedAhead); u: a use comes up short on its frozen balance, settles the
    // freeze and runs again — applied, renewal asked
    expect(await view(a.id)).toMatchObject({ status: 'active' });
    const used = await use('u', 'u-during');
    expect(used.status, used.text).toBe(200);
    expect(used.body).toMatchObject({ status: 'applied', applied: '1' });
    const renewal = await renewedAhead(a.id, A_END);
    await expectUsedFromRenewal('u', A_END, await renewedAhead(u.id, A_END));
    await expectUsableAfterEndAndRenewedOnce('a', a.id, A_END, renewal);
    expect(await view(u.id)).toMatchObject({ renewal_count: 1 });
  });

  it('after a freeze took back the renewal the night made ahead: made again at the end the unfreeze sets', async () => {
    // a: [9 Jan 17:00, 9 Feb 17:00), renewed ahead by the night of 9 Feb, frozen at 08:00 (the unpaid renewal taken
    // back), unfrozen at 09:00: its end 18:00
    await start('2026-01-09T17:00:00.000Z');
    const a = await buy('a');
    await clockTo(NIGHT);
    expect((await nightly()).phases[0]).toMatchObject({ phase: 'renewals', jobs: 1, completed: 1 });
    await clockTo('2026-02-09T08:00:00.000Z');
    expect(await ok('POST', `/v1/subscriptions/${a.id}/freeze`, { days: 2 })).toMatchObject({
      status: 'frozen',
      renewal_count: 0,
      current_period_end: '2026-02-09T17:00:00.000Z',
    });
    await clockTo('2026-02-09T09:00:00.000Z');
    await ok('POST', `/v1/subscriptions/${a.id}/unfreeze`);
    await expectUsedFromRenewal('a', A_END, await renewedAhead(a.id, A_END));
    await clockTo('2026-02-10T02:00:00.000Z');
    await nightly();
    expect(await view(a.id)).toMatchObject({ renewal_count: 1, current_period_start: A_END });
    // the renewal taken back stays void; one renewal stands
    expect(await invoicesOf(a.id)).toEqual([
      ['renewal', 'issued'],
      ['renewal', 'void'],
      ['subscription', 'issued'],
    ]);
  });
});

describe('PATCH between two nights', () => {
  it('auto_renew turned on: renewed ahead at once; past the horizon, not', async () => {
    // a: [9 Jan 18:00, 9 Feb 18:00); z: [10 Jan 05:00, 10 Feb 05:00); neither auto-renewing at the night of 9 Feb
    await start('2026-01-09T18:00:00.000Z');
    const a = await buy('a', { auto_renew: false });
    await clockTo('2026-01-10T05:00:00.000Z');
    const z = await buy('z', { auto_renew: false });
    await clockTo(NIGHT);
    expect((await nightly()).phases[0]).toMatchObject({ phase: 'renewals', jobs: 0 });
    await clockTo('2026-02-09T10:00:00.000Z');
    for (const s of [a, z])
      expect(await ok('PATCH', `/v1/subscriptions/${s.id}`, { auto_renew: true })).toMatchObject({ auto_renew: true });
    const renewal = await renewedAhead(a.id, A_END);
    expect(await jobState(renewalJob(z.id, '2026-02-10T05:00:00.000Z'))).toBeUndefined();
    // another change of a changes nothing more
    await ok('PATCH', `/v1/subscriptions/${a.id}`, { metadata: { note: 'x' } });
    await expectUsableAfterEndAndRenewedOnce('a', a.id, A_END, renewal);
    await expectLeftToTheNextNight(z.id, '2026-02-10T05:00:00.000Z');
  });

  it('a cancel at period end taken back: renewed ahead at once', async () => {
    await start('2026-01-09T18:00:00.000Z');
    const a = await buy('a');
    await clockTo('2026-02-08T12:00:00.000Z');
    await ok('POST', `/v1/subscriptions/${a.id}/cancel`, { at: 'period_end' });
    await clockTo(NIGHT);
    expect((await nightly()).phases[0]).toMatchObject({ phase: 'renewals', jobs: 0 });
    await clockTo('2026-02-09T10:00:00.000Z');
    expect(await ok('PATCH', `/v1/subscriptions/${a.id}`, { cancel_at_period_end: false })).toMatchObject({
      cancel_at_period_end: false,
    });
    const renewal = await renewedAhead(a.id, A_END);
    await expectUsableAfterEndAndRenewedOnce('a', a.id, A_END, renewal);
  });

  it('a cancel that took back the renewal made ahead, taken back in turn: the same job renews again', async () => {
    await start('2026-01-09T18:00:00.000Z');
    const a = await buy('a');
    await clockTo(NIGHT);
    expect((await nightly()).phases[0]).toMatchObject({ phase: 'renewals', jobs: 1, completed: 1 });
    await clockTo('2026-02-09T08:00:00.000Z');
    // the renewal made ahead is taken back (its invoice voided) and its completed job forgotten
    expect(await ok('POST', `/v1/subscriptions/${a.id}/cancel`, { at: 'period_end' })).toMatchObject({
      renewal_count: 0,
      current_period_end: A_END,
    });
    expect(await jobState(renewalJob(a.id, A_END))).toBeUndefined();
    await clockTo('2026-02-09T10:00:00.000Z');
    await ok('PATCH', `/v1/subscriptions/${a.id}`, { cancel_at_period_end: false });
    await expectUsedFromRenewal('a', A_END, await renewedAhead(a.id, A_END));
    await clockTo('2026-02-10T02:00:00.000Z');
    await nightly();
    expect(await view(a.id)).toMatchObject({ renewal_count: 1 });
    expect(await invoicesOf(a.id)).toEqual([
      ['renewal', 'issued'],
      ['renewal', 'void'],
      ['subscription', 'issued'],
    ]);
  });

  it('resumed after a suspension over the night: renewed ahead at once', async () => {
    await start('2026-01-09T18:00:00.000Z');
    const a = await buy('a');
    await clockTo('2026-02-08T12:00:00.000Z');
    await ok('PATCH', `/v1/subscriptions/${a.id}`, { status: 'suspended' });
    await clockTo(NIGHT);
    expect((await nightly()).phases[0]).toMatchObject({ phase: 'renewals', jobs: 0 });
    await clockTo('2026-02-09T10:00:00.000Z');
    expect(await ok('PATCH', `/v1/subscriptions/${a.id}`, { status: 'active' })).toMatchObject({ status: 'active' });
    const renewal = await renewedAhead(a.id, A_END);
    await expectUsableAfterEndAndRenewedOnce('a', a.id, A_END, renewal);
  });
});

describe('the renewal the night asked failed meanwhile', () => {
  it('suspended before its job ran, then resumed: the same job renews it at once, not its old refusal', async () => {
    await start('2026-01-09T18:00:00.000Z');
    const a = await buy('a');
    await clockTo(NIGHT);
    // the night asks for a's renewal; its job waits behind others (the queue paused) while a is suspended
    const queue = current().ctx.queues.renewal;
    await queue.pause();
    const [asked] = await askRenewals(
      current().ctx,
      [{ id: a.id, current_period_end: new Date(A_END) }],
      new Date(NIGHT),
    );
    expect(asked?.jobId).toBe(renewalJob(a.id, A_END));
    await ok('PATCH', `/v1/subscriptions/${a.id}`, { status: 'suspended' });
    await queue.resume();
    const refused = await awaitOutcome(current().ctx, 'renew', renewalJob(a.id, A_END), { timeoutMs: 20_000 });
    expect(refused).toMatchObject({ state: 'failed', failure: { code: 'conflict' } });
    // resumed before the period ends: renewed ahead at once under the same job id, which BullMQ holds failed
    await clockTo('2026-02-09T10:00:00.000Z');
    expect(await ok('PATCH', `/v1/subscriptions/${a.id}`, { status: 'active' })).toMatchObject({ status: 'active' });
    const renewal = await renewedAhead(a.id, A_END);
    await expectUsableAfterEndAndRenewedOnce('a', a.id, A_END, renewal);
  });
});

describe('a period begun since the last night', () => {
  it('bought starting in the past, ending before the next night: renewed ahead at once; a usual one, not', async () => {
    await start('2026-02-09T01:00:00.000Z');
    await clockTo(NIGHT);
    await nightly();
    await clockTo('2026-02-09T10:00:00.000Z');
    // a: from 9 Jan 18:00, so [9 Jan 18:00, 9 Feb 18:00); z: bought now, [9 Feb 10:00, 9 Mar 10:00)
    const a = await buy('a', { starts_at: '2026-01-09T18:00:00.000Z' });
    expect(a.current_period_end).toBe(A_END);
    const z = await buy('z');
    const renewal = await renewedAhead(a.id, A_END);
    expect(await jobState(renewalJob(z.id, '2026-03-09T10:00:00.000Z'))).toBeUndefined();
    await expectUsableAfterEndAndRenewedOnce('a', a.id, A_END, renewal);
    expect(await view(z.id)).toMatchObject({ renewal_count: 0 });
  });

  it('activated by its payment on the day before the night the clocks skip: renewed ahead at once', async () => {
    // America/New_York: `0 2 * * *` runs 7 Mar 02:00 EST (07:00Z), then 9 Mar 02:00 EDT (06:00Z): 8 Mar has no run
    await start('2026-03-06T15:00:00.000Z', { BUSINESS_TZ: 'America/New_York' });
    await ok(
      'POST',
      '/v1/packages',
      {
        code: 'day',
        name: 'Day pass',
        price: 100,
        currency: 'USD',
        validity: { count: 1, unit: 'day' },
        items: [{ credit_type: 'sms', units: 10 }],
        auto_renew: true,
      },
      201,
    );
    // pending, both; z paid at once, 6 Mar 10:00 EST (15:00Z): its day [6 Mar 15:00Z, 7 Mar 15:00Z), the next night's
    const a = await buy('a', { activation: 'on_payment' }, 'day');
    const z = await buy('z', { activation: 'on_payment' }, 'day');
    await ok('POST', `/v1/invoices/${z.invoice.id}/pay`);
    expect(await view(z.id)).toMatchObject({ status: 'active', current_period_end: '2026-03-07T15:00:00.000Z' });
    // the night of 7 Mar renews z up to 9 Mar 08:00Z (49 h); a, pending, is not renewed
    await clockTo('2026-03-07T07:00:00.000Z');
    expect((await nightly()).phases[0]).toMatchObject({ phase: 'renewals', jobs: 2 });
    expect(await jobState(renewalJob(z.id, '2026-03-07T15:00:00.000Z'))).toBe('completed');
    // a paid on 7 Mar 09:00 EST (14:00Z), after its planned start: a day of 23 h from the payment, to 8 Mar 09:00
    // EDT (13:00Z) — before the next night (9 Mar 06:00Z), so renewed ahead at once
    await clockTo('2026-03-07T14:00:00.000Z');
    await ok('POST', `/v1/invoices/${a.invoice.id}/pay`);
    const end = '2026-03-08T13:00:00.000Z';
    expect(await view(a.id)).toMatchObject({ status: 'active' });
    await expectUsedFromRenewal('a', end, await renewedAhead(a.id, end));
    // the night of 9 Mar renews it on (up to its horizon, 11 Mar 07:00Z): the days after, not that one again
    await clockTo('2026-03-09T06:00:00.000Z');
    await nightly();
    expect((await renewedEvents(a.id)).map((e) => e.period_start)).toEqual([
      end,
      '2026-03-09T13:00:00.000Z',
      '2026-03-10T13:00:00.000Z',
    ]);
  });
});
