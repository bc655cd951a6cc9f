import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome, openOutcomeListeners } from '../../src/commands/index.js';
import { cleanup } from '../../src/jobs/cleanup.js';
import { jobIdOf } from '../../src/jobs/definitions.js';
import { removeQueueKeys } from '../../src/queue/remove-prefix.js';
import { type Sibling, startSibling, startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/**
 * POST /v1/consumptions/batch?wait=true: the batch waited for, each use answered as it stands — a use short of
 * balance one `rejected` item among the applied ones (in a batch each use fails alone), 202 while some are queued.
 */
let app: TestApp;
let worker: Sibling | undefined;
let sms: { id: string; code: string };
let pkg: { id: string; code: string };

beforeAll(async () => {
  // the api alone at first: the first test needs a batch nobody applies
  app = await startTestApp({ roles: ['api'] });
  sms = await createCreditType(app);
  pkg = await createPackage(app, [{ credit_type: sms.code, units: 100 }]);
});

afterAll(async () => {
  const verify = await app.request('POST', '/v1/admin/verify');
  expect(verify.body.violations).toEqual([]);
  await worker?.stop();
  await app.close();
});

async function freshClient() {
  const client = await createClient(app);
  await subscribe(app, client.external_ref, pkg.code);
  return client;
}

const use = (client: string, key: string, quantity: number) => ({
  client,
  credit_type: sms.code,
  quantity,
  idempotency_key: key,
});

const carrierOf = (batchKey: string) => jobIdOf('consume-batch', { batch_key: batchKey, items: [] });

describe('POST /v1/consumptions/batch?wait=true', () => {
  it('answers 202, every use queued, when the wait runs out before a worker applies the batch', async () => {
    const client = await freshClient();
    const impatient = await startSibling(app, ['api'], { config: { WAIT_TIMEOUT_MS: 200 } });
    try {
      const res = await fetch(`${impatient.baseUrl}/v1/consumptions/batch?wait=true`, {
        method: 'POST',
        headers: { authorization: `Bearer ${app.keys.write}`, 'content-type': 'application/json' },
        body: JSON.stringify({ items: [use(client.id, 'late-1', 1), use(client.id, 'late-2', 2)] }),
      });
      const body = (await res.json()) as {
        batch_key: string;
        data: Array<{ id: string; status: string; idempotency_key: string }>;
      };
      expect(res.status, JSON.stringify(body)).toBe(202);
      expect(body.data.map((d) => d.status)).toEqual(['queued', 'queued']);
      expect(body.data.map((d) => d.idempotency_key)).toEqual(['late-1', 'late-2']);
      // a worker comes: the batch applies, and reading it now answers both uses
      worker = await startSibling(app, ['worker']);
      const outcome = await awaitOutcome(app.ctx, 'consume-batch', carrierOf(body.batch_key), { timeoutMs: 30_000 });
      expect(outcome.state).toBe('completed');
      const one = await app.request('GET', `/v1/consumptions/${body.data[1]!.id}`);
      expect(one.body).toMatchObject({ status: 'applied', quantity: '2', remaining: '97' });
    } finally {
      await impatient.stop();
    }
  }, 60_000);

  it('answers 200 with each use: applied, one short of balance rejected alone, applied after it', async () => {
    const client = await freshClient();
    const res = await app.request('POST', '/v1/consumptions/batch?wait=true', {
      key: app.keys.write,
      body: { items: [use(client.id, 'w-1', 10), use(client.id, 'w-2', 500), use(client.id, 'w-3', 5)] },
    });
    expect(res.status, res.text).toBe(200);
    expect(res.body.data).toHaveLength(3);
    // 100 − 10 = 90; 500 asked of 90: rejected, nothing taken, short by 410; 90 − 5 = 85
    expect(res.body.data[0]).toMatchObject({
      status: 'applied',
      idempotency_key: 'w-1',
      quantity: '10',
      applied: '10',
      remaining: '90',
    });
    expect(res.body.data[0].allocations).toEqual([{ balance_id: expect.any(String), amount: '10' }]);
    expect(res.body.data[1]).toMatchObject({
      status: 'rejected',
      code: 'insufficient_balance',
      idempotency_key: 'w-2',
      applied: '0',
      shortfall: '410',
      remaining: '90',
      allocations: [],
    });
    expect(res.body.data[2]).toMatchObject({ status: 'applied', idempotency_key: 'w-3', remaining: '85' });
    // each item is the consumption its id reads
    for (const item of res.body.data) {
      const read = await app.request('GET', `/v1/consumptions/${item.id}`);
      expect(read.body).toMatchObject({ id: item.id, status: item.status, remaining: item.remaining });
    }
  }, 60_000);

  it('answers the same for a retried request (Idempotency-Key) and for uses applied before by another', async () => {
    const client = await freshClient();
    const items = [use(client.id, 'r-1', 4), use(client.id, 'r-2', 6)];
    const send = (body: unknown, key?: string) =>
      app.request('POST', '/v1/consumptions/batch?wait=true', {
        key: app.keys.write,
        body,
        ...(key ? { headers: { 'idempotency-key': key } } : {}),
      });
    const first = await send({ items }, 'bw-retry');
    expect(first.status, first.text).toBe(200);
    const again = await send({ items }, 'bw-retry');
    expect(again.status, again.text).toBe(200);
    expect(again.body).toEqual(first.body);
    // another request naming the same uses (no key): nothing applied twice, the first outcomes answered
    const other = await send({ items: [...items, use(client.id, 'r-3', 1)] });
    expect(other.status, other.text).toBe(200);
    expect(other.body.data.map((d: { status: string; remaining: string }) => [d.status, d.remaining])).toEqual([
      ['applied', '96'],
      ['applied', '90'],
      ['applied', '89'],
    ]);
    const balances = await app.request('GET', `/v1/clients/${client.id}/balances`);
    expect(balances.body.data[0]).toMatchObject({ consumed: '11', remaining: '89' });
  }, 60_000);

  it('without ?wait answers 202 queued as before', async () => {
    const client = await freshClient();
    const res = await app.request('POST', '/v1/consumptions/batch', {
      key: app.keys.write,
      body: { items: [use(client.id, 'n-1', 1)] },
    });
    expect(res.status, res.text).toBe(202);
    expect(res.body.data).toEqual([{ id: expect.any(String), status: 'queued', idempotency_key: 'n-1' }]);
    const outcome = await awaitOutcome(app.ctx, 'consume-batch', carrierOf(res.body.batch_key), { timeoutMs: 30_000 });
    expect(outcome.state).toBe('completed');
  }, 60_000);
});

describe('an Idempotency-Key the cleanup forgot, sent again with other uses', () => {
  it('is a new batch: its uses are applied, not recorded under the first batch finished in Redis', async () => {
    const client = await freshClient();
    const send = (items: unknown[]) =>
      app.request('POST', '/v1/consumptions/batch?wait=true', {
        key: app.keys.write,
        body: { items },
        headers: { 'idempotency-key': 'bw-forgotten' },
      });
    const first = await send([use(client.id, 'f-1', 3)]);
    expect(first.status, first.text).toBe(200);
    // two days later the nightly cleanup has forgotten the key (Redis may still hold the finished batch: under a
    // moved clock it does, as here; completed jobs are kept an hour of the wall clock)
    app.clock.advance(2 * 86_400_000);
    const cleaned = await cleanup(app.ctx, app.clock.now());
    expect(cleaned.ok && cleaned.value.idempotency_records).toBeGreaterThan(0);
    const second = await send([use(client.id, 'f-2', 4)]);
    expect(second.status, second.text).toBe(200);
    expect(second.body.batch_key).not.toBe(first.body.batch_key);
    expect(second.body.data).toMatchObject([{ idempotency_key: 'f-2', status: 'applied', remaining: '93' }]);
    const read = await app.request('GET', `/v1/consumptions/${second.body.data[0].id}`);
    expect(read.body).toMatchObject({ status: 'applied', quantity: '4' });
  }, 60_000);
});

describe('?wait=true whose wait cannot read Redis, after the request was recorded', () => {
  it('answers 202 queued (the request stands), never 503 "nothing was accepted"', async () => {
    const client = await freshClient();
    // an API of a queue prefix of its own, which no worker takes jobs from: the waits run out
    const prefix = `{tbw${randomBytes(4).toString('hex')}}`;
    const lonely = await startSibling(app, ['api'], { config: { BULL_PREFIX: prefix, WAIT_TIMEOUT_MS: 2_000 } });
    const events = new QueueEvents('consumption', {
      connection: new Redis(app.ctx.redisUrl, { maxRetriesPerRequest: null }),
      prefix,
    });
    try {
      await openOutcomeListeners(lonely.ctx, ['consumption']);
      await events.waitUntilReady();
      // a use alone (its own job) and a batch (its carrier): two jobs added
      let added = 0;
      const bothAdded = new Promise<void>((resolve) =>
        events.on('added', () => {
          added += 1;
          if (added === 2) resolve();
        }),
      );
      const post = (path: string, body: unknown) =>
        fetch(`${lonely.baseUrl}${path}?wait=true`, {
          method: 'POST',
          headers: { authorization: `Bearer ${app.keys.write}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const single = post('/v1/consumptions', use(client.id, 'gone-1', 1));
      const batch = post('/v1/consumptions/batch', { items: [use(client.id, 'gone-2', 2)] });
      await bothAdded;
      // Redis goes away while they wait: the last look at each job fails
      const ended = once(lonely.ctx.redis, 'end');
      lonely.ctx.redis.disconnect();
      await ended;
      try {
        const [one, many] = await Promise.all([single, batch]);
        const oneBody = (await one.json()) as { status: string };
        const manyBody = (await many.json()) as { data: Array<{ status: string }> };
        expect(one.status, JSON.stringify(oneBody)).toBe(202);
        expect(oneBody).toMatchObject({ status: 'queued' });
        expect(many.status, JSON.stringify(manyBody)).toBe(202);
        expect(manyBody.data.map((d) => d.status)).toEqual(['queued']);
      } finally {
        await lonely.ctx.redis.connect();
      }
      // both recorded, as the 202s say
      const jobIds = [jobIdOf('consume', use(client.id, 'gone-1', 1)), jobIdOf('consume', use(client.id, 'gone-2', 2))];
      expect(await app.database.db('accepted_jobs').whereIn('job_id', jobIds)).toHaveLength(2);
    } finally {
      await events.close();
      await lonely.stop();
      const redis = new Redis(app.ctx.redisUrl);
      await removeQueueKeys(redis, prefix);
      redis.disconnect();
    }
  }, 60_000);
});
