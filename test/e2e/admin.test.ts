import { Job, QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis } from '../../src/queue/redis.js';
import { NO_NIGHTLY_REPORTS, startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/**
 * The admin routes an acceptance run drives: the clock, the nightly sweep on demand, verify — and
 * what the nightly sweep must have done, seen from the outbox.
 */
let app: TestApp;
let sms: { code: string };
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-03-01T00:00:00.000Z', env: NO_NIGHTLY_REPORTS });
  sms = await createCreditType(app, { code: 'adm-sms' });
});
afterAll(async () => {
  await app.close();
});

interface NightlyReport {
  as_of: string;
  phases: Array<{ phase: string; jobs: number; completed: number; failed: unknown[]; pending: number }>;
  verify: { ok: boolean; violationCount: number };
}
const phase = (report: NightlyReport, name: string) => report.phases.find((p) => p.phase === name);

async function nightly(asOf?: string): Promise<NightlyReport> {
  const res = await app.request<NightlyReport>('POST', '/v1/admin/nightly-runs', { body: asOf ? { as_of: asOf } : {} });
  expect(res.status, res.text).toBe(200);
  for (const p of res.body.phases) expect(p, `phase ${p.phase}`).toMatchObject({ failed: [], pending: 0 });
  expect(res.body.verify).toMatchObject({ ok: true, violation_count: 0, violationCount: 0 });
  return res.body;
}

const eventsOf = async (type: string, subjectId: string) =>
  app.database.db('outbox_events').where({ type, subject_id: subjectId });

describe('the clock (CLOCK=manual)', () => {
  it('reads and moves the service clock; a bad time is 422', async () => {
    expect((await app.request('GET', '/v1/admin/clock')).body).toEqual({
      now: '2026-03-01T00:00:00.000Z',
      mode: 'manual',
    });
    const moved = await app.request('PUT', '/v1/admin/clock', { body: { now: '2026-03-02T08:30:00Z' } });
    expect(moved.status).toBe(200);
    expect(moved.body).toEqual({ now: '2026-03-02T08:30:00.000Z', mode: 'manual' });
    expect(app.clock.now().toISOString()).toBe('2026-03-02T08:30:00.000Z');
    const bad = await app.request('PUT', '/v1/admin/clock', { body: { now: 'yesterday' } });
    expect(bad.status).toBe(422);
    expect(bad.body).toMatchObject({ code: 'validation_failed', errors: [{ field: 'now' }] });
    expect(app.clock.now().toISOString()).toBe('2026-03-02T08:30:00.000Z');
    // only admins move time
    expect(
      (await app.request('PUT', '/v1/admin/clock', { body: { now: '2030-01-01T00:00:00Z' }, key: app.keys.write }))
        .status,
    ).toBe(403);
    app.clock.set('2026-03-01T00:00:00.000Z');
  });
});

describe('POST /v1/admin/nightly-runs: a month lived through the nightly sweep', () => {
  it(
    'announces expiring and low balances once, renews what is due ' +
      'before the next run, expires the rest, and verify stays clean',
    async () => {
      const renewing = await createPackage(app, [{ credit_type: sms.code, units: 10 }], { auto_renew: true });
      const once = await createPackage(app, [{ credit_type: sms.code, units: 10 }], {
        auto_renew: false,
        low_balance_percent: 50,
      });
      const x = await subscribe(app, (await createClient(app)).id, renewing.code);
      const y = await subscribe(app, (await createClient(app)).id, once.code);
      const xBalance = x.balances[0]!.id;
      const yBalance = y.balances[0]!.id;
      expect(x.current_period_end).toBe('2026-04-01T00:00:00.000Z');
      // y under its low threshold (5 of 10) by an adjustment
      const adjusted = await app.request('POST', `/v1/balances/${yBalance}/adjustments`, {
        body: { delta: -8, reason: 'test' },
      });
      expect(adjusted.status, adjusted.text).toBe(201);

      // four days before the end: expiring soon (7 days), low, nothing to renew yet
      app.clock.set('2026-03-28T02:00:00.000Z');
      const first = await nightly();
      expect(phase(first, 'renewals')).toMatchObject({ jobs: 0 });
      expect(await eventsOf('balance.expiring_soon', xBalance)).toHaveLength(1);
      expect(await eventsOf('balance.expiring_soon', yBalance)).toHaveLength(1);
      expect(await eventsOf('balance.low', yBalance)).toHaveLength(1);
      expect(await eventsOf('balance.low', xBalance)).toHaveLength(0);

      // the next night: nothing announced twice
      app.clock.set('2026-03-29T02:00:00.000Z');
      await nightly();
      expect(await eventsOf('balance.expiring_soon', xBalance)).toHaveLength(1);
      expect(await eventsOf('balance.low', yBalance)).toHaveLength(1);

      // the last night before the end: x renews (its period ends before the next run), y does not
      app.clock.set('2026-03-31T02:00:00.000Z');
      const renewal = await nightly();
      expect(phase(renewal, 'renewals')).toMatchObject({ jobs: 1, completed: 1 });
      expect(await app.database.db('subscription_periods').where({ subscription_id: x.id })).toHaveLength(2);
      expect(await app.database.db('subscription_periods').where({ subscription_id: y.id })).toHaveLength(1);
      expect(await eventsOf('subscription.renewed', x.id)).toHaveLength(1);
      expect(await app.database.db('invoices').where({ subscription_id: x.id })).toHaveLength(2);

      // the same minute again (a retry by hand): the period is renewed already, nothing is due, nothing twice
      const again = await nightly('2026-03-31T02:00:00.000Z');
      expect(phase(again, 'renewals')).toMatchObject({ jobs: 0 });
      expect(await app.database.db('subscription_periods').where({ subscription_id: x.id })).toHaveLength(2);
      expect(await app.database.db('invoices').where({ subscription_id: x.id })).toHaveLength(2);

      // after the end: y's balance and subscription expire, with ledger entries and events
      app.clock.set('2026-04-02T02:00:00.000Z');
      await nightly();
      expect((await app.database.db('balances').where({ id: yBalance }).first()).status).toBe('expired');
      expect(await app.database.db('ledger_entries').where({ balance_id: yBalance, kind: 'expire' })).toHaveLength(1);
      expect(await eventsOf('balance.expired', yBalance)).toHaveLength(1);
      expect((await app.database.db('subscriptions').where({ id: y.id }).first()).status).toBe('expired');
      expect(await eventsOf('subscription.expired', y.id)).toHaveLength(1);
      // x lives on in its new period
      expect((await app.database.db('subscriptions').where({ id: x.id }).first()).status).toBe('active');
    },
  );
});

describe('POST /v1/admin/nightly-runs ahead of the clock', () => {
  it('is refused (422), nothing run: the sweep would end balances and holds before their time', async () => {
    const now = app.clock.now();
    const runs = await app.database.db('nightly_runs').count({ n: '*' });
    const ahead = new Date(now.getTime() + 2 * 86_400_000).toISOString();
    const res = await app.request('POST', '/v1/admin/nightly-runs', { body: { as_of: ahead } });
    expect(res.status, res.text).toBe(422);
    expect(res.body).toMatchObject({ code: 'validation_failed', errors: [{ field: 'as_of' }] });
    expect(await app.database.db('nightly_runs').count({ n: '*' })).toEqual(runs);
    // within a minute of the clock (the caller's clock a little ahead): run
    const soon = new Date(now.getTime() + 30_000).toISOString();
    expect((await app.request('POST', '/v1/admin/nightly-runs', { body: { as_of: soon } })).status).toBe(200);
  });
});

describe('POST /v1/admin/verify', () => {
  it('answers the invariant report', async () => {
    const res = await app.request('POST', '/v1/admin/verify');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ok: true, violation_count: 0, violationCount: 0, violations: [] });
    expect((res.body as { checked: { balances: number } }).checked.balances).toBeGreaterThan(0);
    expect((await app.request('POST', '/v1/admin/verify', { key: app.keys.read })).status).toBe(403);
  });
});

describe('GET /v1/admin/nightly-runs', () => {
  it('answers a run stored before violation_count existed with it, from its violationCount', async () => {
    const verify = { checked: { balances: 1, consumptions: 0, invoices: 0 }, violations: [], violationCount: 0 };
    await app.database.db('nightly_runs').insert({
      as_of: new Date('2025-01-01T02:00:00.000Z'),
      started_at: new Date('2025-01-01T02:00:00.000Z'),
      finished_at: new Date('2025-01-01T02:00:01.000Z'),
      report: JSON.stringify({ as_of: '2025-01-01T02:00:00.000Z', phases: [], verify: { ...verify, ok: true } }),
    });
    const res = await app.request<{ data: Array<{ as_of: string; report: { verify: unknown } }> }>(
      'GET',
      '/v1/admin/nightly-runs?limit=100',
    );
    expect(res.status, res.text).toBe(200);
    const old = res.body.data.find((r) => r.as_of === '2025-01-01T02:00:00.000Z');
    expect(old?.report.verify).toEqual({ ...verify, ok: true, violation_count: 0 });
  });
});

describe('?wait=true when the wait runs out', () => {
  it('answers 202 with the queued consumption, which is applied once a worker comes', async () => {
    // an API with no worker running and a short wait
    const lonely = await startTestApp({
      roles: ['api'],
      now: '2026-03-01T00:00:00.000Z',
      env: { WAIT_TIMEOUT_MS: '200' },
    });
    try {
      const type = await createCreditType(lonely, { code: 'wait-sms' });
      const pkg = await createPackage(lonely, [{ credit_type: type.code, units: 10 }]);
      const client = await createClient(lonely);
      await subscribe(lonely, client.id, pkg.code);
      const res = await lonely.request<{ id: string; status: string }>('POST', '/v1/consumptions?wait=true', {
        body: { client: client.id, credit_type: type.code, quantity: 2, idempotency_key: 'slow' },
      });
      expect(res.status, res.text).toBe(202);
      expect(res.body).toMatchObject({ status: 'queued' });
      expect(await lonely.database.db('consumptions').where({ id: res.body.id })).toHaveLength(0);
      const { startWorkers } = await import('../../src/workers/index.js');
      const workers = await startWorkers(lonely.ctx);
      try {
        // asked again with the same key, it waits for the same job and answers its result
        const later = await lonely.request<{ id: string; status: string; applied: string }>(
          'POST',
          '/v1/consumptions?wait=true',
          {
            body: { client: client.id, credit_type: type.code, quantity: 2, idempotency_key: 'slow' },
          },
        );
        expect(later.body.id).toBe(res.body.id);
        if (later.status === 202) {
          // the worker was still starting: wait on the job itself
          const connection = createRedis(lonely.ctx.redisUrl, 'worker');
          const events = new QueueEvents('consumption', { connection, prefix: lonely.prefix });
          try {
            await events.waitUntilReady();
            const job = await Job.fromId(
              lonely.ctx.queues.consumption,
              `consume|${encodeURIComponent(client.id)}|slow`,
            );
            if (job && !(await job.isCompleted())) await job.waitUntilFinished(events, 20_000);
          } finally {
            await events.close();
            connection.disconnect();
          }
        }
        const row = await lonely.database.db('consumptions').where({ id: res.body.id }).first();
        expect(row).toMatchObject({ status: 'applied' });
      } finally {
        await workers.close();
      }
    } finally {
      await lonely.close();
    }
  });
});
