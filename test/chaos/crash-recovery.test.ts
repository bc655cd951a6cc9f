import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Job, Queue, QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort, REPO_ROOT, ServiceProcess } from '../../chaos/services.js';
import { createApiKey } from '../../src/http/auth.js';
import { jobIdOf } from '../../src/jobs/definitions.js';
import { CreditsProducer } from '../../src/producer/index.js';
import { createRedis } from '../../src/queue/redis.js';
import { verifyInvariants } from '../../src/services/verify.js';
import { compiledEntry } from '../helpers/build.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { removeTestQueueKeys } from '../helpers/queue-keys.js';

/**
 * Issue 13, defect 13: a service killed with SIGKILL (the whole process: API, workers and scheduler
 * in one) while it holds accepted work, then started again, applies everything it had accepted —
 * exactly once — within 15 s of being up again. Before, the jobs the dead worker held waited for
 * BullMQ's stall detection (a 30 s lock, checked every 30 s): 60–90 s. The time is printed, not asserted (no
 * timing asserts); the test asserts that the held jobs came back through the stalled-job check, every half of
 * JOB_LOCK_MS (5 s).
 */
const dir = path.join(REPO_ROOT, '.data', `test-crash-${randomBytes(4).toString('hex')}`);
const prefix = `{crash${randomBytes(4).toString('hex')}}`;
const CLIENTS = 20;
let database: TestDatabase;
let key = '';
let port = 0;
let service: ServiceProcess | undefined;

const env = () => ({
  DATABASE_URL: database.url,
  REDIS_URL: inject('redisUrl'),
  BULL_PREFIX: prefix,
  PORT: String(port),
  HOST: '127.0.0.1',
  LOG_LEVEL: 'info',
  BUSINESS_TZ: 'UTC',
});

const start = async (name: string): Promise<ServiceProcess> => {
  const process = new ServiceProcess(
    name,
    'api,worker,scheduler',
    env(),
    path.join(dir, `${name}.log`),
    compiledEntry('src/main.ts'),
  );
  await process.waitUp(60_000);
  return process;
};

async function call(method: string, url: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${port}${url}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

beforeAll(async () => {
  mkdirSync(dir, { recursive: true });
  database = await createTestDatabase();
  key = (await createApiKey(database.db, { name: 'crash test', scopes: ['admin'], now: new Date() })).key;
  port = await freePort();
});

afterAll(async () => {
  await service?.stop();
  await removeTestQueueKeys(prefix);
  await database?.drop();
  rmSync(dir, { recursive: true, force: true });
});

describe('a killed service applies what it had accepted soon after it starts again', () => {
  it('kill -9 mid-stream, restart: each accepted use applied once, held jobs taken back by stall check', async () => {
    service = await start('crash-a');
    const creditType = await call('POST', '/v1/credit-types', { code: 'crash-sms', name: 'SMS', unit: 'message' });
    expect(creditType.status).toBe(201);
    const pkg = await call('POST', '/v1/packages', {
      code: 'crash-pack',
      name: 'Pack',
      price: 100,
      currency: 'USD',
      validity: { count: 1, unit: 'month' },
      items: [{ credit_type: 'crash-sms', units: 1_000_000 }],
    });
    expect(pkg.status).toBe(201);
    const clients: string[] = [];
    for (let i = 0; i < CLIENTS; i += 1) {
      const client = await call('POST', '/v1/clients', { external_ref: `crash-${i}`, name: `Client ${i}` });
      clients.push(client.body.id as string);
      expect((await call('POST', '/v1/subscriptions', { client: client.body.id, package: 'crash-pack' })).status).toBe(
        201,
      );
    }

    // 1. uses through the API (answered 202: recorded in Postgres) …
    const accepted: string[] = [];
    const acceptedKeys: string[] = [];
    let next = 0;
    const sender = async () => {
      for (let i = next++; i < 400; i = next++) {
        const body = {
          client: clients[i % CLIENTS]!,
          credit_type: 'crash-sms',
          quantity: 1,
          idempotency_key: `h-${i}`,
        };
        try {
          const res = await call('POST', '/v1/consumptions', body);
          if (res.status === 202) {
            accepted.push(jobIdOf('consume', body));
            acceptedKeys.push(body.idempotency_key);
          }
        } catch {
          return; // the process is gone: what was not answered was not promised
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, sender));
    // 2. … and a burst pushed straight into the queue, so that the worker holds many jobs when it dies
    const producer = new CreditsProducer({ connection: inject('redisUrl'), prefix });
    const uses = Array.from({ length: 2_000 }, (_, i) => ({
      client: clients[i % CLIENTS]!,
      credit_type: 'crash-sms',
      quantity: 1,
      idempotency_key: `p-${i}`,
    }));
    const pushed = (await producer.consumeEach(uses)).map((e) => e.jobId);
    await producer.close();

    const redis = createRedis(inject('redisUrl'), 'producer');
    const eventsConnection = createRedis(inject('redisUrl'), 'worker');
    const queue = new Queue('consumption', { connection: redis, prefix });
    // every waiter below listens for the queue closing
    queue.setMaxListeners(0);
    const events = new QueueEvents('consumption', { connection: eventsConnection, prefix });
    try {
      await events.waitUntilReady();
      // the kill must meet work in flight: wait until the worker has taken jobs it has not finished
      await new Promise<void>((resolve) => {
        const check = async () => {
          if ((await queue.getActiveCount()) > 0) resolve();
          else setImmediate(() => void check());
        };
        void check();
      });
      await service.kill9();
      const held = (await queue.getActive()).map((job) => job.id!);
      const heldByTheDead = held.length;
      expect(heldByTheDead, 'jobs the killed worker held').toBeGreaterThan(0);
      // what takes them back: the restarted service's stalled-job check, once their lock (JOB_LOCK_MS) has run out
      const takenBack = new Set<string>();
      events.on('stalled', ({ jobId }) => takenBack.add(jobId));
      // an accepted use travels in its own consume job, or with others of its group in the Admitter's
      // consume-batch carrier (issue 14): what the dead service had not applied is still accepted, and
      // its row names the job that carries it
      const unapplied = (await database
        .db('accepted_jobs')
        .whereIn('job_id', accepted)
        .select('job_id', 'carrier_job_id')) as Array<{ job_id: string; carrier_job_id: string | null }>;
      const travellers = unapplied.map((row) => row.carrier_job_id ?? row.job_id);

      service = await start('crash-b');
      const restarted = performance.now();
      const expected = [...new Set([...travellers, ...pushed])];
      await Promise.all(
        expected.map(async (jobId) => {
          const job = await Job.fromId(queue, jobId);
          expect(job, `job ${jobId} is in Redis`).toBeDefined();
          await job!.waitUntilFinished(events, 60_000);
        }),
      );
      const recoveredMs = Math.round(performance.now() - restarted);
      console.info(
        `crash recovery: ${heldByTheDead} jobs held by the killed worker; ${expected.length} ` +
          `accepted applied ${recoveredMs} ms after the restarted service was up`,
      );
      // issue 13 asks for it within 15 s: the time is printed above, not asserted (no timing asserts: a loaded machine
      // stretches it). What is asserted is the way back that bounds it: every job the dead worker held was taken back
      // by the stalled-job check, which looks every half lock (JOB_LOCK_MS, 5 s; BullMQ's own default 30 s waited
      // 60–90 s), none waited for anything else
      for (const id of held) expect(takenBack.has(id), `job ${id} taken back by the stalled-job check`).toBe(true);

      const rows = (await database.db('consumptions').select('idempotency_key')) as Array<{ idempotency_key: string }>;
      const keys = new Set(rows.map((r) => r.idempotency_key));
      expect(keys.size).toBe(rows.length);
      expect(rows.length).toBeGreaterThanOrEqual(acceptedKeys.length + uses.length);
      for (const acceptedKey of acceptedKeys) expect(keys.has(acceptedKey), acceptedKey).toBe(true);
      for (const use of uses) expect(keys.has(use.idempotency_key)).toBe(true);
      const report = await verifyInvariants(database.db);
      expect(report.violations).toEqual([]);
    } finally {
      await events.close();
      await queue.close();
      eventsConnection.disconnect();
      redis.disconnect();
    }
  }, 180_000);
});
