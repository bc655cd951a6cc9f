import { CreditsProducer } from '@credits/producer';
import { QueueEvents } from 'bullmq';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import type { Config } from '../../src/config.js';
import { createApiKey } from '../../src/http/auth.js';
import { jobIdOf } from '../../src/jobs/definitions.js';
import { askRenewals } from '../../src/jobs/renew.js';
import type { QueueName } from '../../src/queue/names.js';
import { createRedis } from '../../src/queue/redis.js';
import { startScheduler } from '../../src/scheduler/index.js';
import {
  requestTo,
  type Sibling,
  startSibling,
  startTestApp,
  type TestApp,
  type TestResponse,
} from '../helpers/app.js';
import { recyclingDatabase } from '../helpers/database.js';
import { watchDeadlocks } from '../helpers/deadlocks.js';
import { untilWaitingForLocks } from '../helpers/lock-waits.js';
import { Receiver } from '../helpers/receiver.js';

/**
 * QA of the service run as several instances at once, as README "Scaling past one machine", "Operating it" (Roles)
 * and "Deploy" describe it: two or three API processes, two worker processes and two schedulers against ONE Postgres
 * and ONE Redis, sharing one queue prefix. Each instance is a sibling (helpers/app.ts `startSibling`): a runtime of its
 * own — its pools, its Redis connections, its listener, its workers, its relay, its caches and rate-limit counts —
 * on the test's database, queues and clocks, inside this test's process (what a process keeps in module scope is
 * shared: metrics, the hold-lane hint; nothing these tests read). Each test starts its own fleet on a database
 * emptied for it (recyclingDatabase) and a queue prefix of its own (startTestApp).
 *
 * Time: the service's clock (ManualClock, shared by every instance as NTP keeps machines together) and `ticks` (the
 * milliseconds of the key cache, the credit-type cache and the rate-limit minutes) move only when the test moves
 * them. Nothing waits on the wall clock: queues are waited on through their jobs' events, HTTP answers, the
 * webhook receiver's own event, or Postgres's lock table.
 */

const NOW = '2026-03-02T10:00:30.000Z';
let ticks = Date.parse(NOW);

interface Fleet {
  app: TestApp;
  /** The API processes' base URLs, the app's own first. */
  apis: string[];
  workers: Sibling[];
  /** Every sibling, in the order started (stopped in reverse). */
  siblings: Sibling[];
}

const databases = recyclingDatabase();
let fleet: Fleet | undefined;
/** Things a test opened besides the fleet (listeners, receivers, schedulers), closed before it. */
const closers: Array<() => Promise<unknown> | unknown> = [];
const stopped = new WeakSet<Sibling>();

/** Stops a sibling once (a test may stop one itself mid-run). */
async function stopOnce(sibling: Sibling): Promise<void> {
  if (stopped.has(sibling)) return;
  stopped.add(sibling);
  await sibling.stop();
}

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  const closing = fleet;
  fleet = undefined;
  if (!closing) return;
  // every invariant of DOMAIN.md over what the instances did together, read while they all still run
  const verify = await call(closing.app.baseUrl, 'POST', '/v1/admin/verify', { key: closing.app.keys.admin });
  expect(verify.status, verify.text).toBe(200);
  expect(verify.body.violations).toEqual([]);
  for (const sibling of [...closing.siblings].reverse()) await stopOnce(sibling);
  await closing.app.close();
});
afterAll(() => databases.drop());

interface FleetOptions {
  /** API processes (the app is the first). */
  apis?: number;
  workers?: number;
  /** Settings of every instance (the app's config, which siblings copy). */
  env?: Record<string, string>;
  /** Settings of the worker siblings only. */
  workerConfig?: Partial<Config>;
}

/** The app (API #1) and its sibling APIs and workers, on a database emptied for this test and a prefix of its own. */
async function startFleet(options: FleetOptions = {}): Promise<Fleet> {
  ticks = Date.parse(NOW);
  const app = await startTestApp({
    database: await databases.next(),
    roles: ['api'],
    now: NOW,
    ticks: () => ticks,
    env: { NIGHTLY_REPORTS: 'none', ...options.env },
  });
  const started: Fleet = { app, apis: [app.baseUrl], workers: [], siblings: [] };
  fleet = started;
  const apis = await Promise.all(Array.from({ length: (options.apis ?? 2) - 1 }, () => startSibling(app, ['api'])));
  started.siblings.push(...apis);
  started.apis.push(...apis.map((s) => s.baseUrl!));
  const workers = await Promise.all(
    Array.from({ length: options.workers ?? 2 }, () =>
      startSibling(app, ['worker'], options.workerConfig ? { config: options.workerConfig } : {}),
    ),
  );
  started.siblings.push(...workers);
  started.workers.push(...workers);
  return started;
}

const current = (): Fleet => {
  if (!fleet) throw new Error('no fleet started');
  return fleet;
};

/** One HTTP call to one instance, with the admin key unless told otherwise (`key: null`: none). */
function call(
  base: string,
  method: string,
  path: string,
  options: { body?: unknown; key?: string | null; headers?: Record<string, string> } = {},
): Promise<TestResponse> {
  // the admin key read only when none is given (the verify after each test gives its own, the fleet gone)
  const key = options.key === undefined ? current().app.keys.admin : options.key;
  return requestTo(base, '', method, path, { ...options, key });
}

/** A call that must answer `status`; its body. */
async function ok(base: string, method: string, path: string, body?: unknown, status = 200): Promise<any> {
  const res = await call(base, method, path, body === undefined ? {} : { body });
  expect(res.status, `${method} ${path}: ${res.text}`).toBe(status);
  return res.body;
}

/** The catalog every test sells from: `sms` (whole messages) in a package of `units`, monthly, USD 10. */
async function sellSms(
  base: string,
  clients: string[],
  units = 100,
  extra: Record<string, unknown> = {},
): Promise<{ subscriptions: any[] }> {
  await ok(base, 'POST', '/v1/credit-types', { code: 'sms', name: 'SMS', unit: 'message' }, 201);
  await ok(
    base,
    'POST',
    '/v1/packages',
    {
      code: 'sms-pack',
      name: 'SMS pack',
      price: 1000,
      currency: 'USD',
      validity: { count: 1, unit: 'month' },
      items: [{ credit_type: 'sms', units }],
      auto_renew: false,
      ...extra,
    },
    201,
  );
  const subscriptions = [];
  for (const ref of clients) {
    await ok(base, 'POST', '/v1/clients', { external_ref: ref, name: ref }, 201);
    subscriptions.push(await ok(base, 'POST', '/v1/subscriptions', { client: ref, package: 'sms-pack' }, 201));
  }
  return { subscriptions };
}

/** The client's sms row of GET /v1/clients/{id}/balances, as one instance answers it. */
async function smsRow(base: string, client: string): Promise<any> {
  const balances = await ok(base, 'GET', `/v1/clients/${client}/balances`);
  return balances.data.find((row: { credit_type: { code: string } }) => row.credit_type.code === 'sms');
}

/** Rows of a table (where `where` says), as a number. */
async function rows(table: string, where: Record<string, unknown> = {}): Promise<number> {
  const row = (await current().app.database.db(table).where(where).count({ n: '*' }).first()) as { n: bigint | string };
  return Number(row.n);
}

/**
 * A listener on one of the fleet's queues, reading its event stream from the stream's last entry as it opens (not from
 * whenever its first read reaches Redis), so that no event of a job added after this resolves is missed.
 */
async function queueEvents(queue: QueueName): Promise<QueueEvents> {
  const { ctx, prefix } = current().app;
  const [last] = await ctx.redis.xrevrange(ctx.queues[queue].toKey('events'), '+', '-', 'COUNT', 1);
  const connection = createRedis(ctx.redisTarget, 'worker');
  const events = new QueueEvents(queue, { connection, prefix, lastEventId: last?.[0] ?? '0-0' });
  closers.push(async () => {
    await events.close();
    connection.disconnect();
  });
  await events.waitUntilReady();
  return events;
}

// --------------------------------------------------------------------------------------------------------------

describe('uses of one client sent to two APIs at once', () => {
  it('are applied once each, never overspend; a key re-sent to the other API answers the first result', async () => {
    const { apis } = await startFleet();
    const [api1, api2] = apis as [string, string];
    const { subscriptions } = await sellSms(api1, ['c1']);
    const balanceId = subscriptions[0].balances[0].id as string;

    // 40 uses of 3 messages against a balance of 100, every even one to API 1, every odd one to API 2, all at once,
    // each waiting for its result. By hand: 100 / 3 = 33 fit (99 messages), so 33 are applied and 40 − 33 = 7
    // rejected (mode reject: nothing taken), and 100 − 99 = 1 remains. Applied one after another under the balance's
    // lock, the 33 applied answers say "remaining" 97, 94, …, 4, 1 — each value once — and a rejected one can only
    // come once fewer than 3 are left: it says 1.
    const uses = Array.from({ length: 40 }, (_, i) => ({
      client: 'c1',
      credit_type: 'sms',
      quantity: 3,
      idempotency_key: `u-${i}`,
    }));
    const answers = await Promise.all(
      uses.map((use, i) => call(apis[i % 2]!, 'POST', '/v1/consumptions?wait=true', { body: use })),
    );
    const applied = answers.filter((a) => a.status === 200);
    const rejected = answers.filter((a) => a.status === 422);
    expect(applied.length + rejected.length, answers.map((a) => a.text).join('\n')).toBe(40);
    expect(applied).toHaveLength(33);
    expect(rejected).toHaveLength(7);
    for (const a of applied) expect(a.body).toMatchObject({ status: 'applied', quantity: '3', replayed: false });
    expect(applied.map((a) => Number(a.body.remaining)).sort((x, y) => x - y)).toEqual(
      Array.from({ length: 33 }, (_, i) => 1 + 3 * i),
    );
    for (const r of rejected)
      expect(r.body).toMatchObject({ code: 'insufficient_balance', consumption_status: 'rejected', remaining: '1' });

    // the store says the same: 40 consumptions (33 applied, 7 rejected), 33 consume entries of −3 (−99 in all)
    const db = current().app.database.db;
    const statuses = (await db('consumptions').select('status').count({ n: '*' }).groupBy('status')) as Array<{
      status: string;
      n: string | number;
    }>;
    expect(Object.fromEntries(statuses.map((s) => [s.status, Number(s.n)]))).toEqual({ applied: 33, rejected: 7 });
    const consumed = (await db('ledger_entries')
      .where({ balance_id: balanceId, kind: 'consume' })
      .count({ n: '*' })
      .sum({ total: 'amount' })
      .first()) as { n: string | number; total: string | number };
    expect({ n: Number(consumed.n), total: Number(consumed.total) }).toEqual({ n: 33, total: -99 });
    // either API answers the same balance: granted 100, consumed 99, remaining 1
    for (const api of apis)
      expect(await smsRow(api, 'c1')).toMatchObject({ granted: '100', consumed: '99', remaining: '1' });

    // an applied use re-sent to the OTHER API: the first answer again (same id, allocations, remaining), replayed
    const firstIndex = answers.findIndex((a) => a.status === 200);
    const first = answers[firstIndex]!.body;
    const again = await call(apis[(firstIndex + 1) % 2]!, 'POST', '/v1/consumptions?wait=true', {
      body: uses[firstIndex],
    });
    expect(again.status, again.text).toBe(200);
    const { replayed: _was, ...firstResult } = first;
    expect(again.body).toEqual({ ...firstResult, replayed: true });

    // 10 messages more (an operator's adjustment): 1 + 10 = 11 remain, enough for a use of 3 now. A rejected use
    // re-sent to the other API still answers its first result — rejected — and takes nothing of the 11 (DOMAIN.md
    // rule 4: "returns the first result and changes nothing")
    await ok(api2, 'POST', `/v1/balances/${balanceId}/adjustments`, { delta: 10, reason: 'qa top-up' }, 201);
    const rejectedIndex = answers.findIndex((a) => a.status === 422);
    const rejectedAgain = await call(apis[(rejectedIndex + 1) % 2]!, 'POST', '/v1/consumptions?wait=true', {
      body: uses[rejectedIndex],
    });
    expect(rejectedAgain.status, rejectedAgain.text).toBe(422);
    expect(rejectedAgain.body).toMatchObject({ id: answers[rejectedIndex]!.body.id, consumption_status: 'rejected' });
    // the same key with another body, at the other API: 409, and still 11 left
    const other = await call(apis[(rejectedIndex + 1) % 2]!, 'POST', '/v1/consumptions?wait=true', {
      body: { ...uses[rejectedIndex], quantity: 4 },
    });
    expect(other.status, other.text).toBe(409);
    expect(other.body.code).toBe('idempotency_conflict');
    expect((await smsRow(api1, 'c1')).remaining).toBe('11');

    // one new use sent to both APIs at the same instant: one consumption, answered twice with it (the second as a
    // repeat). By hand: 11 − 4 = 7 left, and both answers say 7
    const dup = { client: 'c1', credit_type: 'sms', quantity: 4, idempotency_key: 'dup-1' };
    const both = await Promise.all(apis.map((api) => call(api, 'POST', '/v1/consumptions?wait=true', { body: dup })));
    for (const a of both) expect(a.status, a.text).toBe(200);
    expect(both[0]!.body.id).toBe(both[1]!.body.id);
    expect(both.map((a) => a.body.remaining)).toEqual(['7', '7']);
    expect(both.map((a) => a.body.replayed).sort()).toEqual([false, true]);
    expect(await rows('consumptions', { idempotency_key: 'dup-1' })).toBe(1);

    // one key, two bodies, one to each API at the same instant: one is applied, the other is 409; 7 − the winner's
    // quantity remain (6 when the use of 1 wins, 5 when the use of 2 does)
    const race = await Promise.all(
      apis.map((api, i) =>
        call(api, 'POST', '/v1/consumptions?wait=true', {
          body: { client: 'c1', credit_type: 'sms', quantity: i + 1, idempotency_key: 'dup-2' },
        }),
      ),
    );
    expect(race.map((a) => a.status).sort()).toEqual([200, 409]);
    const winner = race.find((a) => a.status === 200)!.body;
    expect(race.find((a) => a.status === 409)!.body.code).toBe('idempotency_conflict');
    expect(winner.remaining).toBe(String(7 - Number(winner.quantity)));
    expect((await smsRow(api2, 'c1')).remaining).toBe(String(7 - Number(winner.quantity)));
  });

  it('an Idempotency-Key of a sale sent to both APIs at once makes one subscription and one invoice', async () => {
    const { apis } = await startFleet({ workers: 1 });
    const [api1, api2] = apis as [string, string];
    await sellSms(api1, []);
    await ok(api1, 'POST', '/v1/clients', { external_ref: 'c2', name: 'c2' }, 201);
    const sale = { client: 'c2', package: 'sms-pack' };
    const both = await Promise.all(
      apis.map((api) =>
        call(api, 'POST', '/v1/subscriptions', { body: sale, headers: { 'idempotency-key': 'sale-1' } }),
      ),
    );
    for (const a of both) expect(a.status, a.text).toBe(201);
    expect(both[0]!.body.id).toBe(both[1]!.body.id);
    expect(both[0]!.body.invoice.id).toBe(both[1]!.body.invoice.id);
    // the one that waited on the other's key is the replay (README: Idempotent-Replayed)
    expect(both.filter((a) => a.headers.get('idempotent-replayed') === 'true')).toHaveLength(1);
    // by hand: one sale → 1 subscription, 1 invoice, 100 messages
    expect(await rows('subscriptions')).toBe(1);
    expect(await rows('invoices')).toBe(1);
    expect((await smsRow(api2, 'c2')).remaining).toBe('100');
    // the key again with another body, at either API: 409, nothing more sold
    const other = await call(api2, 'POST', '/v1/subscriptions', {
      body: { ...sale, auto_renew: true },
      headers: { 'idempotency-key': 'sale-1' },
    });
    expect(other.status, other.text).toBe(409);
    expect(other.body.code).toBe('idempotency_conflict');
    expect(await rows('subscriptions')).toBe(1);
  });
});

// --------------------------------------------------------------------------------------------------------------

describe('holds across API instances', () => {
  it('a hold made through one API is captured through the other; release raced against capture: one 409', async () => {
    const { apis } = await startFleet();
    const [api1, api2] = apis as [string, string];
    await sellSms(api1, ['h1']);
    const hold = (key: string, quantity: number, api: string) =>
      ok(api, 'POST', '/v1/holds?wait=true', { client: 'h1', credit_type: 'sms', quantity, idempotency_key: key });

    // 10 held through API 1: 100 − 10 = 90 usable, 10 held
    const h1 = await hold('call-1', 10, api1);
    expect(h1).toMatchObject({ status: 'held', held: '10', remaining: '90' });
    expect(await smsRow(api2, 'h1')).toMatchObject({ remaining: '90', held: '10' });
    // captured (4 of them) through API 2: 4 consumed, the other 6 back — 100 − 4 = 96 usable, nothing held
    const captured = await ok(api2, 'POST', `/v1/holds/${h1.id}/capture`, { quantity: 4 });
    expect(captured.hold).toMatchObject({ id: h1.id, status: 'captured', captured: '4', released: '6', held: '0' });
    expect(captured.consumption).toMatchObject({ status: 'applied', quantity: '4', remaining: '96' });
    // the capture again through API 1: the same answer (API.md), nothing more taken; a release after it: 409
    const again = await ok(api1, 'POST', `/v1/holds/${h1.id}/capture`, { quantity: 4 });
    expect(again.consumption.id).toBe(captured.consumption.id);
    expect(again.hold).toMatchObject({ status: 'captured', captured: '4' });
    const late = await call(api1, 'POST', `/v1/holds/${h1.id}/release`);
    expect(late.status, late.text).toBe(409);
    expect(late.body.code).toBe('conflict');
    expect(await smsRow(api1, 'h1')).toMatchObject({ remaining: '96', held: '0', consumed: '4' });

    // four holds of 20 (96 − 80 = 16 usable), each closed twice at the same instant: released through one API and
    // captured (15 of its 20) through the other, the APIs swapped from one hold to the next. Each time exactly one
    // closing is applied and the other answered 409 conflict. By hand: a capture that wins consumes 15 and gives 5
    // back, a release that wins gives the 20 back, so 96 − 15 × (captures that won) remain, and nothing stays held.
    const raced = [];
    for (let i = 0; i < 4; i += 1) raced.push(await hold(`race-${i}`, 20, apis[i % 2]!));
    expect(raced.at(-1)).toMatchObject({ remaining: '16' });
    const outcomes = await Promise.all(
      raced.map(async (h, i) => {
        const [release, capture] = await Promise.all([
          call(apis[i % 2]!, 'POST', `/v1/holds/${h.id}/release`),
          call(apis[(i + 1) % 2]!, 'POST', `/v1/holds/${h.id}/capture`, { body: { quantity: 15 } }),
        ]);
        return { release, capture };
      }),
    );
    let capturesWon = 0;
    for (const { release, capture } of outcomes) {
      expect([release.status, capture.status].sort(), `${release.text}\n${capture.text}`).toEqual([200, 409]);
      const loser = release.status === 409 ? release : capture;
      expect(loser.body.code).toBe('conflict');
      if (capture.status === 200) {
        capturesWon += 1;
        expect(capture.body.hold).toMatchObject({ status: 'captured', captured: '15', released: '5' });
      } else {
        expect(release.body).toMatchObject({ status: 'released', released: '20', captured: '0' });
      }
    }
    const left = 96 - 15 * capturesWon;
    expect(await smsRow(api2, 'h1')).toMatchObject({ remaining: String(left), held: '0' });
    // the store agrees with what was answered: one capture consumption per capture answered 200, plus the first
    expect(await rows('consumptions')).toBe(1 + capturesWon);
    expect(await rows('holds', { status: 'captured' })).toBe(1 + capturesWon);
    expect(await rows('holds', { status: 'released' })).toBe(4 - capturesWon);

    // one hold captured through both APIs at the same instant (7 of 10): one consumption, answered to both; by hand
    // left − 7 remain
    const twice = await hold('call-2', 10, api2);
    const both = await Promise.all(
      apis.map((api) => call(api, 'POST', `/v1/holds/${twice.id}/capture`, { body: { quantity: 7 } })),
    );
    for (const a of both) expect(a.status, a.text).toBe(200);
    expect(both[0]!.body.consumption.id).toBe(both[1]!.body.consumption.id);
    expect(await smsRow(api1, 'h1')).toMatchObject({ remaining: String(left - 7), held: '0' });
    expect(await rows('consumptions')).toBe(2 + capturesWon);
  });
});

// --------------------------------------------------------------------------------------------------------------

/** How many events of each type the outbox holds (what webhooks and GET /v1/events are made from). */
async function eventCounts(): Promise<Record<string, number>> {
  const counted = (await current()
    .app.database.db('outbox_events')
    .select('type')
    .count({ n: '*' })
    .groupBy('type')) as Array<{ type: string; n: bigint | string }>;
  return Object.fromEntries(counted.map((c) => [c.type, Number(c.n)]));
}

describe('two schedulers', () => {
  it('make each night once: one renewal and invoice per period, one report run per type and day', async () => {
    // reports of two types each night (README NIGHTLY_REPORTS), to count them
    const { app, apis, siblings } = await startFleet({ apis: 1, env: { NIGHTLY_REPORTS: 'balances,consumption' } });
    const [api] = apis as [string];
    app.clock.set('2026-03-01T00:00:00.000Z');
    // one auto-renewing month of 100 messages from 1 March 00:00 to 1 April 00:00; 3 used (97 left)
    const { subscriptions } = await sellSms(api, ['n1'], 100, { auto_renew: true });
    const sub = subscriptions[0];
    expect(sub.current_period_end).toBe('2026-04-01T00:00:00.000Z');
    const use = { client: 'n1', credit_type: 'sms', quantity: 3, idempotency_key: 'n-1' };
    expect(await ok(api, 'POST', '/v1/consumptions?wait=true', use)).toMatchObject({ remaining: '97' });

    // two scheduler processes (README Deploy: "1 (2 are safe: job ids make their work run once)"), started on
    // 30 March 12:00: each catches up at start (renewals due within the look-ahead of 26 h — none: the period ends
    // in 36 h — and an expiry sweep named by the minute: one job for both)
    app.clock.set('2026-03-30T12:00:00.000Z');
    // each a runtime of its own with the scheduler started on it, as ROLES=scheduler does (startRoles), by hand so
    // that the test reaches its cron entries (`tasks`) and its catch-up
    const hosts = await Promise.all([0, 1].map(() => startSibling(app, [])));
    siblings.push(...hosts);
    const start = async () => {
      const schedulers = hosts.map((host) => startScheduler(host.ctx));
      closers.push(() => Promise.all(schedulers.map((s) => s.stop())));
      const caughtUp = (await Promise.all(schedulers.map((s) => s.caughtUp))).flat();
      for (const job of caughtUp) {
        const outcome = await awaitOutcome(app.ctx, job.name, job.jobId, { timeoutMs: 20_000 });
        expect(outcome.state, job.jobId).toBe('completed');
      }
      return { schedulers, caughtUp, missed: await Promise.all(schedulers.map((s) => s.missedNight)) };
    };
    const first = await start();
    expect(new Set(first.caughtUp.map((j) => j.jobId))).toEqual(new Set(['expire|20260330T120000.000Z']));
    // a new install (no night ever finished) runs no missed night
    expect(first.missed).toEqual([undefined, undefined]);

    // Night 1, 31 March 02:00: both cron entries fire at the same minute. By hand: the period ending 1 April 00:00 is
    // within 02:00 + 26 h, so it is renewed once (its second period, 1 April → 1 May, and invoice 2); the balance
    // expiring 1 April is within EXPIRING_SOON_DAYS (7) of 31 March: one balance.expiring_soon; the reports of 30 March
    // (the day before; a new install makes no earlier day): 2 runs, 2 report.ready
    app.clock.set('2026-03-31T02:00:00.000Z');
    await Promise.all(first.schedulers.map((s) => s.tasks[0]!.execute()));
    expect(await rows('subscription_periods', { subscription_id: sub.id })).toBe(2);
    expect(await rows('invoices', { subscription_id: sub.id })).toBe(2);
    expect(await ok(api, 'GET', `/v1/subscriptions/${sub.id}`)).toMatchObject({
      current_period_end: '2026-05-01T00:00:00.000Z',
      renewal_count: 1,
    });
    expect(await rows('report_runs', { trigger: 'nightly', status: 'done' })).toBe(2);
    expect(await rows('nightly_runs')).toBe(1);
    // the sale's own events (subscription.created, invoice.created of 1 March 00:00) are gone: the night's cleanup
    // deletes an event no endpoint received once it is 30 days old (README "How long things are kept"), and this one
    // is 30 days and 2 hours old. Left: the renewal's invoice, its event, the notice, the reports
    expect(await eventCounts()).toEqual({
      'subscription.renewed': 1,
      'invoice.created': 1,
      'balance.expiring_soon': 1,
      'report.ready': 2,
    });

    // nothing the night accepted waits for a worker any more: each request was applied, and its row deleted with it
    expect(await rows('accepted_jobs')).toBe(0);

    // The second scheduler a little behind the first (its cron entry fired the same minute, but its renewal phase
    // waited longer): it asks for the same night again after the first one finished it. By hand: nothing new — the
    // reports of 30 March exist (its two requests are repeats of applied ones), the period is renewed — and, as above,
    // no request left accepted. A request left accepted with its job completed would wait RELAY_GRACE_MS (30 s) and
    // then run again under a warning that Postgres was restored from a backup (commands/recover.ts `finishedBefore`)
    await first.schedulers[1]!.tasks[0]!.execute();
    expect(await rows('report_runs', { trigger: 'nightly', status: 'done' })).toBe(2);
    expect(await rows('accepted_jobs')).toBe(0);
    // and the race of the two at the same minute, forced: the second read the subscription as due (period ending
    // 1 April) just before the first's renewal of it applied, and asks for it once that renewal has settled
    const stale = [{ id: sub.id as string, current_period_end: new Date('2026-04-01T00:00:00.000Z') }];
    const asked = await askRenewals(hosts[1]!.ctx, stale, new Date('2026-03-31T02:00:00.000Z'));
    expect(asked.map((j) => j.jobId)).toEqual([`renewal|${sub.id}|20260401T000000.000Z`]);
    expect(await awaitOutcome(app.ctx, 'renew', asked[0]!.jobId, { timeoutMs: 20_000 })).toMatchObject({
      state: 'completed',
    });
    expect(await rows('accepted_jobs')).toBe(0);
    expect(await rows('subscription_periods', { subscription_id: sub.id })).toBe(2);

    // Night 2, 1 April 02:00, passes with both schedulers down (a deploy); both start again at 05:00. Each catches up
    // (renewals: none, the period now ends 1 May; an expiry sweep as of 05:00) and runs the missed night of 02:00
    // (README "A missed night is run at start"). By hand: the first period's balance (97 left) expired at 00:00 —
    // one balance.expired, whichever sweep gets there first; no renewal (1 May is beyond 1 April 02:00 + 26 h); the
    // reports of 31 March: 2 more runs (4 in all, 2 a day); no new notice (the new balance expires 1 May, beyond
    // 8 April)
    await Promise.all(first.schedulers.map((s) => s.stop()));
    app.clock.set('2026-04-01T05:00:00.000Z');
    const second = await start();
    expect(new Set(second.caughtUp.map((j) => j.jobId))).toEqual(new Set(['expire|20260401T050000.000Z']));
    expect(second.missed.some((night) => night?.as_of === '2026-04-01T02:00:00.000Z')).toBe(true);
    expect(await rows('subscription_periods', { subscription_id: sub.id })).toBe(2);
    expect(await rows('invoices', { subscription_id: sub.id })).toBe(2);
    expect(await rows('report_runs', { trigger: 'nightly', status: 'done' })).toBe(4);
    // one run per type and business day: the ranged one over the day, the other as of its end (midnight)
    const made = (await app.database
      .db('report_runs')
      .select('type', app.database.db.raw("coalesce(params->>'from', params->>'as_of') AS day"))) as Array<{
      type: string;
      day: string;
    }>;
    expect(made.map((r) => `${r.type} ${r.day}`).sort()).toEqual([
      'balances 2026-03-31T00:00:00.000Z',
      'balances 2026-04-01T00:00:00.000Z',
      'consumption 2026-03-30T00:00:00.000Z',
      'consumption 2026-03-31T00:00:00.000Z',
    ]);
    expect(await rows('nightly_runs')).toBe(2);
    expect(await app.database.db('nightly_runs').whereNull('finished_at').count({ n: '*' }).first()).toEqual({ n: 0n });
    expect(await eventCounts()).toEqual({
      'subscription.renewed': 1,
      'invoice.created': 1,
      'balance.expiring_soon': 1,
      'balance.expired': 1,
      'report.ready': 4,
    });
    expect((await smsRow(api, 'n1')).remaining).toBe('100');
    // nothing accepted is left waiting for a worker (a second scheduler's request made after the first's ran would be)
    expect(await rows('accepted_jobs')).toBe(0);
  });
});

// --------------------------------------------------------------------------------------------------------------

describe('the outbox relay in two worker processes', () => {
  it('delivers each event once to each endpoint that asked for it', async () => {
    const { app, apis } = await startFleet({ env: { WEBHOOK_ALLOW_PRIVATE: 'true' } });
    const [api1, api2] = apis as [string, string];
    const everything = new Receiver();
    const payments = new Receiver();
    for (const r of [everything, payments]) {
      await r.start();
      closers.push(() => r.stop());
    }
    // made first: an endpoint is told of the events that occur after it is made (README "From when")
    await ok(api1, 'POST', '/v1/webhook-endpoints', { url: everything.url, events: ['*'] }, 201);
    await ok(api2, 'POST', '/v1/webhook-endpoints', { url: payments.url, events: ['invoice.paid'] }, 201);

    // 12 sales at once, half through each API, then each invoice paid through the API that did not sell it. By hand:
    // a sale writes subscription.created and invoice.created, a payment invoice.paid: 12 × 3 = 36 events, all 36 to
    // the endpoint of "*", the 12 invoice.paid to the other — 48 deliveries, each made once by one of the two relays
    // (each worker process runs one; the outbox rows are claimed with SKIP LOCKED)
    await sellSms(api1, []);
    const refs = Array.from({ length: 12 }, (_, i) => `w${i}`);
    const sales = await Promise.all(
      refs.map(async (ref, i) => {
        const api = apis[i % 2]!;
        await ok(api, 'POST', '/v1/clients', { external_ref: ref, name: ref }, 201);
        return ok(api, 'POST', '/v1/subscriptions', { client: ref, package: 'sms-pack' }, 201);
      }),
    );
    await Promise.all(
      sales.map((sale, i) => ok(apis[(i + 1) % 2]!, 'POST', `/v1/invoices/${sale.invoice.id}/pay`, {})),
    );
    await Promise.all([everything.until(36), payments.until(12)]);

    const db = app.database.db;
    const deliveries = (await db('webhook_deliveries').select('id')) as Array<{ id: string }>;
    expect(deliveries).toHaveLength(48);
    // each delivery's job has ended (the receiver answers before its worker records the answer)
    for (const d of deliveries) {
      const ended = await awaitOutcome(app.ctx, 'deliver', jobIdOf('deliver', { delivery_id: d.id }), {
        timeoutMs: 20_000,
      });
      expect(ended.state, d.id).toBe('completed');
    }
    // every event moved on once, every delivery made at its first attempt, and nothing left that could send more
    expect(await rows('outbox_events')).toBe(36);
    expect(await db('outbox_events').whereNull('dispatched_at').count({ n: '*' }).first()).toEqual({ n: 0n });
    expect(await rows('webhook_deliveries', { status: 'delivered', attempts: 1 })).toBe(48);
    const counts = await app.ctx.queues.webhooks.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized');
    expect(counts).toEqual({ waiting: 0, active: 0, delayed: 0, failed: 0, prioritized: 0 });
    // so what each receiver got is final: each event once (webhook-id is the event's id), in the numbers above
    const ids = (r: Receiver) => r.received.map((x) => String(x.headers['webhook-id']));
    expect(everything.received).toHaveLength(36);
    expect(new Set(ids(everything)).size).toBe(36);
    expect(payments.received).toHaveLength(12);
    expect(new Set(ids(payments)).size).toBe(12);
    const types = everything.received.map((x) => String(x.headers['credits-event-type']));
    expect(types.filter((t) => t === 'subscription.created')).toHaveLength(12);
    expect(types.filter((t) => t === 'invoice.created')).toHaveLength(12);
    expect(types.filter((t) => t === 'invoice.paid')).toHaveLength(12);
    expect(payments.received.every((x) => x.headers['credits-event-type'] === 'invoice.paid')).toBe(true);
  });
});

// --------------------------------------------------------------------------------------------------------------

describe('an API key revoked through one API process', () => {
  const CACHE_MS = 5_000; // API_KEY_CACHE_MS's default (README Configuration)

  it('is refused by the others within API_KEY_CACHE_MS of the revocation (their cache clock, not sleeps)', async () => {
    const { app, apis } = await startFleet({ apis: 3, workers: 0 });
    const [api1, api2, api3] = apis as [string, string, string];
    const made = await ok(api1, 'POST', '/v1/api-keys', { name: 'qa three', scopes: ['write'] }, 201);
    const key = made.key as string;
    const status = async (api: string) => (await call(api, 'GET', '/v1/credit-types', { key })).status;
    // remembered by API 2 at T (until T + 5,000) and by API 3 at T + 1,000 (until T + 6,000)
    const T = ticks;
    expect(await status(api2)).toBe(200);
    ticks = T + 1_000;
    expect(await status(api3)).toBe(200);
    // revoked through API 1 at T + 2,000: refused there at once (README: "revoked through ApiKeyVerifier.revoke in
    // this process: at once")
    ticks = T + 2_000;
    await ok(api1, 'POST', `/v1/api-keys/${made.id}/revoke`, {});
    expect(await status(api1)).toBe(401);
    // the others may still take it from their cache, but not past the bound (README: "stops working everywhere within
    // this time"): API 2's entry ends at T + 5,000, API 3's at T + 6,000 — both before T + 2,000 + 5,000
    ticks = T + 4_999;
    expect([await status(api2), await status(api3)]).toEqual([200, 200]);
    ticks = T + 5_000;
    expect([await status(api2), await status(api3)]).toEqual([401, 200]);
    ticks = T + 2_000 + CACHE_MS;
    expect(await Promise.all(apis.map(status))).toEqual([401, 401, 401]);
    // and the refusal is remembered no longer than the rest: a key is refused by every process from then on
    ticks += 60_000;
    expect(await Promise.all(apis.map(status))).toEqual([401, 401, 401]);
    expect(app.clock.now().toISOString()).toBe(NOW);
  });

  it('a check that was reading the key while it was revoked is not remembered past the bound', async () => {
    const { app, apis } = await startFleet({ apis: 2, workers: 0 });
    const [api1, api2] = apis as [string, string];
    const db = app.database.db;
    // a key never presented yet (a process that checks it writes its last_used_at, so the check takes its row)
    const made = await createApiKey(db, { name: 'qa in flight', scopes: ['write'], now: app.clock.now() });
    // Queued on the key's row, in this order, behind a transaction of the test's: the revocation through API 1, a
    // second transaction of the test's, and API 2's first check of the key (it has read the row — not revoked yet —
    // and waits to write last_used_at). The test's first transaction ends at T: the revocation commits at T; the
    // second holds the row until T + 4,000, then API 2's check ends. README: a key revoked in another process stops
    // working everywhere within API_KEY_CACHE_MS — here by T + 5,000, whenever that read began
    const first = await db.transaction();
    const second = await db.transaction();
    closers.push(async () => {
      await first.rollback().catch(() => undefined);
      await second.rollback().catch(() => undefined);
    });
    await first('api_keys').where({ id: made.id }).forUpdate().select('id');
    const revoking = call(api1, 'POST', `/v1/api-keys/${made.id}/revoke`);
    await untilWaitingForLocks(db, 1, { about: 'api_keys' });
    const holding = second('api_keys')
      .where({ id: made.id })
      .forUpdate()
      .select('id')
      .then((r) => r);
    await untilWaitingForLocks(db, 2, { about: 'api_keys' });
    const checking = call(api2, 'GET', '/v1/credit-types', { key: made.key });
    await untilWaitingForLocks(db, 3, { about: 'api_keys' });
    const T = ticks;
    await first.commit();
    expect((await revoking).status).toBe(200);
    await holding;
    ticks = T + 4_000;
    await second.commit();
    // the request that presented the key before the revocation committed is answered as it was checked
    expect((await checking).status).toBe(200);
    ticks = T + 5_000;
    expect((await call(api2, 'GET', '/v1/credit-types', { key: made.key })).status).toBe(401);
  });
});

// --------------------------------------------------------------------------------------------------------------

describe('the rate limit across three API processes', () => {
  it('admits at least the limit and at most limit + (P − 1) × 1% of it a minute, spread over them', async () => {
    // RATE_LIMIT_PER_MINUTE = 200: each process may admit 1% of it (2) unsent to Redis (README RATE_LIMIT_SYNC_MS)
    const { app, apis } = await startFleet({ apis: 3, workers: 0, env: { RATE_LIMIT_PER_MINUTE: '200' } });
    const made = await createApiKey(app.database.db, { name: 'qa burst', scopes: ['read'], now: app.clock.now() });
    // 240 requests of one key at once, 80 to each process, all in one minute of the limiter's clock. By hand:
    // P = 3 processes admit at least 200 (nothing is refused before the shared count reaches the limit) and at most
    // 200 + (3 − 1) × 2 = 204; the rest, 36 to 40, are 429 rate_limited
    const answers = await Promise.all(
      Array.from({ length: 240 }, (_, i) => call(apis[i % 3]!, 'GET', '/v1/credit-types', { key: made.key })),
    );
    const admitted = answers.filter((a) => a.status === 200).length;
    expect(admitted).toBeGreaterThanOrEqual(200);
    expect(admitted).toBeLessThanOrEqual(204);
    const refused = answers.filter((a) => a.status !== 200);
    expect(refused).toHaveLength(240 - admitted);
    for (const r of refused) {
      expect(r.status, r.text).toBe(429);
      expect(r.body.code).toBe('rate_limited');
      // ticks stand at :30 of the minute: 30 s to its end
      expect(r.headers.get('retry-after')).toBe('30');
    }
    // every process refuses the key now, and the next minute is a new budget in each of them
    for (const api of apis) expect((await call(api, 'GET', '/v1/credit-types', { key: made.key })).status).toBe(429);
    ticks += 30_000;
    for (const api of apis) expect((await call(api, 'GET', '/v1/credit-types', { key: made.key })).status).toBe(200);
  });

  it('an API process stopping sends the counts it has not sent: its requests stay in the shared count', async () => {
    // RATE_LIMIT_PER_MINUTE = 1,000: a process sends its count when 10 (1%) are unsent, else every RATE_LIMIT_SYNC_MS
    // (10 s here, the most it may be: longer than the test takes). 7 requests through the sibling API stay unsent
    // until it stops; stopped, it sends them (KeyRateLimiter.close, called once its requests are answered): Redis
    // counts 7 for the minute (before the fix, nothing: the process stopped long before its next sync)
    const { app, apis, siblings } = await startFleet({
      apis: 2,
      workers: 0,
      env: { RATE_LIMIT_PER_MINUTE: '1000', RATE_LIMIT_SYNC_MS: '10000' },
    });
    const made = await createApiKey(app.database.db, { name: 'qa stop', scopes: ['read'], now: app.clock.now() });
    for (let i = 0; i < 7; i += 1)
      expect((await call(apis[1]!, 'GET', '/v1/credit-types', { key: made.key })).status).toBe(200);
    const counted = `${app.prefix}:ratelimit:${made.id}:${Math.floor(ticks / 60_000)}`;
    await stopOnce(siblings[0]!);
    expect(Number(await app.ctx.redis.get(counted))).toBe(7);
  });
});

// --------------------------------------------------------------------------------------------------------------

describe('one of two worker processes stopped mid-load (graceful close)', () => {
  it('leaves nothing applied twice or lost, and the other worker finishes the work', async () => {
    // each worker holds at most 20 consumption jobs at once, so that the load is spread and outlives the first stop
    const { app, apis, workers } = await startFleet({ workerConfig: { CONSUMPTION_CONCURRENCY: 20 } });
    const [api1] = apis as [string, string];
    const refs = ['m0', 'm1', 'm2', 'm3'];
    await sellSms(api1, refs, 1_000);
    const ids = new Map<string, string>();
    for (const ref of refs) ids.set(ref, (await ok(api1, 'GET', `/v1/clients/${ref}`)).id);
    const deadlocks = await watchDeadlocks(app.database.url);

    const events = await queueEvents('consumption');
    // what each consumption job returned, by job id, as its completion event tells it; and what went wrong
    const results = new Map<string, { status?: string; replayed?: boolean }>();
    let failed = 0;
    let stalled = 0;
    const waiters = new Set<{ ready: () => boolean; resolve: () => void }>();
    const until = (ready: () => boolean) =>
      ready() ? Promise.resolve() : new Promise<void>((resolve) => waiters.add({ ready, resolve }));
    events.on('completed', ({ jobId, returnvalue }) => {
      results.set(jobId, returnvalue as unknown as { status?: string; replayed?: boolean });
      for (const w of waiters)
        if (w.ready()) {
          waiters.delete(w);
          w.resolve();
        }
    });
    events.on('failed', () => {
      failed += 1;
    });
    events.on('stalled', () => {
      stalled += 1;
    });

    // Wave 1: 60 uses of 1 message per client pushed by a producer (240 consume jobs), and 10 per client through the
    // two APIs waiting for their results (40 requests). Once 40 jobs have completed, worker 1 is stopped gracefully —
    // it stops taking jobs and finishes the ones it holds (at most 20). Wave 2, pushed once it has stopped: 40 uses
    // per client (160 jobs), which only worker 2 can run. By hand: 60 + 10 + 40 = 110 messages per client,
    // 1,000 − 110 = 890 left each; 4 × 110 = 440 consumptions, each applied once (440 consume entries, −440 in all)
    const producer = new CreditsProducer({
      connection: inject('redisUrl'),
      prefix: app.prefix,
      now: () => app.clock.now(),
    });
    closers.push(() => producer.close());
    const use = (ref: string, key: string) => ({
      client: ids.get(ref)!,
      credit_type: 'sms',
      quantity: 1,
      idempotency_key: key,
    });
    const wave1 = await producer.consumeEach(
      refs.flatMap((ref) => Array.from({ length: 60 }, (_, i) => use(ref, `p1-${i}`))),
    );
    const viaApi = refs.flatMap((ref) =>
      Array.from({ length: 10 }, (_, i) =>
        call(apis[i % 2]!, 'POST', '/v1/consumptions?wait=true', { body: { ...use(ref, `a-${i}`), client: ref } }),
      ),
    );
    await until(() => results.size >= 40);
    await stopOnce(workers[0]!);
    const afterStop = results.size;
    const wave2 = await producer.consumeEach(
      refs.flatMap((ref) => Array.from({ length: 40 }, (_, i) => use(ref, `p2-${i}`))),
    );
    const pushed = [...wave1, ...wave2].map((j) => j.jobId);
    await until(() => pushed.every((id) => results.has(id)));
    for (const id of pushed) expect(results.get(id), id).toMatchObject({ status: 'applied', replayed: false });
    const answered = await Promise.all(viaApi);
    for (const a of answered) expect(a.body, a.text).toMatchObject({ status: 'applied', replayed: false });
    // worker 2 ran what was left when worker 1 had stopped, wave 2 among it
    expect(results.size - afterStop).toBeGreaterThanOrEqual(160);
    expect({ failed, stalled }).toEqual({ failed: 0, stalled: 0 });

    expect(await rows('consumptions')).toBe(440);
    expect(await rows('consumptions', { status: 'applied' })).toBe(440);
    const consumed = (await app.database
      .db('ledger_entries')
      .where({ kind: 'consume' })
      .count({ n: '*' })
      .sum({ total: 'amount' })
      .first()) as { n: bigint | string; total: bigint | string };
    expect({ n: Number(consumed.n), total: Number(consumed.total) }).toEqual({ n: 440, total: -440 });
    for (const ref of refs) expect(await smsRow(api1, ref)).toMatchObject({ consumed: '110', remaining: '890' });
    expect(await rows('accepted_jobs')).toBe(0);
    // README "Workers scale horizontally": two batches touching one client queue on its rows and never deadlock —
    // read from Postgres's own count once every connection that locked balances has ended (both workers stopped)
    await stopOnce(workers[1]!);
    expect(await deadlocks.delta()).toBe(0);
  });
});

// --------------------------------------------------------------------------------------------------------------

describe('an API process drained while the other runs on', () => {
  it('answers its requests in flight; a new one it refuses (503, nothing recorded) is taken by the other', async () => {
    const { app, apis, siblings } = await startFleet({ workers: 1 });
    const [api1, api2] = apis as [string, string];
    const { subscriptions } = await sellSms(api1, ['d1']);
    const balanceId = subscriptions[0].balances[0].id as string;
    const db = app.database.db;
    // a use through API 2 kept in flight: the test holds the client's balance row, so its worker's batch waits
    const holdRow = await db.transaction();
    closers.push(() => holdRow.rollback().catch(() => undefined));
    await holdRow('balances').where({ id: balanceId }).forUpdate().select('id');
    const use = (key: string, quantity: number) => ({
      client: 'd1',
      credit_type: 'sms',
      quantity,
      idempotency_key: key,
    });
    const inFlight = call(api2, 'POST', '/v1/consumptions?wait=true', { body: use('d-1', 3) });
    await untilWaitingForLocks(db, 1, { about: 'balances' });

    // API 2 is told to stop (SIGTERM): it drains (README "Shutdown")
    const draining = stopOnce(siblings[0]!);
    const refused = await call(api2, 'POST', '/v1/consumptions?wait=true', { body: use('d-2', 4) });
    expect(refused.status, refused.text).toBe(503);
    expect(refused.body.code).toBe('unavailable');
    expect(refused.headers.get('retry-after')).not.toBeNull();
    expect(await rows('consumptions', { idempotency_key: 'd-2' })).toBe(0);
    expect(await rows('accepted_jobs')).toBe(1);

    // the row let go: the request in flight gets its result, and API 2 finishes its drain
    await holdRow.commit();
    const first = await inFlight;
    expect(first.status, first.text).toBe(200);
    expect(first.body).toMatchObject({ status: 'applied', remaining: '97' });
    await draining;
    // the refused request sent again, as README says, to the process still running: applied once. By hand: 100 − 3 −
    // 4 = 93 left
    const retried = await call(api1, 'POST', '/v1/consumptions?wait=true', { body: use('d-2', 4) });
    expect(retried.status, retried.text).toBe(200);
    expect(retried.body).toMatchObject({ status: 'applied', remaining: '93', replayed: false });
    expect(await rows('consumptions')).toBe(2);
    expect((await smsRow(api1, 'd1')).remaining).toBe('93');
  });
});

// --------------------------------------------------------------------------------------------------------------

describe('a credit type renamed through one API process', () => {
  it('is named so by the other API process and by the workers within CREDIT_TYPE_TTL_MS (5 s)', async () => {
    const { apis } = await startFleet();
    const [api1, api2] = apis as [string, string];
    await sellSms(api1, ['r1']);
    const quote = { client: 'r1', credit_type: 'sms', quantity: 1 };
    const unitQuoted = async (api: string) => (await ok(api, 'POST', '/v1/consumptions/quote', quote)).credit_type.unit;
    // every process has read the credit type at T (the quotes, and uses applied by either worker)
    const T = ticks;
    expect([await unitQuoted(api1), await unitQuoted(api2)]).toEqual(['message', 'message']);
    const uses = async (prefix: string) =>
      Promise.all(
        Array.from({ length: 4 }, (_, i) =>
          ok(apis[i % 2]!, 'POST', '/v1/consumptions?wait=true', { ...quote, idempotency_key: `${prefix}-${i}` }),
        ),
      );
    for (const used of await uses('before')) expect(used.credit_type.unit).toBe('message');

    const renamed = await ok(api1, 'PATCH', '/v1/credit-types/sms', { unit: 'text' });
    expect(renamed.unit).toBe('text');
    // the process that took the PATCH names it at once; another may still name the old unit until T + 5,000 (README).
    // QA: RefResolver stamps a credit type's 5 s from when its read ends (as ApiKeyVerifier did before this file's
    // fix); a plain SELECT waits on no row lock, so the overrun is a read's duration — not changed, reported.

    expect(await unitQuoted(api1)).toBe('text');
    ticks = T + 4_999;
    expect(await unitQuoted(api2)).toBe('message');
    ticks = T + 5_000;
    expect(await unitQuoted(api2)).toBe('text');
    // and the workers' results, whichever worker applies the use
    for (const used of await uses('after')) expect(used.credit_type.unit).toBe('text');
  });
});
