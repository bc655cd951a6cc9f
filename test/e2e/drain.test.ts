import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Queue, QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort, REPO_ROOT, ServiceProcess } from '../../chaos/services.js';
import { awaitOutcome } from '../../src/commands/index.js';
import { consumptionId } from '../../src/ids.js';
import { jobIdOf } from '../../src/jobs/definitions.js';
import { createRedis } from '../../src/queue/redis.js';
import { verifyInvariants } from '../../src/services/verify.js';
import { startWorkers } from '../../src/workers/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { compiledEntry } from '../helpers/build.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { serviceEnv } from '../helpers/service-env.js';

/**
 * Issue 13, graceful drain: SIGTERM to a service process (compiled, `node dist/src/main.js`, as the image runs it
 * and an orchestrator stops it) while consumption jobs and `?wait=true` requests are in flight. Every
 * request it answered 202 or 200 is applied exactly once, /readyz answers 503 while it drains (the
 * listener still answers), a request that arrives while it drains is refused with 503 and never
 * recorded, and the process exits 0 — its own deadline (SHUTDOWN_TIMEOUT_MS) exits 1, so 0 also
 * says it finished in time.
 */
const SHUTDOWN_TIMEOUT_MS = 20_000;
const BACKLOG = 1_000;
const BATCH = 100;
const WAITERS = 30;

let app: TestApp;
const dir = path.join(REPO_ROOT, '.data', `test-drain-${randomBytes(4).toString('hex')}`);

beforeAll(async () => {
  // the child runs on the system clock: the subscription must be current for it
  app = await startTestApp({ roles: ['api'], now: new Date().toISOString() });
  mkdirSync(dir, { recursive: true });
});
afterAll(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Use {
  client: string;
  credit_type: string;
  quantity: number;
  idempotency_key: string;
}

async function post(baseUrl: string, key: string, url: string, body: unknown) {
  const res = await fetch(baseUrl + url, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as any, text };
}

describe('graceful drain on SIGTERM', () => {
  it('answers what is in flight, applies every accepted ' +
    'use once, says 503 on /readyz while draining, exits 0', async () => {
    const sms = await createCreditType(app, { code: 'drain-sms' });
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10_000 }]);
    const client = await createClient(app);
    const sub = await subscribe(app, client.id, pkg.code);
    const use = (key: string): Use => ({
      client: client.external_ref,
      credit_type: sms.code,
      quantity: 1,
      idempotency_key: key,
    });
    // the API names the client by id in the job id (the same key by external_ref or by id is one job)
    const jobOf = (u: Use) => jobIdOf('consume', { ...u, client: client.id });

    // a backlog accepted (202) before the service starts, so that it is still in Redis when the signal comes
    // (the batch endpoint carries its uses in consume-batch jobs: those are what the drain leaves in Redis)
    const accepted: Use[] = [];
    const carriers: string[] = [];
    for (let i = 0; i < BACKLOG; i += BATCH) {
      const items = Array.from({ length: BATCH }, (_, j) => use(`backlog-${i + j}`));
      const res = await app.request('POST', '/v1/consumptions/batch', { key: app.keys.write, body: { items } });
      expect(res.status, res.text).toBe(202);
      accepted.push(...items);
      carriers.push(jobIdOf('consume-batch', { batch_key: res.body.batch_key, items }));
    }

    const connection = createRedis(inject('redisUrl'), 'worker');
    const events = new QueueEvents('consumption', { connection, prefix: app.prefix });
    const monitorConnection = createRedis(inject('redisUrl'), 'producer');
    const monitor = new Queue('consumption', { connection: monitorConnection, prefix: app.prefix });
    // listening before the service starts: its first completion is not missed
    await events.waitUntilReady();
    const firstCompleted = new Promise<void>((resolve) => events.once('completed', () => resolve()));

    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    const logFile = path.join(dir, 'service.log');
    const service = new ServiceProcess(
      'drain',
      'api,worker,scheduler',
      {
        ...serviceEnv(app, port, dir),
        BUSINESS_TZ: 'UTC',
        // longer than the drain's time for requests (half of SHUTDOWN_TIMEOUT_MS): a waiter still
        // waiting then is answered 202 by the drain, not by its own timeout
        WAIT_TIMEOUT_MS: '20000',
        SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
        // small batches, so that a backlog is still in Redis when the signal comes
        CONSUMPTION_CONCURRENCY: '20',
        CONSUMPTION_BATCH_SIZE: '10',
        RATE_LIMIT_PER_MINUTE: '1000000',
      },
      logFile,
      compiledEntry('src/main.ts'),
    );
    const log = () => {
      try {
        return readFileSync(logFile, 'utf8').split('\n').slice(-40).join('\n');
      } catch {
        return '(no log)';
      }
    };
    try {
      await service.waitUp(60_000);
      expect((await fetch(`${baseUrl}/readyz`)).status).toBe(200);

      // ?wait=true requests, queued behind the backlog
      const waiters = Array.from({ length: WAITERS }, (_, i) => use(`wait-${i}`));
      let answered = 0;
      const answers = waiters.map((item) =>
        post(baseUrl, app.keys.write, '/v1/consumptions?wait=true', item)
          .catch((error: unknown) => ({ status: 0, body: undefined, text: `no answer: ${String(error)}` }))
          .finally(() => {
            answered += 1;
          }),
      );
      // the signal comes once the worker is applying the backlog and every waiter is recorded
      // (its request reached the service) — facts, not a pause
      await firstCompleted;
      const waiterJobs = waiters.map(jobOf);
      for (;;) {
        const recorded = await app.database.db('accepted_jobs').whereIn('job_id', waiterJobs).count({ n: '*' });
        const applied = await app.database
          .db('consumptions')
          .whereIn(
            'id',
            waiters.map((w) => consumptionId(client.id, w.idempotency_key)),
          )
          .count({ n: '*' });
        if (Number(recorded[0]!.n) + Number(applied[0]!.n) >= WAITERS) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const backlogAtSignal = await monitor.getJobCounts('waiting', 'active', 'prioritized');
      const inFlightAtSignal = WAITERS - answered;

      // the process says when it drains (its first step on SIGTERM); from then on /readyz must say 503
      const draining = new Promise<void>((resolve) => {
        let seen = '';
        const onData = (chunk: Buffer) => {
          seen += chunk.toString('utf8');
          if (seen.includes('"msg":"draining')) {
            service.child.stdout!.off('data', onData);
            resolve();
          }
        };
        service.child.stdout!.on('data', onData);
      });
      service.stoppedOnPurpose = true;
      service.child.kill('SIGTERM');
      await Promise.race([draining, service.exited]);

      // /readyz in a tight loop until the listener is gone; one write while it drains
      const readiness: Array<{ status: number; code?: string; checks?: Record<string, string> }> = [];
      let lateRequest: { status: number; body: any; text: string } | undefined;
      const late = use('late-1');
      for (;;) {
        let res: Response;
        try {
          res = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(5_000) });
        } catch {
          break;
        }
        const body = (await res.json().catch(() => ({}))) as { code?: string; checks?: Record<string, string> };
        readiness.push({
          status: res.status,
          ...(body.code ? { code: body.code } : {}),
          ...(body.checks ? { checks: body.checks } : {}),
        });
        if (res.status === 503 && !lateRequest) {
          lateRequest = await post(baseUrl, app.keys.write, '/v1/consumptions', late).catch(() => undefined);
        }
      }
      const exit = await service.exited;
      const replies = await Promise.all(answers);

      const answeredWith: Record<number, number> = {};
      for (const r of replies) answeredWith[r.status] = (answeredWith[r.status] ?? 0) + 1;
      const facts = {
        exit,
        backlogAtSignal,
        inFlightAtSignal,
        answeredWith,
        readiness: readiness.slice(0, 5),
        lateRequest: lateRequest?.text,
      };
      const context = `${JSON.stringify(facts)}\n${log()}`;
      // the test is only as good as its preconditions: work was in flight when the signal came
      expect(inFlightAtSignal, context).toBeGreaterThan(0);
      expect((backlogAtSignal.waiting ?? 0) + (backlogAtSignal.active ?? 0), context).toBeGreaterThan(0);

      // soft: one run says everything the drain got wrong
      expect.soft(exit, context).toEqual({ code: 0, signal: null });
      expect.soft(readiness.length, context).toBeGreaterThan(0);
      expect
        .soft(
          readiness.filter((r) => r.status !== 503 || r.code !== 'unavailable'),
          context,
        )
        .toEqual([]);
      expect.soft(readiness[0]?.checks, context).toMatchObject({ shutdown: 'draining' });
      // every waiter got its answer: the result, or 202 if its wait ran out (it is recorded all the same)
      expect.soft(replies.filter((r) => r.status !== 200 && r.status !== 202).map((r) => r.text)).toEqual([]);
      const acceptedWaiters = waiters.filter((_, i) => replies[i]!.status === 200 || replies[i]!.status === 202);
      accepted.push(...acceptedWaiters);
      expect.soft(lateRequest, context).toBeDefined();
      expect.soft(lateRequest?.status, lateRequest?.text).toBe(503);
      expect.soft(lateRequest?.body?.code).toBe('unavailable');

      // what the process left in Redis is applied by other workers, once each; wait on every job
      const workers = await startWorkers(app.ctx);
      try {
        const waited = { timeoutMs: 60_000, untilAdded: true };
        // a waited use still pending travels in its own job or in its group's carrier (its row names which); one
        // whose row is gone was applied already (the consumptions below say so)
        const pending = (await app.database
          .db('accepted_jobs')
          .whereIn('job_id', acceptedWaiters.map(jobOf))
          .select('job_id', 'carrier_job_id')) as Array<{ job_id: string; carrier_job_id: string | null }>;
        const left = new Map(pending.map((r) => [r.carrier_job_id ?? r.job_id, r.carrier_job_id !== null]));
        const ends = await Promise.all(
          [...left].map(([id, carried]) =>
            carried ? awaitOutcome(app.ctx, 'consume-batch', id, waited) : awaitOutcome(app.ctx, 'consume', id, waited),
          ),
        );
        expect(
          ends.filter((o) => o.state !== 'completed'),
          context,
        ).toEqual([]);
        const batches = await Promise.all(carriers.map((id) => awaitOutcome(app.ctx, 'consume-batch', id, waited)));
        // a carrier the drain cut short runs again: its uses applied before answer as replayed
        const batchesNotApplied = batches.filter(
          (o) => o.state !== 'completed' || o.value.applied + o.value.replayed !== BATCH,
        );
        expect(batchesNotApplied, context).toEqual([]);
      } finally {
        await workers.close();
      }
      const ids = accepted.map((u) => consumptionId(client.id, u.idempotency_key));
      const rows = (await app.database
        .db('consumptions')
        .where({ client_id: client.id })
        .select('id', 'status')) as Array<{
        id: string;
        status: string;
      }>;
      const byId = new Map(rows.map((r) => [r.id, r.status]));
      expect(ids.filter((id) => byId.get(id) !== 'applied')).toEqual([]);
      // nothing else: the request refused while draining was never recorded
      expect(rows).toHaveLength(ids.length);
      expect(byId.has(consumptionId(client.id, late.idempotency_key))).toBe(false);
      const [balance] = await app.database.db('balances').where({ subscription_id: sub.id }).select('consumed');
      expect(BigInt(balance!.consumed)).toBe(BigInt(ids.length));
      const entries = await app.database
        .db('ledger_entries')
        .where({ subscription_id: sub.id, kind: 'consume' })
        .count({ n: '*' });
      expect(Number(entries[0]!.n)).toBe(ids.length);
      const pending = await app.database.db('accepted_jobs').count({ n: '*' });
      expect(Number(pending[0]!.n)).toBe(0);
      const report = await verifyInvariants(app.database.db);
      expect(report.violations).toEqual([]);
    } finally {
      if (service.alive) service.child.kill('SIGKILL');
      await events.close();
      connection.disconnect();
      await monitor.close();
      monitorConnection.disconnect();
    }
  }, 120_000);
});
