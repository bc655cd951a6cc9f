import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { freePort, REPO_ROOT, ServiceProcess } from '../../chaos/services.js';
import { awaitOutcome } from '../../src/commands/index.js';
import { createDb, type Db } from '../../src/db/knex.js';
import { streamReportRows } from '../../src/db/reports/stream.js';
import { jobIdOf } from '../../src/jobs/definitions.js';
import { storedParams } from '../../src/reports/params.js';
import { reportQuery } from '../../src/reports/registry.js';
import { type RunningScheduler, startScheduler } from '../../src/scheduler/index.js';
import { laneHash } from '../../src/workers/queue-processor.js';
import { type Sibling, startSibling, startTestApp, type TestApp, type TestResponse } from '../helpers/app.js';
import { compiledEntry } from '../helpers/build.js';
import type { TestDatabase } from '../helpers/database.js';
import { untilWaitingForLocks } from '../helpers/lock-waits.js';
import { logCapture } from '../helpers/log-capture.js';
import { type Pgbouncer, startPgbouncer } from '../helpers/pgbouncer.js';
import { metricSample } from '../helpers/prometheus.js';
import { Receiver } from '../helpers/receiver.js';
import { type RedisCluster, startRedisCluster } from '../helpers/redis-cluster.js';
import { type PrimaryAndReplica, startPrimaryAndReplica } from '../helpers/replica.js';

/**
 * QA of the topology README "Scaling past one machine" promises, all engines at once (each has a test of its own:
 * redis-cluster, pgbouncer, reports-replica): a Redis Cluster of three masters and their replicas, a Postgres primary
 * with a streaming replica, PgBouncer in transaction pooling in front of the primary, and the service as separate
 * roles — an API, a worker and a scheduler — set up as README "Configuration", "Deploy" and "Scaling past one
 * machine" tell an operator: NODE_ENV=production, MIGRATE=off after `npm run migrate`, DATABASE_URL on PgBouncer with
 * PGBOUNCER=true and DATABASE_DIRECT_URL on Postgres itself (statement_timeout set on the role), REPORTS_DATABASE_URL
 * on the replica, REDIS_CLUSTER_NODES and a BULL_PREFIX that is a hash tag of this file's own.
 *
 * The roles run inside this process (helpers/app.ts siblings: each its own pools, Redis connections, listener,
 * workers and relay), sharing the clock the test moves (PUT /v1/admin/clock, as README "Acceptance runs" does); the
 * worker that is killed mid-load is a real process of the compiled service (`kill -9`), started as the image starts.
 * A business walks through it over HTTP; every number is worked out by hand in the comments. Nothing sleeps: the
 * test waits on HTTP answers, jobs, the receiver's own event, Postgres's lock table and the replica's replay LSN.
 *
 * The cast (BUSINESS_TZ UTC): credit types `sms` (whole messages) and `support` (hours, 2 decimals); package
 * `starter` 1,000 sms + 2.5 support for a month, USD 49.00, auto-renewing, up to 14 frozen days; package `week` 100
 * sms for a week, USD 9.00, not renewing; client `crm-acme` buys both on 2026-11-02 09:00.
 */
const NOW = '2026-11-02T09:00:00.000Z';
const DB = 'credits';
const prefix = `{qa-topology-${randomBytes(4).toString('hex')}}`;
const logDir = mkdtempSync(path.join(tmpdir(), 'credits-qa-topology-'));
const SPENT_AT = '2026-11-02T10:00:00.000Z';

let cluster: RedisCluster | undefined;
let servers: PrimaryAndReplica | undefined;
let bouncer: Pgbouncer | undefined;
let app: TestApp | undefined;
let worker: Sibling | undefined;
let schedulerHost: Sibling | undefined;
let scheduler: RunningScheduler | undefined;
const processes: ServiceProcess[] = [];
const receiver = new Receiver();
/** What the roles inside this process log at warn and above (nothing, when all is well). */
const logged = logCapture();

/** The settings every process of the topology gets (README Configuration, Deploy), as an operator writes them. */
function operatorEnv(): Record<string, string> {
  if (!cluster || !servers || !bouncer) throw new Error('the topology is not up');
  return {
    NODE_ENV: 'production',
    MIGRATE: 'off',
    DATABASE_URL: bouncer.url,
    PGBOUNCER: 'true',
    DATABASE_DIRECT_URL: servers.primaryUrl(DB),
    REPORTS_DATABASE_URL: servers.replicaUrl(DB),
    REDIS_CLUSTER_NODES: cluster.nodesSetting,
    BULL_PREFIX: prefix,
    BUSINESS_TZ: 'UTC',
    WEBHOOK_ALLOW_PRIVATE: 'true',
    // a dead worker's jobs go to a live one within about this long (README JOB_LOCK_MS), 2 s rather than 5
    JOB_LOCK_MS: '2000',
    // the expiry sweep fires on the wall clock: once a year here, so that it never runs as of the clock the test
    // moved in the middle of a step (the nightly run, fired by the test, runs its own sweep)
    EXPIRE_CRON: '0 0 1 1 *',
  };
}

const app$ = (): TestApp => {
  if (!app) throw new Error('no app');
  return app;
};
const db = (): Db => app$().database.db;

async function onServer<T>(url: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql, values)).rows as T[];
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  [cluster, servers] = await Promise.all([startRedisCluster(), startPrimaryAndReplica()]);
  // README PGBOUNCER: no statement_timeout startup parameter through the pooler, so it is set on the role
  await onServer(servers.primaryUrl('postgres'), "ALTER ROLE postgres SET statement_timeout = '60s'");
  const primary = new URL(servers.primaryUrl(DB));
  bouncer = await startPgbouncer({ host: primary.hostname, port: Number(primary.port), database: DB });
  // the deploy's migrate step (README "Production start"): compiled, in production, making the database on Postgres
  // itself (DATABASE_DIRECT_URL)
  await promisify(execFile)(process.execPath, compiledEntry('src/migrate.ts'), {
    cwd: REPO_ROOT,
    env: { ...process.env, ...operatorEnv(), LOG_LEVEL: 'warn' },
  });
  // each server says which statements it ran (the reports' must run on the replica)
  await onServer(servers.primaryUrl(DB), 'CREATE EXTENSION pg_stat_statements');
  const direct = createDb({ url: servers.primaryUrl(DB), poolMax: 4 });
  // the service reaches the database through PgBouncer; the test reads Postgres itself
  const database: TestDatabase = { url: bouncer.url, name: DB, db: direct, drop: () => direct.destroy() };
  // the settings of the real processes, less what only a process reads (its port, the clock a test cannot move)
  const { NODE_ENV: _production, MIGRATE: _off, ...env } = operatorEnv();
  app = await startTestApp({
    roles: ['api'],
    now: NOW,
    database,
    env: { ...env, ROLES: 'api', LOG_LEVEL: 'warn' },
    logTo: logged.stream,
  });
  worker = await startSibling(app, ['worker']);
  schedulerHost = await startSibling(app, [], { config: { ROLES: ['scheduler'] } });
  // the scheduler as ROLES=scheduler starts it, held here so that the test can fire its nightly entry
  scheduler = startScheduler(schedulerHost.ctx);
  for (const job of await scheduler.caughtUp)
    expect((await awaitOutcome(app.ctx, job.name, job.jobId, { timeoutMs: 20_000 })).state).toBe('completed');
  await receiver.start();
}, 120_000);

afterAll(async () => {
  // every step runs whatever an earlier one threw (a server left running outlives the test run), in reverse order of
  // the starts; the first error is thrown at the end
  const errors: unknown[] = [];
  const step = async (work: () => unknown) => {
    try {
      await work();
    } catch (error) {
      errors.push(error);
    }
  };
  await step(() => receiver.stop());
  for (const p of processes) await step(() => p.stop());
  await step(() => scheduler?.stop());
  await step(() => schedulerHost?.stop());
  await step(() => worker?.stop());
  await step(() => app?.close());
  await step(() => bouncer?.stop());
  await step(() => servers?.stop());
  await step(() => cluster?.stop());
  rmSync(logDir, { recursive: true, force: true });
  if (errors.length > 0) throw errors[0];
}, 60_000);

// --------------------------------------------------------------------------------------------------------------

const call = (
  method: string,
  url: string,
  options: { body?: unknown; headers?: Record<string, string>; key?: string | null } = {},
): Promise<TestResponse> => app$().request(method, url, options);

async function ok(method: string, url: string, body?: unknown, status = 200): Promise<any> {
  const res = await call(method, url, body === undefined ? {} : { body });
  expect(res.status, `${method} ${url}: ${res.text}`).toBe(status);
  return res.body;
}

const problem = (res: TestResponse, status: number, code: string) => {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body.code).toBe(code);
};

const clockTo = async (iso: string) => {
  expect(await ok('PUT', '/v1/admin/clock', { now: iso })).toEqual({ now: iso, mode: 'manual' });
};

/** One credit type's row of GET /v1/clients/{client}/balances. */
async function row(client: string, code: string): Promise<any> {
  const body = await ok('GET', `/v1/clients/${client}/balances`);
  return body.data.find((r: { credit_type: { code: string } }) => r.credit_type.code === code);
}

const use = (credit_type: string, quantity: number | string, idempotency_key: string) => ({
  client: 'crm-acme',
  credit_type,
  quantity,
  idempotency_key,
});

const ids: Record<string, string> = {};

// --------------------------------------------------------------------------------------------------------------

describe('a business on the whole topology (Redis Cluster, primary + replica, PgBouncer, separate roles)', () => {
  it('sells from its catalog: a sale is one subscription and one invoice, once per Idempotency-Key', async () => {
    await ok('POST', '/v1/credit-types', { code: 'sms', name: 'SMS', unit: 'message' }, 201);
    await ok('POST', '/v1/credit-types', { code: 'support', name: 'Support', unit: 'hour', decimals: 2 }, 201);
    const month = { count: 1, unit: 'month' };
    await ok(
      'POST',
      '/v1/packages',
      {
        code: 'starter',
        name: 'Starter',
        price: 4900,
        currency: 'USD',
        validity: month,
        items: [
          { credit_type: 'sms', units: 1000 },
          { credit_type: 'support', units: '2.5' },
        ],
        auto_renew: true,
        max_freeze_days: 14,
      },
      201,
    );
    await ok(
      'POST',
      '/v1/packages',
      {
        code: 'week',
        name: 'Week of SMS',
        price: 900,
        currency: 'USD',
        validity: { count: 1, unit: 'week' },
        items: [{ credit_type: 'sms', units: 100 }],
        auto_renew: false,
      },
      201,
    );
    await ok('POST', '/v1/clients', { external_ref: 'crm-acme', name: 'Acme' }, 201);
    // told of renewals only (made before the sales: an endpoint hears of what happens after it is made)
    const endpoint = await ok(
      'POST',
      '/v1/webhook-endpoints',
      { url: receiver.url, events: ['subscription.renewed'] },
      201,
    );
    ids.secret = endpoint.secret;

    // the monthly sale: [11-02 09:00, 12-02 09:00), 1,000 sms and 2.5 support hours, invoice 1 of 2026 for 4,900
    const sale = { client: 'crm-acme', package: 'starter' };
    const sold = await call('POST', '/v1/subscriptions', { body: sale, headers: { 'idempotency-key': 'sale-1' } });
    expect(sold.status, sold.text).toBe(201);
    expect(sold.body).toMatchObject({
      status: 'active',
      auto_renew: true,
      current_period_start: NOW,
      current_period_end: '2026-12-02T09:00:00.000Z',
      invoice: { number: 'INV-2026-000001', total: 4900, currency: 'USD', status: 'issued' },
    });
    const balances = sold.body.balances as Array<{ id: string; credit_type: { code: string }; granted: string }>;
    expect(balances.map((b) => [b.credit_type.code, b.granted]).sort()).toEqual([
      ['sms', '1000'],
      ['support', '2.5'],
    ]);
    ids.S1 = sold.body.id;
    ids.B = balances.find((b) => b.credit_type.code === 'sms')!.id;
    ids.H = balances.find((b) => b.credit_type.code === 'support')!.id;
    // the same sale again under its key: the same subscription and invoice, replayed; nothing more sold
    const again = await call('POST', '/v1/subscriptions', { body: sale, headers: { 'idempotency-key': 'sale-1' } });
    expect(again.status, again.text).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.id).toBe(ids.S1);
    expect(again.body.invoice.id).toBe(sold.body.invoice.id);
    await ok('POST', `/v1/invoices/${sold.body.invoice.id}/pay`, {});

    // the week: [11-02 09:00, 11-09 09:00), 100 sms, invoice 2 for 900
    const week = await ok('POST', '/v1/subscriptions', { client: 'crm-acme', package: 'week' }, 201);
    expect(week).toMatchObject({
      current_period_end: '2026-11-09T09:00:00.000Z',
      invoice: { number: 'INV-2026-000002', total: 900, status: 'issued' },
    });
    ids.S2 = week.id;
    ids.W = week.balances[0].id;

    const invoices = await ok('GET', '/v1/invoices?client=crm-acme');
    expect(
      invoices.data.map((i: { number: string; total: number; status: string }) => [i.number, i.total, i.status]),
    ).toEqual(
      expect.arrayContaining([
        ['INV-2026-000001', 4900, 'paid'],
        ['INV-2026-000002', 900, 'issued'],
      ]),
    );
    expect(invoices.data).toHaveLength(2);
    // sms 1,000 + 100 = 1,100; support 2.5
    expect(await row('crm-acme', 'sms')).toMatchObject({ granted: '1100', remaining: '1100', consumed: '0' });
    expect(await row('crm-acme', 'support')).toMatchObject({ granted: '2.5', remaining: '2.5' });
    expect(await db()('subscriptions').count({ n: '*' }).first()).toEqual({ n: 2n });
  });

  it('spends soonest expiry first; a short balance is 422 insufficient_balance; a bad use fails alone', async () => {
    await clockTo(SPENT_AT);
    // 30 sms: the week's balance W (expires 11-09) before the month's B (12-02) → W 70 left; 1,100 − 30 = 1,070
    const u1 = await ok('POST', '/v1/consumptions?wait=true', use('sms', 30, 'u1'));
    expect(u1).toMatchObject({ status: 'applied', quantity: '30', applied: '30', remaining: '1070', replayed: false });
    expect(u1.allocations).toMatchObject([{ balance_id: ids.W, amount: '30' }]);
    // 100 sms: W's last 70, then 30 of B → 970
    const u2 = await ok('POST', '/v1/consumptions?wait=true', use('sms', 100, 'u2'));
    expect(u2).toMatchObject({ status: 'applied', remaining: '970' });
    expect(u2.allocations).toMatchObject([
      { balance_id: ids.W, amount: '70' },
      { balance_id: ids.B, amount: '30' },
    ]);
    // u1 again: its first answer, nothing taken twice
    const repeat = await ok('POST', '/v1/consumptions?wait=true', use('sms', 30, 'u1'));
    expect(repeat).toMatchObject({ id: u1.id, remaining: '1070', replayed: true });
    // 0.75 support hours → 2.5 − 0.75 = 1.75; then 2 hours: short by 0.25, refused whole (mode reject)
    expect(await ok('POST', '/v1/consumptions?wait=true', use('support', '0.75', 's1'))).toMatchObject({
      status: 'applied',
      remaining: '1.75',
    });
    const short = await call('POST', '/v1/consumptions?wait=true', { body: use('support', 2, 's2') });
    problem(short, 422, 'insufficient_balance');
    // the contract's 422: the consumption's fields in the problem (its status as consumption_status, README)
    expect(short.body).toMatchObject({
      id: expect.any(String),
      consumption_status: 'rejected',
      quantity: '2',
      applied: '0',
      shortfall: '0.25',
      allocations: [],
      remaining: '1.75',
    });

    // a batch, waited for: 5 sms (970 → 965), 0.125 support hours (finer than 2 decimals: failed alone, nothing
    // taken, its key free), 0.25 support hours (1.75 → 1.5)
    const batch = await call('POST', '/v1/consumptions/batch?wait=true', {
      body: { items: [use('sms', 5, 'b1'), use('support', '0.125', 'b2'), use('support', '0.25', 'b3')] },
    });
    expect(batch.status, batch.text).toBe(200);
    expect(batch.body.data.map((d: { status: string }) => d.status)).toEqual(['applied', 'failed', 'applied']);
    expect(batch.body.data[0]).toMatchObject({ idempotency_key: 'b1', applied: '5', remaining: '965' });
    expect(batch.body.data[1]).toMatchObject({ idempotency_key: 'b2', code: 'validation_failed' });
    expect(batch.body.data[2]).toMatchObject({ idempotency_key: 'b3', applied: '0.25', remaining: '1.5' });
    expect(await ok('GET', `/v1/consumptions/${batch.body.data[1].id}`)).toEqual(batch.body.data[1]);
    expect(await db()('consumptions').where({ idempotency_key: 'b2' }).count({ n: '*' }).first()).toEqual({ n: 0n });

    // by hand: sms consumed 30 + 100 + 5 = 135 of 1,100 → 965; support 0.75 + 0.25 = 1 of 2.5 → 1.5
    expect(await row('crm-acme', 'sms')).toMatchObject({ granted: '1100', consumed: '135', remaining: '965' });
    expect(await row('crm-acme', 'support')).toMatchObject({ consumed: '1', remaining: '1.5' });
    // the ledger: one consume entry per allocation (W 30, W 70, B 30, B 5, H 0.75, H 0.25), nothing for s2 and b2
    const consumes = (await db()('ledger_entries').where({ kind: 'consume' }).select('balance_id', 'amount')) as Array<{
      balance_id: string;
      amount: string | bigint;
    }>;
    const byBalance = (id: string) =>
      consumes.filter((e) => e.balance_id === id).reduce((sum, e) => sum + BigInt(e.amount), 0n);
    expect(consumes).toHaveLength(6);
    expect([byBalance(ids.W!), byBalance(ids.B!), byBalance(ids.H!)]).toEqual([-100n, -35n, -100n]);
  });

  it('holds in the spending order: captured in part (the rest back), released; a quote writes nothing', async () => {
    // W is empty: 50 held from B → 965 − 50 = 915 spendable, 50 held
    const held = await ok('POST', '/v1/holds?wait=true', {
      client: 'crm-acme',
      credit_type: 'sms',
      quantity: 50,
      idempotency_key: 'call-1',
      expires_in_seconds: 600,
    });
    expect(held).toMatchObject({
      status: 'held',
      quantity: '50',
      remaining: '915',
      expires_at: '2026-11-02T10:10:00.000Z',
    });
    expect(held.allocations).toMatchObject([{ balance_id: ids.B, amount: '50' }]);
    expect(await row('crm-acme', 'sms')).toMatchObject({ remaining: '915', held: '50' });
    // the call used 20: consumed 20, the other 30 back → 965 − 20 = 945
    const captured = await ok('POST', `/v1/holds/${held.id}/capture`, { quantity: 20 });
    expect(captured.hold).toMatchObject({ status: 'captured', captured: '20', released: '30', held: '0' });
    expect(captured.consumption).toMatchObject({ status: 'applied', quantity: '20', remaining: '945' });
    // again: the same answer; a release after it: 409
    expect((await ok('POST', `/v1/holds/${held.id}/capture`, { quantity: 20 })).consumption.id).toBe(
      captured.consumption.id,
    );
    problem(await call('POST', `/v1/holds/${held.id}/release`), 409, 'conflict');

    // 10 held (935) for the default 15 minutes, then all given back (945); a capture after that: 409
    const second = await ok('POST', '/v1/holds?wait=true', {
      client: 'crm-acme',
      credit_type: 'sms',
      quantity: 10,
      idempotency_key: 'call-2',
    });
    expect(second).toMatchObject({ status: 'held', remaining: '935', expires_at: '2026-11-02T10:15:00.000Z' });
    expect(await ok('POST', `/v1/holds/${second.id}/release`)).toMatchObject({ status: 'released', released: '10' });
    problem(await call('POST', `/v1/holds/${second.id}/capture`), 409, 'conflict');
    expect(await row('crm-acme', 'sms')).toMatchObject({ consumed: '155', remaining: '945', held: '0' });

    // quotes: 40 would come from B (945 − 40 = 905); 1,000 is 55 short — rejected whole, or 945 in part
    const entries = await db()('ledger_entries').count({ n: '*' }).first();
    const q = await ok('POST', '/v1/consumptions/quote', { client: 'crm-acme', credit_type: 'sms', quantity: 40 });
    expect(q).toMatchObject({ would: 'apply', applied: '40', shortfall: '0', remaining: '905' });
    expect(q.allocations).toEqual([{ balance_id: ids.B, amount: '40', expires_at: '2026-12-02T09:00:00.000Z' }]);
    const big = { client: 'crm-acme', credit_type: 'sms', quantity: 1000 };
    expect(await ok('POST', '/v1/consumptions/quote', big)).toMatchObject({
      would: 'reject',
      applied: '0',
      shortfall: '55',
      remaining: '945',
    });
    expect(await ok('POST', '/v1/consumptions/quote', { ...big, mode: 'partial' })).toMatchObject({
      would: 'partial',
      applied: '945',
      shortfall: '55',
      remaining: '0',
    });
    expect(await db()('ledger_entries').count({ n: '*' }).first()).toEqual(entries);
  });

  it('a freeze stops the clock; the unfreeze pushes the period end and the expiries by the frozen time', async () => {
    // 11-10 09:00: the week has ended (W expired on 11-09); the month frozen for 3 days, until 11-13 09:00
    await clockTo('2026-11-10T09:00:00.000Z');
    const frozen = await ok('POST', `/v1/subscriptions/${ids.S1}/freeze`, { days: 3 });
    expect(frozen).toMatchObject({ status: 'frozen', frozen_until: '2026-11-13T09:00:00.000Z' });
    // it pays for nothing: B's 945 are unavailable, none spendable
    problem(
      await call('POST', '/v1/consumptions?wait=true', { body: use('sms', 1, 'while-frozen') }),
      422,
      'insufficient_balance',
    );
    expect(await row('crm-acme', 'sms')).toMatchObject({ remaining: '0', unavailable: '945' });

    // unfrozen by hand on 11-12 09:00: frozen 2 days, so 12-02 09:00 becomes 12-04 09:00 for the period and for B and H
    await clockTo('2026-11-12T09:00:00.000Z');
    const unfrozen = await ok('POST', `/v1/subscriptions/${ids.S1}/unfreeze`);
    expect(unfrozen).toMatchObject({ status: 'active', current_period_end: '2026-12-04T09:00:00.000Z' });
    const view = await ok('GET', `/v1/subscriptions/${ids.S1}`);
    for (const b of view.balances as Array<{ expires_at: string }>)
      expect(b.expires_at).toBe('2026-12-04T09:00:00.000Z');
    // one `extend` entry (amount 0) per active balance of the month: B and H
    const extended = (await db()('ledger_entries').where({ kind: 'extend' }).select('balance_id', 'amount')) as Array<{
      balance_id: string;
      amount: string | bigint;
    }>;
    expect(extended.map((e) => [e.balance_id, BigInt(e.amount)]).sort()).toEqual(
      [
        [ids.B, 0n],
        [ids.H, 0n],
      ].sort(),
    );
    // 2 of the period's 14 days used, 12 left: 13 more is beyond the allowance (422), nothing changes
    problem(await call('POST', `/v1/subscriptions/${ids.S1}/freeze`, { body: { days: 13 } }), 422, 'validation_failed');
    // B spends again: 945 − 5 = 940
    expect(await ok('POST', '/v1/consumptions?wait=true', use('sms', 5, 'after-freeze'))).toMatchObject({
      remaining: '940',
    });
  });

  it("the scheduler's nightly run across the moved clock renews once and invoices once; one webhook", async () => {
    // 12-04 02:00, the first nightly run: the month ends 12-04 09:00, within 02:00 + 26 h (README NIGHTLY_CRON), so it
    // is renewed: [12-04 09:00, 01-04 09:00), renewal 1, invoice 3 of 2026 for 4,900. The week ended unrenewed on
    // 11-09: expired. The reports of 12-03 (the day before; a new install makes no earlier day): one run per type
    await clockTo('2026-12-04T02:00:00.000Z');
    await scheduler!.tasks[0]!.execute();
    const runs = (await ok('GET', '/v1/admin/nightly-runs?limit=5')).data;
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ as_of: '2026-12-04T02:00:00.000Z', finished_at: expect.any(String) });
    for (const phase of runs[0].report.phases)
      expect(phase, JSON.stringify(phase)).toMatchObject({ failed: [], pending: 0 });
    expect(runs[0].report.verify).toMatchObject({ violation_count: 0 });

    const expectRenewedOnce = async () => {
      expect(await ok('GET', `/v1/subscriptions/${ids.S1}`)).toMatchObject({
        status: 'active',
        renewal_count: 1,
        current_period_start: '2026-12-04T09:00:00.000Z',
        current_period_end: '2027-01-04T09:00:00.000Z',
      });
      const invoices = (await ok('GET', '/v1/invoices?client=crm-acme')).data as Array<Record<string, unknown>>;
      expect(invoices.map((i) => [i.number, i.kind, i.total]).sort()).toEqual([
        ['INV-2026-000001', 'subscription', 4900],
        ['INV-2026-000002', 'subscription', 900],
        ['INV-2026-000003', 'renewal', 4900],
      ]);
      expect(await db()('subscription_periods').where({ subscription_id: ids.S1 }).count({ n: '*' }).first()).toEqual({
        n: 2n,
      });
    };
    await expectRenewedOnce();
    expect((await ok('GET', `/v1/subscriptions/${ids.S2}`)).status).toBe('expired');
    // until 09:00 B's 940 are still spendable; the new period's 1,000 and 2.5 are upcoming
    expect(await row('crm-acme', 'sms')).toMatchObject({ remaining: '940', upcoming: '1000' });
    expect(await row('crm-acme', 'support')).toMatchObject({ remaining: '1.5', upcoming: '2.5' });
    const nightlyReports = (await db()('report_runs').where({ trigger: 'nightly' }).select('type', 'status')) as Array<{
      type: string;
      status: string;
    }>;
    expect(nightlyReports.map((r) => `${r.type} ${r.status}`).sort()).toEqual(
      ['balances', 'consumption', 'expiring', 'renewals', 'subscriptions', 'top_packages'].map((t) => `${t} done`),
    );

    // the same minute again, asked by an operator through the API process: nothing renewed or invoiced twice
    const rerun = await ok('POST', '/v1/admin/nightly-runs', {});
    for (const phase of rerun.phases) expect(phase.failed).toEqual([]);
    await expectRenewedOnce();

    expect(await db()('nightly_runs').count({ n: '*' }).first()).toEqual({ n: 1n });
    expect(await db()('report_runs').where({ trigger: 'nightly' }).count({ n: '*' }).first()).toEqual({ n: 6n });

    // the scheduler restarted at 03:00 (a deploy): its catch-up asks for the renewals due (none: the period ends
    // 01-04 now) and an expiry sweep of the minute; no night was missed (02:00 finished). Nothing more sold
    await scheduler!.stop();
    await clockTo('2026-12-04T03:00:00.000Z');
    scheduler = startScheduler(schedulerHost!.ctx);
    const caughtUp = await scheduler.caughtUp;
    expect(caughtUp.map((j) => j.jobId)).toEqual(['expire|20261204T030000.000Z']);
    expect((await awaitOutcome(app$().ctx, 'expire', caughtUp[0]!.jobId, { timeoutMs: 20_000 })).state).toBe(
      'completed',
    );
    expect(await scheduler.missedNight).toBeUndefined();
    await expectRenewedOnce();

    // the sms ledger by hand, oldest first (W the week's balance, B the month's, B2 the renewal's)
    const statement = (await ok('GET', '/v1/clients/crm-acme/statement?credit_type=sms&limit=500')).data as Array<{
      kind: string;
      balance_id: string;
      amount: string;
      remaining_after: string;
    }>;
    const name = (id: string) => (id === ids.W ? 'W' : id === ids.B ? 'B' : 'B2');
    expect(statement.map((e) => `${e.kind} ${name(e.balance_id)} ${e.amount} → ${e.remaining_after}`)).toEqual([
      'grant B 1000 → 1000',
      'grant W 100 → 100',
      'consume W -30 → 70',
      'consume W -70 → 0',
      'consume B -30 → 970',
      'consume B -5 → 965',
      'hold B -50 → 915',
      'release B 50 → 965',
      'consume B -20 → 945',
      'hold B -10 → 935',
      'release B 10 → 945',
      'extend B 0 → 945',
      'consume B -5 → 940',
      'grant B2 1000 → 1000',
    ]);

    // the webhook: subscription.renewed, once, signed as Standard Webhooks says
    await receiver.until(1);
    const deliveries = (await db()('webhook_deliveries').select('id')) as Array<{ id: string }>;
    expect(deliveries).toHaveLength(1);
    const delivered = await awaitOutcome(
      app$().ctx,
      'deliver',
      jobIdOf('deliver', { delivery_id: deliveries[0]!.id }),
      {
        timeoutMs: 20_000,
      },
    );
    expect(delivered.state).toBe('completed');
    expect(
      await db()('webhook_deliveries').where({ status: 'delivered', attempts: 1 }).count({ n: '*' }).first(),
    ).toEqual({
      n: 1n,
    });
    // nothing left that could send it again, so what the receiver got is final: one request
    const left = await app$().ctx.queues.webhooks.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    expect(left).toEqual({ waiting: 0, active: 0, delayed: 0, prioritized: 0 });
    expect(receiver.received).toHaveLength(1);
    const [got] = receiver.received;
    const payload = new Webhook(ids.secret!).verify(got!.body, got!.headers as Record<string, string>) as {
      type: string;
      data: { subscription_id?: string; id?: string };
    };
    expect(payload.type).toBe('subscription.renewed');
    expect(JSON.stringify(payload.data)).toContain(ids.S1);
  });

  it("reports stream from the replica and equal the primary's numbers once the replica has caught up", async () => {
    const asked = [
      { type: 'consumption', params: { from: '2026-11-01', to: '2026-12-03', group_by: 'month' } },
      { type: 'renewals', params: { from: '2026-11-01', to: '2026-12-04', group_by: 'month' } },
      { type: 'top_packages', params: { from: '2026-11-01', to: '2026-12-04' } },
      { type: 'balances', params: { client: 'crm-acme' } },
      { type: 'subscriptions', params: { client: 'crm-acme' } },
      { type: 'expiring', params: { days_ahead: 7, client: 'crm-acme' } },
    ];
    const rows: Record<string, Array<Record<string, unknown>>> = {};
    for (const body of asked) {
      const res = await call('POST', '/v1/reports', { body: { ...body, format: 'json' }, key: app$().keys.write });
      expect(res.status, res.text).toBe(202);
      const outcome = await awaitOutcome(app$().ctx, 'generate', jobIdOf('generate', { report_id: res.body.id }), {
        timeoutMs: 30_000,
      });
      expect(outcome.state, JSON.stringify(outcome)).toBe('completed');
      const file = await call('GET', `/v1/reports/${res.body.id}/download`, { key: app$().keys.read });
      expect(file.status, file.text).toBe(200);
      rows[body.type] = file.body.rows;
      // the same statement with the run's stored params, on the primary: the same rows
      const run = (await db()('report_runs').where({ id: res.body.id }).first()) as { params: unknown };
      const query = reportQuery(body.type as Parameters<typeof reportQuery>[0], storedParams.parse(run.params));
      const onPrimary: Array<Record<string, unknown>> = [];
      await streamReportRows(db(), query, async (r) => {
        onPrimary.push(Object.fromEntries(query.columns.map((c) => [c, r[c] ?? null])));
      });
      expect(rows[body.type], body.type).toEqual(JSON.parse(JSON.stringify(onPrimary)));
    }

    // the night's reports of 12-03, as of its end (midnight): before the 02:00 renewal — 1,000 sms granted, none
    // upcoming, the period still ending 12-04 09:00 and renewed 0 times; nothing used that day
    const nightly = async (type: string) => {
      const [run] = (await db()('report_runs').where({ trigger: 'nightly', type }).select('id')) as Array<{
        id: string;
      }>;
      const file = await call('GET', `/v1/reports/${run!.id}/download`, { key: app$().keys.read });
      expect(file.status).toBe(200);
      return file.text
        .replace(/^\uFEFF/, '')
        .trim()
        .split(/\r?\n/)
        .slice(1);
    };
    expect((await nightly('balances')).map((l) => l.split(',').slice(3).join(','))).toEqual([
      'starter,active,sms,message,1000,60,940,0,0,0,0,0,6',
      'starter,active,support,hour,2.5,1,1.5,0,0,0,0,0,40',
      'week,expired,sms,message,100,100,0,0,0,0,0,0,100',
    ]);
    expect((await nightly('subscriptions')).filter((l) => l.startsWith('subscription,starter'))).toEqual([
      expect.stringMatching(/,2026-11-02T09:00:00\.000Z,2026-12-04T09:00:00\.000Z,1,false,true,0$/),
    ]);
    for (const type of ['consumption', 'renewals', 'top_packages']) expect(await nightly(type), type).toEqual([]);

    // the primary's own answers agree with the replica's reports: the usage endpoint sums the same November
    for (const [code, quantity] of [
      ['sms', '160'],
      ['support', '1'],
    ]) {
      const usage = await ok(
        'GET',
        `/v1/clients/crm-acme/usage?credit_type=${code}&group_by=month&from=2026-11-01&to=2026-12-03`,
      );
      expect(usage.data).toEqual([{ key: '2026-11-01', quantity }]);
    }
    // by hand. November: sms 30 + 100 + 5 + 20 (the capture) + 5 = 160, support 0.75 + 0.25 = 1
    expect(rows.consumption).toEqual([
      expect.objectContaining({ period_start: '2026-11-01', credit_type: 'sms', consumed: '160', net: '160' }),
      expect.objectContaining({ period_start: '2026-11-01', credit_type: 'support', consumed: '1', net: '1' }),
    ]);
    // November: 2 sales (4,900 + 900), the week's expiry (its period ended 11-09); December: the renewal (4,900)
    expect(rows.renewals).toEqual([
      expect.objectContaining({
        period_start: '2026-11-01',
        new_subscriptions: 2,
        renewals: 0,
        expirations: 1,
        revenue: 5800,
      }),
      expect.objectContaining({ period_start: '2026-12-01', new_subscriptions: 0, renewals: 1, revenue: 4900 }),
    ]);
    expect(rows.top_packages).toEqual([
      expect.objectContaining({ rank: 1, package_code: 'starter', requests: 2, revenue: 9800 }),
      expect.objectContaining({ rank: 2, package_code: 'week', requests: 1, revenue: 900 }),
    ]);
    // the month's sms: both periods granted (1,000 of them upcoming), B's 30 + 5 + 20 + 5 = 60 used, 940 left; the
    // week's 100 all used
    expect(rows.balances).toEqual([
      expect.objectContaining({ package_code: 'starter', credit_type: 'sms', granted: '2000', consumed: '60' }),
      expect.objectContaining({ package_code: 'starter', credit_type: 'support', granted: '5', remaining: '1.5' }),
      expect.objectContaining({ package_code: 'week', credit_type: 'sms', consumed: '100', remaining: '0' }),
    ]);
    expect(rows.balances![0]).toMatchObject({ remaining: '940', upcoming: '1000', expired: '0' });

    // the replica itself, once it has replayed the primary's log as it stands: the same ledger and invoices
    const primaryUrl = servers!.primaryUrl(DB);
    const replicaUrl = servers!.replicaUrl(DB);
    const [{ lsn }] = (await onServer<{ lsn: string }>(primaryUrl, 'SELECT pg_current_wal_lsn()::text AS lsn')) as [
      { lsn: string },
    ];
    await vi.waitFor(
      async () => {
        const [r] = await onServer<{ ok: boolean }>(replicaUrl, 'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [
          lsn,
        ]);
        if (!r?.ok) throw new Error(`the replica has not replayed ${lsn}`);
      },
      { timeout: 20_000, interval: 20 },
    );
    for (const sql of [
      'SELECT kind, count(*)::int AS n, sum(amount)::text AS total FROM ledger_entries GROUP BY kind ORDER BY kind',
      'SELECT number, kind, total::text, status FROM invoices ORDER BY number',
      'SELECT id, remaining::text, held::text, status, expires_at FROM balances ORDER BY id',
    ])
      expect(await onServer(replicaUrl, sql), sql).toEqual(await onServer(primaryUrl, sql));
    // and the report statements ran there
    const statements = await onServer<{ query: string }>(
      replicaUrl,
      `SELECT query FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1)`,
      [DB],
    );
    expect(statements.some((s) => /AS period_start/.test(s.query))).toBe(true);
  });

  // worker processes of their own, started, killed and started again: seconds alone, much more beside the whole suite
  it('a worker process killed mid-load and restarted applies every accepted use once, never below zero', {
    timeout: 120_000,
  }, async () => {
    // the real processes run on the wall clock: the service's clock is brought up to it (never back)
    const wall = new Date(Math.floor(Date.now() / 1000) * 1000);
    if (wall > app$().clock.now()) await clockTo(wall.toISOString());
    const bulk = (code: string, units: number) => ({
      code,
      name: code,
      price: 100,
      currency: 'USD',
      validity: { count: 1, unit: 'month' },
      items: [{ credit_type: 'sms', units }],
    });
    await ok('POST', '/v1/packages', bulk('bulk-900', 900), 201);
    await ok('POST', '/v1/packages', bulk('bulk-1000', 1000), 201);
    // two clients whose uses a worker applies in different lanes (so that one can be held back and not the other)
    const first = await ok('POST', '/v1/clients', { external_ref: 'load-a', name: 'Load A' }, 201);
    let second = await ok('POST', '/v1/clients', { external_ref: 'load-b0', name: 'Load B' }, 201);
    for (let i = 1; laneOf(second.id) === laneOf(first.id); i += 1)
      second = await ok('POST', '/v1/clients', { external_ref: `load-b${i}`, name: 'Load B' }, 201);
    const a = { ref: 'load-a', id: first.id as string, balance: '' };
    const b = { ref: second.external_ref as string, id: second.id as string, balance: '' };
    a.balance = (await ok('POST', '/v1/subscriptions', { client: a.ref, package: 'bulk-900' }, 201)).balances[0].id;
    b.balance = (await ok('POST', '/v1/subscriptions', { client: b.ref, package: 'bulk-1000' }, 201)).balances[0].id;
    // the in-process worker stops (drained): from here the topology's worker is a process of the compiled service
    await worker!.stop();
    worker = undefined;

    // 1,050 uses of 1 sms for each client, accepted (202) before any worker runs: 300 each sent one by one (the API
    // carries concurrent ones together, both clients in one job), and 3 batches of 500 naming both clients in turn
    const one = (client: string, key: string) => ({ client, credit_type: 'sms', quantity: 1, idempotency_key: key });
    const singles = await Promise.all(
      Array.from({ length: 600 }, (_, i) =>
        call('POST', '/v1/consumptions', { body: one(i % 2 ? b.ref : a.ref, `s-${i}`), key: app$().keys.write }),
      ),
    );
    for (const r of singles) expect(r.status, r.text).toBe(202);
    const batches = await Promise.all(
      [0, 1, 2].map((n) =>
        call('POST', '/v1/consumptions/batch', {
          body: { items: Array.from({ length: 500 }, (_, i) => one(i % 2 ? b.ref : a.ref, `b${n}-${i}`)) },
          key: app$().keys.write,
        }),
      ),
    );
    for (const r of batches) expect(r.status, r.text).toBe(202);
    const accepted = async () => Number((await db()('accepted_jobs').count({ n: '*' }).first())?.n);
    expect(await accepted()).toBe(2100);

    // the backlog as the API's /metrics (a read key) and Bull Board (an admin key, HTTP Basic) show it, read from the
    // cluster: the consumption queue's waiting jobs are the ones Redis holds
    const queues = app$().ctx.queues;
    const waiting = await queues.consumption.getWaitingCount();
    expect(waiting).toBeGreaterThan(0);
    const metrics = await call('GET', '/metrics', { key: app$().keys.read });
    expect(metrics.status).toBe(200);
    for (const queue of QUEUES)
      expect(metricSample(metrics.text, 'credits_queue_jobs', { queue, state: 'failed' })).toBe(0);
    expect(metricSample(metrics.text, 'credits_queue_jobs', { queue: 'consumption', state: 'waiting' })).toBe(waiting);
    expect(metricSample(metrics.text, 'credits_accepted_jobs')).toBe(2100);
    // the scheduler's night of 12-04 02:00 (run twice for the one minute), its verify clean
    expect(metricSample(metrics.text, 'credits_nightly_last_finished_timestamp_seconds')).toBe(
      Date.parse('2026-12-04T02:00:00.000Z') / 1000,
    );
    expect(metricSample(metrics.text, 'credits_nightly_violations')).toBe(0);
    const board = await fetch(`${app$().baseUrl}/admin/queues/api/queues`, {
      headers: { authorization: `Basic ${Buffer.from(`ops:${app$().keys.admin}`).toString('base64')}` },
    });
    expect(board.status).toBe(200);
    const shown = ((await board.json()) as { queues: Array<{ name: string; counts: Record<string, number> }> }).queues;
    expect(shown.map((q) => q.name).sort()).toEqual([...QUEUES].sort());
    expect(shown.find((q) => q.name === 'consumption')!.counts.waiting).toBe(waiting);

    // The test holds client A's balance row. The worker takes the jobs: B's uses are applied in their lane, A's batch
    // waits on the lock. Then the worker is killed (SIGKILL), holding jobs part applied, a transaction open
    const statuses = async (client: string) =>
      Object.fromEntries(
        (
          (await db()('consumptions')
            .where({ client_id: client })
            .select('status')
            .count({ n: '*' })
            .groupBy('status')) as Array<{
            status: string;
            n: bigint;
          }>
        ).map((r) => [r.status, Number(r.n)]),
      );
    const holding = await db().transaction();
    let byTheDead: Record<string, number>;
    try {
      await holding('balances').where({ id: a.balance }).forUpdate().select('id');
      const w1 = await startWorkerProcess('worker-1');
      await untilWaitingForLocks(db(), 1, { about: 'balances' });
      await vi.waitFor(
        async () => {
          if (Object.keys(await statuses(b.id)).length === 0) throw new Error("no use of B's applied yet");
        },
        { timeout: 20_000, interval: 20 },
      );
      await w1.kill9();
      expect(await queues.consumption.getActiveCount(), 'jobs the killed worker held').toBeGreaterThan(0);
      expect(await statuses(a.id)).toEqual({});
      byTheDead = await statuses(b.id);
    } finally {
      await holding.rollback();
    }

    // restarted: the jobs the dead worker held come back to it (JOB_LOCK_MS), every accepted use is applied
    const w2 = await startWorkerProcess('worker-2');
    await vi.waitFor(
      async () => {
        if ((await accepted()) > 0) throw new Error(`${await accepted()} accepted uses not applied yet`);
        const counts = await queues.consumption.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
        if (Object.values(counts).some((n) => n > 0))
          throw new Error(`consumption jobs left: ${JSON.stringify(counts)}`);
      },
      { timeout: 30_000, interval: 50 },
    );
    // by hand: A 900 applied of 1,050 (150 rejected), B 1,000 (50 rejected); one consume entry of −1 per applied use,
    // none for a rejected one; nothing left, never below 0; every key once
    for (const [client, applied, rejected] of [
      [a, 900, 150],
      [b, 1000, 50],
    ] as const) {
      expect(await statuses(client.id)).toEqual({ applied, rejected });
      const keys = await db()('consumptions').where({ client_id: client.id }).countDistinct({ n: 'idempotency_key' });
      expect(Number(keys[0]!.n)).toBe(1050);
      const consumed = (await db()('ledger_entries')
        .where({ balance_id: client.balance, kind: 'consume' })
        .count({ n: '*' })
        .sum({ total: 'amount' })
        .first()) as { n?: string | number; total?: string };
      expect({ n: Number(consumed.n), total: Number(consumed.total) }).toEqual({ n: applied, total: -applied });
      const [balance] = await db()('balances').where({ id: client.balance }).select('remaining');
      expect(BigInt(balance!.remaining)).toBe(0n);
      const lowest = await db()('ledger_entries').where({ balance_id: client.balance }).min({ m: 'remaining_after' });
      expect(BigInt(lowest[0]!.m)).toBe(0n);
    }

    // the restarted worker's own port: /metrics with no key (README Health). It counts what it applied, the rest
    // of A's and B's, and not again what the dead one had applied (replays are not counted), and reads the cluster
    const scraped = await (await fetch(`${w2.base}/metrics`)).text();
    expect(metricSample(scraped, 'credits_consumptions_total', { status: 'applied' })).toBe(
      900 + 1000 - (byTheDead.applied ?? 0),
    );
    expect(metricSample(scraped, 'credits_consumptions_total', { status: 'rejected' })).toBe(
      150 + 50 - (byTheDead.rejected ?? 0),
    );
    for (const queue of QUEUES) expect(metricSample(scraped, 'credits_queue_jobs', { queue, state: 'active' })).toBe(0);
    expect(await (await fetch(`${w2.base}/readyz`)).json()).toMatchObject({ status: 'ready' });
    await w2.stop();
    expect((await w2.exited).code).toBe(0);

    // PgBouncer carried the roles' traffic: the API's and the scheduler's pools are its clients (LISTEN and the
    // test's own reads go to Postgres itself)
    const clients = await onServer<{ database: string; application_name: string }>(bouncer!.adminUrl, 'SHOW CLIENTS');
    const names = new Set(clients.filter((c) => c.database === DB).map((c) => c.application_name));
    expect([...names].filter((n) => n === 'credits-api' || n === 'credits-scheduler').sort()).toEqual([
      'credits-api',
      'credits-scheduler',
    ]);
    const verify = await ok('POST', '/v1/admin/verify');
    expect(verify.violations).toEqual([]);
    // and nothing went wrong on the way: no role logged a warning or an error (the restarted worker: no error)
    expect(logged.entries()).toEqual([]);
    expect({ errors: w2.errorLines, unhandled: w2.unhandledErrors }).toEqual({ errors: 0, unhandled: 0 });
  });
});

/** The consumption lane a worker applies a client's uses in (the hash the worker itself takes, modulo its lanes). */
const laneOf = (clientId: string, lanes = 2): number => laneHash(clientId) % lanes;

const QUEUES = ['consumption', 'maintenance', 'recharge', 'renewal', 'reports', 'webhooks'] as const;

/** A ROLES=worker process of the compiled service (as the image runs it), with the operator's settings. */
async function startWorkerProcess(name: string): Promise<ServiceProcess & { base: string }> {
  const port = await freePort();
  const service = new ServiceProcess(
    name,
    'worker',
    { ...operatorEnv(), HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info' },
    path.join(logDir, `${name}.log`),
    compiledEntry('src/main.ts'),
  );
  processes.push(service);
  await service.waitUp(60_000);
  return Object.assign(service, { base: `http://127.0.0.1:${port}` });
}
