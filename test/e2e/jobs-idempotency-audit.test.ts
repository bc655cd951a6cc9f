import { type Job, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import { consumptionId } from '../../src/ids.js';
import { jobIdOf } from '../../src/jobs/definitions.js';
import { CreditsProducer } from '../../src/producer/index.js';
import { createRedis } from '../../src/queue/redis.js';
import { verifyInvariants } from '../../src/services/verify.js';
import { queueProcessor } from '../../src/workers/queue-processor.js';
import { type Sibling, startSibling, startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/**
 * Exactly once across the two doors into the queues: HTTP (which records a request in Postgres before it enqueues)
 * and the typed producer (which only enqueues, and reads back what Redis holds under its job id). The same request
 * through either door, twice, or through both, is applied once; another payload under a key is refused where the
 * caller can see it (a 409, a ProducerConflictError, or the job failing with idempotency_conflict).
 *
 * The cast (BUSINESS_TZ UTC): credit type `ja-sms` (decimals 0) and `ja-kwh` (decimals 2); package `pkg` of 100 sms
 * and 10 kWh, recharge_price 500. Each test makes its own clients. The app runs the API alone; a worker runs in a
 * sibling the tests start and stop (`working`), so that a job can be held queued while the other door is tried.
 */
let app: TestApp;
let producer: CreditsProducer;
let worker: Sibling | undefined;
let pkg: { code: string };
let smsId = '';
const SMS = 'ja-sms';
const KWH = 'ja-kwh';

beforeAll(async () => {
  app = await startTestApp({ roles: ['api'], now: '2026-07-01T09:00:00.000Z', env: { WAIT_TIMEOUT_MS: '20000' } });
  smsId = (await createCreditType(app, { code: SMS })).id;
  await createCreditType(app, { code: KWH, unit: 'kWh', decimals: 2 });
  pkg = await createPackage(
    app,
    [
      { credit_type: SMS, units: 100 },
      { credit_type: KWH, units: 10 },
    ],
    { recharge_price: 500 },
  );
  producer = new CreditsProducer({ connection: app.ctx.redisUrl, prefix: app.prefix, now: () => app.clock.now() });
});
afterAll(async () => {
  await worker?.stop();
  await producer.close();
  const report = await verifyInvariants(app.database.db);
  expect(report.violations).toEqual([]);
  await app.close();
});

const working = async () => {
  worker ??= await startSibling(app, ['worker']);
};
const idle = async () => {
  await worker?.stop();
  worker = undefined;
};
/** A use (or a hold) of SMS units: the body both doors take. */
const sms = (client: string, quantity: number | string, idempotencyKey: string) => ({
  client,
  credit_type: SMS,
  quantity,
  idempotency_key: idempotencyKey,
});
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  app.request('POST', path, { key: app.keys.write, body, headers });
/**
 * Until each request is answered or its accepted row is written under its job id — the API has recorded it and
 * met or added its job — so that the workers started next find both doors' jobs queued (no fixed sleep).
 */
const untilAdmitted = async (answers: ReadonlyArray<Promise<unknown>>, jobIds: readonly string[]) => {
  const settled = answers.map(() => false);
  answers.forEach((a, i) => {
    const done = () => {
      settled[i] = true;
    };
    a.then(done, done);
  });
  const admitted = async (i: number) =>
    settled[i] || (await app.database.db('accepted_jobs').where({ job_id: jobIds[i] }).first()) !== undefined;
  await expect
    .poll(async () => (await Promise.all(answers.map((_, i) => admitted(i)))).every(Boolean), { interval: 10 })
    .toBe(true);
};
const outcome = <N extends Parameters<typeof awaitOutcome>[1]>(name: N, jobId: string) =>
  awaitOutcome(app.ctx, name, jobId, { timeoutMs: 20_000 });

async function customer() {
  const client = await createClient(app);
  const sub = await subscribe(app, client.id, pkg.code);
  return { ...client, sub };
}
const remaining = async (clientId: string, code = SMS) => {
  const res = await app.request('GET', `/v1/clients/${clientId}/balances`, { key: app.keys.read });
  expect(res.status, res.text).toBe(200);
  return res.body.data.find((r: { credit_type: { code: string } }) => r.credit_type.code === code)?.remaining;
};
const ledger = (consumption: string) => app.database.db('ledger_entries').where({ consumption_id: consumption });

describe('1. a consumption through both doors', () => {
  it('HTTP first, then the producer by external_ref and by id: one consumption, repeats replayed', async () => {
    await working();
    const c = await customer();
    const use = { credit_type: SMS, quantity: 7, idempotency_key: 'both-1' };
    const http = await post('/v1/consumptions?wait=true', { ...use, client: c.external_ref });
    expect(http.status, http.text).toBe(200);
    expect(http.body).toMatchObject({ status: 'applied', applied: '7', replayed: false });

    // by external_ref: another job id (the client as named), the same consumption — a repeat
    const byRef = await producer.consume({ ...use, client: c.external_ref });
    expect(await outcome('consume', byRef.jobId)).toMatchObject({
      state: 'completed',
      value: { id: http.body.id, applied: '7', replayed: true },
    });
    // by id: the job id the API used; Redis still holds that job (completed), with the same payload
    const byId = await producer.consume({ ...use, client: c.id });
    expect(byId.jobId).toBe(jobIdOf('consume', { ...use, client: c.id }));
    // 100 − 7 = 93, once
    expect(await remaining(c.id)).toBe('93');
    expect(await ledger(consumptionId(c.id, 'both-1'))).toHaveLength(1);
  });

  it('HTTP first, then the producer with another payload: refused where the caller sees it', async () => {
    await working();
    const c = await customer();
    const use = { credit_type: SMS, quantity: 2, idempotency_key: 'both-2' };
    const http = await post('/v1/consumptions?wait=true', { ...use, client: c.id });
    expect(http.status, http.text).toBe(200);
    // the same job id, another quantity: ProducerConflictError (Redis holds the API's job)
    await expect(producer.consume({ ...use, quantity: 3, client: c.id })).rejects.toMatchObject({
      name: 'ProducerConflictError',
    });
    // by external_ref: a job of its own, which the worker fails with idempotency_conflict
    const byRef = await producer.consume({ ...use, quantity: 3, client: c.external_ref });
    expect(await outcome('consume', byRef.jobId)).toMatchObject({
      state: 'failed',
      failure: { code: 'idempotency_conflict' },
    });
    // 100 − 2 = 98
    expect(await remaining(c.id)).toBe('98');
  });

  it('the producer first (job still queued), then HTTP with another payload: 409, not 202', async () => {
    await idle();
    const c = await customer();
    const use = { credit_type: SMS, quantity: 4, idempotency_key: 'both-3' };
    const queued = await producer.consume({ ...use, client: c.id });
    // the API names the client by id: its job id is the producer's, which Redis holds with quantity 4 — the
    // other payload would never reach a worker (BullMQ keeps the job it holds): 409, and nothing left recorded
    const other = await post('/v1/consumptions', { ...use, quantity: 9, client: c.id });
    expect(other.status, other.text).toBe(409);
    expect(other.body).toMatchObject({ code: 'idempotency_conflict' });
    expect(await app.database.db('accepted_jobs').where({ job_id: queued.jobId })).toHaveLength(0);
    // the producer's payload over HTTP (the client named either way): accepted, the same job
    const same = await post('/v1/consumptions', { ...use, client: c.external_ref });
    expect(same.status, same.text).toBe(202);
    await working();
    const applied = await outcome('consume', queued.jobId);
    expect(applied).toMatchObject({ state: 'completed', value: { applied: '4' } });
    // 100 − 4 = 96
    expect(await remaining(c.id)).toBe('96');
    expect(await app.database.db('accepted_jobs').where({ job_id: queued.jobId })).toHaveLength(0);
  });

  it('the producer first (queued), then HTTP ?wait=true with another payload: never the other use’s 200', async () => {
    await idle();
    const c = await customer();
    const use = { credit_type: SMS, quantity: 5, idempotency_key: 'both-4' };
    const queued = await producer.consume({ ...use, client: c.id });
    const waiting = post('/v1/consumptions?wait=true', { ...use, quantity: 6, client: c.id });
    await untilAdmitted([waiting], [queued.jobId]);
    await working();
    const res = await waiting;
    // it was answered the producer's use (5 applied, replayed false) as if it were its own 6
    expect(res.status, res.text).toBe(409);
    expect(await outcome('consume', queued.jobId)).toMatchObject({ state: 'completed', value: { applied: '5' } });
    // 100 − 5 = 95
    expect(await remaining(c.id)).toBe('95');
  });

  it('the producer first (queued), then HTTP with another payload among many uses at once: 409 too', async () => {
    await idle();
    const c = await customer();
    const use = { client: c.id, credit_type: SMS, quantity: 4, idempotency_key: 'carried' };
    const queued = await producer.consume(use);
    // uses that nobody waits for, arriving together, travel in one consume-batch carrier under a job id of its
    // own: the other payload's key is not that id, and Redis holds the producer's job under it all the same
    const fillers = (prefix: string) =>
      Array.from({ length: 10 }, (_, i) =>
        post('/v1/consumptions', { ...use, idempotency_key: `${prefix}-${i}`, quantity: 1 }),
      );
    const answers = await Promise.all([
      ...fillers('f'),
      post('/v1/consumptions', { ...use, quantity: 9 }),
      ...fillers('g'),
    ]);
    expect(answers[10]!.status, answers[10]!.text).toBe(409);
    expect(answers.filter((a) => a.status === 202)).toHaveLength(20);
    await working();
    expect(await outcome('consume', queued.jobId)).toMatchObject({ state: 'completed', value: { applied: '4' } });
    await expect.poll(async () => (await app.database.db('consumptions').where({ client_id: c.id })).length).toBe(21);
    const rows = await app.database.db('consumptions').where({ client_id: c.id });
    expect(rows.find((r) => r.idempotency_key === 'carried')?.quantity).toBe(4n);
    // 100 − 4 − 20 × 1 = 76
    await expect.poll(() => remaining(c.id)).toBe('76');
  });

  it('the producer first (queued), then the same use over HTTP ?wait=true: answered as a repeat', async () => {
    await idle();
    const c = await customer();
    const use = { client: c.id, credit_type: SMS, quantity: 3, idempotency_key: 'both-5' };
    const queued = await producer.consume(use);
    // the API's request is accepted a second later: its accepted_at, so its job's text, is not the producer's
    app.clock.advance(1_000);
    const waiting = post('/v1/consumptions?wait=true', use);
    await untilAdmitted([waiting], [queued.jobId]);
    await working();
    const res = await waiting;
    expect(res.status, res.text).toBe(200);
    expect(await outcome('consume', queued.jobId)).toMatchObject({ state: 'completed', value: { replayed: false } });
    // the producer's request was the first: the API's, which met its job, repeats it (replayed-flag.test.ts)
    expect(res.body).toMatchObject({ applied: '3', replayed: true });
    expect(await remaining(c.id)).toBe('97');
  });

  it('the producer by external_ref (queued), HTTP by id with another payload: one applied, one 409s', async () => {
    await idle();
    const c = await customer();
    const use = { credit_type: SMS, quantity: 2, idempotency_key: 'both-6' };
    // two job ids (the client named two ways): neither door can see the other's job; the worker decides
    const queued = await producer.consume({ ...use, client: c.external_ref });
    const waiting = post('/v1/consumptions?wait=true', { ...use, quantity: 8, client: c.id });
    await untilAdmitted([waiting], [jobIdOf('consume', { ...use, client: c.id })]);
    await working();
    const [res, job] = await Promise.all([waiting, outcome('consume', queued.jobId)]);
    const answers = [res.status === 200 ? 'applied' : res.body.code, job.state === 'completed' ? 'applied' : ''];
    if (job.state === 'failed') answers[1] = job.failure.code;
    expect(answers.sort()).toEqual(['applied', 'idempotency_conflict']);
    // 100 − 2 or 100 − 8, once
    expect(['98', '92']).toContain(await remaining(c.id));
    expect(await ledger(consumptionId(c.id, 'both-6'))).toHaveLength(1);
  });

  it('the producer first (queued), then the same use written otherwise over HTTP: a repeat, no conflict', async () => {
    await idle();
    const c = await customer();
    // the producer names the credit type by id and the quantity as a number; the API's caller by code, as a string
    const queued = await producer.consume({ client: c.id, credit_type: smsId, quantity: 3, idempotency_key: 'both-7' });
    const waiting = post('/v1/consumptions?wait=true', sms(c.external_ref, '3', 'both-7'));
    await untilAdmitted([waiting], [queued.jobId]);
    await working();
    const res = await waiting;
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ applied: '3', replayed: true });
    expect(await outcome('consume', queued.jobId)).toMatchObject({ state: 'completed', value: { replayed: false } });
    expect(await remaining(c.id)).toBe('97');
  });

  it('an HTTP repeat of a pending use whose job id a producer’s job of another payload took since: 409', async () => {
    await idle();
    const c = await customer();
    const use = { client: c.id, credit_type: SMS, quantity: 2, idempotency_key: 'both-8' };
    const first = await post('/v1/consumptions', use);
    expect(first.status, first.text).toBe(202);
    const jobId = jobIdOf('consume', use);
    // Redis loses the API's job (its row stays pending, for the relay), and a producer's job of another payload
    // takes its id meanwhile: the producer's read-back finds nothing there to refuse
    await app.ctx.queues.consumption.remove(jobId);
    await producer.consume({ ...use, quantity: 5 });
    // the API's caller repeats its request: its row is pending, but the job under its id is not its request
    const repeat = await post('/v1/consumptions', use);
    expect(repeat.status, repeat.text).toBe(409);
    await working();
    expect(await outcome('consume', jobId)).toMatchObject({ state: 'completed', value: { applied: '5' } });
    // 100 − 5
    expect(await remaining(c.id)).toBe('95');
  });

  it('the producer first (queued), then POST /v1/consumptions/batch with another payload for a use: 409', async () => {
    await idle();
    const c = await customer();
    const use = { client: c.id, credit_type: SMS, quantity: 4, idempotency_key: 'both-9' };
    const queued = await producer.consume(use);
    const items = [
      { ...use, quantity: 9 },
      { ...use, idempotency_key: 'both-9b', quantity: 1 },
    ];
    const batch = await post('/v1/consumptions/batch', { items }, { 'idempotency-key': `batch-${c.id}` });
    // all or nothing: neither use recorded
    expect(batch.status, batch.text).toBe(409);
    expect(await app.database.db('accepted_jobs').where('job_id', 'like', `consume|${c.id}|%`)).toEqual([]);
    // corrected, under the same Idempotency-Key (the refused request unbound it): the other use alone is accepted
    const again = await post('/v1/consumptions/batch', { items: [items[1]] }, { 'idempotency-key': `batch-${c.id}` });
    expect(again.status, again.text).toBe(202);
    await working();
    expect(await outcome('consume', queued.jobId)).toMatchObject({ state: 'completed', value: { applied: '4' } });
    // 100 − 4 − 1
    await expect.poll(() => remaining(c.id)).toBe('95');
  });

  it('consumeMany after single uses: a use repeated is replayed, one under another payload fails alone', async () => {
    await working();
    const c = await customer();
    const one = { client: c.external_ref, credit_type: SMS, quantity: 1, idempotency_key: 'many-1' };
    const first = await producer.consume(one);
    expect(await outcome('consume', first.jobId)).toMatchObject({ state: 'completed' });
    const [batch] = await producer.consumeMany(
      [one, { ...one, idempotency_key: 'many-2', quantity: 2 }, { ...one, idempotency_key: 'many-1', quantity: 5 }],
      { batchKey: `many-${c.id}` },
    );
    const done = await outcome('consume-batch', batch!.jobId);
    expect(done).toMatchObject({
      state: 'completed',
      value: { uses: 3, applied: 1, replayed: 1, failed: [{ index: 2, code: 'idempotency_conflict' }] },
    });
    // 100 − 1 − 2 = 97
    expect(await remaining(c.id)).toBe('97');
  });
});

describe('2. reversals', () => {
  it('twice through the producer, then over HTTP: one reversal, one set of ledger entries', async () => {
    await working();
    const c = await customer();
    const used = await post('/v1/consumptions?wait=true', sms(c.id, 10, 'rev-1'));
    expect(used.status, used.text).toBe(200);
    const first = await producer.reverse({ consumption_id: used.body.id });
    const again = await producer.reverse({ consumption_id: used.body.id });
    expect(again).toEqual(first);
    expect(await outcome('reverse', first.jobId)).toMatchObject({ state: 'completed' });
    const http = await post(`/v1/consumptions/${used.body.id}/reverse?wait=true`, {});
    expect(http.status, http.text).toBe(200);
    expect(http.body).toMatchObject({ replayed: true });
    // 100 − 10 + 10 = 100
    expect(await remaining(c.id)).toBe('100');
    const entries = await ledger(used.body.id);
    expect(entries.map((e) => e.kind).sort()).toEqual(['consume', 'reverse']);
  });

  it('over HTTP, then through the producer with a reason: reversed once', async () => {
    await working();
    const c = await customer();
    const used = await post('/v1/consumptions?wait=true', sms(c.id, 3, 'rev-2'));
    const http = await post(`/v1/consumptions/${used.body.id}/reverse?wait=true`, { reason: 'typo' });
    expect(http.status, http.text).toBe(200);
    expect(http.body).toMatchObject({ replayed: false });
    // Redis holds the API's job: the same reason is the same request
    await expect(producer.reverse({ consumption_id: used.body.id, reason: 'typo' })).resolves.toMatchObject({
      jobId: jobIdOf('reverse', { consumption_id: used.body.id }),
    });
    expect(await remaining(c.id)).toBe('100');
    expect((await ledger(used.body.id)).filter((e) => e.kind === 'reverse')).toHaveLength(1);
  });

  it('of a rejected consumption: refused through both doors; of a partial one: what it took comes back', async () => {
    await working();
    const c = await customer();
    const rejected = await post('/v1/consumptions?wait=true', sms(c.id, 500, 'rev-3'));
    expect(rejected.status, rejected.text).toBe(422);
    const id = consumptionId(c.id, 'rev-3');
    expect((await post(`/v1/consumptions/${id}/reverse`, {})).status).toBe(409);
    const job = await producer.reverse({ consumption_id: id });
    expect(await outcome('reverse', job.jobId)).toMatchObject({ state: 'failed', failure: { code: 'conflict' } });

    // partial: 120 asked, 100 there → applied 100; its reversal gives back 100
    const partial = await post('/v1/consumptions?wait=true', {
      client: c.id,
      credit_type: SMS,
      quantity: 120,
      idempotency_key: 'rev-4',
      mode: 'partial',
    });
    expect(partial.body).toMatchObject({ status: 'partial', applied: '100', shortfall: '20' });
    expect(await remaining(c.id)).toBe('0');
    const back = await producer.reverse({ consumption_id: partial.body.id });
    expect(await outcome('reverse', back.jobId)).toMatchObject({ state: 'completed' });
    expect(await remaining(c.id)).toBe('100');
  });

  it('of a consumption captured from a hold: the captured units come back once', async () => {
    await working();
    const c = await customer();
    const held = await producer.hold({ client: c.id, credit_type: SMS, quantity: 8, idempotency_key: 'h-1' });
    const hold = await outcome('hold', held.jobId);
    expect(hold).toMatchObject({ state: 'completed' });
    const holdId = (hold as { value: { id: string } }).value.id;
    // capture 5 of 8: 3 released
    const captured = await post(`/v1/holds/${holdId}/capture?wait=true`, { quantity: 5 });
    expect(captured.status, captured.text).toBe(200);
    const again = await producer.capture({ hold_id: holdId, quantity: 5 });
    expect(await outcome('capture', again.jobId)).toMatchObject({ state: 'completed' });
    expect(await remaining(c.id)).toBe('95');
    const consumption = captured.body.consumption.id;
    const [r1, r2] = await Promise.all([
      producer.reverse({ consumption_id: consumption }),
      post(`/v1/consumptions/${consumption}/reverse?wait=true`, {}),
    ]);
    expect(await outcome('reverse', r1.jobId)).toMatchObject({ state: 'completed' });
    expect(r2.status, r2.text).toBe(200);
    // 95 + 5 = 100
    expect(await remaining(c.id)).toBe('100');
    expect((await ledger(consumption)).filter((e) => e.kind === 'reverse')).toHaveLength(1);
  });
  it('asked through both doors while the producer’s job waits: the API’s request is settled by that job', async () => {
    await working();
    const c = await customer();
    const used = await post('/v1/consumptions?wait=true', sms(c.id, 9, 'rev-5'));
    const held = await post('/v1/holds?wait=true', sms(c.id, 4, 'h-2'));
    const other = await post('/v1/holds?wait=true', sms(c.id, 2, 'h-3'));
    expect([used.status, held.status, other.status]).toEqual([200, 200, 200]);
    await idle();
    // the producer's jobs first, queued; then the same requests over HTTP: one job each, the producer's
    const jobs = [
      await producer.reverse({ consumption_id: used.body.id }),
      await producer.capture({ hold_id: held.body.id }),
      await producer.release({ hold_id: other.body.id }),
    ];
    const http = [
      post(`/v1/consumptions/${used.body.id}/reverse`, {}),
      post(`/v1/holds/${held.body.id}/capture`, {}),
      post(`/v1/holds/${other.body.id}/release`, {}),
    ];
    await untilAdmitted(
      http,
      jobs.map((j) => j.jobId),
    );
    await working();
    expect((await Promise.all(http)).map((res) => res.status)).toEqual([202, 200, 200]);
    for (const [name, job] of [
      ['reverse', jobs[0]!],
      ['capture', jobs[1]!],
      ['release', jobs[2]!],
    ] as const)
      expect(await outcome(name, job.jobId)).toMatchObject({ state: 'completed' });
    // 100 − 9 + 9 − 4 (captured) = 96
    expect(await remaining(c.id)).toBe('96');
    // the API's requests were applied by the producer's jobs: none is left pending for the relay to enqueue again
    expect(
      await app.database.db('accepted_jobs').whereIn(
        'job_id',
        jobs.map((j) => j.jobId),
      ),
    ).toEqual([]);
  });
});

describe('3. recharges, renewals, reports', () => {
  it('recharge twice with one key: one recharge, one invoice; another payload fails visibly', async () => {
    await working();
    const c = await customer();
    const r1 = await producer.recharge({ subscription_id: c.sub.id, idempotency_key: 'top-1' });
    const r2 = await producer.recharge({ subscription_id: c.sub.id, idempotency_key: 'top-1' });
    expect(r2).toEqual(r1);
    expect(await outcome('recharge', r1.jobId)).toMatchObject({ state: 'completed', value: { replayed: false } });
    await expect(
      producer.recharge({ subscription_id: c.sub.id, idempotency_key: 'top-1', price: 1 }),
    ).rejects.toMatchObject({ name: 'ProducerConflictError' });
    // over HTTP with the same key: that recharge's answer; with another payload: 409
    const http = await post(`/v1/subscriptions/${c.sub.id}/recharge?wait=true`, {}, { 'idempotency-key': 'top-1' });
    expect(http.status, http.text).toBe(200);
    expect(http.body).toMatchObject({ replayed: true });
    const other = await post(`/v1/subscriptions/${c.sub.id}/recharge`, { price: 1 }, { 'idempotency-key': 'top-1' });
    expect(other.status, other.text).toBe(409);
    expect(await app.database.db('recharges').where({ subscription_id: c.sub.id })).toHaveLength(1);
    // the subscription's invoice and one recharge invoice
    expect(await app.database.db('invoices').where({ subscription_id: c.sub.id })).toHaveLength(2);
    // 100 + 100
    expect(await remaining(c.id)).toBe('200');
  });

  it('renew one period twice, through both doors: one period, one invoice', async () => {
    await working();
    const c = await customer();
    const periodEnd = c.sub.current_period_end;
    const http = await post(`/v1/subscriptions/${c.sub.id}/renew?wait=true`, {});
    expect(http.status, http.text).toBe(200);
    const again = await producer.renew({ subscription_id: c.sub.id, period_end: periodEnd });
    expect(await outcome('renew', again.jobId)).toMatchObject({ state: 'completed' });
    // the same instant written another way names the same period (and job)
    const written = await producer.renew({
      subscription_id: c.sub.id,
      period_end: new Date(periodEnd).toISOString().replace('.000Z', '+00:00'),
    });
    expect(written.jobId).toBe(again.jobId);
    expect(await app.database.db('subscription_periods').where({ subscription_id: c.sub.id })).toHaveLength(2);
    expect(await app.database.db('invoices').where({ subscription_id: c.sub.id })).toHaveLength(2);
  });

  it('generateReport with one report_id twice: one run; another type under it is refused', async () => {
    await working();
    const reportId = '5d1f8c2e-8f7a-4c59-9d1e-0a6b1c2d3e4f';
    const a = await producer.generateReport({ type: 'balances', report_id: reportId });
    const b = await producer.generateReport({ type: 'balances', report_id: reportId });
    expect(b).toEqual(a);
    expect(await outcome('generate', a.jobId)).toMatchObject({ state: 'completed' });
    await expect(producer.generateReport({ type: 'subscriptions', report_id: reportId })).rejects.toMatchObject({
      name: 'ProducerConflictError',
    });
    const runs = await app.database.db('report_runs').where({ id: reportId });
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ type: 'balances' });
  });
});

describe('4. payloads at the edges', () => {
  it('unknown fields and a string quantity with too many decimals are refused, nothing applied', async () => {
    await working();
    const c = await customer();
    await expect(
      producer.consume({
        client: c.id,
        credit_type: SMS,
        quantity: 1,
        idempotency_key: 'edge-1',
        extra: true,
      } as never),
    ).rejects.toMatchObject({ name: 'ProducerValidationError' });
    // "1.005" kWh: 3 decimals of a 2-decimal credit type — the producer cannot know, the worker refuses it
    const job = await producer.consume({
      client: c.id,
      credit_type: KWH,
      quantity: '1.005',
      idempotency_key: 'edge-2',
    });
    expect(await outcome('consume', job.jobId)).toMatchObject({
      state: 'failed',
      failure: { code: 'validation_failed' },
    });
    expect(await remaining(c.id, KWH)).toBe('10');
    expect(await app.database.db('consumptions').where({ client_id: c.id })).toHaveLength(0);
  });

  it('an idempotency_key of 255 characters is taken through both doors; 256 is refused by both', async () => {
    await working();
    const c = await customer();
    const key = `${'k'.repeat(254)}é`;
    const job = await producer.consume({ client: c.external_ref, credit_type: SMS, quantity: 1, idempotency_key: key });
    expect(await outcome('consume', job.jobId)).toMatchObject({ state: 'completed', value: { replayed: false } });
    const http = await post('/v1/consumptions?wait=true', sms(c.id, 1, key));
    expect(http.status, http.text).toBe(200);
    expect(http.body).toMatchObject({ replayed: true });
    const long = `${key}x`;
    await expect(
      producer.consume({ client: c.id, credit_type: SMS, quantity: 1, idempotency_key: long }),
    ).rejects.toMatchObject({ name: 'ProducerValidationError' });
    const refused = await post('/v1/consumptions', sms(c.id, 1, long));
    expect(refused.status, refused.text).toBe(422);
    // 100 − 1
    expect(await remaining(c.id)).toBe('99');
  });

  it('a retried producer call later does not move the applied use’s occurred_at', async () => {
    await working();
    const c = await customer();
    const use = { client: c.external_ref, credit_type: SMS, quantity: 2, idempotency_key: 'late-1' };
    const t0 = app.clock.now().toISOString();
    const first = await producer.consume(use);
    expect(await outcome('consume', first.jobId)).toMatchObject({ state: 'completed' });
    app.clock.advance(60_000);
    // Redis still holds the job: the retry makes nothing new
    await producer.consume(use);
    // once Redis let the job go, the retry is a new job: the worker replays the first answer
    await app.ctx.queues.consumption.remove(first.jobId);
    const retry = await producer.consume(use);
    expect(await outcome('consume', retry.jobId)).toMatchObject({ state: 'completed', value: { replayed: true } });
    const [row] = await app.database.db('consumptions').where({ client_id: c.id, idempotency_key: 'late-1' });
    expect(new Date(row.occurred_at).toISOString()).toBe(t0);
    expect(await remaining(c.id)).toBe('98');
  });
});

describe('5. a worker that dies after its commit, before BullMQ hears of it', () => {
  /** A worker of `queue` whose first attempt of each job commits, then throws; the retry must apply nothing twice. */
  async function crashingOnce<T>(queue: 'consumption' | 'recharge' | 'renewal', work: () => Promise<T>) {
    await idle();
    const { process, drain } = queueProcessor(app.ctx, queue);
    const connection = createRedis(app.ctx.redisUrl, 'worker');
    const seen = new Set<string>();
    const crashing = new Worker(
      queue,
      async (job: Job) => {
        const result = await process(job);
        if (!seen.has(job.id!)) {
          seen.add(job.id!);
          throw new Error('simulated crash after commit');
        }
        return result;
      },
      { connection, prefix: app.prefix, concurrency: 5 },
    );
    try {
      return await work();
    } finally {
      await crashing.close();
      await drain();
      connection.disconnect();
    }
  }

  it('a consume-batch: every use applied once, the retry answers them replayed', async () => {
    const c = await customer();
    const uses = [1, 2, 3].map((n) => sms(c.external_ref, n, `crash-${n}`));
    const result = await crashingOnce('consumption', async () => {
      const [batch] = await producer.consumeMany(uses, { batchKey: `crash-${c.id}`, backoff: 10 } as never);
      return outcome('consume-batch', batch!.jobId);
    });
    expect(result).toMatchObject({ state: 'completed', value: { uses: 3, replayed: 3, failed: [] } });
    // 100 − 1 − 2 − 3 = 94
    expect(await remaining(c.id)).toBe('94');
    expect(await app.database.db('ledger_entries').where({ client_id: c.id, kind: 'consume' })).toHaveLength(3);
  });

  it('a recharge and a renewal: one of each', async () => {
    const c = await customer();
    const recharged = await crashingOnce('recharge', async () => {
      const job = await producer.recharge({ subscription_id: c.sub.id, idempotency_key: 'crash-top' }, {
        backoff: 10,
      } as never);
      return outcome('recharge', job.jobId);
    });
    expect(recharged).toMatchObject({ state: 'completed', value: { replayed: true } });
    const renewed = await crashingOnce('renewal', async () => {
      const job = await producer.renew({ subscription_id: c.sub.id, period_end: c.sub.current_period_end }, {
        backoff: 10,
      } as never);
      return outcome('renew', job.jobId);
    });
    expect(renewed).toMatchObject({ state: 'completed', value: { status: 'already_renewed' } });
    expect(await app.database.db('recharges').where({ subscription_id: c.sub.id })).toHaveLength(1);
    expect(await app.database.db('subscription_periods').where({ subscription_id: c.sub.id })).toHaveLength(2);
    // subscription, recharge, renewal
    expect(await app.database.db('invoices').where({ subscription_id: c.sub.id })).toHaveLength(3);
  });

  it('a reversal and a capture: each applied once, the retry answers the first', async () => {
    await working();
    const c = await customer();
    const used = await post('/v1/consumptions?wait=true', sms(c.id, 10, 'crash-rev'));
    const held = await post('/v1/holds?wait=true', sms(c.id, 7, 'crash-hold'));
    expect([used.status, held.status]).toEqual([200, 200]);
    const [reversed, captured] = await crashingOnce('consumption', async () => {
      const options = { backoff: 10 } as never;
      const r = await producer.reverse({ consumption_id: used.body.id }, options);
      const k = await producer.capture({ hold_id: held.body.id, quantity: 3 }, options);
      return [await outcome('reverse', r.jobId), await outcome('capture', k.jobId)];
    });
    expect(reversed).toMatchObject({ state: 'completed', value: { replayed: true } });
    expect(captured).toMatchObject({ state: 'completed' });
    // 100 − 10 + 10 − 3 captured (4 of the 7 released) = 97
    expect(await remaining(c.id)).toBe('97');
    expect((await ledger(used.body.id)).filter((e) => e.kind === 'reverse')).toHaveLength(1);
    expect(await app.database.db('consumptions').where({ client_id: c.id })).toHaveLength(2);
  });
});

describe('6. the producer first, then HTTP, for the other jobs', () => {
  it('a hold and a recharge queued by the producer: HTTP with another payload under the key is 409', async () => {
    await idle();
    const c = await customer();
    const hold = { client: c.id, credit_type: SMS, quantity: 4, idempotency_key: 'ph-1' };
    const held = await producer.hold(hold);
    const otherHold = await post('/v1/holds', { ...hold, quantity: 6 });
    expect(otherHold.status, otherHold.text).toBe(409);
    const topUp = await producer.recharge({ subscription_id: c.sub.id, idempotency_key: 'pr-1' });
    const otherTopUp = await post(
      `/v1/subscriptions/${c.sub.id}/recharge`,
      { price: 1 },
      { 'idempotency-key': 'pr-1' },
    );
    expect(otherTopUp.status, otherTopUp.text).toBe(409);
    const sameTopUp = await post(`/v1/subscriptions/${c.sub.id}/recharge`, {}, { 'idempotency-key': 'pr-1' });
    expect(sameTopUp.status, sameTopUp.text).toBe(202);
    await working();
    expect(await outcome('hold', held.jobId)).toMatchObject({ state: 'completed', value: { quantity: '4' } });
    expect(await outcome('recharge', topUp.jobId)).toMatchObject({ state: 'completed', value: { price: 500 } });
    // 100 − 4 held + 100 recharged
    expect(await remaining(c.id)).toBe('196');
    expect(await app.database.db('accepted_jobs').whereIn('job_id', [held.jobId, topUp.jobId])).toEqual([]);
  });

  it('a hold applied through the producer by external_ref: HTTP by id with another payload is 409', async () => {
    await working();
    const c = await customer();
    const hold = { credit_type: SMS, quantity: 5, idempotency_key: 'ph-2' };
    const held = await producer.hold({ ...hold, client: c.external_ref });
    expect(await outcome('hold', held.jobId)).toMatchObject({ state: 'completed', value: { quantity: '5' } });
    const same = await post('/v1/holds?wait=true', { ...hold, client: c.id });
    expect(same.status, same.text).toBe(200);
    expect(same.body).toMatchObject({ quantity: '5', replayed: true });
    const other = await post('/v1/holds?wait=true', { ...hold, quantity: 6, client: c.id });
    expect(other.status, other.text).toBe(409);
    // 100 − 5 held
    expect(await remaining(c.id)).toBe('95');
  });

  it('a reversal that ran before its consumption was applied does not block the reversal for good', async () => {
    await idle();
    const c = await customer();
    const use = { client: c.id, credit_type: SMS, quantity: 6, idempotency_key: 'early-rev' };
    const id = consumptionId(c.id, use.idempotency_key);
    // the producer sends the use and its reversal back to back; the reversal's job is taken first
    const early = await producer.reverse({ consumption_id: id });
    await working();
    expect(await outcome('reverse', early.jobId)).toMatchObject({ state: 'failed', failure: { code: 'not_found' } });
    const failures = () => app.database.db('job_failures').where({ job_id: early.jobId });
    expect(await failures()).toHaveLength(1);
    const used = await post('/v1/consumptions?wait=true', use);
    expect(used.status, used.text).toBe(200);
    // now it exists: a reversal asked for over HTTP is a new request, and must reverse it
    const http = await post(`/v1/consumptions/${id}/reverse?wait=true`, {});
    expect(http.status, http.text).toBe(200);
    expect(await remaining(c.id)).toBe('100');
    // the first run's stored failure is gone with it: it no longer answers for the job id
    expect(await failures()).toEqual([]);
  });

  it('the producer’s own retry of a call whose job failed for good runs it again', async () => {
    await idle();
    const c = await customer();
    const use = { client: c.id, credit_type: SMS, quantity: 6, idempotency_key: 'early-rev-2' };
    const id = consumptionId(c.id, use.idempotency_key);
    const early = await producer.reverse({ consumption_id: id });
    await working();
    expect(await outcome('reverse', early.jobId)).toMatchObject({ state: 'failed', failure: { code: 'not_found' } });
    const used = await producer.consume(use);
    expect(await outcome('consume', used.jobId)).toMatchObject({ state: 'completed' });
    // the same call again: it resolved while Redis kept the failed job, and nothing ran
    const again = await producer.reverse({ consumption_id: id });
    expect(again).toEqual(early);
    expect(await awaitOutcome(app.ctx, 'reverse', again.jobId, { timeoutMs: 20_000, untilAdded: true })).toMatchObject({
      state: 'completed',
      value: { replayed: false },
    });
    expect(await remaining(c.id)).toBe('100');
  });
});

describe('7. a renewal through both doors', () => {
  it('the producer’s renewal queued with other terms: HTTP’s renewal of that period is 409, not 202', async () => {
    await idle();
    const c = await customer();
    const queued = await producer.renew({
      subscription_id: c.sub.id,
      period_end: c.sub.current_period_end,
      apply_package_changes: true,
    });
    const http = await post(`/v1/subscriptions/${c.sub.id}/renew`, {}, { 'idempotency-key': 'renew-other' });
    expect(http.status, http.text).toBe(409);
    expect(http.body).toMatchObject({ code: 'idempotency_conflict' });
    // its key is free again: the same terms as the producer's are the same renewal
    const same = await post(
      `/v1/subscriptions/${c.sub.id}/renew`,
      { apply_package_changes: true },
      { 'idempotency-key': 'renew-other' },
    );
    expect(same.status, same.text).toBe(202);
    expect(same.body).toMatchObject({ job_id: queued.jobId });
    await working();
    expect(await outcome('renew', queued.jobId)).toMatchObject({ state: 'completed', value: { status: 'renewed' } });
    expect(await app.database.db('accepted_jobs').where({ job_id: queued.jobId })).toEqual([]);
  });

  it('a renewal the producer asked for while it could not be renewed does not block it for good', async () => {
    await working();
    const c = await customer();
    const suspend = await app.request('PATCH', `/v1/subscriptions/${c.sub.id}`, { body: { status: 'suspended' } });
    expect(suspend.status, suspend.text).toBe(200);
    const early = await producer.renew({ subscription_id: c.sub.id, period_end: c.sub.current_period_end });
    expect(await outcome('renew', early.jobId)).toMatchObject({ state: 'failed', failure: { code: 'conflict' } });
    const resume = await app.request('PATCH', `/v1/subscriptions/${c.sub.id}`, { body: { status: 'active' } });
    expect(resume.status, resume.text).toBe(200);
    const http = await post(`/v1/subscriptions/${c.sub.id}/renew?wait=true`, {});
    expect(http.status, http.text).toBe(200);
    expect(http.body).toMatchObject({ status: 'renewed' });
    expect(await app.database.db('accepted_jobs').where({ job_id: early.jobId })).toEqual([]);
  });
});
