import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome, requeueLost } from '../../src/commands/index.js';
import { jobIdOf } from '../../src/jobs/definitions.js';
import { CreditsProducer } from '../../src/producer/index.js';
import { verifyInvariants } from '../../src/services/verify.js';
import { startWorkers } from '../../src/workers/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { batchOutcome, createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/**
 * Issue 14, "a batch job type": POST /v1/consumptions/batch and CreditsProducer.consumeMany carry
 * their uses in `consume-batch` jobs (≤ 1,000 uses each) that the consumption micro-batcher applies
 * many per transaction — every use still idempotent by (client, idempotency_key), each with its own
 * result readable by id, and one bad use failing alone.
 */
let app: TestApp;
let sms: { id: string; code: string };
let clients: Array<{ id: string; external_ref: string }>;

beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-05-10T08:00:00.000Z' });
  sms = await createCreditType(app, { code: 'cb-sms' });
  const pkg = await createPackage(app, [{ credit_type: sms.code, units: 1_000 }]);
  clients = [];
  for (let i = 0; i < 3; i += 1) {
    const client = await createClient(app);
    await subscribe(app, client.id, pkg.code);
    clients.push(client);
  }
});
afterAll(async () => {
  const report = await verifyInvariants(app.database.db);
  expect(report.violations).toEqual([]);
  await app.close();
});

const uses = (prefix: string, n: number, quantity = 1) =>
  Array.from({ length: n }, (_, i) => ({
    client: clients[i % clients.length]!.external_ref,
    credit_type: sms.code,
    quantity,
    idempotency_key: `${prefix}-${i}`,
  }));

describe('POST /v1/consumptions/batch', () => {
  it('carries the uses in one consume-batch job; each is applied once and readable by id', async () => {
    const res = await app.request('POST', '/v1/consumptions/batch', {
      key: app.keys.write,
      body: { items: uses('http', 300) },
      headers: { 'idempotency-key': 'batch-1' },
    });
    expect(res.status, res.text).toBe(202);
    expect(res.body.data).toHaveLength(300);
    const batchJob = jobIdOf('consume-batch', { batch_key: res.body.batch_key, items: [] });
    const outcome = await awaitOutcome(app.ctx, 'consume-batch', batchJob, { timeoutMs: 30_000 });
    expect(outcome).toMatchObject({ state: 'completed', value: { uses: 300, applied: 300, failed: [] } });
    // one job, not 300: nothing else was added to the queue for them
    expect(
      await app.ctx.queues.consumption.getJob(jobIdOf('consume', { ...uses('http', 1)[0]!, client: clients[0]!.id })),
    ).toBeUndefined();
    const one = await app.request('GET', `/v1/consumptions/${res.body.data[7].id}`, { key: app.keys.read });
    expect(one.body).toMatchObject({ status: 'applied', applied: '1', idempotency_key: 'http-7' });
    expect(await app.database.db('accepted_jobs')).toHaveLength(0);

    // the same request again: the same batch job, nothing applied twice
    const again = await app.request('POST', '/v1/consumptions/batch', {
      key: app.keys.write,
      body: { items: uses('http', 300) },
      headers: { 'idempotency-key': 'batch-1' },
    });
    expect(again.status, again.text).toBe(202);
    expect(again.body.data.every((d: { status: string }) => d.status === 'applied')).toBe(true);
    expect(await app.database.db('consumptions').where('idempotency_key', 'like', 'http-%')).toHaveLength(300);
  });

  it('a use refused at the worker fails alone; its neighbours are applied', async () => {
    const items = uses('mixed', 10);
    // more than anyone holds: rejected (insufficient balance) by itself, the others applied
    items[4] = { ...items[4]!, quantity: 5_000 };
    const res = await app.request('POST', '/v1/consumptions/batch', { key: app.keys.write, body: { items } });
    expect(res.status, res.text).toBe(202);
    const outcome = await batchOutcome(app, res.body.batch_key);
    expect(outcome).toMatchObject({ state: 'completed', value: { uses: 10, applied: 9, rejected: 1 } });
    const rejected = await app.request('GET', `/v1/consumptions/${res.body.data[4].id}`, { key: app.keys.read });
    expect(rejected.body).toMatchObject({ status: 'rejected', code: 'insufficient_balance' });
  });

  it('a carrier job Redis lost: the relay enqueues each of its accepted uses again, on its own', async () => {
    // no worker here: the uses stay accepted while the carrier is taken out of Redis
    const lonely = await startTestApp({ roles: ['api'], now: '2026-05-10T08:00:00.000Z' });
    try {
      const ct = await createCreditType(lonely, { code: 'cb-lost' });
      const pkg = await createPackage(lonely, [{ credit_type: ct.code, units: 100 }]);
      const client = await createClient(lonely);
      await subscribe(lonely, client.id, pkg.code);
      const items = Array.from({ length: 5 }, (_, i) => ({
        client: client.id,
        credit_type: ct.code,
        quantity: 1,
        idempotency_key: `lost-${i}`,
      }));
      const res = await lonely.request('POST', '/v1/consumptions/batch', { key: lonely.keys.write, body: { items } });
      expect(res.status, res.text).toBe(202);
      const carrier = jobIdOf('consume-batch', { batch_key: res.body.batch_key, items: [] });
      await (await lonely.ctx.queues.consumption.getJob(carrier))!.remove();
      expect(await requeueLost(lonely.ctx, 0)).toBe(5);
      for (const item of items) {
        const single = await lonely.ctx.queues.consumption.getJob(jobIdOf('consume', item));
        expect(single?.name).toBe('consume');
      }
    } finally {
      await lonely.close();
    }
  });
});

describe('CreditsProducer.consumeMany', () => {
  it(
    'enqueues consume-batch jobs of at most 1,000 uses; ' + 'a retried call with the same key makes no second job',
    async () => {
      const producer = new CreditsProducer({
        connection: app.ctx.redisUrl,
        prefix: app.prefix,
        now: () => app.clock.now(),
      });
      try {
        const batches = await producer.consumeMany(uses('prod', 1_500), { batchKey: 'nightly-import' });
        expect(batches.map((b) => b.uses)).toEqual([1_000, 500]);
        expect(batches.map((b) => b.jobId)).toEqual(['consume-batch|nightly-import', 'consume-batch|nightly-import-2']);
        await producer.consumeMany(uses('prod', 1_500), { batchKey: 'nightly-import' });
        const outcomes = await Promise.all(
          batches.map((b) => awaitOutcome(app.ctx, 'consume-batch', b.jobId, { timeoutMs: 60_000 })),
        );
        expect(outcomes.map((o) => o.state)).toEqual(['completed', 'completed']);
        expect(await app.database.db('consumptions').where('idempotency_key', 'like', 'prod-%')).toHaveLength(1_500);
      } finally {
        await producer.close();
      }
    },
  );
});

describe("the admitter's carrier: concurrent single uses in one consume-batch job", () => {
  it('each use is applied once and readable by id, one bad use fails alone, and every waiter gets ' +
    'its own result', async () => {
    // accepted with no worker running (so that the carriers can be read), then applied by workers
    // started here; a generous grouping window, so that the uses group whatever the load
    const front = await startTestApp({
      roles: ['api'],
      now: '2026-05-10T08:00:00.000Z',
      env: { ACCEPT_BATCH_WAIT_MS: '50', WAIT_TIMEOUT_MS: '30000' },
    });
    try {
      const ct = await createCreditType(front, { code: 'cb-group' });
      const pkg = await createPackage(front, [{ credit_type: ct.code, units: 100 }]);
      const client = await createClient(front);
      await subscribe(front, client.id, pkg.code);
      const body = (key: string, quantity = 1) => ({
        client: client.id,
        credit_type: ct.code,
        quantity,
        idempotency_key: key,
      });
      const post = (key: string, quantity = 1, wait = false) =>
        front.request('POST', `/v1/consumptions${wait ? '?wait=true' : ''}`, {
          key: front.keys.write,
          body: body(key, quantity),
        });
      const jobOf = (key: string) => jobIdOf('consume', body(key));

      // waiters, one of them asking for more than anyone holds; they wait for the workers below
      const waiters = [post('w-0', 1, true), post('w-big', 5_000, true), post('w-2', 1, true)];
      // uses nobody waits for, one of them too big: answered 202 at once
      const keys = [...Array.from({ length: 20 }, (_, i) => `n-${i}`), 'n-big'];
      const quick = await Promise.all(keys.map((k) => post(k, k === 'n-big' ? 5_000 : 1)));
      expect(quick.map((r) => r.status)).toEqual(keys.map(() => 202));

      const rows = (await front.database
        .db('accepted_jobs')
        .whereIn('job_id', keys.map(jobOf))
        .select('job_id', 'carrier_job_id')) as Array<{ job_id: string; carrier_job_id: string | null }>;
      expect(rows).toHaveLength(keys.length);
      const carriers = [...new Set(rows.flatMap((r) => (r.carrier_job_id ? [r.carrier_job_id] : [])))];
      expect(carriers.length, 'the concurrent uses travel in carriers').toBeGreaterThan(0);
      expect(carriers.length).toBeLessThan(keys.length);
      const alone = rows.filter((r) => !r.carrier_job_id).map((r) => r.job_id);
      // a caller that asks again for a use already carried, and waits: its use comes back as its own job
      const carriedKey = keys.find((k) => rows.find((r) => r.job_id === jobOf(k))?.carrier_job_id)!;
      const waitAgain = post(carriedKey, 1, true);

      const workers = await startWorkers(front.ctx);
      try {
        const waited = { timeoutMs: 30_000 };
        const batches = await Promise.all(carriers.map((id) => awaitOutcome(front.ctx, 'consume-batch', id, waited)));
        expect(batches.map((b) => b.state)).toEqual(carriers.map(() => 'completed'));
        const singles = await Promise.all(alone.map((id) => awaitOutcome(front.ctx, 'consume', id, waited)));
        expect(singles.map((s) => s.state)).toEqual(alone.map(() => 'completed'));

        // every waiter is answered with its own use: the result, or its own 422 with the use's fields
        const [w0, wBig, w2] = await Promise.all(waiters);
        expect(w0!.status, w0!.text).toBe(200);
        expect(w0!.body).toMatchObject({ status: 'applied', idempotency_key: 'w-0', applied: '1' });
        expect(wBig!.status, wBig!.text).toBe(422);
        expect(wBig!.body).toMatchObject({
          code: 'insufficient_balance',
          consumption_status: 'rejected',
          idempotency_key: 'w-big',
          quantity: '5000',
        });
        expect(w2!.status, w2!.text).toBe(200);
        expect(w2!.body).toMatchObject({ status: 'applied', idempotency_key: 'w-2' });
        // applied once, by its carrier or its own job, whichever came first; the other answers the same use
        const again = await waitAgain;
        expect(again.status, again.text).toBe(200);
        expect(again.body).toMatchObject({ status: 'applied', idempotency_key: carriedKey, applied: '1' });
      } finally {
        await workers.close();
      }

      // each use readable by id; the bad one rejected alone, its neighbours applied
      for (const [index, key] of keys.entries()) {
        const one = await front.request('GET', `/v1/consumptions/${quick[index]!.body.id}`, { key: front.keys.read });
        expect(one.body, key).toMatchObject(
          key === 'n-big' ? { status: 'rejected', code: 'insufficient_balance' } : { status: 'applied', applied: '1' },
        );
      }
      // each carried use records its carrier as its job
      const applied = (await front.database
        .db('consumptions')
        .where({ client_id: client.id })
        .select('idempotency_key', 'job_id')) as Array<{ idempotency_key: string; job_id: string }>;
      expect(applied).toHaveLength(keys.length + 3);
      const jobById = new Map(applied.map((c) => [c.idempotency_key, c.job_id]));
      for (const row of rows) {
        const key = keys.find((k) => jobOf(k) === row.job_id)!;
        expect(jobById.get(key), key).toBe(row.carrier_job_id ?? row.job_id);
      }
      // a waiter's use records what carried it: its own job, or its group's carrier (which named it in `waited`)
      for (const key of ['w-0', 'w-big', 'w-2']) {
        const job = jobById.get(key)!;
        expect(job === jobOf(key) || /^consume-batch\|group-[0-9a-f-]{36}$/.test(job), `${key}: ${job}`).toBe(true);
      }
      const [balance] = await front.database.db('balances').where({ client_id: client.id }).select('consumed');
      expect(BigInt(balance!.consumed)).toBe(22n);
      expect(await front.database.db('accepted_jobs')).toHaveLength(0);
      expect((await verifyInvariants(front.database.db)).violations).toEqual([]);
    } finally {
      await front.close();
    }
  }, 60_000);
});
