import { DateTime } from 'luxon';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import { lastRunAtOrBefore, renewalLookaheadMs } from '../../src/jobs/renewal-lookahead.js';
import { startScheduler } from '../../src/scheduler/index.js';
import { enqueueMaintenance, runNightly } from '../../src/scheduler/nightly.js';
import { type Sibling, startSibling, startTestApp, type TestApp } from '../helpers/app.js';
import { recyclingDatabase } from '../helpers/database.js';
import { closeVerified, expectEventsMatchSchemas, httpSteps } from '../helpers/http-steps.js';
import { download, runReport } from '../helpers/reports.js';

/**
 * QA of the nightly work against instants and figures worked out by hand (DOMAIN.md "Lifecycle": Auto-renew,
 * Expire; "Reports"; "Edges that must hold": No lapse by accident, Paying after the period passed; README
 * NIGHTLY_CRON, EXPIRE_CRON, NIGHTLY_REPORTS, "Acceptance runs: moving time", "Reports and the display windows").
 * BUSINESS_TZ is Asia/Riyadh (UTC+3, no daylight saving) except for one case in America/New_York over the night the
 * clocks skip 02:00. The clock is the service's own (CLOCK=manual), moved with PUT /v1/admin/clock; nights run
 * through POST /v1/admin/nightly-runs (the same runNightly as NIGHTLY_CRON) or the scheduler's catch-up at start.
 * EXPIRE_CRON is set to a minute that never comes during a test, so only the runs a test makes sweep.
 *
 * Look-ahead (README NIGHTLY_CRON): the longest gap between two runs of `0 2 * * *` in a year + 2 h — 24 + 2 = 26 h
 * in Riyadh; 47 + 2 = 49 h in New York (the run of the spring-forward night does not exist). A period is renewed by
 * a run when it ends strictly before run + look-ahead.
 */
const RIYADH = 'Asia/Riyadh';
const NY = 'America/New_York';
const QUIET = { NIGHTLY_CRON: '0 2 * * *', EXPIRE_CRON: '0 3 1 1 *' };

let app: TestApp | undefined;
let zone = RIYADH;
const siblings: Array<() => Promise<void>> = [];
const databases = recyclingDatabase();
afterAll(() => databases.drop());
afterEach(async () => {
  for (const stop of siblings.splice(0).reverse()) await stop();
  const closing = app;
  app = undefined;
  if (!closing) return;
  // every event of the test is what its published schema says; every invariant holds
  await expectEventsMatchSchemas(closing);
  await closeVerified(closing);
});

const current = (): TestApp => {
  if (!app) throw new Error('no app started');
  return app;
};
const { call, ok, clockTo, nightly } = httpSteps(current);

/** An instant given as wall time in the test's zone ("2026-03-10T02:00"), as RFC 3339 UTC. */
const local = (wall: string, tz = zone) => DateTime.fromISO(wall, { zone: tz }).toUTC().toISO() ?? '';
const to = (wall: string) => clockTo(local(wall));

async function start(tz: string, wall: string, env: Record<string, string> = {}): Promise<void> {
  zone = tz;
  app = await startTestApp({
    database: await databases.next(),
    roles: ['api', 'worker'],
    now: local(wall, tz),
    env: { ...QUIET, BUSINESS_TZ: tz, ...env },
  });
}

const pack = (code: string, extra: Record<string, unknown> = {}) =>
  ok(
    'POST',
    '/v1/packages',
    {
      code,
      name: code,
      price: 5000,
      currency: 'SAR',
      validity: { count: 1, unit: 'month' },
      items: [{ credit_type: 'sms', units: 100 }],
      ...extra,
    },
    201,
  );
const smsType = () => ok('POST', '/v1/credit-types', { code: 'sms', name: 'SMS', unit: 'message' }, 201);
type Sub = { id: string; status: string; current_period_end: string; invoice: { id: string; status: string } };
/** A client of its own buying `pkg`. */
const buy = async (ref: string, pkg: string, extra: Record<string, unknown> = {}): Promise<Sub> => {
  await ok('POST', '/v1/clients', { external_ref: ref, name: ref }, 201);
  return ok('POST', '/v1/subscriptions', { client: ref, package: pkg, ...extra }, 201);
};
const use = (client: string, quantity: number, key: string) =>
  ok('POST', '/v1/consumptions?wait=true', { client, credit_type: 'sms', quantity, idempotency_key: key });
const view = (id: string) => ok('GET', `/v1/subscriptions/${id}`);

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());
const db = () => current().database.db;
const periodsOf = async (id: string) =>
  (
    (await db()('subscription_periods').where({ subscription_id: id }).orderBy('starts_at')) as Array<{
      starts_at: Date;
      ends_at: Date;
    }>
  ).map((p) => [iso(p.starts_at), iso(p.ends_at)]);
type Lot = { id: string; source: string; status: string; granted: string; remaining: string; from: string; to: string };
const balancesOf = async (id: string): Promise<Lot[]> =>
  (
    (await db()('balances').where({ subscription_id: id }).orderBy(['valid_from', 'source'])) as Array<{
      id: string;
      source: string;
      status: string;
      granted: bigint;
      remaining: bigint;
      valid_from: Date;
      expires_at: Date;
    }>
  ).map((b) => ({
    id: b.id,
    source: b.source,
    status: b.status,
    granted: String(b.granted),
    remaining: String(b.remaining),
    from: iso(b.valid_from) ?? '',
    to: iso(b.expires_at) ?? '',
  }));
/** A balance's ledger: kind, amount, remaining after, and the instant it takes effect. */
const ledgerOf = async (balanceId: string) =>
  (
    (await db()('ledger_entries').where({ balance_id: balanceId }).orderBy('seq')) as Array<{
      kind: string;
      amount: bigint;
      remaining_after: bigint;
      effective_at: Date;
    }>
  ).map((e) => [e.kind, String(e.amount), String(e.remaining_after), iso(e.effective_at)]);
type Invoice = { id: string; number: string; kind: string; total: number; status: string };
const invoicesOf = async (id: string): Promise<Invoice[]> =>
  ((await ok('GET', `/v1/invoices?subscription=${id}&limit=500`)).data as Invoice[]).sort((a, b) =>
    a.number < b.number ? -1 : 1,
  );
type Event = { id: string; seq: string; type: string; created_at: string; data: Record<string, any> };
/** GET /v1/events of a type, every page, oldest first. */
const eventsOf = async (type: string): Promise<Event[]> => {
  const all: Event[] = [];
  for (let after: string | null = null; ; ) {
    const page = await ok('GET', `/v1/events?type=${type}&limit=500${after ? `&after=${after}` : ''}`);
    all.push(...page.data);
    after = page.next_cursor;
    if (!after || page.data.length === 0) return all;
  }
};
const eventsAbout = async (type: string, key: string, id: string) =>
  (await eventsOf(type)).filter((e) => e.data[key] === id);

/** The renewal job's id (README "Where this differs": `|` for `:`, the period end in ISO 8601 basic format). */
const renewalJobId = (subscription: string, periodEnd: string) =>
  `renewal|${subscription}|${periodEnd.replace(/[-:]/g, '')}`;
const jobState = async (jobId: string) => (await current().ctx.queues.renewal.getJob(jobId))?.getState();

/**
 * DOMAIN.md "No lapse by accident": every `balance.expired` of the subscription came after the `subscription.renewed`
 * of the period starting where that balance ended (outbox order), and nothing expired the subscription.
 */
async function expectRenewedBeforeExpired(subscription: string) {
  const renewed = await eventsAbout('subscription.renewed', 'subscription_id', subscription);
  const expired = await eventsAbout('balance.expired', 'subscription_id', subscription);
  expect(expired.length).toBeGreaterThan(0);
  for (const e of expired) {
    const next = renewed.find((r) => r.data.period_start === e.data.expires_at);
    expect(next, `the renewal of the period from ${e.data.expires_at}`).toBeDefined();
    expect(BigInt(next!.seq) < BigInt(e.seq), `renewed from ${e.data.expires_at} before its balance expired`).toBe(
      true,
    );
  }
  expect(await eventsAbout('subscription.expired', 'subscription_id', subscription)).toEqual([]);
  expect(await db()('subscription_lapses').where({ subscription_id: subscription })).toEqual([]);
}

/** The `expire` job of a run's minute (`expire|<as_of>`, API.md "Jobs"), as the sweep answered it. */
const sweepResult = async (asOf: string) => {
  const outcome = await awaitOutcome(current().ctx, 'expire', `expire|${asOf.replace(/[-:]/g, '')}`, {
    timeoutMs: 20_000,
  });
  expect(outcome.state, JSON.stringify(outcome)).toBe('completed');
  return outcome.state === 'completed' ? outcome.value : undefined;
};

describe('Auto-renew and the sweep in Asia/Riyadh: what ends before the next run, only that, once', () => {
  it('renews within 26 h; not a cancel at period end, frozen, pending, cancelled; two runs once', async () => {
    await start(RIYADH, '2026-02-09T12:00', { NIGHTLY_REPORTS: 'none' });
    await smsType();
    await pack('auto', { auto_renew: true, max_freeze_days: 10 });
    await pack('manual', { auto_renew: false });
    await pack('keep', { auto_renew: true, rollover: { policy: 'percent', percent: 50, cap_percent: 20 } });
    // monthly from the purchase's wall time in Riyadh (UTC+3): 9 Feb 12:00 → 9 Mar 12:00 = 09:00Z
    const c = await buy('c', 'auto');
    expect(c.current_period_end).toBe('2026-03-09T09:00:00.000Z');
    await to('2026-02-10T12:00');
    // all seven end on 10 Mar 12:00 Riyadh = 09:00Z
    const d = await buy('d', 'auto');
    const e = await buy('e', 'auto');
    const f = await buy('f', 'auto', { activation: 'on_payment' });
    const g = await buy('g', 'auto');
    const h = await buy('h', 'manual');
    const i = await buy('i', 'auto');
    const j = await buy('j', 'keep');
    expect(f).toMatchObject({ status: 'pending', invoice: { status: 'issued' } });
    for (const s of [d, e, f, g, h, i, j]) expect(s.current_period_end).toBe('2026-03-10T09:00:00.000Z');
    // 11 Feb 03:59 and 04:00 Riyadh: end 11 Mar 00:59Z and 01:00Z, a minute either side of the first night's horizon
    await to('2026-02-11T03:59');
    const a = await buy('a', 'auto');
    await to('2026-02-11T04:00');
    const b = await buy('b', 'auto');
    expect([a.current_period_end, b.current_period_end]).toEqual([
      '2026-03-11T00:59:00.000Z',
      '2026-03-11T01:00:00.000Z',
    ]);

    await to('2026-03-01T12:00');
    expect(await ok('POST', `/v1/subscriptions/${d.id}/cancel`, { at: 'period_end' })).toMatchObject({
      status: 'active',
      cancel_at_period_end: true,
    });
    expect(await ok('POST', `/v1/subscriptions/${g.id}/cancel`, { at: 'now' })).toMatchObject({ status: 'cancelled' });
    expect(await ok('PATCH', `/v1/subscriptions/${i.id}`, { status: 'suspended' })).toMatchObject({
      status: 'suspended',
    });
    await use('j', 37, 'j-1');
    // 9 Mar 12:00 Riyadh + 5 × 24 h = 14 Mar 12:00 Riyadh = 09:00Z
    await to('2026-03-09T12:00');
    expect(await ok('POST', `/v1/subscriptions/${e.id}/freeze`, { days: 5 })).toMatchObject({
      status: 'frozen',
      frozen_until: '2026-03-14T09:00:00.000Z',
    });

    // night 1: 10 Mar 02:00 Riyadh = 9 Mar 23:00Z; look-ahead 26 h → horizon 11 Mar 01:00Z. Due (active, auto_renew,
    // not cancelling, end < horizon): c (9 Mar 09:00Z, ended unrenewed), j (10 Mar 09:00Z) and a (00:59Z). Not b
    // (= horizon), d (cancel at period end), e (frozen), f (pending), g (cancelled), h (no auto_renew), i (suspended)
    expect(renewalLookaheadMs(QUIET.NIGHTLY_CRON, RIYADH)).toBe(26 * 3_600_000);
    const night1 = '2026-03-09T23:00:00.000Z';
    await clockTo(night1);
    // a second scheduler process (its own runtime and workers) runs the same night at the same time
    const other: Sibling = await startSibling(current(), ['worker']);
    siblings.push(() => other.stop());
    const [viaHttp, viaSibling] = await Promise.all([
      nightly(),
      runNightly(other.ctx, new Date(night1), { phaseTimeoutMs: 20_000 }),
    ]);
    for (const run of [viaHttp, viaSibling]) {
      expect(run.as_of).toBe(night1);
      expect(run.phases[0]).toMatchObject({ phase: 'renewals', failed: [], pending: 0 });
    }
    // each enqueues what it finds due when it looks (the other's workers may have renewed some already): 3 at most
    expect(Math.max(viaHttp.phases[0].jobs, viaSibling.phases[0]!.jobs)).toBe(3);

    // c: continued where it ended, not from now: [9 Mar 09:00Z, 9 Apr 12:00 Riyadh = 09:00Z)
    expect(await periodsOf(c.id)).toEqual([
      ['2026-02-09T09:00:00.000Z', '2026-03-09T09:00:00.000Z'],
      ['2026-03-09T09:00:00.000Z', '2026-04-09T09:00:00.000Z'],
    ]);
    expect(await periodsOf(a.id)).toEqual([
      ['2026-02-11T00:59:00.000Z', '2026-03-11T00:59:00.000Z'],
      ['2026-03-11T00:59:00.000Z', '2026-04-11T00:59:00.000Z'],
    ]);
    // the job ids name the period renewed (API.md `renewal:<subscription>:<period_end>`, README's `|` form)
    expect(await jobState(renewalJobId(c.id, '2026-03-09T09:00:00.000Z'))).toBe('completed');
    expect(await jobState(renewalJobId(a.id, '2026-03-11T00:59:00.000Z'))).toBe('completed');
    expect(await jobState(renewalJobId(j.id, '2026-03-10T09:00:00.000Z'))).toBe('completed');
    expect(await jobState(renewalJobId(b.id, '2026-03-11T01:00:00.000Z'))).toBeUndefined();
    for (const s of [b, d, e, f, g, h, i]) expect((await view(s.id)).renewal_count, s.id).toBe(0);
    // j renewed ahead: its new period's 100 from 10 Mar 09:00Z; nothing rolled over yet — that happens when the old
    // balance (100 − 37 = 63 left) reaches its end, not at the renewal
    expect((await balancesOf(j.id)).map((x) => [x.source, x.from, x.status, x.remaining])).toEqual([
      ['package', '2026-02-10T09:00:00.000Z', 'active', '63'],
      ['package', '2026-03-10T09:00:00.000Z', 'active', '100'],
    ]);

    // the same night asked again by an operator at 09:00 (as of its minute): a, c and j now end in April, past the
    // horizon; b still ends at it — nothing is due. (A run as of a later minute has a later horizon: at 02:30 it
    // would be 11 Mar 01:30Z, and b would be due then.)
    await to('2026-03-10T09:00');
    expect((await ok('POST', '/v1/admin/nightly-runs', { as_of: night1 })).phases[0]).toMatchObject({ jobs: 0 });
    // one renewal invoice each, at the subscription's price (5000 halalas)
    for (const s of [a, c, j]) {
      expect((await invoicesOf(s.id)).map((x) => [x.kind, x.total])).toEqual([
        ['subscription', 5000],
        ['renewal', 5000],
      ]);
      expect(await view(s.id)).toMatchObject({ status: 'active', renewal_count: 1 });
      expect(await eventsAbout('subscription.renewed', 'subscription_id', s.id)).toHaveLength(1);
    }
    // c's first balance ended at 9 Mar 09:00Z; the night's sweep (after its renewal) expired its 100 then
    const [cFirst] = await balancesOf(c.id);
    expect(await ledgerOf(cFirst!.id)).toEqual([
      ['grant', '100', '100', '2026-02-09T09:00:00.000Z'],
      ['expire', '-100', '0', '2026-03-09T09:00:00.000Z'],
    ]);
    await expectRenewedBeforeExpired(c.id);
    // 10 Mar 12:00 Riyadh = 09:00Z, f's period just ended, no sweep yet: its invoice cannot be paid any more
    await to('2026-03-10T12:00');
    const lateFee = await call('POST', `/v1/invoices/${f.invoice.id}/pay`, {});
    expect(lateFee.status, lateFee.text).toBe(409);

    // night 2: 11 Mar 02:00 Riyadh = 10 Mar 23:00Z, horizon 12 Mar 01:00Z: b (11 Mar 01:00Z) is due now
    const night2 = '2026-03-10T23:00:00.000Z';
    await clockTo(night2);
    const second = await nightly();
    expect(second.phases[0]).toMatchObject({ phase: 'renewals', jobs: 1, completed: 1 });
    expect(await periodsOf(b.id)).toEqual([
      ['2026-02-11T01:00:00.000Z', '2026-03-11T01:00:00.000Z'],
      ['2026-03-11T01:00:00.000Z', '2026-04-11T01:00:00.000Z'],
    ]);
    expect(await jobState(renewalJobId(b.id, '2026-03-11T01:00:00.000Z'))).toBe('completed');

    // the sweep of night 2 (as of 10 Mar 23:00Z) found the ends of 10 Mar 09:00Z: d cancelled; f, h, i expired (f's
    // invoice voided); the balances of d, f, h, i and j ended (j's rolled over in part); e frozen, untouched
    expect(await sweepResult(night2)).toMatchObject({
      subscriptions_renewed: 0,
      balances_expired: 5,
      balances_rolled_over: 1,
      subscriptions_expired: 3,
      subscriptions_cancelled: 1,
      invoices_voided: 1,
      subscriptions_awaiting_renewal: 0,
      subscriptions_unfrozen: 0,
    });
    // d: set to cancel at period end → cancelled then, its 100 expired
    expect(await view(d.id)).toMatchObject({ status: 'cancelled', cancelled_at: '2026-03-10T09:00:00.000Z' });
    expect((await eventsAbout('subscription.cancelled', 'subscription_id', d.id)).map((x) => x.data)).toEqual([
      expect.objectContaining({ at: 'period_end', period_end: '2026-03-10T09:00:00.000Z' }),
    ]);
    // h: no auto_renew → expired at its end; its 100 expired (ledger `expire`, `balance.expired`)
    expect(await view(h.id)).toMatchObject({ status: 'expired', expired_at: '2026-03-10T09:00:00.000Z' });
    for (const s of [d, h]) {
      const [lot] = await balancesOf(s.id);
      expect(await ledgerOf(lot!.id)).toEqual([
        ['grant', '100', '100', '2026-02-10T09:00:00.000Z'],
        ['expire', '-100', '0', '2026-03-10T09:00:00.000Z'],
      ]);
      expect((await eventsAbout('balance.expired', 'balance_id', lot!.id)).map((x) => x.data)).toEqual([
        expect.objectContaining({ expired: '100', rolled_over: '0', expires_at: '2026-03-10T09:00:00.000Z' }),
      ]);
    }
    // j: 50 % of the 63 left is 31 (31.5 cut), capped at 20 % of the period's 100 = 20: 20 roll into a `rollover`
    // balance over the renewed period, 43 expire
    const jLots = await balancesOf(j.id);
    expect(jLots.map((x) => [x.source, x.from, x.to, x.status, x.granted, x.remaining])).toEqual([
      ['package', '2026-02-10T09:00:00.000Z', '2026-03-10T09:00:00.000Z', 'expired', '100', '0'],
      ['package', '2026-03-10T09:00:00.000Z', '2026-04-10T09:00:00.000Z', 'active', '100', '100'],
      ['rollover', '2026-03-10T09:00:00.000Z', '2026-04-10T09:00:00.000Z', 'active', '20', '20'],
    ]);
    expect((await ledgerOf(jLots[0]!.id)).map((x) => x.slice(0, 3))).toEqual([
      ['grant', '100', '100'],
      ['consume', '-37', '63'],
      ['rollover', '-20', '43'],
      ['expire', '-43', '0'],
    ]);
    expect((await eventsAbout('balance.expired', 'balance_id', jLots[0]!.id)).map((x) => x.data)).toEqual([
      expect.objectContaining({ expired: '43', rolled_over: '20' }),
    ]);
    // f: pending, its invoice unpaid at its end → expired, invoice voided (invoice.voided); paying it is 409
    expect(await view(f.id)).toMatchObject({ status: 'expired', expired_at: '2026-03-10T09:00:00.000Z' });
    expect(await ok('GET', `/v1/invoices/${f.invoice.id}`)).toMatchObject({ status: 'void' });
    expect((await eventsAbout('invoice.voided', 'invoice_id', f.invoice.id)).map((x) => x.created_at)).toEqual([
      night2,
    ]);
    const paid = await call('POST', `/v1/invoices/${f.invoice.id}/pay`, {});
    expect(paid.status, paid.text).toBe(409);
    expect(paid.body).toMatchObject({ code: 'conflict' });
    // e: frozen — neither renewed nor expired past its nominal end; its balance untouched until the unfreeze
    expect(await view(e.id)).toMatchObject({ status: 'frozen', current_period_end: '2026-03-10T09:00:00.000Z' });
    expect((await balancesOf(e.id)).map((x) => [x.status, x.remaining])).toEqual([['active', '100']]);
    // g: cancelled at once on 1 Mar (its units voided then); nothing more
    expect(await view(g.id)).toMatchObject({ status: 'cancelled', renewal_count: 0 });
    // QA: i is auto_renew but suspended: the nightly run does not renew a suspended subscription (only `active`),
    // and the sweep expires it at its period's end. DOMAIN.md's Auto-renew names "each auto_renew subscription" and
    // "No lapse by accident" any that "was not renewed"; README says a suspended period "runs on" and that a renewal
    // of a suspended subscription is 409. Whether suspension may end in a lapse is not said: kept as it is.
    expect(await view(i.id)).toMatchObject({ status: 'expired', expired_at: '2026-03-10T09:00:00.000Z' });
    for (const s of [b, d, e, f, g, h, i]) expect(await invoicesOf(s.id), s.id).toHaveLength(s === b ? 2 : 1);

    // the runs' own record (GET /v1/admin/nightly-runs), newest first: one row a minute, the first start kept, the
    // last finish (night 1's repeat at 09:00) and its report; the verify job's result as stored
    const runs = (await ok('GET', '/v1/admin/nightly-runs?limit=10')).data;
    expect(runs.map((r: { as_of: string }) => r.as_of)).toEqual([night2, night1]);
    // night 1's verify: 10 sales + 3 renewals = 13 balances and 13 invoices, j's one use; nothing violated
    expect(runs[1]).toMatchObject({
      as_of: night1,
      started_at: night1,
      finished_at: local('2026-03-10T09:00'),
      report: {
        as_of: night1,
        phases: [{ phase: 'renewals', jobs: 0 }, {}, {}, {}],
        verify: { ok: true, violationCount: 0, checked: { balances: 13, invoices: 13, consumptions: 1 } },
      },
    });
    // night 2's: + b's renewal and j's rollover balance = 15 balances, 14 invoices
    expect(runs[0]).toMatchObject({
      started_at: night2,
      finished_at: night2,
      report: {
        as_of: night2,
        verify: {
          as_of: night2,
          ok: true,
          violationCount: 0,
          violations: [],
          checked: { balances: 15, invoices: 14, consumptions: 1 },
        },
      },
    });
    expect(runs[0].report.phases.map((p: { phase: string; failed: unknown[] }) => [p.phase, p.failed])).toEqual([
      ['renewals', []],
      ['expiry', []],
      ['events', []],
      ['verify', []],
    ]);

    // night 3: 15 Mar 02:00 Riyadh = 14 Mar 23:00Z (horizon 16 Mar 01:00Z). e's freeze ended 14 Mar 09:00Z: the run
    // ends it first, as its sweep would, its end moved by the 5 frozen days to 15 Mar 09:00Z (12:00 Riyadh) — before
    // the next run, so its renewal phase renews it ahead (DOMAIN.md Auto-renew), and waits for it: a new anchor where
    // the moved period ends, [15 Mar 09:00Z, 15 Apr 09:00Z). (It used to be unfrozen by the run's expiry phase, after
    // its renewals: its period ended unrenewed, every use refused until the next EXPIRE_CRON sweep renewed it.)
    const night3 = '2026-03-14T23:00:00.000Z';
    await clockTo(night3);
    expect((await nightly()).phases[0]).toMatchObject({ phase: 'renewals', jobs: 1, completed: 1, pending: 0 });
    expect(await jobState(renewalJobId(e.id, '2026-03-15T09:00:00.000Z'))).toBe('completed');
    expect((await eventsAbout('subscription.unfrozen', 'subscription_id', e.id)).map((x) => x.data)).toEqual([
      expect.objectContaining({
        by: 'sweep',
        unfrozen_at: '2026-03-14T09:00:00.000Z',
        previous_period_end: '2026-03-10T09:00:00.000Z',
        current_period_end: '2026-03-15T09:00:00.000Z',
      }),
    ]);
    // the run's own sweep found nothing more to unfreeze, nor anything ended unrenewed
    expect(await sweepResult(night3)).toMatchObject({ subscriptions_unfrozen: 0, subscriptions_renewed: 0 });
    expect(await view(e.id)).toMatchObject({
      status: 'active',
      renewal_count: 1,
      current_period_start: '2026-03-15T09:00:00.000Z',
      current_period_end: '2026-04-15T09:00:00.000Z',
    });
    expect(await periodsOf(e.id)).toEqual([
      ['2026-02-10T09:00:00.000Z', '2026-03-15T09:00:00.000Z'],
      ['2026-03-15T09:00:00.000Z', '2026-04-15T09:00:00.000Z'],
    ]);
    // a use at 12:01 Riyadh, the moved period over and no sweep since: applied from the renewed period's 100
    await to('2026-03-15T12:01');
    expect(await use('e', 1, 'e-1')).toMatchObject({ status: 'applied', quantity: '1' });
    expect((await balancesOf(e.id)).map((x) => [x.source, x.from, x.to, x.status, x.remaining])).toEqual([
      ['package', '2026-02-10T09:00:00.000Z', '2026-03-15T09:00:00.000Z', 'active', '100'],
      ['package', '2026-03-15T09:00:00.000Z', '2026-04-15T09:00:00.000Z', 'active', '99'],
    ]);
    // the next EXPIRE_CRON sweep (12:05 Riyadh) has nothing to renew; the old 100 expire at 15 Mar 09:00Z
    await enqueueMaintenance(current().ctx, 'expire', new Date(local('2026-03-15T12:05')));
    expect(await sweepResult(local('2026-03-15T12:05'))).toMatchObject({
      subscriptions_renewed: 0,
      balances_expired: 1,
    });
    await expectRenewedBeforeExpired(e.id);
    // night 4 (15 Mar 23:00Z) asks for nothing more: one renewal, one renewal invoice
    await clockTo('2026-03-15T23:00:00.000Z');
    expect((await nightly()).phases[0]).toMatchObject({ phase: 'renewals', jobs: 0 });
    expect((await invoicesOf(e.id)).map((x) => [x.kind, x.total])).toEqual([
      ['subscription', 5000],
      ['renewal', 5000],
    ]);
    expect(await eventsAbout('subscription.renewed', 'subscription_id', e.id)).toHaveLength(1);
    await use('e', 1, 'e-2');
  });
});

describe('Missed nights in Asia/Riyadh: down three nights, caught up at start', () => {
  it('each missed period renewed in turn, once, before anything expires; rollover kept; days reported', async () => {
    await start(RIYADH, '2026-03-03T12:00', { NIGHTLY_REPORTS: 'renewals' });
    await smsType();
    await pack('roll', { auto_renew: true, rollover: { policy: 'all' } });
    await pack('day', {
      auto_renew: true,
      price: 100,
      validity: { count: 1, unit: 'day' },
      items: [{ credit_type: 'sms', units: 10 }],
    });
    // 3 Mar 12:00 Riyadh = 09:00Z: m renews itself, n does not; both [3 Mar 09:00Z, 3 Apr 09:00Z), all rolled over
    const m = await buy('m', 'roll');
    const n = await buy('n', 'roll', { auto_renew: false });
    await use('m', 30, 'm-1');
    await use('n', 40, 'n-1');
    // 1 Apr 10:00 Riyadh = 07:00Z: a daily pass, [1 Apr 07:00Z, 2 Apr 07:00Z); 3 used
    await to('2026-04-01T10:00');
    const d = await buy('d', 'day');
    await use('d', 3, 'd-1');

    // the last night that ran: 2 Apr 02:00 Riyadh = 1 Apr 23:00Z, horizon 3 Apr 01:00Z: d's period (2 Apr 07:00Z)
    // renewed to [2 Apr 07:00Z, 3 Apr 07:00Z), which ends after the horizon; m and n end 3 Apr 09:00Z, not yet
    await to('2026-04-02T02:00');
    expect((await nightly()).phases[0]).toMatchObject({ phase: 'renewals', jobs: 1, completed: 1 });

    // down through the nights of 3, 4 and 5 April (02:00 Riyadh); up again on 5 April 15:00 Riyadh = 12:00Z
    await to('2026-04-05T15:00');
    const scheduler = startScheduler(current().ctx);
    siblings.push(() => scheduler.stop());
    const caught = await scheduler.caughtUp;
    // the catch-up: each auto-renewing subscription's current period (d's ends 3 Apr 07:00Z, m's 09:00Z) and a
    // sweep as of the minute it started at
    expect(caught.map((j) => j.jobId).sort()).toEqual(
      [
        renewalJobId(d.id, '2026-04-03T07:00:00.000Z'),
        renewalJobId(m.id, '2026-04-03T09:00:00.000Z'),
        'expire|20260405T120000.000Z',
      ].sort(),
    );
    // then the last night missed, as of its minute: 5 Apr 02:00 Riyadh = 4 Apr 23:00Z
    const missed = await scheduler.missedNight;
    expect(missed?.as_of).toBe('2026-04-04T23:00:00.000Z');
    expect(missed?.phases.map((p) => [p.phase, p.failed, p.pending])).toEqual([
      ['renewals', [], 0],
      ['expiry', [], 0],
      ['events', [], 0],
      ['verify', [], 0],
    ]);
    expect(missed?.verify).toMatchObject({ ok: true, violationCount: 0 });
    for (const job of caught) {
      const outcome = await awaitOutcome(current().ctx, job.name, job.jobId, { timeoutMs: 20_000 });
      expect(outcome.state, JSON.stringify(outcome)).toBe('completed');
    }

    // d: the periods ending 3, 4 and 5 April 07:00Z renewed in turn, each from where the last ended, up to the one
    // running at 12:00Z: [5 Apr 07:00Z, 6 Apr 07:00Z) (it ends after the missed night's horizon, 6 Apr 01:00Z)
    const days = ['01', '02', '03', '04', '05', '06'].map((x) => `2026-04-${x}T07:00:00.000Z`);
    expect(await periodsOf(d.id)).toEqual(days.slice(0, 5).map((x, k) => [x, days[k + 1]]));
    expect(await view(d.id)).toMatchObject({ status: 'active', renewal_count: 4 });
    // an invoice per period at 100 halalas: the sale and four renewals
    expect((await invoicesOf(d.id)).map((x) => [x.kind, x.total])).toEqual([
      ['subscription', 100],
      ['renewal', 100],
      ['renewal', 100],
      ['renewal', 100],
      ['renewal', 100],
    ]);
    // a balance of 10 per period, valid over it; the four ended ones expired at their own end (7 = 10 − 3 used,
    // then 10 each, rollover none), the one running whole
    const dLots = await balancesOf(d.id);
    expect(dLots.map((x) => [x.source, x.from, x.to, x.status, x.granted, x.remaining])).toEqual(
      days
        .slice(0, 5)
        .map((x, k) => ['package', x, days[k + 1], k < 4 ? 'expired' : 'active', '10', k < 4 ? '0' : '10']),
    );
    expect(await ledgerOf(dLots[0]!.id)).toEqual([
      ['grant', '10', '10', days[0]],
      ['consume', '-3', '7', local('2026-04-01T10:00')],
      ['expire', '-7', '0', days[1]],
    ]);
    // a grant takes effect when it is written (the night of 2 Apr for the second period, the catch-up at 12:00Z for
    // the third and fourth), each expiry at its balance's own end
    const written = [local('2026-04-02T02:00'), local('2026-04-05T15:00'), local('2026-04-05T15:00')];
    for (const k of [1, 2, 3])
      expect(await ledgerOf(dLots[k]!.id)).toEqual([
        ['grant', '10', '10', written[k - 1]],
        ['expire', '-10', '0', days[k + 1]],
      ]);
    await expectRenewedBeforeExpired(d.id);

    // m: renewed [3 Apr 09:00Z, 3 May 09:00Z) before its first balance's end was swept, so the 100 − 30 = 70 left
    // rolled into the new period (a `rollover` balance of 70 beside the new 100): 170 usable now
    expect(await periodsOf(m.id)).toEqual([
      ['2026-03-03T09:00:00.000Z', '2026-04-03T09:00:00.000Z'],
      ['2026-04-03T09:00:00.000Z', '2026-05-03T09:00:00.000Z'],
    ]);
    const mLots = await balancesOf(m.id);
    expect(mLots.map((x) => [x.source, x.from, x.to, x.status, x.granted, x.remaining])).toEqual([
      ['package', '2026-03-03T09:00:00.000Z', '2026-04-03T09:00:00.000Z', 'expired', '100', '0'],
      ['package', '2026-04-03T09:00:00.000Z', '2026-05-03T09:00:00.000Z', 'active', '100', '100'],
      ['rollover', '2026-04-03T09:00:00.000Z', '2026-05-03T09:00:00.000Z', 'active', '70', '70'],
    ]);
    expect((await ledgerOf(mLots[0]!.id)).map((x) => x.slice(0, 3))).toEqual([
      ['grant', '100', '100'],
      ['consume', '-30', '70'],
      ['rollover', '-70', '0'],
    ]);
    expect((await eventsAbout('balance.expired', 'balance_id', mLots[0]!.id)).map((x) => x.data)).toEqual([
      expect.objectContaining({ expired: '0', rolled_over: '70', expires_at: '2026-04-03T09:00:00.000Z' }),
    ]);
    expect((await ok('GET', '/v1/clients/m/balances')).data[0]).toMatchObject({ remaining: '170', expired: '0' });
    await expectRenewedBeforeExpired(m.id);

    // n (no auto_renew, the same rollover policy): no next period to roll into — expired at its end, 60 expired
    expect(await view(n.id)).toMatchObject({ status: 'expired', expired_at: '2026-04-03T09:00:00.000Z' });
    const [nLot] = await balancesOf(n.id);
    expect((await ledgerOf(nLot!.id)).map((x) => x.slice(0, 3))).toEqual([
      ['grant', '100', '100'],
      ['consume', '-40', '60'],
      ['expire', '-60', '0'],
    ]);
    expect((await eventsAbout('balance.expired', 'balance_id', nLot!.id)).map((x) => x.data)).toEqual([
      expect.objectContaining({ expired: '60', rolled_over: '0' }),
    ]);
    expect((await eventsAbout('subscription.expired', 'subscription_id', n.id)).map((x) => x.data)).toEqual([
      expect.objectContaining({ period_end: '2026-04-03T09:00:00.000Z' }),
    ]);

    // NIGHTLY_REPORTS=renewals: the night of 2 Apr reported 1 Apr; the missed night reports 2, 3 and 4 Apr, each a
    // Riyadh day [00:00, 24:00) = [21:00Z the day before, 20:59:59.999Z]
    type Run = { id: string; type: string; status: string; params: Record<string, string> };
    const runs = ((await ok('GET', '/v1/reports?trigger=nightly&limit=500')).data as Run[]).sort((x, y) =>
      x.params.from! < y.params.from! ? -1 : 1,
    );
    expect(runs.map((r) => [r.type, r.status, r.params.from, r.params.to, r.params.time_zone])).toEqual(
      ['03-31', '04-01', '04-02', '04-03'].map((x, k) => [
        'renewals',
        'done',
        `2026-${x}T21:00:00.000Z`,
        `2026-04-0${k + 1}T20:59:59.999Z`,
        RIYADH,
      ]),
    );
    const csv = async (run: Run) => (await download(current(), run.id)).text.split('\r\n').filter((l) => l !== '');
    // 1 Apr: d sold (100); 2 Apr: d's renewal made at the night's 02:00 (100); 3 Apr: n's lapse, counted when its
    // period ended (README), the renewals of the catch-up being issued on 5 Apr; 4 Apr: nothing
    expect((await csv(runs[0]!)).slice(1)).toEqual(['2026-04-01,SAR,1,0,0,0,100,0,0,100,0,0']);
    expect((await csv(runs[1]!)).slice(1)).toEqual(['2026-04-02,SAR,0,1,0,0,0,100,0,100,0,0']);
    expect((await csv(runs[2]!)).slice(1)).toEqual(['2026-04-03,SAR,0,0,0,1,0,0,0,0,0,0']);
    expect((await csv(runs[3]!)).slice(1)).toEqual([]);
    // the catch-up's renewals (d three times at 100, m once at 5000) belong to 5 April, when they were invoiced
    const today = await runReport(current(), {
      type: 'renewals',
      format: 'csv',
      params: { from: '2026-04-05', to: '2026-04-05' },
    });
    expect((await download(current(), today.id)).text.split('\r\n')[1]).toBe(
      '2026-04-05,SAR,0,4,0,0,0,5300,0,5300,0,0',
    );
  });
});

type ReportRun = { id: string; type: string; status: string; params: Record<string, string | number> };
const csvLines = async (id: string) => (await download(current(), id)).text.split('\r\n').filter((l) => l !== '');
const onDemand = async (type: string, params: Record<string, unknown> = {}) => {
  const run = await runReport(current(), { type, format: 'csv', params });
  expect(run.status, run.error ?? '').toBe('done');
  return run;
};
const nightlyRuns = async (): Promise<ReportRun[]> =>
  (await ok('GET', '/v1/reports?trigger=nightly&limit=500')).data as ReportRun[];

describe('Nightly reports in Asia/Riyadh (NIGHTLY_REPORTS=all)', () => {
  it('the business day before; pictures as of its end; equal to the same asked on demand; once', async () => {
    await start(RIYADH, '2026-05-10T09:00');
    await smsType();
    await pack('month', { auto_renew: true });
    await pack('day', {
      auto_renew: true,
      price: 100,
      validity: { count: 1, unit: 'day' },
      items: [{ credit_type: 'sms', units: 10 }],
    });
    // r1: [10 May 06:00Z, 10 Jun 06:00Z); r2 at 12:00 Riyadh: [10 May 09:00Z, 11 May 09:00Z)
    const r1 = await buy('r1', 'month');
    await to('2026-05-10T12:00');
    const r2 = await buy('r2', 'day');
    await to('2026-05-10T15:00');
    await use('r1', 7, 'r1-1');
    await to('2026-05-10T20:00');
    await use('r2', 4, 'r2-1');
    // the end of the business day 10 May in Riyadh: 11 May 00:00 = 10 May 21:00Z — the pictures taken then, live
    await to('2026-05-11T00:00');
    const midnight = {
      subscriptions: await onDemand('subscriptions'),
      balances: await onDemand('balances'),
      expiring: await onDemand('expiring'),
    };
    // after midnight, before the night's run: a use that belongs to 11 May
    await to('2026-05-11T00:30');
    await use('r1', 5, 'r1-2');
    // the night: 11 May 02:00 Riyadh = 10 May 23:00Z (10 May in UTC, 11 May in Riyadh). It renews r2 ahead (ends
    // 11 May 09:00Z < 12 May 01:00Z): [11 May 09:00Z, 12 May 09:00Z), invoiced 100 at 02:00 on 11 May
    await to('2026-05-11T02:00');
    const night = await nightly();
    expect(night.phases[0]).toMatchObject({ phase: 'renewals', jobs: 1 });
    // notify, cleanup and 6 reports, all done
    expect(night.phases[2]).toMatchObject({ phase: 'events', jobs: 8, completed: 8 });
    expect((await view(r2.id)).current_period_end).toBe('2026-05-12T09:00:00.000Z');
    // the same night again (its minute, asked at 09:00), and a run of a later minute the same business day: the
    // runs of a (type, day) are made once
    await to('2026-05-11T09:00');
    await ok('POST', '/v1/admin/nightly-runs', { as_of: local('2026-05-11T02:00') });
    await nightly();

    // one run per type for 10 May in Riyadh: ranged over [10 May 00:00, 24:00) Riyadh = [9 May 21:00Z, 10 May
    // 20:59:59.999Z]; pictures as of 10 May 21:00Z; expiring EXPIRING_SOON_DAYS (7) ahead
    const runs = await nightlyRuns();
    const byType = new Map(runs.map((r) => [r.type, r]));
    expect(runs).toHaveLength(6);
    const range = { from: '2026-05-09T21:00:00.000Z', to: '2026-05-10T20:59:59.999Z', time_zone: RIYADH };
    expect(Object.fromEntries(runs.map((r) => [r.type, r.params]))).toEqual({
      consumption: { ...range, group_by: 'day' },
      renewals: { ...range, group_by: 'day' },
      top_packages: range,
      subscriptions: { as_of: '2026-05-10T21:00:00.000Z' },
      balances: { as_of: '2026-05-10T21:00:00.000Z' },
      expiring: { as_of: '2026-05-10T21:00:00.000Z', days_ahead: 7 },
    });
    for (const r of runs) expect(r.status).toBe('done');
    const ready = (await eventsOf('report.ready')).filter((e) => e.data.trigger === 'nightly');
    expect(ready.map((e) => e.data.report_id).sort()).toEqual(runs.map((r) => r.id).sort());

    // ranged: 7 + 4 used on 10 May (the 5 at 00:30 are 11 May's); two sales, 5000 + 100 (the renewal at 02:00 is
    // 11 May's); each package requested once, ranked by revenue
    expect((await csvLines(byType.get('consumption')!.id)).slice(1)).toEqual(['2026-05-10,sms,message,11,0,11']);
    expect((await csvLines(byType.get('renewals')!.id)).slice(1)).toEqual(['2026-05-10,SAR,2,0,0,0,5100,0,0,5100,0,0']);
    expect((await csvLines(byType.get('top_packages')!.id)).slice(1)).toEqual([
      '1,month,month,SAR,1,0,1,5000',
      '2,day,day,SAR,1,0,1,100',
    ]);
    // the same reports on demand over the same range: the same files
    for (const type of ['consumption', 'renewals', 'top_packages']) {
      const { time_zone: _, ...params } = byType.get(type)!.params;
      const asked = await onDemand(type, params);
      expect(await csvLines(asked.id), type).toEqual(await csvLines(byType.get(type)!.id));
    }

    // pictures: as the live tables said at midnight, though made at 02:00 after a use and a renewal ahead
    for (const type of ['subscriptions', 'balances', 'expiring'] as const) {
      expect(await csvLines(byType.get(type)!.id), type).toEqual(await csvLines(midnight[type].id));
    }
    // balances at midnight: r1 100 granted, 7 used, 93 left; r2 10, 4, 6 — no upcoming 10 yet (renewed at 02:00)
    const balanceRows = (await csvLines(byType.get('balances')!.id)).slice(1).map((l) => l.split(','));
    expect(balanceRows.map((c) => [c[0], ...c.slice(7, 12)])).toEqual([
      [r1.id, '100', '7', '93', '0', '0'],
      [r2.id, '10', '4', '6', '0', '0'],
    ]);
    // expiring at midnight, 7 days ahead (to 17 May 21:00Z): r2's period and balance end 11 May 09:00Z, 12 h on —
    // 1 day left (rounded up); r1's (10 Jun) is not in it
    const expiringRows = (await csvLines(byType.get('expiring')!.id)).slice(1).map((l) => l.split(','));
    expect(expiringRows.map((c) => [c[0], c[1], c[2], c[6], c[13]])).toEqual([
      ['subscription', '2026-05-11T09:00:00.000Z', '1', r2.id, ''],
      ['balance', '2026-05-11T09:00:00.000Z', '1', r2.id, '6'],
    ]);
    // subscriptions at midnight: r2 not yet renewed
    const subscriptionRows = (await csvLines(byType.get('subscriptions')!.id)).map((l) => l.split(','));
    const header = subscriptionRows[0]!;
    const r2Row = subscriptionRows.find((c) => c[header.indexOf('subscription_id')] === r2.id)!;
    expect(r2Row[header.indexOf('period_end')]).toBe('2026-05-11T09:00:00.000Z');
    expect(r2Row[header.indexOf('renewal_count')]).toBe('0');
  });
});

describe('Nightly reports after an outage longer than their 31 days of catch-up', () => {
  it('a run after 45 days down makes the 31 days before it, not yesterday alone', async () => {
    await start(RIYADH, '2026-01-02T02:00', { NIGHTLY_REPORTS: 'consumption' });
    // the night of 2 Jan 02:00 Riyadh reports 1 Jan (the first night: the day before alone)
    await nightly();
    // down from then until 16 Feb 02:00 Riyadh: README "after nights the service was down, for each day since the
    // last one reported too (up to 31 days back)" — the last reported is 1 Jan, more than 31 days back, so the 31
    // days before 16 Feb: 16 Jan … 15 Feb, each [00:00, 24:00) Riyadh from 21:00Z the day before
    await to('2026-02-16T02:00');
    await nightly();
    const froms = (await nightlyRuns()).map((r) => r.params.from).sort();
    const day = (k: number) => DateTime.fromISO('2026-01-16', { zone: RIYADH }).plus({ days: k }).toUTC().toISO();
    expect(froms).toEqual(['2025-12-31T21:00:00.000Z', ...Array.from({ length: 31 }, (_, k) => day(k))]);
    expect(froms[1]).toBe('2026-01-15T21:00:00.000Z');
    expect(froms.at(-1)).toBe('2026-02-14T21:00:00.000Z');
  });
});

describe('Nightly notices in Asia/Riyadh (EXPIRING_SOON_DAYS=3)', () => {
  it('balance.expiring_soon up to 3 × 24 h ahead and balance.low, once per balance, in GET /v1/events', async () => {
    await start(RIYADH, '2026-05-13T02:00', { NIGHTLY_REPORTS: 'none', EXPIRING_SOON_DAYS: '3' });
    await smsType();
    await pack('plain');
    // low_balance_percent 100: the threshold is the whole grant, so the balance is "low" from its start — no use
    // ever crosses it, and only the nightly run can tell
    await pack('low', { low_balance_percent: 100, items: [{ credit_type: 'sms', units: 50 }] });
    // x1 at 13 May 02:00 Riyadh → ends 13 Jun 02:00 Riyadh = 12 Jun 23:00Z; x2 a minute later → 12 Jun 23:01Z
    const x1 = await buy('x1', 'plain');
    await to('2026-05-13T02:01');
    const x2 = await buy('x2', 'plain');
    expect([x1.current_period_end, x2.current_period_end]).toEqual([
      '2026-06-12T23:00:00.000Z',
      '2026-06-12T23:01:00.000Z',
    ]);
    // 1 Jun 12:00 Riyadh = 09:00Z: x3 (50, threshold 50) and x4 (100, threshold 10 %: 10), both to 1 Jul 09:00Z
    await to('2026-06-01T12:00');
    const x3 = await buy('x3', 'low');
    const x4 = await buy('x4', 'plain');
    // 5 Jun 12:00 Riyadh = 09:00Z: x4 uses 90 → 10 left, at its threshold: balance.low by the use itself; x1 uses 20
    await to('2026-06-05T12:00');
    await use('x4', 90, 'x4-1');
    await use('x1', 20, 'x1-1');
    const lot = async (s: Sub) => (await balancesOf(s.id))[0]!.id;
    const [b1, b2, b3, b4] = [await lot(x1), await lot(x2), await lot(x3), await lot(x4)];

    const notices = async (asOf: string) => {
      const outcome = await awaitOutcome(current().ctx, 'notify', `notify|${asOf.replace(/[-:]/g, '')}`, {
        timeoutMs: 20_000,
      });
      expect(outcome.state).toBe('completed');
      return outcome.state === 'completed' ? outcome.value : undefined;
    };
    // 9 Jun 02:00 Riyadh = 8 Jun 23:00Z: horizon + 72 h = 11 Jun 23:00Z — x1 (12 Jun 23:00Z) not yet; x3 is low
    await to('2026-06-09T02:00');
    await nightly();
    expect(await notices('2026-06-08T23:00:00.000Z')).toMatchObject({ expiring_soon: 0, low: 1 });
    // 10 Jun 02:00 = 9 Jun 23:00Z: horizon 12 Jun 23:00Z — x1 expires exactly then (within), x2 a minute after
    await to('2026-06-10T02:00');
    await nightly();
    expect(await notices('2026-06-09T23:00:00.000Z')).toMatchObject({ expiring_soon: 1, low: 0 });
    // 11 Jun 02:00 = 10 Jun 23:00Z: horizon 13 Jun 23:00Z — x2 now; x1 and x3 not again
    await to('2026-06-11T02:00');
    await nightly();
    expect(await notices('2026-06-10T23:00:00.000Z')).toMatchObject({ expiring_soon: 1, low: 0 });

    const soon = await eventsOf('balance.expiring_soon');
    expect(soon.map((e) => [e.data.balance_id, e.created_at, e.data.remaining, e.data.expires_at])).toEqual([
      [b1, '2026-06-09T23:00:00.000Z', '80', '2026-06-12T23:00:00.000Z'],
      [b2, '2026-06-10T23:00:00.000Z', '100', '2026-06-12T23:01:00.000Z'],
    ]);
    // x4's by the use at 5 Jun 09:00Z (with its threshold), x3's by the first night; none again
    const low = await eventsOf('balance.low');
    expect(low.map((e) => [e.data.balance_id, e.created_at, e.data.remaining, e.data.granted])).toEqual([
      [b4, '2026-06-05T09:00:00.000Z', '10', '100'],
      [b3, '2026-06-08T23:00:00.000Z', '50', '50'],
    ]);
    expect(low[0]!.data.threshold).toBe('10');
  });
});

describe('America/New_York over the night the clocks skip 02:00 (8 March 2026)', () => {
  it('the run before renews to 49 h ahead; the next reports the skipped night’s day and the 23-hour day', async () => {
    // 8 Mar 2026 02:00 EST does not exist: `0 2 * * *` runs 7 Mar 02:00 EST (07:00Z), then 9 Mar 02:00 EDT (06:00Z),
    // 47 h later — the longest gap of the year, so the look-ahead is 49 h everywhere in the year
    expect(lastRunAtOrBefore(QUIET.NIGHTLY_CRON, NY, new Date('2026-03-09T05:59:00Z'), 48 * 3_600_000)).toEqual(
      new Date('2026-03-07T07:00:00.000Z'),
    );
    expect(renewalLookaheadMs(QUIET.NIGHTLY_CRON, NY)).toBe(49 * 3_600_000);
    await start(NY, '2026-03-06T03:00', { NIGHTLY_REPORTS: 'consumption,balances' });
    await smsType();
    await pack('pass', {
      auto_renew: true,
      price: 100,
      currency: 'USD',
      validity: { count: 1, unit: 'day' },
      items: [{ credit_type: 'sms', units: 10 }],
    });
    // a day from 6 Mar 03:00 EST = 08:00Z
    const p = await buy('p', 'pass');
    expect(p.current_period_end).toBe('2026-03-07T08:00:00.000Z');

    // run 1: 7 Mar 02:00 EST = 07:00Z, horizon 9 Mar 08:00Z. Days at 03:00 local: 7 Mar 08:00Z → 8 Mar 03:00 EDT
    // = 07:00Z (23 h) → 9 Mar 07:00Z → 10 Mar 07:00Z; the ends 7 Mar 08:00Z, 8 Mar 07:00Z and 9 Mar 07:00Z are
    // before the horizon: three renewals, pass after pass, in one run
    await to('2026-03-07T02:00');
    expect((await nightly()).phases[0]).toMatchObject({ phase: 'renewals', jobs: 3, completed: 3 });
    const ends = [
      '2026-03-06T08:00Z',
      '2026-03-07T08:00Z',
      '2026-03-08T07:00Z',
      '2026-03-09T07:00Z',
      '2026-03-10T07:00Z',
    ];
    const at = (k: number) => new Date(ends[k]!).toISOString();
    expect(await periodsOf(p.id)).toEqual([0, 1, 2, 3].map((k) => [at(k), at(k + 1)]));

    // 7 Mar 23:30 EST (8 Mar 04:30Z): 2 from the period [7 Mar 08:00Z, 8 Mar 07:00Z); the end of 7 Mar (EST) is
    // 8 Mar 05:00Z: the live balances report then
    await to('2026-03-07T23:30');
    await use('p', 2, 'p-1');
    await to('2026-03-08T00:00');
    expect(current().clock.now().toISOString()).toBe('2026-03-08T05:00:00.000Z');
    const endOf7 = await onDemand('balances');
    // no run at 8 Mar 02:00 (it does not exist). 8 Mar 23:30 EDT (9 Mar 03:30Z): 3 from [8 Mar 07:00Z, 9 Mar
    // 07:00Z); the end of 8 Mar (EDT) is 9 Mar 04:00Z
    await to('2026-03-08T23:30');
    await use('p', 3, 'p-2');
    await to('2026-03-09T00:00');
    expect(current().clock.now().toISOString()).toBe('2026-03-09T04:00:00.000Z');
    const endOf8 = await onDemand('balances');

    // run 2: 9 Mar 02:00 EDT = 06:00Z, horizon 11 Mar 07:00Z: [9 Mar 07:00Z, 10 Mar 07:00Z) renewed to 11 Mar
    // 07:00Z, which is the horizon itself — not before it, so not renewed by this run
    await to('2026-03-09T02:00');
    expect((await nightly()).phases[0]).toMatchObject({ phase: 'renewals', jobs: 1, completed: 1 });
    expect((await view(p.id)).current_period_end).toBe('2026-03-11T07:00:00.000Z');
    expect(await jobState(renewalJobId(p.id, '2026-03-10T07:00:00.000Z'))).toBe('completed');
    expect(await jobState(renewalJobId(p.id, '2026-03-11T07:00:00.000Z'))).toBeUndefined();
    // its sweep: the days ended 7 Mar 08:00Z (10 unused) and 8 Mar 07:00Z (8 left), each after its renewal
    const lots = await balancesOf(p.id);
    expect(lots.map((x) => [x.to, x.status, x.remaining])).toEqual([
      [at(1), 'expired', '0'],
      [at(2), 'expired', '0'],
      [at(3), 'active', '7'],
      [at(4), 'active', '10'],
      ['2026-03-11T07:00:00.000Z', 'active', '10'],
    ]);
    expect((await ledgerOf(lots[1]!.id)).map((x) => [x[0], x[1], x[3]])).toEqual([
      ['grant', '10', local('2026-03-07T02:00')],
      ['consume', '-2', local('2026-03-07T23:30')],
      ['expire', '-8', at(2)],
    ]);
    await expectRenewedBeforeExpired(p.id);
    // a sale and four renewals, 100 cents each
    expect((await invoicesOf(p.id)).map((x) => x.total)).toEqual([100, 100, 100, 100, 100]);

    // reports: run 1 made 6 Mar alone (the first night); run 2 made 7 Mar, whose night did not exist, and 8 Mar —
    // EST days from 05:00Z, the 23-hour 8 Mar from 05:00Z to 9 Mar 03:59:59.999Z; pictures as of each day's end
    const runs = await nightlyRuns();
    const key = (r: ReportRun) => `${r.type} ${r.params.from ?? r.params.as_of}`;
    expect(runs.map((r) => [key(r), r.params.to ?? null, r.status]).sort()).toEqual([
      ['balances 2026-03-07T05:00:00.000Z', null, 'done'],
      ['balances 2026-03-08T05:00:00.000Z', null, 'done'],
      ['balances 2026-03-09T04:00:00.000Z', null, 'done'],
      ['consumption 2026-03-06T05:00:00.000Z', '2026-03-07T04:59:59.999Z', 'done'],
      ['consumption 2026-03-07T05:00:00.000Z', '2026-03-08T04:59:59.999Z', 'done'],
      ['consumption 2026-03-08T05:00:00.000Z', '2026-03-09T03:59:59.999Z', 'done'],
    ]);
    const run = (k: string) => runs.find((r) => key(r) === k)!;
    // 2 used on 7 Mar at 23:30 EST, 3 on 8 Mar at 23:30 EDT
    expect((await csvLines(run('consumption 2026-03-07T05:00:00.000Z').id)).slice(1)).toEqual([
      '2026-03-07,sms,message,2,0,2',
    ]);
    expect((await csvLines(run('consumption 2026-03-08T05:00:00.000Z').id)).slice(1)).toEqual([
      '2026-03-08,sms,message,3,0,3',
    ]);
    // the pictures made at run 2, after its sweep wrote the expiries of 7 Mar 08:00Z and 8 Mar 07:00Z, say what the
    // live report said at each day's end
    expect(await csvLines(run('balances 2026-03-08T05:00:00.000Z').id)).toEqual(await csvLines(endOf7.id));
    expect(await csvLines(run('balances 2026-03-09T04:00:00.000Z').id)).toEqual(await csvLines(endOf8.id));
    // at 9 Mar 04:00Z: four days granted (40), 5 used; spendable now the day to 9 Mar 07:00Z's 7; the next day's 10
    // upcoming; the two ended days (10 + 8) past their expiry; 5 of the 30 granted for days begun: 16.7 %
    const cells = (await csvLines(endOf8.id))[1]!.split(',');
    expect(cells.slice(7)).toEqual(['40', '5', '7', '0', '10', '18', '0', '0', '16.7']);
  });
});
