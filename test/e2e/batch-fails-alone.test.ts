import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import { consumptionId } from '../../src/ids.js';
import { cleanup } from '../../src/jobs/cleanup.js';
import { CreditsProducer } from '../../src/producer/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import {
  batchOutcome,
  countRows,
  createClient,
  createCreditType,
  createPackage,
  subscribe,
} from '../helpers/fixtures.js';
import { closeVerified } from '../helpers/http-steps.js';
import { untilWaitingForLocks } from '../helpers/lock-waits.js';

/**
 * Issue 14 of the tracker, of batches: "every use still idempotent by (client, idempotency_key), each with its own
 * result readable by id, and one bad use failing alone". POST /v1/consumptions/batch refused the whole request (422)
 * for one use naming a client that does not exist; such a use — or any use refused by what only the database or the
 * clock knows (a credit type that does not exist, a quantity finer than its credit type allows, a time in the
 * future) — now fails alone: the batch is accepted, its other uses applied, and that use answered `failed` with the
 * contract's code under its own id, readable by GET /v1/consumptions/{id}. What is malformed whatever the database
 * holds (the schema), and a key reused with another payload, still refuse the whole request.
 *
 * The cast: a credit type of whole messages; each test's client holds a package of 100 of them.
 */
const NOW = '2026-05-04T09:00:00.000Z';
let app: TestApp;
let sms: { id: string; code: string };
let pkg: { code: string };

beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: NOW });
  sms = await createCreditType(app);
  pkg = await createPackage(app, [{ credit_type: sms.code, units: 100 }]);
});
afterAll(async () => {
  await closeVerified(app);
});

/** The typed producer on this file's queues, dating its jobs by the test's clock. */
const producerOnTheClock = () =>
  new CreditsProducer({ connection: app.ctx.redisUrl, prefix: app.prefix, now: () => app.clock.now() });

async function freshClient() {
  const client = await createClient(app);
  await subscribe(app, client.external_ref, pkg.code);
  return client;
}

const use = (client: string, key: string, quantity: number | string = 1, extra: Record<string, unknown> = {}) => ({
  client,
  credit_type: sms.code,
  quantity,
  idempotency_key: key,
  ...extra,
});
const batch = (items: unknown[], options: { wait?: boolean; key?: string } = {}) =>
  app.request('POST', `/v1/consumptions/batch${options.wait ? '?wait=true' : ''}`, {
    key: app.keys.write,
    body: { items },
    ...(options.key ? { headers: { 'idempotency-key': options.key } } : {}),
  });
const read = (id: string) => app.request('GET', `/v1/consumptions/${id}`, { key: app.keys.read });
const remaining = async (clientId: string) => {
  const res = await app.request('GET', `/v1/clients/${clientId}/balances`, { key: app.keys.read });
  return res.body.data.find((r: { credit_type: { code: string } }) => r.credit_type.code === sms.code)?.remaining;
};
const failures = () => countRows(app, 'consumption_failures');

describe('a use refused at the door fails alone', () => {
  it('no such client or credit type, too fine a quantity, a future time: each failed by id, rest applied', async () => {
    const client = await freshClient();
    const items = [
      use(client.id, 'a-1', 10),
      use('fa-nobody', 'a-2', 1),
      use(client.id, 'a-3', 1, { credit_type: 'fa-gold' }),
      use(client.external_ref, 'a-4', '1.5'),
      use(client.id, 'a-5', 1, { occurred_at: '2026-05-05T09:00:00.000Z' }),
      use(client.id, 'a-6', 5),
    ];
    const res = await batch(items);
    expect(res.status, res.text).toBe(202);
    // in order, one per item: the good ones queued under their (client, key) ids; each bad one failed, under the id
    // its consumption would have had — of the client as named when there is no such client
    expect(res.body.data).toEqual([
      { id: consumptionId(client.id, 'a-1'), status: 'queued', idempotency_key: 'a-1' },
      {
        id: consumptionId('fa-nobody', 'a-2'),
        status: 'failed',
        idempotency_key: 'a-2',
        code: 'not_found',
        detail: 'no client "fa-nobody"',
      },
      {
        id: consumptionId(client.id, 'a-3'),
        status: 'failed',
        idempotency_key: 'a-3',
        code: 'not_found',
        detail: 'no credit type "fa-gold"',
      },
      {
        id: consumptionId(client.id, 'a-4'),
        status: 'failed',
        idempotency_key: 'a-4',
        code: 'validation_failed',
        detail: expect.stringMatching(/^quantity /),
      },
      {
        id: consumptionId(client.id, 'a-5'),
        status: 'failed',
        idempotency_key: 'a-5',
        code: 'validation_failed',
        detail: 'occurred_at is in the future',
      },
      { id: consumptionId(client.id, 'a-6'), status: 'queued', idempotency_key: 'a-6' },
    ]);
    // the batch job carries the two good uses only, and applies them: 100 − 10 − 5 = 85
    expect(await batchOutcome(app, res.body.batch_key)).toMatchObject({
      state: 'completed',
      value: { uses: 2, applied: 2, failed: [] },
    });
    expect(await remaining(client.id)).toBe('85');
    expect((await read(res.body.data[5].id)).body).toMatchObject({ status: 'applied', applied: '5', remaining: '85' });
    // each bad use reads by its id as it was answered; none is a consumption, none moved a balance
    for (const item of res.body.data.slice(1, 5)) {
      const got = await read(item.id);
      expect(got.status, got.text).toBe(200);
      expect(got.body).toEqual(item);
    }
    const stored = await app.database.db('consumptions').where({ client_id: client.id });
    expect(stored.map((c: { idempotency_key: string }) => c.idempotency_key).sort()).toEqual(['a-1', 'a-6']);
    // not a consumption of the list either (the list is of consumptions)
    const listed = await app.request('GET', `/v1/consumptions?client=${client.id}&idempotency_key=a-4`);
    expect(listed.body.data).toEqual([]);
  });

  it('?wait=true: 200 with each use in order — applied, failed, rejected (short), applied', async () => {
    const client = await freshClient();
    const res = await batch(
      [use(client.id, 'w-1', 10), use('fa-nobody', 'w-2'), use(client.id, 'w-3', 500), use(client.id, 'w-4', 5)],
      { wait: true },
    );
    expect(res.status, res.text).toBe(200);
    // 100 − 10 = 90; w-2 no such client; w-3 500 of 90: rejected, 410 short; 90 − 5 = 85
    expect(res.body.data.map((d: { status: string }) => d.status)).toEqual([
      'applied',
      'failed',
      'rejected',
      'applied',
    ]);
    expect(res.body.data[1]).toEqual({
      id: consumptionId('fa-nobody', 'w-2'),
      status: 'failed',
      idempotency_key: 'w-2',
      code: 'not_found',
      detail: 'no client "fa-nobody"',
    });
    expect(res.body.data[2]).toMatchObject({ code: 'insufficient_balance', shortfall: '410', remaining: '90' });
    expect(res.body.data[3]).toMatchObject({ idempotency_key: 'w-4', applied: '5', remaining: '85' });
    // each item is what its id reads, the failed one as the rejected one
    for (const item of res.body.data) expect((await read(item.id)).body).toMatchObject(item);
  });

  it('a batch of refused uses only is accepted with no job; sent again the same; its keys stay free', async () => {
    const client = await freshClient();
    const items = [use(client.id, 'f-1', '0.5'), use(client.id, 'f-2', 1, { credit_type: 'fa-none' })];
    const first = await batch(items, { wait: true, key: 'fa-only-bad' });
    expect(first.status, first.text).toBe(200);
    expect(first.body.data.map((d: { code: string }) => d.code)).toEqual(['validation_failed', 'not_found']);
    const jobs = await app.ctx.queues.consumption.getJobCounts();
    expect(await app.ctx.queues.consumption.getJob(`consume-batch|${first.body.batch_key}`)).toBeUndefined();
    // the same request under its Idempotency-Key: the same answer, nothing more
    const again = await batch(items, { wait: true, key: 'fa-only-bad' });
    expect(again.status, again.text).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(await app.ctx.queues.consumption.getJobCounts()).toEqual(jobs);
    // a failure binds no key: the use corrected under f-1 is applied (100 − 1 = 99), and its id reads the consumption
    const fixed = await app.request('POST', '/v1/consumptions?wait=true', {
      key: app.keys.write,
      body: use(client.id, 'f-1', 1),
    });
    expect(fixed.status, fixed.text).toBe(200);
    expect(fixed.body).toMatchObject({ id: first.body.data[0].id, status: 'applied', remaining: '99' });
    expect((await read(first.body.data[0].id)).body).toMatchObject({ status: 'applied', quantity: '1' });
    // …and the refused one sent again now names a key taken by another payload: 409, the whole request
    const reused = await batch([use(client.id, 'f-3', 1), use(client.id, 'f-1', '0.5')]);
    expect(reused.status, reused.text).toBe(409);
    expect(reused.body).toMatchObject({ code: 'idempotency_conflict' });
    expect((await read(consumptionId(client.id, 'f-3'))).status).toBe(404);
  });

  it('the typed producer fails the same use alone, with the same code and detail', async () => {
    const client = await freshClient();
    const producer = producerOnTheClock();
    try {
      const items = [use(client.id, 'p-1', 2), use('fa-nobody', 'p-2')];
      const [job] = await producer.consumeMany(items, { batchKey: `fa-${client.id}` });
      expect(await batchOutcome(app, `fa-${client.id}`)).toMatchObject({
        state: 'completed',
        value: {
          uses: 2,
          applied: 1,
          failed: [{ index: 1, idempotency_key: 'p-2', code: 'not_found', detail: 'no client "fa-nobody"' }],
        },
      });
      expect(job!.jobId).toBe(`consume-batch|fa-${client.id}`);
      const http = await batch([use(client.id, 'p-3', 2), use('fa-nobody', 'p-2')], { wait: true });
      expect(http.body.data[1]).toMatchObject({ code: 'not_found', detail: 'no client "fa-nobody"' });
      expect(await remaining(client.id)).toBe('96');
    } finally {
      await producer.close();
    }
  });
});

describe('a batch sent again under its Idempotency-Key', () => {
  it('answers its first answer after a use took the key of one it failed, or what failed it was mended', async () => {
    const client = await freshClient();
    const gold = `fk-gold-${client.id.slice(0, 8)}`;
    const items = [
      use(client.id, 'k-1', 2),
      use(client.id, 'k-2', '0.5'),
      use(client.id, 'k-3', 1, { credit_type: gold }),
    ];
    const first = await batch(items, { wait: true, key: `fk-${client.id}` });
    expect(first.status, first.text).toBe(200);
    expect(first.body.data.map((d: { status: string; code?: string }) => d.code ?? d.status)).toEqual([
      'applied',
      'validation_failed',
      'not_found',
    ]);
    const accepted = await countRows(app, 'accepted_jobs');
    // meanwhile a use takes k-2 (its key was left free), and the credit type k-3 named is made and used under k-3
    const taken = await app.request('POST', '/v1/consumptions?wait=true', {
      key: app.keys.write,
      body: use(client.id, 'k-2', 3),
    });
    expect(taken.status, taken.text).toBe(200);
    await createCreditType(app, { code: gold });
    const mended = await app.request('POST', '/v1/consumptions?wait=true', {
      key: app.keys.write,
      body: use(client.id, 'k-3', 1, { credit_type: gold }),
    });
    expect(mended.status, mended.text).toBe(422); // no gold held: a rejected consumption, the key taken
    const failuresBefore = await failures();
    // the same request again, waiting or not: its first answer — each use that failed at its door failed, as it was
    // answered then; the applied use as it reads; nothing recorded, nothing applied twice (100 − 2 − 3 = 95)
    const again = await batch(items, { wait: true, key: `fk-${client.id}` });
    expect(again.status, again.text).toBe(200);
    expect(again.body).toEqual(first.body);
    const unwaited = await batch(items, { key: `fk-${client.id}` });
    expect(unwaited.status, unwaited.text).toBe(202);
    expect(unwaited.body.data.slice(1)).toEqual(first.body.data.slice(1));
    expect(unwaited.body.data[0]).toEqual({ id: first.body.data[0].id, status: 'applied', idempotency_key: 'k-1' });
    expect(await failures()).toBe(failuresBefore);
    expect(await countRows(app, 'accepted_jobs')).toBe(accepted);
    expect(await remaining(client.id)).toBe('95');
    // and the ids read what was applied under them since
    expect((await read(first.body.data[1].id)).body).toMatchObject({ status: 'applied', quantity: '3' });
    // another body under the key is still another request: 409
    const other = await batch([use(client.id, 'k-1', 2)], { key: `fk-${client.id}` });
    expect(other.status, other.text).toBe(409);
    expect(other.body).toMatchObject({ code: 'idempotency_conflict' });
  });
});

describe('two requests at once under one Idempotency-Key', () => {
  it('the second, meeting the key bound and not yet answered, is refused as the first is: 409', async () => {
    // The first request binds the key, finds that a use it refuses names a key a consumption has, and answers 409
    // (unbinding the key). The second, sent meanwhile (a client's retry on a timeout), met the key bound with nothing
    // noted beside it yet: taken for a repeat, it skipped that check, answered 202 and had its other use applied —
    // the same request answered two ways, a use applied behind a 409 that says nothing was recorded. Made to stand
    // still here: the consumptions table is locked while both wait to read it.
    const client = await freshClient();
    const taken = await app.request('POST', '/v1/consumptions?wait=true', {
      key: app.keys.write,
      body: use(client.id, 'rr-2', 3),
    });
    expect(taken.status, taken.text).toBe(200);
    const items = [use(client.id, 'rr-1', 2), use(client.id, 'rr-2', '0.5')];
    const key = `rr-${client.id}`;
    const lock = await app.database.db.transaction();
    let first: ReturnType<typeof batch>;
    let second: ReturnType<typeof batch>;
    try {
      await lock.raw('LOCK TABLE consumptions IN ACCESS EXCLUSIVE MODE');
      first = batch(items, { key });
      await untilWaitingForLocks(app.database.db, 1, { about: 'consumptions' });
      second = batch(items, { key });
      await untilWaitingForLocks(app.database.db, 2, { about: 'consumptions' });
    } finally {
      await lock.rollback();
    }
    const answers = await Promise.all([first!, second!]);
    expect(answers.map((res) => [res.status, res.body.code])).toEqual([
      [409, 'idempotency_conflict'],
      [409, 'idempotency_conflict'],
    ]);
    expect((await read(consumptionId(client.id, 'rr-1'))).status).toBe(404);
    expect(await remaining(client.id)).toBe('97');
  });
});

describe('what still refuses the whole request', () => {
  it('a malformed use, too many, no items, one key with two payloads: 422 / 409, nothing recorded', async () => {
    const client = await freshClient();
    const before = { failures: await failures(), accepted: await countRows(app, 'accepted_jobs') };
    // the schema: a quantity below zero is wrong whatever the database holds — named, the request refused
    const negative = await batch([use('fa-nobody', 'm-1'), use(client.id, 'm-2', -1)]);
    expect(negative.status, negative.text).toBe(422);
    expect(negative.body).toMatchObject({ code: 'validation_failed', errors: [{ field: 'items.1.quantity' }] });
    const missing = await batch([use(client.id, 'm-3'), { client: client.id, credit_type: sms.code, quantity: 1 }]);
    expect(missing.status).toBe(422);
    expect(missing.body.errors).toEqual([expect.objectContaining({ field: 'items.1.idempotency_key' })]);
    expect((await batch([])).status).toBe(422);
    const many = Array.from({ length: 1_001 }, (_, i) => use(client.id, `m-many-${i}`));
    expect((await batch(many)).status).toBe(422);
    // one (client, key) twice with two payloads — one of them refused, or both — is a key reused: 409
    const split = await batch([use(client.id, 'm-4', 1), use(client.id, 'm-4', '1.5')]);
    expect(split.status, split.text).toBe(409);
    expect(split.body).toMatchObject({ code: 'idempotency_conflict' });
    const bothBad = await batch([use('fa-nobody', 'm-5', 1), use('fa-nobody', 'm-5', 2)]);
    expect(bothBad.status, bothBad.text).toBe(409);
    // the same refused use twice is one use, failed once (by id or by external_ref, one client)
    const twice = await batch([use(client.id, 'm-6', '0.5'), use(client.external_ref, 'm-6', '0.5')]);
    expect(twice.status, twice.text).toBe(202);
    expect(twice.body.data[0]).toEqual(twice.body.data[1]);
    expect(await failures()).toBe(before.failures + 1);
    expect(await countRows(app, 'accepted_jobs')).toBe(before.accepted);
    expect(await remaining(client.id)).toBe('100');
  });
});

describe('a use the worker refuses fails alone too, readable by id', () => {
  const failedAt = async (id: string) =>
    ((await app.database.db('consumption_failures').where({ id }).first('failed_at')) as { failed_at: Date }).failed_at;

  it("a producer's consumeMany: the others applied, each bad one read as failed; again: nothing twice", async () => {
    const client = await freshClient();
    const producer = producerOnTheClock();
    try {
      const good = use(client.id, 'wk-1', 2);
      const bad = [
        use('fw-nobody', 'wk-2'),
        use(client.external_ref, 'wk-3', 1, { credit_type: 'fw-gold' }),
        use(client.id, 'wk-4', '0.5'),
        use(client.id, 'wk-5', 1, { occurred_at: '2026-05-05T09:00:00.000Z' }),
      ];
      const before = await failures();
      await producer.consumeMany([good, ...bad], { batchKey: `fw-${client.id}` });
      const outcome = await batchOutcome(app, `fw-${client.id}`);
      expect(outcome).toMatchObject({ state: 'completed', value: { uses: 5, applied: 1 } });
      const failed = outcome.state === 'completed' ? outcome.value.failed : [];
      expect(failed.map((f) => [f.index, f.code])).toEqual([
        [1, 'not_found'],
        [2, 'not_found'],
        [3, 'validation_failed'],
        [4, 'validation_failed'],
      ]);
      // each bad use reads by the id its consumption would have had — of the client as named when there is none
      const ids = [
        consumptionId('fw-nobody', 'wk-2'),
        consumptionId(client.id, 'wk-3'),
        consumptionId(client.id, 'wk-4'),
        consumptionId(client.id, 'wk-5'),
      ];
      for (const [i, id] of ids.entries()) {
        const got = await read(id);
        expect(got.status, got.text).toBe(200);
        expect(got.body).toEqual({
          id,
          status: 'failed',
          idempotency_key: bad[i]!.idempotency_key,
          code: failed[i]!.code,
          detail: failed[i]!.detail,
        });
      }
      expect((await read(consumptionId(client.id, 'wk-1'))).body).toMatchObject({ status: 'applied', applied: '2' });
      expect(await failures()).toBe(before + 4);
      expect(await remaining(client.id)).toBe('98');
      const first = await failedAt(ids[0]!);

      // sent again, later, in another batch job: the good use replayed, the bad ones failed again — nothing twice
      app.clock.advance(60_000);
      const entries = await countRows(app, 'ledger_entries');
      await producer.consumeMany([good, ...bad], { batchKey: `fw-again-${client.id}` });
      expect(await batchOutcome(app, `fw-again-${client.id}`)).toMatchObject({
        state: 'completed',
        value: { uses: 5, applied: 0, replayed: 1, failed: failed.map((f) => ({ index: f.index, code: f.code })) },
      });
      // …and one of them again on its own, as a `consume` job: it fails for good, its record unmoved
      const single = await producer.consume(bad[1]!);
      const alone = await awaitOutcome(app.ctx, 'consume', single.jobId, { timeoutMs: 30_000 });
      expect(alone).toMatchObject({ state: 'failed', failure: { code: 'not_found' } });
      expect(await failures()).toBe(before + 4);
      expect(await failedAt(ids[0]!)).toEqual(first);
      expect(await countRows(app, 'ledger_entries')).toBe(entries);
      expect(await remaining(client.id)).toBe('98');

      // corrected and sent again under the same keys: the consumptions win, GET answers them
      await producer.consumeMany([use(client.id, 'wk-3', 1), use(client.id, 'wk-4', 1), use(client.id, 'wk-5', 1)], {
        batchKey: `fw-fixed-${client.id}`,
      });
      expect(await batchOutcome(app, `fw-fixed-${client.id}`)).toMatchObject({
        state: 'completed',
        value: { uses: 3, applied: 3, failed: [] },
      });
      for (const id of ids.slice(1)) expect((await read(id)).body).toMatchObject({ id, status: 'applied' });
      expect(await remaining(client.id)).toBe('95');
      // the one whose client does not exist still reads as it failed
      expect((await read(ids[0]!)).body).toMatchObject({ status: 'failed', code: 'not_found' });
    } finally {
      app.clock.set(NOW);
      await producer.close();
    }
  });

  it("a producer's consume refused by the worker: failed by id; corrected through the API, applied", async () => {
    const client = await freshClient();
    const producer = producerOnTheClock();
    const id = consumptionId(client.id, 'ws-1');
    try {
      const job = await producer.consume(use(client.external_ref, 'ws-1', 1, { credit_type: 'fw-silver' }));
      expect(await awaitOutcome(app.ctx, 'consume', job.jobId, { timeoutMs: 30_000 })).toMatchObject({
        state: 'failed',
        failure: { code: 'not_found', detail: 'no credit type "fw-silver"' },
      });
      expect((await read(id)).body).toEqual({
        id,
        status: 'failed',
        idempotency_key: 'ws-1',
        code: 'not_found',
        detail: 'no credit type "fw-silver"',
      });
    } finally {
      await producer.close();
    }
    // a failure binds no key: the use corrected under it is applied, and its id reads the consumption
    const fixed = await app.request('POST', '/v1/consumptions?wait=true', {
      key: app.keys.write,
      body: use(client.id, 'ws-1', 3),
    });
    expect(fixed.status, fixed.text).toBe(200);
    expect(fixed.body).toMatchObject({ id, status: 'applied', remaining: '97' });
    expect((await read(id)).body).toMatchObject({ id, status: 'applied', quantity: '3' });
  });

  it("a producer's consume refused by the worker, corrected by the producer under the same key: applied", async () => {
    const client = await freshClient();
    const producer = producerOnTheClock();
    const id = consumptionId(client.id, 'ws-2');
    try {
      const refused = await producer.consume(use(client.id, 'ws-2', 1, { credit_type: 'fw-silver' }));
      expect(await awaitOutcome(app.ctx, 'consume', refused.jobId, { timeoutMs: 30_000 })).toMatchObject({
        state: 'failed',
        failure: { code: 'not_found' },
      });
      // the same job id (the client and key name it): the failed job, which changed nothing, is replaced
      const fixed = await producer.consume(use(client.id, 'ws-2', 4));
      expect(fixed.jobId).toBe(refused.jobId);
      expect(await awaitOutcome(app.ctx, 'consume', fixed.jobId, { timeoutMs: 30_000 })).toMatchObject({
        state: 'completed',
      });
      expect((await read(id)).body).toMatchObject({ id, status: 'applied', quantity: '4', remaining: '96' });
      // applied now: another payload under the key is a conflict, as before
      await expect(producer.consume(use(client.id, 'ws-2', 5))).rejects.toThrow(/conflict|another payload/i);
    } finally {
      await producer.close();
    }
  });
});

describe("a use the worker refused, named by the client's id as the API names it", () => {
  it('is corrected through the API under the same key: applied, not 409 (the failure left the key free)', async () => {
    const client = await freshClient();
    const producer = producerOnTheClock();
    const id = consumptionId(client.id, 'wf-1');
    try {
      // the producer names the client by id: its job id is the one the API's use of that key has
      const refused = await producer.consume(use(client.id, 'wf-1', 1, { credit_type: 'wf-silver' }));
      expect(await awaitOutcome(app.ctx, 'consume', refused.jobId, { timeoutMs: 30_000 })).toMatchObject({
        state: 'failed',
        failure: { code: 'not_found' },
      });
      expect((await read(id)).body).toMatchObject({ id, status: 'failed', code: 'not_found' });
    } finally {
      await producer.close();
    }
    // README: "a failure leaves the key free: the consumption is then read" — Redis still holds the failed job under
    // that id (7 days), with the refused payload
    const fixed = await app.request('POST', '/v1/consumptions?wait=true', {
      key: app.keys.write,
      body: use(client.id, 'wf-1', 3),
    });
    expect(fixed.status, fixed.text).toBe(200);
    expect(fixed.body).toMatchObject({ id, status: 'applied', remaining: '97' });
    expect((await read(id)).body).toMatchObject({ id, status: 'applied', quantity: '3' });
  });

  it('is corrected in a batch under the same key: applied, not 409', async () => {
    const client = await freshClient();
    const producer = producerOnTheClock();
    const id = consumptionId(client.id, 'wf-2');
    try {
      const refused = await producer.consume(use(client.id, 'wf-2', '0.5'));
      expect(await awaitOutcome(app.ctx, 'consume', refused.jobId, { timeoutMs: 30_000 })).toMatchObject({
        state: 'failed',
        failure: { code: 'validation_failed' },
      });
    } finally {
      await producer.close();
    }
    const fixed = await batch([use(client.id, 'wf-2', 4), use(client.id, 'wf-3', 1)], { wait: true });
    expect(fixed.status, fixed.text).toBe(200);
    expect(fixed.body.data.map((d: { status: string }) => d.status)).toEqual(['applied', 'applied']);
    expect((await read(id)).body).toMatchObject({ id, status: 'applied', quantity: '4' });
    expect(await remaining(client.id)).toBe('95');
  });
});

describe('two refused uses under one (client, key) are compared as accepted ones are', () => {
  it('by their fingerprint, not their JSON text: 1, "1" and "1.0" are one quantity, one failed use', async () => {
    const client = await freshClient();
    const before = await failures();
    const metadata = { a: 1, b: 'x' };
    const res = await batch([
      use('fa-nobody', 'c-1', 1, { metadata, occurred_at: '2026-05-04T08:00:00Z' }),
      use('fa-nobody', 'c-1', '1', { metadata: { b: 'x', a: 1 }, occurred_at: '2026-05-04T10:00:00.000+02:00' }),
      use('fa-nobody', 'c-1', '1.0', { metadata, occurred_at: '2026-05-04T08:00:00.000Z', mode: 'reject' }),
      // too fine for whole messages, by id and by external_ref: one client, one quantity
      use(client.id, 'c-2', 1.5),
      use(client.external_ref, 'c-2', '1.50', { credit_type: sms.id }),
      use(client.id, 'c-3', 2),
    ]);
    expect(res.status, res.text).toBe(202);
    const [a, b, c, d, e] = res.body.data;
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    expect(a).toMatchObject({ id: consumptionId('fa-nobody', 'c-1'), status: 'failed', code: 'not_found' });
    expect(e).toEqual(d);
    expect(d).toMatchObject({ id: consumptionId(client.id, 'c-2'), status: 'failed', code: 'validation_failed' });
    expect(await failures()).toBe(before + 2);
    // what tells two payloads apart still does: another quantity, another time, another reference
    for (const other of [
      { quantity: 2 },
      { occurred_at: '2026-05-04T08:00:01Z' },
      { reference: 'r-1' },
      { mode: 'partial' },
    ]) {
      const split = await batch([use('fa-nobody', 'c-4', 1), use('fa-nobody', 'c-4', 1, other)]);
      expect(split.status, `${JSON.stringify(other)}: ${split.text}`).toBe(409);
      expect(split.body).toMatchObject({ code: 'idempotency_conflict' });
    }
    expect(await failures()).toBe(before + 2);
  });
});

describe('how long a failure stays readable', () => {
  it('the nightly cleanup forgets it after 7 days, as failed jobs are', async () => {
    const res = await batch([use('fa-late', 'l-1')]);
    expect(res.status, res.text).toBe(202);
    const id = res.body.data[0].id;
    const soon = await cleanup(app.ctx, new Date(Date.parse(NOW) + 6 * 86_400_000));
    expect(soon.ok && soon.value.consumption_failures).toBe(0);
    expect((await read(id)).body).toMatchObject({ status: 'failed', code: 'not_found' });
    const later = await cleanup(app.ctx, new Date(Date.parse(NOW) + 8 * 86_400_000));
    expect(later.ok && later.value.consumption_failures).toBeGreaterThan(0);
    expect((await read(id)).status).toBe(404);
  });
});
