import { Job, type Queue, QueueEvents, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fail } from '../../src/domain/result.js';
import { consumptionId } from '../../src/ids.js';
import { applyConsumptions, recordFailedUse } from '../../src/jobs/consume.js';
import { CreditsProducer, ProducerValidationError } from '../../src/producer/index.js';
import { createRedis } from '../../src/queue/redis.js';
import { verifyInvariants } from '../../src/services/verify.js';
import { startWorkers } from '../../src/workers/index.js';
import { queueProcessor } from '../../src/workers/queue-processor.js';
import { type Sibling, startSibling, startTestApp, type TestApp } from '../helpers/app.js';
import { watchDeadlocks } from '../helpers/deadlocks.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { rng, shuffled, testSeed } from '../helpers/random.js';

let app: TestApp;
let events: QueueEvents;
let eventsConnection: ReturnType<typeof createRedis>;
let sms: { id: string; code: string };

beforeAll(async () => {
  app = await startTestApp({ roles: ['api'], now: '2026-05-01T00:00:00.000Z' });
  eventsConnection = createRedis(app.ctx.redisUrl, 'worker');
  events = new QueueEvents('consumption', { connection: eventsConnection, prefix: app.prefix });
  await events.waitUntilReady();
  sms = await createCreditType(app, { code: 'e-sms' });
});
afterAll(async () => {
  await events.close();
  eventsConnection.disconnect();
  const report = await verifyInvariants(app.database.db);
  expect(report.violations).toEqual([]);
  await app.close();
});

async function finished(queue: Queue, jobId: string): Promise<unknown> {
  const job = await Job.fromId(queue, jobId);
  if (!job) throw new Error(`job ${jobId} is gone`);
  return job.waitUntilFinished(events, 20_000);
}

async function remaining(subscriptionId: string): Promise<bigint> {
  const rows = await app.database.db('balances').where({ subscription_id: subscriptionId }).select('remaining');
  return rows.reduce((sum, r) => sum + (r.remaining as bigint), 0n);
}

describe('exactly-once effect under at-least-once delivery', () => {
  it('a duplicated job (two job ids, one idempotency key) changes the ledger once', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    const sub = await subscribe(app, client.id, pkg.code);
    const workers = await startWorkers(app.ctx);
    try {
      const queue = app.ctx.queues.consumption;
      const data = {
        client: client.external_ref,
        credit_type: sms.code,
        quantity: 3,
        idempotency_key: 'dup',
        accepted_at: '2026-05-01T00:00:00.000Z',
      };
      await queue.add('consume', data, { jobId: 'dup-a' });
      await queue.add('consume', { ...data, client: client.id }, { jobId: 'dup-b' });
      const [a, b] = (await Promise.all([finished(queue, 'dup-a'), finished(queue, 'dup-b')])) as Array<{
        id: string;
        replayed: boolean;
        applied: string;
      }>;
      expect(a!.id).toBe(b!.id);
      expect([a!.replayed, b!.replayed].sort()).toEqual([false, true]);
      expect(await remaining(sub.id)).toBe(7n);
      expect(await app.database.db('ledger_entries').where({ consumption_id: a!.id })).toHaveLength(1);
    } finally {
      await workers.close();
    }
  });

  it('a job retried after a crash between commit and acknowledgement changes the ledger once', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    const sub = await subscribe(app, client.id, pkg.code);
    const { process, drain } = queueProcessor(app.ctx, 'consumption');
    const connection = createRedis(app.ctx.redisUrl, 'worker');
    let attempts = 0;
    const worker = new Worker(
      'consumption',
      async (job) => {
        attempts += 1;
        const result = await process(job);
        // the transaction has committed; the worker dies before BullMQ hears of it
        if (attempts === 1) throw new Error('simulated crash after commit');
        return result;
      },
      { connection, prefix: app.prefix, concurrency: 5 },
    );
    try {
      const queue = app.ctx.queues.consumption;
      const data = {
        client: client.id,
        credit_type: sms.code,
        quantity: 4,
        idempotency_key: 'crash',
        accepted_at: app.clock.now().toISOString(),
      };
      await queue.add('consume', data, { jobId: 'crash-1', attempts: 3, backoff: { type: 'fixed', delay: 10 } });
      const result = (await finished(queue, 'crash-1')) as { replayed: boolean; applied: string; remaining: string };
      expect(attempts).toBe(2);
      expect(result).toMatchObject({ replayed: true, applied: '4', remaining: '6' });
      expect(await remaining(sub.id)).toBe(6n);
      expect(await app.database.db('ledger_entries').where({ subscription_id: sub.id, kind: 'consume' })).toHaveLength(
        1,
      );
    } finally {
      await worker.close();
      await drain();
      connection.disconnect();
    }
  });

  it('an invalid job fails at once, without retries, with validation_failed in its reason', async () => {
    const workers = await startWorkers(app.ctx);
    try {
      const queue = app.ctx.queues.consumption;
      await queue.add(
        'consume',
        { client: 'x', credit_type: sms.code, quantity: 'lots', idempotency_key: 'bad' },
        { jobId: 'bad-1', attempts: 5 },
      );
      await expect(finished(queue, 'bad-1')).rejects.toThrow(/^validation_failed: /);
      const job = await Job.fromId(queue, 'bad-1');
      expect(job?.attemptsMade).toBe(1);
      const client = await createClient(app);
      await queue.add(
        'consume',
        { client: client.id, credit_type: sms.code, quantity: '1.5', idempotency_key: 'frac' },
        { jobId: 'bad-2', attempts: 5 },
      );
      await expect(finished(queue, 'bad-2')).rejects.toThrow(/^validation_failed: quantity must be a whole number/);
      await queue.add(
        'consume',
        { client: 'ghost', credit_type: sms.code, quantity: 1, idempotency_key: 'ghost' },
        { jobId: 'bad-3', attempts: 5 },
      );
      await expect(finished(queue, 'bad-3')).rejects.toThrow(/^not_found: no client "ghost"/);
      expect((await Job.fromId(queue, 'bad-3'))?.attemptsMade).toBe(1);
    } finally {
      await workers.close();
    }
  });

  it('a job Postgres could not store (NUL in its text) fails alone; the jobs of its batch are applied', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    const sub = await subscribe(app, client.id, pkg.code);
    const queue = app.ctx.queues.consumption;
    // pushed with BullMQ directly, as a careless producer would, all waiting before the worker starts
    const use = (key: string, extra: Record<string, unknown> = {}) => ({
      client: client.id,
      credit_type: sms.code,
      quantity: 1,
      idempotency_key: key,
      occurred_at: '2026-05-01T00:00:00.000Z',
      ...extra,
    });
    await queue.addBulk([
      { name: 'consume', data: use('nul-ok-1'), opts: { jobId: 'nul-ok-1' } },
      { name: 'consume', data: use('nul-bad', { reference: 'order\u0000' }), opts: { jobId: 'nul-bad', attempts: 5 } },
      { name: 'consume', data: use('nul-ok-2', { metadata: { note: 'fine' } }), opts: { jobId: 'nul-ok-2' } },
      {
        name: 'consume',
        data: use('nul-bad-meta', { metadata: { 'k\u0000': 1 } }),
        opts: { jobId: 'nul-bad-meta', attempts: 5 },
      },
      { name: 'consume', data: use('nul-ok-3'), opts: { jobId: 'nul-ok-3' } },
    ]);
    const workers = await startWorkers(app.ctx);
    try {
      for (const id of ['nul-ok-1', 'nul-ok-2', 'nul-ok-3'])
        expect(await finished(queue, id)).toMatchObject({ status: 'applied', applied: '1' });
      await expect(finished(queue, 'nul-bad')).rejects.toThrow(
        /^validation_failed: reference: must be well-formed Unicode without the NUL character/,
      );
      await expect(finished(queue, 'nul-bad-meta')).rejects.toThrow(
        /^validation_failed: metadata: keys must be well-formed Unicode without the NUL character/,
      );
      expect((await Job.fromId(queue, 'nul-bad'))?.attemptsMade).toBe(1);
      expect(await remaining(sub.id)).toBe(7n);
    } finally {
      await workers.close();
    }
    const producer = new CreditsProducer({ connection: app.ctx.redisUrl, prefix: app.prefix });
    try {
      await expect(producer.consume(use('p\u0000'))).rejects.toBeInstanceOf(ProducerValidationError);
    } finally {
      await producer.close();
    }
  });

  it('insufficient balance is a result, not a failure loop', async () => {
    const workers = await startWorkers(app.ctx);
    try {
      const client = await createClient(app);
      const queue = app.ctx.queues.consumption;
      await queue.add(
        'consume',
        { client: client.id, credit_type: sms.code, quantity: 1, idempotency_key: 'none' },
        { jobId: 'short-1', attempts: 5 },
      );
      expect(await finished(queue, 'short-1')).toMatchObject({
        status: 'rejected',
        code: 'insufficient_balance',
        applied: '0',
        shortfall: '1',
      });
      expect((await Job.fromId(queue, 'short-1'))?.attemptsMade).toBe(1);
    } finally {
      await workers.close();
    }
  });
});

describe('a use the worker refuses for good is recorded by id, once', () => {
  const failureRows = (ids: string[]) =>
    app.database.db('consumption_failures').whereIn('id', ids).orderBy('id') as Promise<
      Array<{ id: string; code: string; detail: string; failed_at: Date }>
    >;

  it('in the batch transaction or on its own; a job run again changes nothing; a conflict is none', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    await subscribe(app, client.id, pkg.code);
    const at = new Date('2026-05-01T00:00:00.000Z');
    const item = (jobId: string, data: Record<string, unknown>, acceptedAt?: string) => ({
      jobId,
      enqueuedAt: at,
      data: {
        client: client.external_ref,
        credit_type: sms.code,
        quantity: 1,
        ...(acceptedAt ? { accepted_at: acceptedAt } : {}),
        ...data,
      } as Parameters<typeof applyConsumptions>[1][number]['data'],
    });
    const good = item('rf-1', { idempotency_key: 'rf-good' }, at.toISOString());
    const ghost = item('rf-2', { idempotency_key: 'rf-ghost', client: 'rf-nobody' }, at.toISOString());
    const fine = item('rf-3', { idempotency_key: 'rf-fine', quantity: '0.5' });
    const ids = [consumptionId('rf-nobody', 'rf-ghost'), consumptionId(client.id, 'rf-fine')].sort();

    // with a use to write: the refusals go in its transaction
    const first = await applyConsumptions(app.ctx, [good, ghost, fine]);
    expect(first.map((o) => (o.ok ? o.value.status : o.code))).toEqual(['applied', 'not_found', 'validation_failed']);
    const recorded = await failureRows(ids);
    expect(recorded.map((r) => r.code).sort()).toEqual(['not_found', 'validation_failed']);

    // the same job delivered again, later: replayed, refused again, the records untouched
    app.clock.advance(60_000);
    try {
      const again = await applyConsumptions(app.ctx, [good, ghost, fine], { checkExisting: true });
      expect(again.map((o) => (o.ok ? o.value.replayed : o.code))).toEqual([true, 'not_found', 'validation_failed']);
      expect(await failureRows(ids)).toEqual(recorded);
      // nothing else to write (no use to apply, no accepted request to settle): recorded on their own, still once
      await applyConsumptions(app.ctx, [fine, fine]);
      expect(await failureRows(ids)).toEqual(recorded);
    } finally {
      app.clock.set(at);
    }

    // a key reused with another payload names the consumption applied before: no failure recorded for it
    const reused = await applyConsumptions(app.ctx, [item('rf-4', { idempotency_key: 'rf-good', quantity: 2 })]);
    expect(reused[0]).toMatchObject({ ok: false, code: 'idempotency_conflict' });
    expect(await failureRows([consumptionId(client.id, 'rf-good')])).toEqual([]);
    // nor one under a hold capture's key (a producer's batch may carry it): that id is the capture's consumption
    const capture = await applyConsumptions(app.ctx, [item('rf-6', { idempotency_key: 'hold:rf' })]);
    expect(capture[0]).toMatchObject({ ok: false, code: 'validation_failed' });
    expect(await failureRows([consumptionId(client.id, 'hold:rf')])).toEqual([]);

    // one failed outside the batch (a value Postgres refused): recorded right after, by the same id rule
    await recordFailedUse(
      app.ctx,
      item('rf-5', { idempotency_key: 'rf-stored' }),
      fail('validation_failed', 'a value cannot be stored: …'),
    );
    expect(await failureRows([consumptionId(client.id, 'rf-stored')])).toMatchObject([
      { code: 'validation_failed', detail: 'a value cannot be stored: …' },
    ]);
  });

  /** A client holding 10 messages, and a use of it as a batch item (a job of the micro-batcher). */
  async function clientOfTen() {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    await subscribe(app, client.id, pkg.code);
    const item = (jobId: string, data: Record<string, unknown>) => ({
      jobId,
      enqueuedAt: app.clock.now(),
      data: { client: client.external_ref, credit_type: sms.code, quantity: 1, ...data } as Parameters<
        typeof applyConsumptions
      >[1][number]['data'],
    });
    return { client, item };
  }
  const outcomeCodes = (outcomes: Awaited<ReturnType<typeof applyConsumptions>>) =>
    outcomes.map((o) => (o.ok ? o.value.status : o.code));

  it('two refused uses of one batch under one key: the first recorded, another payload a conflict', async () => {
    const { client, item } = await clientOfTen();
    const id = consumptionId(client.id, 'rk-1');
    const outcomes = await applyConsumptions(app.ctx, [
      item('rk-a', { idempotency_key: 'rk-1', credit_type: 'rk-gold' }),
      // another payload under the same (client, key), refused for another reason: a key reused, not recorded
      item('rk-b', { idempotency_key: 'rk-1', quantity: '0.5' }),
      // the first one again, written otherwise (the client by id, the quantity as text): a repeat of it
      item('rk-c', { idempotency_key: 'rk-1', credit_type: 'rk-gold', client: client.id, quantity: '1.0' }),
      item('rk-d', { idempotency_key: 'rk-2' }),
    ]);
    expect(outcomeCodes(outcomes)).toEqual(['not_found', 'idempotency_conflict', 'not_found', 'applied']);
    expect(outcomes[1]).toMatchObject({
      detail: expect.stringMatching(/"rk-1" was used for client .* another payload/),
    });
    expect(outcomes[2]).toEqual(outcomes[0]);
    expect(await failureRows([id])).toMatchObject([{ id, code: 'not_found', detail: 'no credit type "rk-gold"' }]);
  });

  it('a refused use under a key a consumption has is a conflict, and no failure is written for it', async () => {
    const { client, item } = await clientOfTen();
    const applied = await applyConsumptions(app.ctx, [item('ra-1', { idempotency_key: 'ra-1', quantity: 3 })]);
    expect(outcomeCodes(applied)).toEqual(['applied']);
    const id = consumptionId(client.id, 'ra-1');
    // the applied key replayed with a time in the future (or anything else the worker refuses): another payload
    const future = new Date(app.clock.now().getTime() + 86_400_000).toISOString();
    const replayed = await applyConsumptions(app.ctx, [item('ra-2', { idempotency_key: 'ra-1', occurred_at: future })]);
    expect(replayed[0]).toMatchObject({ ok: false, code: 'idempotency_conflict' });
    // in the transaction of a batch that writes, and refused otherwise
    const mixed = await applyConsumptions(app.ctx, [
      item('ra-3', { idempotency_key: 'ra-1', quantity: '0.5' }),
      item('ra-4', { idempotency_key: 'ra-4' }),
    ]);
    expect(outcomeCodes(mixed)).toEqual(['idempotency_conflict', 'applied']);
    // one failed outside the batch (a value Postgres refused) under that key: not written either
    await recordFailedUse(app.ctx, item('ra-5', { idempotency_key: 'ra-1' }), fail('validation_failed', 'cannot …'));
    expect(await failureRows([id])).toEqual([]);

    // in one batch, a use accepted first takes the key: a refused one after it is a conflict; a use refused first
    // failed while the key was free (its own failure), and the use accepted after it applies: no failure is kept
    const before = await applyConsumptions(app.ctx, [
      item('rb-1', { idempotency_key: 'rb-1' }),
      item('rb-2', { idempotency_key: 'rb-1', credit_type: 'rb-gold' }),
      item('rb-3', { idempotency_key: 'rb-3', credit_type: 'rb-gold' }),
      item('rb-4', { idempotency_key: 'rb-3' }),
    ]);
    expect(outcomeCodes(before)).toEqual(['applied', 'idempotency_conflict', 'not_found', 'applied']);
    expect(await failureRows([consumptionId(client.id, 'rb-1'), consumptionId(client.id, 'rb-3')])).toEqual([]);
    const rows = await app.database.db('consumptions').where({ client_id: client.id }).orderBy('idempotency_key');
    expect(rows.map((r: { idempotency_key: string; quantity: bigint }) => [r.idempotency_key, r.quantity])).toEqual([
      ['ra-1', 3n],
      ['ra-4', 1n],
      ['rb-1', 1n],
      ['rb-3', 1n],
    ]);
  });

  it('a refused use under a key applied before is a conflict, though a replay of that key follows it', async () => {
    const { client, item } = await clientOfTen();
    expect(outcomeCodes(await applyConsumptions(app.ctx, [item('rc-1', { idempotency_key: 'rc-1' })]))).toEqual([
      'applied',
    ]);
    // the key was taken before this batch, not free: the refused use is a key reused with another payload, as it is
    // alone (above) — whether a replay of the applied use comes after it in the batch or not (README: "a use refused
    // under a key a consumption has … fails idempotency_conflict too")
    const outcomes = await applyConsumptions(app.ctx, [
      item('rc-2', { idempotency_key: 'rc-1', credit_type: 'rc-gold' }),
      item('rc-3', { idempotency_key: 'rc-1' }),
    ]);
    expect(outcomes.map((o) => (o.ok ? o.value.replayed : o.code))).toEqual(['idempotency_conflict', true]);
    expect(await failureRows([consumptionId(client.id, 'rc-1')])).toEqual([]);
  });
});

describe('the batch write', () => {
  it("makes each movement an allocation and a consume entry with its balance's and consumption's columns", async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 5 }]);
    await subscribe(app, client.id, pkg.code);
    await subscribe(app, client.id, pkg.code);
    const use = (key: string, quantity: number, occurredAt: string) => ({
      jobId: `job-${key}`,
      data: { client: client.id, credit_type: sms.code, quantity, idempotency_key: key, occurred_at: occurredAt },
      enqueuedAt: app.clock.now(),
    });
    // 7 takes one balance whole and 2 of the other; 2 more take the other's next 2
    const outcomes = await applyConsumptions(app.ctx, [
      use('w-1', 7, '2026-05-01T00:00:00.000Z'),
      use('w-2', 2, '2026-05-01T00:00:01.000Z'),
    ]);
    const ids = outcomes.map((o) => (o.ok ? o.value.id : 'failed'));
    expect(outcomes.map((o) => o.ok && o.value.status)).toEqual(['applied', 'applied']);
    const db = app.database.db;
    const consumptions = new Map((await db('consumptions').whereIn('id', ids)).map((c) => [c.id as string, c]));
    const balances = new Map((await db('balances').where({ client_id: client.id })).map((b) => [b.id as string, b]));
    const entries = await db('ledger_entries').whereIn('consumption_id', ids).orderBy('seq');
    expect(entries.map((e) => [ids.indexOf(e.consumption_id), e.amount, e.remaining_after])).toEqual([
      [0, -5n, 0n],
      [0, -2n, 3n],
      [1, -2n, 1n],
    ]);
    for (const e of entries) {
      const balance = balances.get(e.balance_id)!;
      const consumption = consumptions.get(e.consumption_id)!;
      expect(e).toMatchObject({
        kind: 'consume',
        client_id: balance.client_id,
        credit_type_id: balance.credit_type_id,
        subscription_id: balance.subscription_id,
        job_id: consumption.job_id,
        effective_at: consumption.occurred_at,
        created_at: consumption.created_at,
        invoice_id: null,
        actor: null,
        reason: null,
      });
    }
    expect(entries.map((e) => consumptions.get(e.consumption_id)!.job_id)).toEqual(['job-w-1', 'job-w-1', 'job-w-2']);
    const allocations = await db('consumption_allocations').whereIn('consumption_id', ids);
    expect(
      allocations
        .map((a) => [a.consumption_id, a.balance_id, a.amount, a.created_at.getTime()])
        .sort((x, y) => String(x).localeCompare(String(y))),
    ).toEqual(
      entries
        .map((e) => [
          e.consumption_id,
          e.balance_id,
          -e.amount,
          consumptions.get(e.consumption_id)!.created_at.getTime(),
        ])
        .sort((x, y) => String(x).localeCompare(String(y))),
    );
  });
});

describe('concurrency: locks in one order, never below zero, never twice', () => {
  // The workers retry a batch that lost a deadlock, so exact totals alone would hide one: each test
  // also reads Postgres's own count of deadlocks in this database, before the work and after every
  // connection that did it has ended (the work runs in siblings whose pools are closed first).
  it(
    '200 concurrent 1-unit uses of a 100-unit balance, over two ' +
      'worker sets: exactly 100 applied, remaining 0, no deadlock',
    async () => {
      const client = await createClient(app);
      const pkg = await createPackage(app, [{ credit_type: sms.code, units: 100 }]);
      const sub = await subscribe(app, client.id, pkg.code);
      const deadlocks = await watchDeadlocks(app.database.url);
      const sets: Sibling[] = [await startSibling(app, ['api', 'worker']), await startSibling(app, ['worker'])];
      let statuses: number[];
      try {
        statuses = await Promise.all(
          Array.from({ length: 200 }, async (_, i) => {
            const res = await fetch(`${sets[0]!.baseUrl}/v1/consumptions?wait=true`, {
              method: 'POST',
              headers: { authorization: `Bearer ${app.keys.write}`, 'content-type': 'application/json' },
              body: JSON.stringify({
                client: client.id,
                credit_type: sms.code,
                quantity: 1,
                idempotency_key: `c-${i}`,
              }),
            });
            await res.arrayBuffer();
            return res.status;
          }),
        );
      } finally {
        await Promise.all(sets.map((s) => s.stop()));
      }
      expect(statuses.filter((s) => s === 200)).toHaveLength(100);
      expect(statuses.filter((s) => s === 422)).toHaveLength(100);
      expect(await remaining(sub.id)).toBe(0n);
      const applied = await app.database
        .db('consumptions')
        .where({ client_id: client.id, status: 'applied' })
        .count({ n: '*' });
      expect(Number(applied[0]!.n)).toBe(100);
      expect(await deadlocks.delta(), 'deadlocks Postgres detected in this database during the run').toBe(0);
    },
  );

  it('many clients and credit types in random order, two worker sets, no deadlock and exact totals', async () => {
    const seed = testSeed('consumption-engine: order of the 1,200 mixed uses');
    const mms = await createCreditType(app, { code: 'e-mms' });
    const pkg = await createPackage(app, [
      { credit_type: sms.code, units: 200 },
      { credit_type: mms.code, units: 200 },
    ]);
    const clients = [];
    for (let i = 0; i < 6; i += 1) {
      const client = await createClient(app);
      await subscribe(app, client.id, pkg.code);
      await subscribe(app, client.id, pkg.code);
      clients.push(client);
    }
    const items = [];
    for (let i = 0; i < 1_200; i += 1) {
      const client = clients[(i * 7) % clients.length]!;
      items.push({
        client: client.id,
        credit_type: i % 3 === 0 ? mms.code : sms.code,
        quantity: 1,
        idempotency_key: `mix-${i}`,
      });
    }
    const producer = new CreditsProducer({
      connection: app.ctx.redisUrl,
      prefix: app.prefix,
      now: () => app.clock.now(),
    });
    const deadlocks = await watchDeadlocks(app.database.url);
    // small batches, several in flight per lane: many transactions contend for the same clients' rows
    const contended = { config: { CONSUMPTION_BATCH_SIZE: 12, CONSUMPTION_BATCHES_IN_FLIGHT: 3 } };
    const sets: Sibling[] = [
      await startSibling(app, ['worker'], contended),
      await startSibling(app, ['worker'], contended),
    ];
    let results: Array<{ status: string }>;
    try {
      const enqueued = await producer.consumeEach(shuffled(items, rng(seed)));
      results = (await Promise.all(enqueued.map((e) => finished(app.ctx.queues.consumption, e.jobId)))) as Array<{
        status: string;
      }>;
    } finally {
      await Promise.all(sets.map((s) => s.stop()));
      await producer.close();
    }
    const replay = `seed ${seed} (replay with TEST_SEED=${seed})`;
    // each client asks for 200 units in all and holds 400 of each type: everything applies
    expect(results.filter((r) => r.status === 'applied').length, replay).toBe(1_200);
    const sums = await app.database
      .db('balances')
      .whereIn(
        'client_id',
        clients.map((c) => c.id),
      )
      .sum({ consumed: 'consumed', remaining: 'remaining' });
    expect(BigInt(sums[0]!.consumed), replay).toBe(1_200n);
    expect(BigInt(sums[0]!.remaining), replay).toBe(6n * 2n * 400n - 1_200n);
    expect(await deadlocks.delta(), `deadlocks Postgres detected in this database during the run; ${replay}`).toBe(0);
  });
});

describe('CreditsProducer', () => {
  it(
    'validates before enqueueing and names jobs by the ' + 'job-id rule, so a retried call makes no second job',
    async () => {
      const producer = new CreditsProducer({
        connection: app.ctx.redisUrl,
        prefix: app.prefix,
        now: () => app.clock.now(),
      });
      try {
        await expect(
          producer.consume({ client: 'c', credit_type: sms.code, quantity: 1, idempotency_key: '' }),
        ).rejects.toBeInstanceOf(ProducerValidationError);
        await expect(
          producer.consumeMany([
            { client: 'c', credit_type: sms.code, quantity: 1, idempotency_key: 'fine' },
            { client: 'c', credit_type: sms.code, quantity: { n: 1 } as never, idempotency_key: 'x' },
          ]),
        ).rejects.toThrow(/validation_failed: 1\.quantity/);
        expect(await app.ctx.queues.consumption.count()).toBe(0);

        const client = await createClient(app);
        const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
        const sub = await subscribe(app, client.id, pkg.code);
        const first = await producer.consume({
          client: client.external_ref,
          credit_type: sms.code,
          quantity: 2,
          idempotency_key: 'p-1',
        });
        const second = await producer.consume({
          client: client.external_ref,
          credit_type: sms.code,
          quantity: 2,
          idempotency_key: 'p-1',
        });
        expect(first.jobId).toBe(second.jobId);
        expect(first.jobId).toBe(`consume|${encodeURIComponent(client.external_ref)}|p-1`);
        expect(await app.ctx.queues.consumption.getJobCounts('waiting')).toEqual({ waiting: 1 });
        const workers = await startWorkers(app.ctx);
        try {
          const result = (await finished(app.ctx.queues.consumption, first.jobId)) as { id: string; applied: string };
          expect(result.applied).toBe('2');
          const reversal = await producer.reverse({ consumption_id: result.id, reason: 'test' });
          expect(reversal.jobId).toBe(`reverse|${result.id}`);
          expect(await finished(app.ctx.queues.consumption, reversal.jobId)).toMatchObject({
            status: 'reversed',
            returned: '2',
          });
          expect(await remaining(sub.id)).toBe(10n);
        } finally {
          await workers.close();
        }
      } finally {
        await producer.close();
      }
    },
  );
});
