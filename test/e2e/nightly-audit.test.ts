import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import { jobIdOf } from '../../src/jobs/definitions.js';
import { startScheduler } from '../../src/scheduler/index.js';
import { enqueueMaintenance, runNightly } from '../../src/scheduler/nightly.js';
import { jitterUnit, retryDelayMs } from '../../src/webhooks/retry-schedule.js';
import { type Sibling, startSibling, startTestApp, type TestApp } from '../helpers/app.js';
import { closeVerified, expectEventsMatchSchemas, httpSteps } from '../helpers/http-steps.js';
import { Receiver } from '../helpers/receiver.js';
import { jsonRows } from '../helpers/reports.js';

/**
 * An audit of the scheduled and asynchronous parts of DOMAIN.md and API.md with real Postgres and Redis and a
 * moved clock: nightly auto-renewal (two schedulers, a missed night caught up at start, calendar months), the
 * expiry sweep, nightly reports, and the events and webhooks they cause. Each test has a service of its own (the
 * nightly run looks at every subscription of its database). BUSINESS_TZ is UTC; expected values are worked out by
 * hand in the comments. The cron entries are set to a minute that never comes during a test (1 January 03:00 of
 * the wall clock), so that only the catch-up at start and the runs a test makes do anything.
 */
const QUIET_CRON = { NIGHTLY_CRON: '0 2 * * *', EXPIRE_CRON: '0 3 1 1 *' };
let app: TestApp;
const others: Array<() => Promise<void>> = [];
async function start(now: string, env: Record<string, string> = {}) {
  app = await startTestApp({ roles: ['api', 'worker'], now, env: { ...QUIET_CRON, ...env } });
}
afterEach(async () => {
  for (const stop of others.splice(0).reverse()) await stop();
  // every event the test caused is what its published schema says (what a receiver parses)
  await expectEventsMatchSchemas(app);
  await closeVerified(app);
});

const { ok } = httpSteps(() => app);
const at = (iso: string) => app.clock.set(iso);
const view = (id: string) => ok('GET', `/v1/subscriptions/${id}`);

async function catalog() {
  await ok('POST', '/v1/credit-types', { code: 'sms', name: 'SMS', unit: 'message' }, 201);
}
const pack = (code: string, extra: Record<string, unknown> = {}) =>
  ok(
    'POST',
    '/v1/packages',
    {
      code,
      name: code,
      price: 1999,
      currency: 'USD',
      validity: { count: 1, unit: 'month' },
      items: [{ credit_type: 'sms', units: 100 }],
      ...extra,
    },
    201,
  );
const client = (ref: string) => ok('POST', '/v1/clients', { external_ref: ref, name: ref }, 201);
const buy = (ref: string, pkg: string, extra: Record<string, unknown> = {}) =>
  ok('POST', '/v1/subscriptions', { client: ref, package: pkg, ...extra }, 201);

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());
const periodsOf = async (id: string) =>
  (
    (await app.database
      .db('subscription_periods')
      .where({ subscription_id: id })
      .orderBy('starts_at')
      .select('starts_at', 'ends_at')) as Array<{ starts_at: Date; ends_at: Date }>
  ).map((p) => [iso(p.starts_at), iso(p.ends_at)]);
const eventTypes = async (subject: string) =>
  (await app.database.db('outbox_events').where({ subject_id: subject }).orderBy('seq').pluck('type')) as string[];
const ledgerOf = async (balanceId: string) =>
  (
    (await app.database
      .db('ledger_entries')
      .where({ balance_id: balanceId })
      .orderBy('seq')
      .select('kind', 'amount', 'remaining_after')) as Array<{ kind: string; amount: bigint; remaining_after: bigint }>
  ).map((r) => [r.kind, String(r.amount), String(r.remaining_after)]);
const balancesOfSubscription = async (id: string) =>
  (
    (await app.database
      .db('balances')
      .where({ subscription_id: id })
      .orderBy('valid_from')
      .select('id', 'granted', 'remaining', 'valid_from', 'expires_at', 'status', 'source')) as Array<{
      id: string;
      granted: bigint;
      remaining: bigint;
      valid_from: Date;
      expires_at: Date;
      status: string;
      source: string;
    }>
  ).map((b) => ({
    id: b.id,
    granted: String(b.granted),
    remaining: String(b.remaining),
    from: iso(b.valid_from),
    to: iso(b.expires_at),
    status: b.status,
    source: b.source,
  }));
const counts = async () => {
  const out: Record<string, number> = {};
  for (const t of ['ledger_entries', 'outbox_events', 'invoices', 'subscription_periods', 'balances']) {
    const [row] = (await app.database.db(t).count({ n: '*' })) as Array<{ n: string | number | bigint }>;
    out[t] = Number(row?.n ?? 0);
  }
  return out;
};
/** An `expire` job pushed into the maintenance queue as the scheduler does, and its result. */
async function sweep(asOf: string) {
  const job = await enqueueMaintenance(app.ctx, 'expire', new Date(asOf));
  const outcome = await awaitOutcome(app.ctx, 'expire', job.jobId, { timeoutMs: 30_000 });
  expect(outcome.state, JSON.stringify(outcome)).toBe('completed');
  if (outcome.state !== 'completed') throw new Error(`the sweep as of ${asOf} did not complete`);
  return outcome.value;
}

describe('auto-renew at night', () => {
  it('two schedulers over one database and prefix renew each period due before the next run once', async () => {
    await start('2026-01-31T00:00:00.000Z');
    await catalog();
    await pack('monthly', { auto_renew: true });
    for (const ref of ['a', 'b', 'c', 'd']) await client(ref);
    const a = await buy('a', 'monthly'); // [01-31, 02-28)
    at('2026-02-01T12:00:00.000Z');
    const b = await buy('b', 'monthly'); // [02-01 12:00, 03-01 12:00): ends 27.5 h after the run below
    at('2026-02-02T03:00:00.000Z');
    const c = await buy('c', 'monthly'); // [02-02 03:00, 03-02 03:00): ends 49 h after it
    at('2026-01-31T00:00:00.000Z');
    const d = await buy('d', 'monthly', { auto_renew: false }); // [01-31, 02-28): not auto-renewing
    expect([a, b, c, d].map((s) => s.current_period_end)).toEqual([
      '2026-02-28T00:00:00.000Z',
      '2026-03-01T12:00:00.000Z',
      '2026-03-02T03:00:00.000Z',
      '2026-02-28T00:00:00.000Z',
    ]);

    const other: Sibling = await startSibling(app, ['worker']);
    others.push(() => other.stop());
    // the run of 27 Feb 02:00: the next is 28 Feb 02:00, so the horizon is 28 Feb 04:00 (24 h + 2 h slack):
    // a (28 Feb 00:00) is due; b (1 Mar 12:00) and c are not; d does not auto-renew
    at('2026-02-27T02:00:00.000Z');
    const [one, two] = await Promise.all([
      runNightly(app.ctx, app.clock.now(), { phaseTimeoutMs: 20_000, reports: false }),
      runNightly(other.ctx, app.clock.now(), { phaseTimeoutMs: 20_000, reports: false }),
    ]);
    for (const report of [one, two]) expect(report.phases[0]).toMatchObject({ phase: 'renewals', jobs: 1 });
    expect((await view(a.id)).current_period_end).toBe('2026-03-31T00:00:00.000Z');
    expect((await view(b.id)).current_period_end).toBe('2026-03-01T12:00:00.000Z');
    const renewJob = await app.ctx.queues.renewal.getJob(
      jobIdOf('renew', { subscription_id: a.id, period_end: '2026-02-28T00:00:00.000Z' }),
    );
    // API.md's `renewal:<subscription>:<period_end>`, with `|` for `:` and the time compact (README: BullMQ)
    expect(renewJob?.id).toBe(`renewal|${a.id}|20260228T000000.000Z`);

    // 28 Feb 02:00: b ends 1 Mar 12:00, before 1 Mar 04:00? no — it ends 8 h after the horizon: not yet;
    // 29 Feb does not exist: the next run is 1 Mar 02:00, whose horizon (2 Mar 04:00) takes b and c
    at('2026-02-28T02:00:00.000Z');
    await Promise.all([
      runNightly(app.ctx, app.clock.now(), { phaseTimeoutMs: 20_000, reports: false }),
      runNightly(other.ctx, app.clock.now(), { phaseTimeoutMs: 20_000, reports: false }),
    ]);
    expect((await view(b.id)).current_period_end).toBe('2026-03-01T12:00:00.000Z');
    expect((await view(d.id)).status).toBe('expired');
    at('2026-03-01T02:00:00.000Z');
    await Promise.all([
      runNightly(app.ctx, app.clock.now(), { phaseTimeoutMs: 20_000, reports: false }),
      runNightly(other.ctx, app.clock.now(), { phaseTimeoutMs: 20_000, reports: false }),
    ]);
    // b: anchor 1 Feb 12:00 → [1 Mar 12:00, 1 Apr 12:00); c: anchor 2 Feb 03:00 → [2 Mar 03:00, 2 Apr 03:00)
    expect(await periodsOf(b.id)).toEqual([
      ['2026-02-01T12:00:00.000Z', '2026-03-01T12:00:00.000Z'],
      ['2026-03-01T12:00:00.000Z', '2026-04-01T12:00:00.000Z'],
    ]);
    expect(await periodsOf(c.id)).toEqual([
      ['2026-02-02T03:00:00.000Z', '2026-03-02T03:00:00.000Z'],
      ['2026-03-02T03:00:00.000Z', '2026-04-02T03:00:00.000Z'],
    ]);
    for (const s of [a, b, c]) {
      expect(await app.database.db('invoices').where({ subscription_id: s.id }).pluck('kind')).toEqual([
        'subscription',
        'renewal',
      ]);
      expect((await eventTypes(s.id)).filter((t) => t === 'subscription.renewed')).toHaveLength(1);
      expect((await view(s.id)).renewal_count).toBe(1);
    }
  });

  it('a missed night is caught up at start, before anything expires; months stay calendar months', async () => {
    await start('2026-01-31T00:00:00.000Z');
    await catalog();
    await pack('monthly', { auto_renew: true });
    await pack('weekly', { auto_renew: true, validity: { count: 7, unit: 'day' } });
    for (const ref of ['m', 'w', 'n']) await client(ref);
    const m = await buy('m', 'monthly'); // [01-31, 02-28)
    const w = await buy('w', 'weekly'); // [01-31, 02-07)
    const n = await buy('n', 'monthly', { auto_renew: false });

    // no scheduler ran from 31 January on; two start on 2 March 09:30, two days after m's period ended
    at('2026-03-02T09:30:00.000Z');
    const before = await view(m.id);
    expect(before).toMatchObject({ status: 'active', current_period_end: '2026-02-28T00:00:00.000Z' });
    const other: Sibling = await startSibling(app, ['worker']);
    others.push(() => other.stop());
    // the queues that apply what they enqueue wait until both have looked: a worker that renewed w's period between
    // the two scans would rightly make the second scheduler ask for w's next period, not the same job
    const held = [app.ctx.queues.renewal, app.ctx.queues.maintenance];
    for (const queue of held) await queue.pause();
    const schedulers = [startScheduler(app.ctx), startScheduler(other.ctx)];
    others.push(async () => {
      for (const s of schedulers) await s.stop();
    });
    const caught = await Promise.all(schedulers.map((s) => s.caughtUp));
    for (const queue of held) await queue.resume();
    // each enqueued the same jobs: m's and w's current periods, and a sweep as of 09:30
    for (const jobs of caught) {
      expect(jobs.map((j) => j.jobId).sort()).toEqual(
        [
          `renewal|${m.id}|20260228T000000.000Z`,
          `renewal|${w.id}|20260207T000000.000Z`,
          'expire|20260302T093000.000Z',
        ].sort(),
      );
    }
    for (const job of caught[0]!) {
      const outcome = await awaitOutcome(app.ctx, job.name, job.jobId, { timeoutMs: 30_000 });
      expect(outcome.state, JSON.stringify(outcome)).toBe('completed');
    }
    // m: the next period starts where the last ended, not now: [28 Feb, 31 Mar) (anchor 31 Jan, month 2)
    expect(await periodsOf(m.id)).toEqual([
      ['2026-01-31T00:00:00.000Z', '2026-02-28T00:00:00.000Z'],
      ['2026-02-28T00:00:00.000Z', '2026-03-31T00:00:00.000Z'],
    ]);
    // w: four weeks ended since; each renewed in turn, contiguous, up to the week around 2 March
    expect(await periodsOf(w.id)).toEqual([
      ['2026-01-31T00:00:00.000Z', '2026-02-07T00:00:00.000Z'],
      ['2026-02-07T00:00:00.000Z', '2026-02-14T00:00:00.000Z'],
      ['2026-02-14T00:00:00.000Z', '2026-02-21T00:00:00.000Z'],
      ['2026-02-21T00:00:00.000Z', '2026-02-28T00:00:00.000Z'],
      ['2026-02-28T00:00:00.000Z', '2026-03-07T00:00:00.000Z'],
    ]);
    expect(await view(w.id)).toMatchObject({ status: 'active', renewal_count: 4 });
    expect(await view(m.id)).toMatchObject({ status: 'active', renewal_count: 1, auto_renew: true });
    // nothing lapsed: no expiry of either subscription, no lapse recorded; n (no auto_renew) expired at its end
    for (const s of [m, w]) {
      const types = await eventTypes(s.id);
      expect(types.filter((t) => t === 'subscription.expired')).toEqual([]);
      expect(await app.database.db('subscription_lapses').where({ subscription_id: s.id })).toEqual([]);
    }
    expect(await view(n.id)).toMatchObject({ status: 'expired', expired_at: '2026-02-28T00:00:00.000Z' });
    // m's first balance expired at its own end (100 unused, rollover none); the new one is whole, [28 Feb, 31 Mar)
    const mb = await balancesOfSubscription(m.id);
    expect(mb.map(({ id: _, ...b }) => b)).toEqual([
      {
        granted: '100',
        remaining: '0',
        from: '2026-01-31T00:00:00.000Z',
        to: '2026-02-28T00:00:00.000Z',
        status: 'expired',
        source: 'package',
      },
      {
        granted: '100',
        remaining: '100',
        from: '2026-02-28T00:00:00.000Z',
        to: '2026-03-31T00:00:00.000Z',
        status: 'active',
        source: 'package',
      },
    ]);
    expect(await ledgerOf(mb[0]!.id)).toEqual([
      ['grant', '100', '100'],
      ['expire', '-100', '0'],
    ]);
    expect(await app.database.db('invoices').where({ subscription_id: w.id })).toHaveLength(5);

    // a restart later the same morning changes nothing
    const settled = await counts();
    at('2026-03-02T09:45:00.000Z');
    const again = startScheduler(app.ctx);
    for (const job of await again.caughtUp) await awaitOutcome(app.ctx, job.name, job.jobId, { timeoutMs: 30_000 });
    await again.stop();
    expect(await counts()).toEqual(settled);

    // then the nights come as they should: 30 Mar, 29 Apr, 30 May 02:00 each renew m, by calendar months
    for (const night of ['2026-03-30T02:00:00.000Z', '2026-04-29T02:00:00.000Z', '2026-05-30T02:00:00.000Z']) {
      at(night);
      await runNightly(app.ctx, app.clock.now(), { phaseTimeoutMs: 20_000, reports: false });
    }
    expect((await periodsOf(m.id)).slice(2)).toEqual([
      ['2026-03-31T00:00:00.000Z', '2026-04-30T00:00:00.000Z'],
      ['2026-04-30T00:00:00.000Z', '2026-05-31T00:00:00.000Z'],
      ['2026-05-31T00:00:00.000Z', '2026-06-30T00:00:00.000Z'],
    ]);
  });
});

describe('auto-renew on the night the clocks go forward', () => {
  it('the run before a skipped 02:00 renews what ends before the run after it (America/New_York)', async () => {
    // 14 March 2027, 02:00 EST does not exist (clocks go from 02:00 to 03:00): NIGHTLY_CRON 0 2 * * * runs on
    // Saturday 13 March 02:00 EST (07:00Z), then not until Monday 15 March 02:00 EDT (06:00Z) — 47 hours later
    await start('2027-03-07T19:00:00.000Z', { BUSINESS_TZ: 'America/New_York' });
    await catalog();
    await pack('weekly', { auto_renew: true, validity: { count: 7, unit: 'day' } });
    await client('w');
    // 7 March 14:00 EST + 7 days = 14 March 14:00 EDT = 18:00Z, between the two runs
    const w = await buy('w', 'weekly');
    expect(w.current_period_end).toBe('2027-03-14T18:00:00.000Z');
    at('2027-03-13T07:00:00.000Z');
    const report = await runNightly(app.ctx, app.clock.now(), { phaseTimeoutMs: 20_000, reports: false });
    expect(report.phases[0]).toMatchObject({ phase: 'renewals', jobs: 1, completed: 1 });
    expect(await periodsOf(w.id)).toEqual([
      ['2027-03-07T19:00:00.000Z', '2027-03-14T18:00:00.000Z'],
      ['2027-03-14T18:00:00.000Z', '2027-03-21T18:00:00.000Z'],
    ]);
  });
});

describe('the expiry sweep', () => {
  it('expires balances, subscriptions and holds, unfreezes at frozen_until; twice is once', async () => {
    await start('2026-01-01T00:00:00.000Z');
    await catalog();
    await pack('plain', { max_freeze_days: 10 });
    await client('a');
    await client('f');
    const a = await buy('a', 'plain'); // [01-01, 02-01), 100 SMS
    const f = await buy('f', 'plain');
    at('2026-01-10T00:00:00.000Z');
    await ok('POST', '/v1/consumptions?wait=true', {
      client: 'a',
      credit_type: 'sms',
      quantity: 30,
      idempotency_key: 'u1',
    });
    at('2026-01-15T00:00:00.000Z');
    const frozen = await ok('POST', `/v1/subscriptions/${f.id}/freeze`, { until: '2026-01-20T00:00:00Z' });
    expect(frozen).toMatchObject({ status: 'frozen', frozen_until: '2026-01-20T00:00:00.000Z' });
    at('2026-01-20T00:00:00.000Z');
    const held = await ok('POST', '/v1/holds?wait=true', {
      client: 'a',
      credit_type: 'sms',
      quantity: 10,
      idempotency_key: 'h1',
      expires_in_seconds: 600,
    });
    expect(held).toMatchObject({ status: 'held', expires_at: '2026-01-20T00:10:00.000Z' });

    // 00:10: the hold is at its expires_at, the freeze 10 minutes past its frozen_until
    at('2026-01-20T00:10:00.000Z');
    expect(await sweep('2026-01-20T00:10:00.000Z')).toMatchObject({
      subscriptions_unfrozen: 1,
      holds_expired: 1,
      balances_expired: 0,
      subscriptions_expired: 0,
      subscriptions_renewed: 0,
    });
    // frozen 15 Jan → 20 Jan: 5 days; the period end and the expiry move from 1 Feb to 6 Feb
    expect(await view(f.id)).toMatchObject({ status: 'active', current_period_end: '2026-02-06T00:00:00.000Z' });
    const [fb] = await balancesOfSubscription(f.id);
    expect(fb!.to).toBe('2026-02-06T00:00:00.000Z');
    expect(await ok('GET', `/v1/holds/${held.id}`)).toMatchObject({ status: 'expired', held: '0', released: '10' });
    expect(await eventTypes(held.id)).toEqual(['hold.expired']);
    const [ab] = await balancesOfSubscription(a.id);
    expect(await ledgerOf(ab!.id)).toEqual([
      ['grant', '100', '100'],
      ['consume', '-30', '70'],
      ['hold', '-10', '60'],
      ['release', '10', '70'],
    ]);
    let settled = await counts();
    expect(await sweep('2026-01-20T00:15:00.000Z')).toMatchObject({
      subscriptions_unfrozen: 0,
      holds_expired: 0,
      balances_expired: 0,
    });
    expect(await counts()).toEqual(settled);

    // 1 Feb 00:00, before any sweep: a's balance is past its expiry and spends nothing, f's (moved) still does
    at('2026-02-01T00:00:00.000Z');
    const short = await app.request('POST', '/v1/consumptions?wait=true', {
      body: { client: 'a', credit_type: 'sms', quantity: 1, idempotency_key: 'u2' },
    });
    expect(short.status, short.text).toBe(422);
    expect(short.body).toMatchObject({ code: 'insufficient_balance', applied: '0', shortfall: '1' });
    const usable = (await ok('GET', '/v1/clients/a/balances')).data[0];
    expect(usable).toMatchObject({ remaining: '0', consumed: '30' });
    await ok('POST', '/v1/consumptions?wait=true', {
      client: 'f',
      credit_type: 'sms',
      quantity: 5,
      idempotency_key: 'u3',
    });

    expect(await sweep('2026-02-01T00:00:00.000Z')).toMatchObject({
      balances_expired: 1,
      subscriptions_expired: 1,
      holds_expired: 0,
    });
    expect(await ledgerOf(ab!.id)).toEqual([
      ['grant', '100', '100'],
      ['consume', '-30', '70'],
      ['hold', '-10', '60'],
      ['release', '10', '70'],
      ['expire', '-70', '0'],
    ]);
    expect(await view(a.id)).toMatchObject({ status: 'expired', expired_at: '2026-02-01T00:00:00.000Z' });
    expect(await eventTypes(a.id)).toEqual(['subscription.created', 'subscription.expired']);
    expect(await eventTypes(ab!.id)).toEqual(['balance.expired']);
    expect((await ok('GET', '/v1/clients/a/balances')).data[0]).toMatchObject({
      granted: '100',
      consumed: '30',
      remaining: '0',
      expired: '70',
    });
    expect(await view(f.id)).toMatchObject({ status: 'active' });
    settled = await counts();
    expect(await sweep('2026-02-01T00:05:00.000Z')).toMatchObject({ balances_expired: 0, subscriptions_expired: 0 });
    expect(await counts()).toEqual(settled);

    // 6 Feb: f's moved end comes; 95 expire
    expect(await sweep('2026-02-06T00:00:00.000Z')).toMatchObject({ balances_expired: 1, subscriptions_expired: 1 });
    expect(await ledgerOf(fb!.id)).toEqual([
      ['grant', '100', '100'],
      ['extend', '0', '100'],
      ['consume', '-5', '95'],
      ['expire', '-95', '0'],
    ]);
    expect(await view(f.id)).toMatchObject({ status: 'expired', expired_at: '2026-02-06T00:00:00.000Z' });
  });
});

describe('two sweeps at once', () => {
  it('two instances sweeping at two minutes record each expiry, release and unfreeze once', async () => {
    await start('2026-01-01T00:00:00.000Z');
    await catalog();
    await pack('plain', { max_freeze_days: 10 });
    const subs = [];
    for (let i = 0; i < 6; i += 1) {
      await client(`s${i}`);
      subs.push(await buy(`s${i}`, 'plain')); // [01-01, 02-01)
    }
    at('2026-01-25T00:00:00.000Z');
    for (const s of subs.slice(4)) await ok('POST', `/v1/subscriptions/${s.id}/freeze`, { days: 2 });
    const holds = [];
    for (let i = 0; i < 4; i += 1) {
      const body = {
        client: `s${i}`,
        credit_type: 'sms',
        quantity: 3,
        idempotency_key: `h${i}`,
        expires_in_seconds: 60,
      };
      holds.push(await ok('POST', '/v1/holds?wait=true', body));
    }
    const other: Sibling = await startSibling(app, ['worker']);
    others.push(() => other.stop());
    // 1 Feb 00:00 and 00:01, at once: four subscriptions lapse with their balances, four holds expired on
    // 25 Jan (their 3 go back), two freezes ended on 27 Jan (those two now end on 3 Feb)
    at('2026-02-01T00:01:00.000Z');
    const [one, two] = await Promise.all([
      enqueueMaintenance(app.ctx, 'expire', new Date('2026-02-01T00:00:00.000Z')),
      enqueueMaintenance(other.ctx, 'expire', new Date('2026-02-01T00:01:00.000Z')),
    ]);
    for (const job of [one, two]) {
      const outcome = await awaitOutcome(app.ctx, 'expire', job.jobId, { timeoutMs: 30_000 });
      expect(outcome.state, JSON.stringify(outcome)).toBe('completed');
    }
    const events = (await app.database.db('outbox_events').select('type', 'subject_id')) as Array<{
      type: string;
      subject_id: string;
    }>;
    const countOf = (type: string) => events.filter((e) => e.type === type).length;
    expect(countOf('subscription.expired')).toBe(4);
    expect(countOf('balance.expired')).toBe(4);
    expect(countOf('hold.expired')).toBe(4);
    expect(countOf('subscription.unfrozen')).toBe(2);
    const keys = events.map((e) => `${e.type}|${e.subject_id}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const s of subs.slice(0, 4)) {
      const [b] = await balancesOfSubscription(s.id);
      expect(await ledgerOf(b!.id)).toEqual([
        ['grant', '100', '100'],
        ['hold', '-3', '97'],
        ['release', '3', '100'],
        ['expire', '-100', '0'],
      ]);
    }
    for (const s of subs.slice(4)) {
      expect(await view(s.id)).toMatchObject({ status: 'active', current_period_end: '2026-02-03T00:00:00.000Z' });
    }
  });
});

describe('a hold that expires shortly before its balance', () => {
  it('gives its units back at its own expiry: they roll over with the rest, not lapse', async () => {
    await start('2026-01-01T00:00:00.000Z');
    await catalog();
    await pack('keeps', { auto_renew: true, rollover: { policy: 'all' } });
    await client('k');
    const k = await buy('k', 'keeps'); // [01-01, 02-01), 100 SMS; rolls everything over
    // the nightly run of 31 Jan renews it ahead: [02-01, 03-01)
    at('2026-01-31T02:00:00.000Z');
    await runNightly(app.ctx, app.clock.now(), { phaseTimeoutMs: 20_000, reports: false });
    at('2026-01-31T23:57:00.000Z');
    const held = await ok('POST', '/v1/holds?wait=true', {
      client: 'k',
      credit_type: 'sms',
      quantity: 10,
      idempotency_key: 'late',
      expires_in_seconds: 60,
    });
    expect(held.expires_at).toBe('2026-01-31T23:58:00.000Z');
    // the sweep of 1 Feb 00:00 (every EXPIRE_CRON): the hold ended at 23:58, when its balance was valid, so its 10
    // were back in the balance before it expired at 00:00; all 100 roll over into the period from 1 Feb
    at('2026-02-01T00:05:00.000Z');
    expect(await sweep('2026-02-01T00:00:00.000Z')).toMatchObject({ holds_expired: 1, balances_rolled_over: 1 });
    const [first, , rolled] = await balancesOfSubscription(k.id);
    expect(await ledgerOf(first!.id)).toEqual([
      ['grant', '100', '100'],
      ['hold', '-10', '90'],
      ['release', '10', '100'],
      ['rollover', '-100', '0'],
    ]);
    expect(rolled).toMatchObject({ source: 'rollover', granted: '100', remaining: '100' });
    // in the ledger's own time: given back at 23:58 (when the hold ended), rolled over at 00:00
    const effective = (await app.database
      .db('ledger_entries')
      .where({ balance_id: first!.id })
      .orderBy('seq')
      .pluck('effective_at')) as Date[];
    expect(effective.map(iso)).toEqual([
      '2026-01-01T00:00:00.000Z',
      '2026-01-31T23:57:00.000Z',
      '2026-01-31T23:58:00.000Z',
      '2026-02-01T00:00:00.000Z',
    ]);
    expect(await ok('GET', `/v1/holds/${held.id}`)).toMatchObject({ status: 'expired', released: '10', lapsed: '0' });
  });
});

describe('nightly reports', () => {
  it('one run per type for the day before, stored with its output; the same night again makes no other', async () => {
    await start('2026-02-01T10:00:00.000Z');
    await catalog();
    await pack('monthly');
    await pack('big', { price: 5000, items: [{ credit_type: 'sms', units: 1000 }] });
    await client('a');
    await client('b');
    await buy('a', 'monthly');
    await buy('b', 'big');
    at('2026-02-01T15:00:00.000Z');
    await ok('POST', '/v1/consumptions?wait=true', {
      client: 'a',
      credit_type: 'sms',
      quantity: 7,
      idempotency_key: 'r1',
    });
    await ok('POST', '/v1/consumptions?wait=true', {
      client: 'b',
      credit_type: 'sms',
      quantity: 5,
      idempotency_key: 'r2',
    });

    at('2026-02-02T02:00:00.000Z');
    const first = await runNightly(app.ctx, app.clock.now(), { phaseTimeoutMs: 20_000 });
    at('2026-02-02T09:00:00.000Z');
    const again = await runNightly(app.ctx, app.clock.now(), { phaseTimeoutMs: 20_000 });
    for (const report of [first, again]) {
      const events = report.phases.find((p) => p.phase === 'events')!;
      expect(events).toMatchObject({ jobs: 8, completed: 8, failed: [] });
    }
    const runs = (await ok('GET', '/v1/reports?trigger=nightly&limit=500')).data as Array<{
      id: string;
      type: string;
      status: string;
      format: string;
      row_count: number;
    }>;
    expect(runs.map((r) => r.type).sort()).toEqual(
      ['balances', 'consumption', 'expiring', 'renewals', 'subscriptions', 'top_packages'].sort(),
    );
    for (const run of runs) expect(run).toMatchObject({ status: 'done', format: 'csv' });
    expect(await app.database.db('outbox_events').where({ type: 'report.ready' })).toHaveLength(6);

    const csv = async (type: string) => {
      const run = runs.find((r) => r.type === type)!;
      const res = await fetch(`${app.baseUrl}/v1/reports/${run.id}/download`, {
        headers: { authorization: `Bearer ${app.keys.read}` },
      });
      expect(res.status).toBe(200);
      return (await res.text()).split('\r\n').filter((l) => l !== '');
    };
    // 1 February: two sales (1999 + 5000 = 6999), no renewal, recharge or expiry
    expect(await csv('renewals')).toEqual([
      'period_start,currency,new_subscriptions,renewals,recharges,expirations,new_revenue,renewal_revenue,' +
        'recharge_revenue,revenue,voided_revenue,renewals_undone',
      '2026-02-01,USD,2,0,0,0,6999,0,0,6999,0,0',
    ]);
    // 7 + 5 SMS used on 1 February
    expect(await csv('consumption')).toEqual([
      'period_start,credit_type,unit,consumed,reversed,net',
      '2026-02-01,sms,message,12,0,12',
    ]);
    expect(await csv('top_packages')).toEqual([
      'rank,package_code,package_name,currency,new_subscriptions,renewals,requests,revenue',
      '1,big,big,USD,1,0,1,5000',
      '2,monthly,monthly,USD,1,0,1,1999',
    ]);
    // as of 2 Feb 00:00: a used 7 of 100 (7 %), b 5 of 1000 (0.5 %); nothing expires in the next 7 days
    expect((await csv('balances')).slice(1).map((l) => l.split(',').slice(1).join(','))).toEqual([
      'a,a,monthly,active,sms,message,100,7,93,0,0,0,0,0,7',
      'b,b,big,active,sms,message,1000,5,995,0,0,0,0,0,0.5',
    ]);
    expect(await csv('expiring')).toHaveLength(1);
    // the same report on demand, as JSON: the same numbers
    const { rows } = await jsonRows(app, {
      type: 'renewals',
      params: { from: '2026-02-01', to: '2026-02-01', group_by: 'day' },
    });
    expect(rows).toEqual([
      {
        period_start: '2026-02-01',
        currency: 'USD',
        new_subscriptions: 2,
        renewals: 0,
        recharges: 0,
        expirations: 0,
        new_revenue: 6999,
        renewal_revenue: 0,
        recharge_revenue: 0,
        revenue: 6999,
        voided_revenue: 0,
        renewals_undone: 0,
      },
    ]);
  });
  it('NIGHTLY_REPORTS names the types made, for every day missed too; none makes none', async () => {
    await start('2026-02-01T10:00:00.000Z', { NIGHTLY_REPORTS: 'consumption,balances' });
    await catalog();
    await pack('monthly');
    await client('a');
    await buy('a', 'monthly');
    // the night of 2 February, then none until the 5th's: the 5th's run makes 2, 3 and 4 February as well
    for (const night of ['2026-02-02T02:00:00.000Z', '2026-02-05T02:00:00.000Z']) {
      at(night);
      const report = await runNightly(app.ctx, app.clock.now(), { phaseTimeoutMs: 20_000 });
      expect(report.phases.find((p) => p.phase === 'events')).toMatchObject({ failed: [] });
    }
    const runs = (await ok('GET', '/v1/reports?trigger=nightly&limit=500')).data as Array<{
      type: string;
      status: string;
      params: { from?: string; as_of?: string };
    }>;
    expect(runs.map((r) => `${r.type} ${(r.params.from ?? r.params.as_of)!.slice(0, 10)}`).sort()).toEqual([
      'balances 2026-02-02',
      'balances 2026-02-03',
      'balances 2026-02-04',
      'balances 2026-02-05',
      'consumption 2026-02-01',
      'consumption 2026-02-02',
      'consumption 2026-02-03',
      'consumption 2026-02-04',
    ]);
    for (const run of runs) expect(run.status).toBe('done');
    await closeVerified(app);

    await start('2026-02-01T10:00:00.000Z', { NIGHTLY_REPORTS: 'none' });
    at('2026-02-02T02:00:00.000Z');
    const none = await runNightly(app.ctx, app.clock.now(), { phaseTimeoutMs: 20_000 });
    // notify and cleanup only
    expect(none.phases.find((p) => p.phase === 'events')).toMatchObject({ jobs: 2, completed: 2, failed: [] });
    expect((await ok('GET', '/v1/reports?trigger=nightly&limit=500')).data).toEqual([]);
  });
});

describe('events and webhooks of the night', () => {
  it('each change records its event once; signed deliveries retried on schedule; the endpoint disabled', async () => {
    await start('2026-01-31T00:00:00.000Z', {
      WEBHOOK_ALLOW_PRIVATE: 'true',
      WEBHOOK_BACKOFF_MS: '200',
      WEBHOOK_MAX_ATTEMPTS: '3',
    });
    const good = new Receiver();
    const failing = new Receiver();
    await good.start();
    await failing.start();
    others.push(async () => {
      good.stop();
      failing.stop();
    });
    const secret = `whsec_${Buffer.from('a secret of the nightly audit, 32b').toString('base64')}`;
    const types = ['subscription.renewed', 'subscription.expired', 'balance.expired', 'invoice.created'];
    const endpoint = await ok('POST', '/v1/webhook-endpoints', { url: good.url, events: types, secret }, 201);
    const broken = await ok(
      'POST',
      '/v1/webhook-endpoints',
      { url: failing.url, events: ['subscription.renewed'] },
      201,
    );
    failing.statuses = [500, 500, 500, 500, 500, 500];

    await catalog();
    await pack('monthly', { auto_renew: true });
    await client('m');
    await client('n');
    const m = await buy('m', 'monthly'); // [01-31, 02-28): invoice.created
    const n = await buy('n', 'monthly', { auto_renew: false }); // invoice.created

    const other: Sibling = await startSibling(app, ['worker']);
    others.push(() => other.stop());
    at('2026-02-27T02:00:00.000Z');
    await Promise.all([
      runNightly(app.ctx, app.clock.now(), { phaseTimeoutMs: 20_000, reports: false }),
      runNightly(other.ctx, app.clock.now(), { phaseTimeoutMs: 20_000, reports: false }),
    ]);
    at('2026-02-28T02:00:00.000Z');
    await Promise.all([
      runNightly(app.ctx, app.clock.now(), { phaseTimeoutMs: 20_000, reports: false }),
      runNightly(other.ctx, app.clock.now(), { phaseTimeoutMs: 20_000, reports: false }),
    ]);
    // m: renewed once (its renewal invoice), its first balance expired; n: expired with its balance
    const [mFirst] = await balancesOfSubscription(m.id);
    const [nOnly] = await balancesOfSubscription(n.id);
    expect(await eventTypes(m.id)).toEqual(['subscription.created', 'subscription.renewed']);
    expect(await eventTypes(n.id)).toEqual(['subscription.created', 'subscription.expired']);
    // the nightly notice of 27 Feb (EXPIRING_SOON_DAYS ahead) once, then the expiry once
    expect(await eventTypes(mFirst!.id)).toEqual(['balance.expiring_soon', 'balance.expired']);
    expect(await eventTypes(nOnly!.id)).toEqual(['balance.expiring_soon', 'balance.expired']);
    const expected = (await app.database
      .db('outbox_events')
      .whereIn('type', types)
      .orderBy('seq')
      .select('id', 'type')) as Array<{ id: string; type: string }>;
    // 3 invoices (2 sales, 1 renewal), 1 renewal, 1 subscription expired, 2 balances expired
    expect(expected.map((e) => e.type).sort()).toEqual(
      [
        'balance.expired',
        'balance.expired',
        'invoice.created',
        'invoice.created',
        'invoice.created',
        'subscription.expired',
        'subscription.renewed',
      ].sort(),
    );

    // every one delivered, verifiable with the standardwebhooks package, webhook-id = the event's id
    const deliveries = (await app.database.db('webhook_deliveries').where({ endpoint_id: endpoint.id })) as Array<{
      id: string;
      event_id: string;
    }>;
    expect(deliveries.map((d) => d.event_id).sort()).toEqual(expected.map((e) => e.id).sort());
    for (const d of deliveries) {
      const outcome = await awaitOutcome(app.ctx, 'deliver', `delivery|${d.id}`, { timeoutMs: 20_000 });
      expect(outcome.state, JSON.stringify(outcome)).toBe('completed');
    }
    const seen = new Map<string, string>();
    for (const r of good.received) {
      const body = new Webhook(secret).verify(r.body, r.headers as Record<string, string>) as {
        id: string;
        type: string;
      };
      expect(r.headers['webhook-id']).toBe(body.id);
      seen.set(body.id, body.type);
    }
    expect([...seen.keys()].sort()).toEqual(expected.map((e) => e.id).sort());

    // the failing endpoint: 3 attempts, each after the documented wait, then failed and the endpoint disabled
    const [lost] = (await app.database.db('webhook_deliveries').where({ endpoint_id: broken.id })) as Array<{
      id: string;
    }>;
    const outcome = await awaitOutcome(app.ctx, 'deliver', `delivery|${lost!.id}`, { timeoutMs: 20_000 });
    expect(outcome.state).toBe('failed');
    const attempts = (await app.database
      .db('webhook_attempts')
      .where({ delivery_id: lost!.id })
      .orderBy('attempt')
      .select('attempt', 'started_at', 'status_code')) as Array<{
      attempt: number;
      started_at: Date;
      status_code: number;
    }>;
    expect(attempts.map((a) => [a.attempt, a.status_code])).toEqual([
      [1, 500],
      [2, 500],
      [3, 500],
    ]);
    for (const retry of [1, 2]) {
      // retry 1 waits 200 ms + up to 20 %, retry 2 400 ms + up to 20 % (a floor: the job may start later)
      const wait = retryDelayMs(retry, { firstDelayMs: 200, maxDelayMs: 7_200_000 }, jitterUnit(lost!.id, retry));
      expect(wait).toBeGreaterThanOrEqual(200 * 2 ** (retry - 1));
      const gap = attempts[retry]!.started_at.getTime() - attempts[retry - 1]!.started_at.getTime();
      expect(gap).toBeGreaterThanOrEqual(wait);
    }
    expect(await app.database.db('webhook_deliveries').where({ id: lost!.id }).first()).toMatchObject({
      status: 'failed',
      attempts: 3,
    });
    const disabled = (await ok('GET', '/v1/webhook-endpoints')).data.find((e: { id: string }) => e.id === broken.id);
    expect(disabled.disabled_at).not.toBeNull();
    expect(failing.received).toHaveLength(3);
    // a disabled endpoint gets nothing: m's next renewal (30 March's run) makes no delivery for it
    at('2026-03-30T02:00:00.000Z');
    await runNightly(app.ctx, app.clock.now(), { phaseTimeoutMs: 20_000, reports: false });
    const renewed = (await eventTypes(m.id)).filter((t) => t === 'subscription.renewed');
    expect(renewed).toHaveLength(2);
    const third = (await app.database.db('webhook_deliveries').where({ endpoint_id: endpoint.id })) as Array<{
      id: string;
    }>;
    // its renewal and its invoice reach the good endpoint: 7 deliveries before, 9 now
    expect(third).toHaveLength(9);
    for (const d of third) await awaitOutcome(app.ctx, 'deliver', `delivery|${d.id}`, { timeoutMs: 20_000 });
    expect(await app.database.db('webhook_deliveries').where({ endpoint_id: broken.id })).toHaveLength(1);
    expect(failing.received).toHaveLength(3);
  });
});
