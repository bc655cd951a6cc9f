import { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome, requeueLost } from '../../src/commands/index.js';
import { insertAccepted } from '../../src/db/repositories/accepted-jobs.js';
import { createApiKey } from '../../src/http/auth.js';
import { consumptionId } from '../../src/ids.js';
import { jobIdOf } from '../../src/jobs/definitions.js';
import { CreditsProducer } from '../../src/producer/index.js';
import { verifyInvariants } from '../../src/services/verify.js';
import { type RunningWorkers, startWorkers } from '../../src/workers/index.js';
import { type Sibling, startSibling, startTestApp, type TestApp } from '../helpers/app.js';
import { runCli } from '../helpers/cli.js';
import { batchOutcome, createPackage, subscribe } from '../helpers/fixtures.js';
import { untilWaitingForLocks } from '../helpers/lock-waits.js';

/**
 * Issue 14's functional promises (not its performance targets), checked as an acceptance run would:
 * over HTTP, through the typed producer, and with the CLI — every expected number worked out by hand
 * in the comment beside it.
 *
 * The cast (BUSINESS_TZ UTC, decimals 0):
 *   credit types `i14-sms` (messages) and `i14-hour` (hours; nobody below holds any)
 *   package `i14-small`: 100 sms; package `i14-big`: 5,000 sms
 *   A, B, C, D, G, H hold the small package (100 each); E and F the big one (5,000 each)
 *
 * The caches' clock (`ticks`: the API key cache and the rate-limit minutes) is the test's own and only
 * moves when a test moves it. The app runs the API alone; the workers are started by the first test
 * once it has shown what happens while none runs (no relay either: the test calls its sweep).
 */
let ticks = Date.UTC(2026, 5, 1, 9, 0, 15);
const KEY_CACHE_MS = 2_000;

let app: TestApp;
let workers: RunningWorkers | undefined;
const SMS = 'i14-sms';
const HOUR = 'i14-hour';
const client: Record<string, { id: string; ref: string; balance: string }> = {};

beforeAll(async () => {
  app = await startTestApp({
    roles: ['api'],
    now: '2026-06-01T09:00:00.000Z',
    ticks: () => ticks,
    env: { API_KEY_CACHE_MS: String(KEY_CACHE_MS), WAIT_TIMEOUT_MS: '30000' },
  });
  for (const [code, unit] of [
    [SMS, 'message'],
    [HOUR, 'hour'],
  ] as const) {
    const res = await app.request('POST', '/v1/credit-types', { body: { code, name: code, unit, decimals: 0 } });
    expect(res.status, res.text).toBe(201);
  }
  const small = await createPackage(app, [{ credit_type: SMS, units: 100 }], { code: 'i14-small' });
  const big = await createPackage(app, [{ credit_type: SMS, units: 5_000 }], { code: 'i14-big' });
  for (const name of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']) {
    const ref = `i14-${name}`;
    const made = await app.request('POST', '/v1/clients', { body: { external_ref: ref, name: `Client ${name}` } });
    expect(made.status, made.text).toBe(201);
    const sub = await subscribe(app, ref, name === 'e' || name === 'f' ? big.code : small.code);
    client[name] = { id: made.body.id, ref, balance: sub.balances[0]!.id };
  }
});
afterAll(async () => {
  await workers?.close();
  const report = await verifyInvariants(app.database.db);
  expect(report.violations).toEqual([]);
  await app.close();
});

const use = (who: string, quantity: number, key: string, extra: Record<string, unknown> = {}) => ({
  client: client[who]!.ref,
  credit_type: SMS,
  quantity,
  idempotency_key: key,
  ...extra,
});
const consume = (body: unknown, wait = false, key = app.keys.write) =>
  app.request('POST', `/v1/consumptions${wait ? '?wait=true' : ''}`, { key, body });
const jobOf = (who: string, key: string) => jobIdOf('consume', { ...use(who, 1, key), client: client[who]!.id });
const idOf = (who: string, key: string) => consumptionId(client[who]!.id, key);
const smsRow = async (who: string) => {
  const res = await app.request('GET', `/v1/clients/${client[who]!.ref}/balances`, { key: app.keys.read });
  expect(res.status, res.text).toBe(200);
  const row = res.body.data.find((r: { credit_type: { code: string } }) => r.credit_type.code === SMS);
  return { granted: row.granted, consumed: row.consumed, remaining: row.remaining };
};
const getConsumption = async (id: string) => {
  const res = await app.request('GET', `/v1/consumptions/${id}`, { key: app.keys.read });
  return res;
};
const acceptedRows = async () => Number((await app.database.db('accepted_jobs').count({ n: '*' }))[0]!.n);
const ledgerConsumes = async (who: string) =>
  Number(
    (
      await app.database.db('ledger_entries').where({ balance_id: client[who]!.balance, kind: 'consume' }).count({
        n: '*',
      })
    )[0]!.n,
  );

describe('1. POST /v1/consumptions: 202 means recorded in Postgres', () => {
  it('answers once the accepted_jobs row is written; a job Redis lost is enqueued again, applied once', async () => {
    // Postgres keeps the accepted_jobs table locked: the request must wait for it, not answer 202 first
    const trx = await app.database.db.transaction();
    let answered = false;
    let pending: ReturnType<typeof consume>;
    try {
      await trx.raw('LOCK TABLE accepted_jobs IN EXCLUSIVE MODE');
      pending = consume(use('a', 5, 'a-1')).then((res) => {
        answered = true;
        return res;
      });
      // the API's insert is seen waiting for the lock (polled: a condition, not a sleep of a guessed length)
      await untilWaitingForLocks(app.database.db, 1, { about: 'accepted_jobs' });
      expect(answered, 'answered before the request was recorded').toBe(false);
    } finally {
      await trx.rollback();
    }
    const res = await pending!;
    expect(res.status, res.text).toBe(202);
    // the id is uuid v5 of (client id, key): the same whoever asks, whenever
    expect(res.body).toEqual({ id: idOf('a', 'a-1'), status: 'queued' });
    const rows = await app.database.db('accepted_jobs').where({ job_id: jobOf('a', 'a-1') });
    expect(rows).toHaveLength(1);
    expect((await getConsumption(idOf('a', 'a-1'))).body).toEqual({ id: idOf('a', 'a-1'), status: 'queued' });

    // the same key and body again: the same answer, still one request recorded; another body: 409
    const again = await consume(use('a', 5, 'a-1'));
    expect(again.status, again.text).toBe(202);
    expect(again.body).toEqual({ id: idOf('a', 'a-1'), status: 'queued' });
    expect(await acceptedRows()).toBe(1);
    const other = await consume(use('a', 6, 'a-1'));
    expect(other.status, other.text).toBe(409);
    expect(other.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(other.body).toMatchObject({ status: 409, code: 'idempotency_conflict' });

    // Redis loses the job (no worker has taken it: none runs yet)
    const queue = app.ctx.queues.consumption;
    await (await Job.fromId(queue, jobOf('a', 'a-1')))!.remove();
    expect(await queue.getJobState(jobOf('a', 'a-1'))).toBe('unknown');
    // the relay's sweep (a grace of 0, the row looked at long ago) finds it missing and enqueues it again: 1
    await app.database.db('accepted_jobs').update({ last_enqueued_at: null });
    expect(await requeueLost(app.ctx, 0)).toBe(1);
    expect(await queue.getJobState(jobOf('a', 'a-1'))).toBe('waiting');

    workers = await startWorkers(app.ctx);
    const outcome = await awaitOutcome(app.ctx, 'consume', jobOf('a', 'a-1'), { timeoutMs: 30_000 });
    // A: 100 − 5 = 95
    expect(outcome).toMatchObject({ state: 'completed', value: { status: 'applied', applied: '5', remaining: '95' } });
    // applied: the accepted row is gone, and the sweep has nothing more to do
    expect(await acceptedRows()).toBe(0);
    expect(await requeueLost(app.ctx, 0)).toBe(0);

    // after it is applied: the same request answers the first result (waited: 200, replayed), not a second use
    const replay = await consume(use('a', 5, 'a-1'), true);
    expect(replay.status, replay.text).toBe(200);
    expect(replay.body).toMatchObject({
      id: idOf('a', 'a-1'),
      status: 'applied',
      quantity: '5',
      applied: '5',
      shortfall: '0',
      allocations: [{ balance_id: client.a!.balance, amount: '5' }],
      remaining: '95',
      replayed: true,
    });
    const quick = await consume(use('a', 5, 'a-1'));
    expect(quick.status, quick.text).toBe(202);
    expect(quick.body).toEqual({ id: idOf('a', 'a-1'), status: 'applied' });
    const late = await consume(use('a', 6, 'a-1'), true);
    expect(late.status, late.text).toBe(409);
    expect(late.body).toMatchObject({ status: 409, code: 'idempotency_conflict' });

    // once: one consumption, one ledger entry, 5 consumed
    expect(await app.database.db('consumptions').where({ client_id: client.a!.id })).toHaveLength(1);
    expect(await ledgerConsumes('a')).toBe(1);
    expect(await smsRow('a')).toEqual({ granted: '100', consumed: '5', remaining: '95' });
  }, 60_000);
});

describe('1b. the same key at once from many callers', () => {
  it('ten identical waited requests: one use applied, ten answers of it; another body after is 409', async () => {
    // A (95 left): r-1 of 4, sent ten times at once → applied once, 95 − 4 = 91, every caller told so
    const answers = await Promise.all(Array.from({ length: 10 }, () => consume(use('a', 4, 'r-1'), true)));
    for (const res of answers) {
      expect(res.status, res.text).toBe(200);
      expect(res.body).toMatchObject({ id: idOf('a', 'r-1'), status: 'applied', applied: '4', remaining: '91' });
    }
    // one job for them all: the request that made it is the first application, the nine that met it queued (or
    // applied) repeat it — the same figures, `replayed` true
    expect(new Set(answers.map((res) => JSON.stringify({ ...res.body, replayed: null }))).size).toBe(1);
    expect(answers.filter((res) => res.body.replayed === false)).toHaveLength(1);
    // then, at once, three more of the same (replays) and two with 9 instead (409 each)
    const later = await Promise.all([
      ...Array.from({ length: 3 }, () => consume(use('a', 4, 'r-1'), true)),
      ...Array.from({ length: 2 }, () => consume(use('a', 9, 'r-1'), true)),
    ]);
    expect(later.map((res) => res.status)).toEqual([200, 200, 200, 409, 409]);
    // the first result again, field for field, as a repeat
    const first = { ...answers[0]!.body, replayed: true };
    for (const res of later.slice(0, 3)) expect(res.body).toEqual(first);
    for (const res of later.slice(3)) expect(res.body).toMatchObject({ code: 'idempotency_conflict' });
    // the race behind that, made to stand still: a request with another body has written its accepted row (it is
    // about to find the applied use, refuse itself and take the row back); the same body meanwhile is a repeat
    // of the applied use and is answered so, not 409
    await insertAccepted(app.database.db, [
      {
        request: 0,
        jobId: jobOf('a', 'r-1'),
        queue: 'consumption',
        name: 'consume',
        data: { ...use('a', 9, 'r-1'), client: client.a!.id },
        requestHash: 'the other body',
        subjectId: idOf('a', 'r-1'),
        carrierJobId: null,
      },
    ]);
    const meanwhile = await consume(use('a', 4, 'r-1'), true);
    expect(meanwhile.status, meanwhile.text).toBe(200);
    expect(meanwhile.body).toEqual(first);
    expect((await consume(use('a', 9, 'r-1'), true)).status).toBe(409);
    await app.database
      .db('accepted_jobs')
      .where({ job_id: jobOf('a', 'r-1') })
      .delete();

    const rows = await app.database.db('consumptions').where({ client_id: client.a!.id, idempotency_key: 'r-1' });
    expect(rows).toHaveLength(1);
    expect(await smsRow('a')).toEqual({ granted: '100', consumed: '9', remaining: '91' });
  }, 60_000);
});

describe('2. ?wait=true answers the applied result, its own, to every caller', () => {
  it('answers the result with what it paid, and a short balance as insufficient_balance', async () => {
    // B: 100 − 7 = 93, all from its one balance
    const paid = await consume(use('b', 7, 'w-1'), true);
    expect(paid.status, paid.text).toBe(200);
    expect(paid.body).toEqual({
      id: idOf('b', 'w-1'),
      status: 'applied',
      client: { id: client.b!.id, external_ref: 'i14-b' },
      credit_type: { id: expect.any(String), code: SMS, unit: 'message' },
      quantity: '7',
      applied: '7',
      shortfall: '0',
      allocations: [{ balance_id: client.b!.balance, amount: '7' }],
      remaining: '93',
      idempotency_key: 'w-1',
      occurred_at: '2026-06-01T09:00:00.000Z',
      replayed: false,
    });
    // C holds 100: 101 is refused whole (mode reject, the default), nothing taken; short by 101 − 100 = 1
    const short = await consume(use('c', 101, 'w-short'), true);
    expect(short.status, short.text).toBe(422);
    expect(short.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(short.body).toMatchObject({
      status: 422,
      code: 'insufficient_balance',
      consumption_status: 'rejected',
      id: idOf('c', 'w-short'),
      quantity: '101',
      applied: '0',
      shortfall: '1', // 101 asked, 100 there
      allocations: [],
      remaining: '100',
      idempotency_key: 'w-short',
    });
    expect(await smsRow('c')).toEqual({ granted: '100', consumed: '0', remaining: '100' });
  });

  it('many concurrent waiters on one process each get their own result, never a neighbour’s', async () => {
    // B (93 left): 12 waiters asking 1, 2, …, 12 (78 in all) → 93 − 78 = 15 left
    // D (100 left): 20 waiters asking 1 each → the remainders 99, 98, …, 80, one each
    // C (100 left): 3 waiters asking 101 each → three 422s, each with remaining 100
    const bWaits = Array.from({ length: 12 }, (_, i) => ({ key: `cb-${i + 1}`, quantity: i + 1 }));
    const dWaits = Array.from({ length: 20 }, (_, i) => `cd-${i}`);
    const cWaits = ['cc-0', 'cc-1', 'cc-2'];
    // interleaved, all in flight at once
    const calls: Array<Promise<{ who: string; key: string; res: Awaited<ReturnType<typeof consume>> }>> = [];
    for (let i = 0; i < 20; i += 1) {
      const d = dWaits[i]!;
      calls.push(consume(use('d', 1, d), true).then((res) => ({ who: 'd', key: d, res })));
      const b = bWaits[i];
      if (b) calls.push(consume(use('b', b.quantity, b.key), true).then((res) => ({ who: 'b', key: b.key, res })));
      const c = cWaits[i];
      if (c) calls.push(consume(use('c', 101, c), true).then((res) => ({ who: 'c', key: c, res })));
    }
    const answers = await Promise.all(calls);
    expect(answers).toHaveLength(35);
    for (const { who, key, res } of answers) {
      expect(res.status, `${key}: ${res.text}`).toBe(who === 'c' ? 422 : 200);
      expect(res.body.id, key).toBe(idOf(who, key));
      expect(res.body.idempotency_key).toBe(key);
      expect(res.body.client.external_ref).toBe(`i14-${who}`);
    }
    // each B answer is its own quantity, and the remainders chain: sorted high to low, each is the one before
    // less its own quantity, from 93 down to 15
    const b = answers
      .filter((a) => a.who === 'b')
      .map((a) => ({
        quantity: Number(a.res.body.quantity),
        applied: Number(a.res.body.applied),
        remaining: Number(a.res.body.remaining),
        key: a.key,
      }))
      .sort((x, y) => y.remaining - x.remaining);
    let left = 93;
    for (const one of b) {
      expect(one.quantity).toBe(Number(one.key.slice(3)));
      expect(one.applied).toBe(one.quantity);
      left -= one.quantity;
      expect(one.remaining, one.key).toBe(left);
    }
    expect(left).toBe(15);
    const dLeft = answers
      .filter((a) => a.who === 'd')
      .map((a) => Number(a.res.body.remaining))
      .sort((x, y) => y - x);
    expect(dLeft).toEqual(Array.from({ length: 20 }, (_, i) => 99 - i));
    for (const a of answers.filter((x) => x.who === 'c')) {
      expect(a.res.body).toMatchObject({ code: 'insufficient_balance', quantity: '101', remaining: '100' });
    }
    expect(await smsRow('b')).toEqual({ granted: '100', consumed: '85', remaining: '15' });
    expect(await smsRow('d')).toEqual({ granted: '100', consumed: '20', remaining: '80' });
    expect(await smsRow('c')).toEqual({ granted: '100', consumed: '0', remaining: '100' });

    // mode partial on C: 150 asked, its 100 taken, 50 short
    const partial = await consume(use('c', 150, 'w-partial', { mode: 'partial' }), true);
    expect(partial.status, partial.text).toBe(200);
    expect(partial.body).toMatchObject({ status: 'partial', applied: '100', shortfall: '50', remaining: '0' });
  }, 60_000);
});

describe('3. POST /v1/consumptions/batch', () => {
  const items = (n: number) => Array.from({ length: n }, (_, i) => use(i % 2 === 0 ? 'e' : 'f', 1, `b-${i}`));

  it('takes up to 1,000 uses (one id each), refuses 1,001, and never applies a key twice', async () => {
    // E uses b-0 on its own first: 5,000 − 1 = 4,999
    const single = await consume(use('e', 1, 'b-0'), true);
    expect(single.status, single.text).toBe(200);
    expect(single.body.remaining).toBe('4999');

    const tooMany = await app.request('POST', '/v1/consumptions/batch', {
      key: app.keys.write,
      body: { items: items(1_001) },
    });
    expect(tooMany.status, tooMany.text).toBe(422);
    expect(tooMany.body).toMatchObject({ code: 'validation_failed', errors: [{ field: 'items' }] });
    expect(await acceptedRows()).toBe(0);

    // b-0 … b-999: the even ones E's (b-0 among them, applied before), the odd ones F's
    const res = await app.request('POST', '/v1/consumptions/batch', {
      key: app.keys.write,
      body: { items: items(1_000) },
    });
    expect(res.status, res.text).toBe(202);
    expect(res.body.data).toHaveLength(1_000);
    res.body.data.forEach((d: { id: string; status: string; idempotency_key: string }, i: number) => {
      expect(d).toEqual({
        id: idOf(i % 2 === 0 ? 'e' : 'f', `b-${i}`),
        status: i === 0 ? 'applied' : 'queued',
        idempotency_key: `b-${i}`,
      });
    });
    const carrier = jobIdOf('consume-batch', { batch_key: res.body.batch_key, items: [] });
    const outcome = await awaitOutcome(app.ctx, 'consume-batch', carrier, { timeoutMs: 60_000 });
    // 1,000 uses: b-0 answered from before (replayed), the 999 others applied
    expect(outcome).toMatchObject({
      state: 'completed',
      value: { uses: 1_000, applied: 999, partial: 0, rejected: 0, replayed: 1, failed: [] },
    });
    // E: b-0 alone, then 499 more → 500 consumed, 4,500 left; F: 500 → 4,500 left
    expect(await smsRow('e')).toEqual({ granted: '5000', consumed: '500', remaining: '4500' });
    expect(await smsRow('f')).toEqual({ granted: '5000', consumed: '500', remaining: '4500' });
    expect(await ledgerConsumes('e')).toBe(500);
    // each use readable by id, with its own remainder in the batch's order: F's first (b-1) 4,999, its last
    // (b-999) 4,500; E's second (b-2) 4,998 (b-0 took the first unit)
    const expectUse = async (id: string, fields: Record<string, unknown>) => {
      const got = await getConsumption(id);
      expect(got.status, got.text).toBe(200);
      expect(got.body).toMatchObject({ status: 'applied', quantity: '1', applied: '1', ...fields });
    };
    await expectUse(idOf('f', 'b-1'), { idempotency_key: 'b-1', remaining: '4999' });
    await expectUse(idOf('f', 'b-999'), { idempotency_key: 'b-999', remaining: '4500' });
    await expectUse(idOf('e', 'b-2'), { idempotency_key: 'b-2', remaining: '4998' });
    await expectUse(idOf('e', 'b-0'), { idempotency_key: 'b-0', remaining: '4999' });

    // the batch resent whole: every use answered as applied, nothing recorded or applied again
    const resent = await app.request('POST', '/v1/consumptions/batch', {
      key: app.keys.write,
      body: { items: items(1_000) },
    });
    expect(resent.status, resent.text).toBe(202);
    expect(resent.body.data.map((d: { id: string }) => d.id)).toEqual(res.body.data.map((d: { id: string }) => d.id));
    expect(resent.body.data.every((d: { status: string }) => d.status === 'applied')).toBe(true);
    expect(await acceptedRows()).toBe(0);
    expect(await smsRow('e')).toEqual({ granted: '5000', consumed: '500', remaining: '4500' });
    expect(await smsRow('f')).toEqual({ granted: '5000', consumed: '500', remaining: '4500' });
    expect(await ledgerConsumes('e')).toBe(500);
    const [stored] = await app.database.db('consumptions').whereIn('client_id', [client.e!.id, client.f!.id]).count({
      n: '*',
    });
    expect(Number(stored!.n)).toBe(1_000);

    // a batch reusing b-0 with another quantity: 409, all or none (its other use is not recorded)
    const clash = await app.request('POST', '/v1/consumptions/batch', {
      key: app.keys.write,
      body: { items: [use('e', 1, 'b-new'), use('e', 2, 'b-0')] },
    });
    expect(clash.status, clash.text).toBe(409);
    expect(clash.body).toMatchObject({ code: 'idempotency_conflict' });
    expect((await getConsumption(idOf('e', 'b-new'))).status).toBe(404);
    expect(await acceptedRows()).toBe(0);
  }, 120_000);

  it('an Idempotency-Key names one batch: the same body again changes nothing, another body is 409', async () => {
    // G holds 100: k-1 takes 3 (97 left)
    const send = (items: unknown[]) =>
      app.request('POST', '/v1/consumptions/batch', {
        key: app.keys.write,
        body: { items },
        headers: { 'idempotency-key': 'i14-nightly' },
      });
    const first = await send([use('g', 3, 'k-1')]);
    expect(first.status, first.text).toBe(202);
    const carrier = jobIdOf('consume-batch', { batch_key: first.body.batch_key, items: [] });
    expect(await awaitOutcome(app.ctx, 'consume-batch', carrier, { timeoutMs: 30_000 })).toMatchObject({
      state: 'completed',
      value: { uses: 1, applied: 1 },
    });
    const again = await send([use('g', 3, 'k-1')]);
    expect(again.status, again.text).toBe(202);
    expect(again.body).toEqual({
      batch_key: first.body.batch_key,
      data: [{ id: idOf('g', 'k-1'), status: 'applied', idempotency_key: 'k-1' }],
    });
    // the key with other uses: refused, and none of them recorded (a 202 here would name a carrier job that
    // has run already without them: accepted, then never applied)
    const other = await send([use('g', 4, 'k-2')]);
    expect(other.status, other.text).toBe(409);
    expect(other.body).toMatchObject({ status: 409, code: 'idempotency_conflict' });
    expect(await acceptedRows()).toBe(0);
    expect((await getConsumption(idOf('g', 'k-2'))).status).toBe(404);
    // a refused batch binds no key: the same key with a bad body (422), then with a good one (202, applied)
    const retried = (items: unknown[]) =>
      app.request('POST', '/v1/consumptions/batch', {
        key: app.keys.write,
        body: { items },
        headers: { 'idempotency-key': 'i14-fixed' },
      });
    expect((await retried([use('g', 0, 'k-3')])).status).toBe(422);
    const fixed = await retried([use('g', 2, 'k-3')]);
    expect(fixed.status, fixed.text).toBe(202);
    const fixedCarrier = jobIdOf('consume-batch', { batch_key: fixed.body.batch_key, items: [] });
    await awaitOutcome(app.ctx, 'consume-batch', fixedCarrier, { timeoutMs: 30_000 });
    // G: 100 − 3 − 2 = 95
    expect(await smsRow('g')).toEqual({ granted: '100', consumed: '5', remaining: '95' });
  }, 60_000);

  it('one bad use (short balance, a credit type the client holds none of) fails alone; the others apply', async () => {
    // G holds 95 sms (above): m-0 takes 10 (85 left); m-1 asks 500 (rejected, short by 500 − 85 = 415, 85 left);
    // m-2 asks an hour G has none of (rejected, short by 1, 0 left of hours); m-3 takes 5 (80 left)
    const res = await app.request('POST', '/v1/consumptions/batch', {
      key: app.keys.write,
      body: {
        items: [
          use('g', 10, 'm-0'),
          use('g', 500, 'm-1'),
          { ...use('g', 1, 'm-2'), credit_type: HOUR },
          use('g', 5, 'm-3'),
        ],
      },
    });
    expect(res.status, res.text).toBe(202);
    const outcome = await batchOutcome(app, res.body.batch_key);
    expect(outcome).toMatchObject({
      state: 'completed',
      value: { uses: 4, applied: 2, partial: 0, rejected: 2, replayed: 0, failed: [] },
    });
    const [m0, m1, m2, m3] = await Promise.all(
      res.body.data.map((d: { id: string }) => getConsumption(d.id).then((r) => r.body)),
    );
    expect(m0).toMatchObject({ status: 'applied', applied: '10', remaining: '85' });
    expect(m1).toMatchObject({
      status: 'rejected',
      code: 'insufficient_balance',
      applied: '0',
      shortfall: '415',
      remaining: '85',
    });
    expect(m2).toMatchObject({ status: 'rejected', code: 'insufficient_balance', shortfall: '1', remaining: '0' });
    expect(m3).toMatchObject({ status: 'applied', applied: '5', remaining: '80' });
    expect(await smsRow('g')).toEqual({ granted: '100', consumed: '20', remaining: '80' });

    // one key twice in one batch: the same use twice is one use (G: 80 − 2 = 78); with two bodies, 409 and nothing
    const twice = await app.request('POST', '/v1/consumptions/batch', {
      key: app.keys.write,
      body: { items: [use('g', 2, 'm-6'), use('g', 2, 'm-6')] },
    });
    expect(twice.status, twice.text).toBe(202);
    expect(twice.body.data.map((d: { id: string }) => d.id)).toEqual([idOf('g', 'm-6'), idOf('g', 'm-6')]);
    expect(await batchOutcome(app, twice.body.batch_key)).toMatchObject({
      state: 'completed',
      value: { uses: 2, applied: 1, replayed: 1, failed: [] },
    });
    expect(await smsRow('g')).toEqual({ granted: '100', consumed: '22', remaining: '78' });
    const split = await app.request('POST', '/v1/consumptions/batch', {
      key: app.keys.write,
      body: { items: [use('g', 1, 'm-7'), use('g', 2, 'm-7')] },
    });
    expect(split.status, split.text).toBe(409);
    expect(split.body).toMatchObject({ code: 'idempotency_conflict' });
    expect((await getConsumption(idOf('g', 'm-7'))).status).toBe(404);

    // an unknown client fails alone too, at the door: the batch is accepted, m-4 applied (G: 78 − 1 = 77), and m-5
    // answered `failed`, not_found, under its own id, which reads the same; nothing is deducted for it
    const unknown = await app.request('POST', '/v1/consumptions/batch', {
      key: app.keys.write,
      body: { items: [use('g', 1, 'm-4'), { ...use('g', 1, 'm-5'), client: 'i14-nobody' }] },
    });
    expect(unknown.status, unknown.text).toBe(202);
    const nobody = consumptionId('i14-nobody', 'm-5');
    expect(unknown.body.data).toEqual([
      { id: idOf('g', 'm-4'), status: 'queued', idempotency_key: 'm-4' },
      { id: nobody, status: 'failed', idempotency_key: 'm-5', code: 'not_found', detail: 'no client "i14-nobody"' },
    ]);
    expect(await batchOutcome(app, unknown.body.batch_key)).toMatchObject({
      state: 'completed',
      value: { uses: 1, applied: 1, failed: [] },
    });
    expect((await getConsumption(nobody)).body).toEqual(unknown.body.data[1]);
    expect((await getConsumption(idOf('g', 'm-4'))).body).toMatchObject({ status: 'applied', remaining: '77' });
    expect(await smsRow('g')).toEqual({ granted: '100', consumed: '23', remaining: '77' });
  }, 60_000);
});

describe('4. CreditsProducer.consumeMany', () => {
  it('enqueues a consume-batch job the worker applies: idempotent, each use readable, one bad use alone', async () => {
    const producer = new CreditsProducer({
      connection: app.ctx.redisUrl,
      prefix: app.prefix,
      now: () => app.clock.now(),
    });
    try {
      // H: p-0 over HTTP first, 100 − 10 = 90
      expect((await consume(use('h', 10, 'p-0'), true)).body.remaining).toBe('90');
      const uses = [
        use('h', 10, 'p-0'), // the same use again: replayed, not applied twice
        use('h', 1_000, 'p-1'), // more than H holds: rejected, 90 left
        { ...use('h', 1, 'p-2'), client: 'i14-nobody' }, // no such client: fails alone (not_found)
        { ...use('h', 1, 'p-3'), credit_type: HOUR }, // H holds no hours: rejected
        use('h', 20, 'p-4'), // 90 − 20 = 70
        use('h', -1, 'p-5'), // well formed, but not a quantity one can use: fails alone (validation_failed)
      ];
      const batches = await producer.consumeMany(uses, { batchKey: 'i14-prod' });
      expect(batches).toEqual([{ jobId: 'consume-batch|i14-prod', uses: 6 }]);
      const outcome = await awaitOutcome(app.ctx, 'consume-batch', 'consume-batch|i14-prod', { timeoutMs: 30_000 });
      expect(outcome).toMatchObject({
        state: 'completed',
        value: {
          batch_key: 'i14-prod',
          uses: 6,
          applied: 1,
          partial: 0,
          rejected: 2,
          replayed: 1,
          failed: [
            { index: 2, idempotency_key: 'p-2', code: 'not_found' },
            { index: 5, idempotency_key: 'p-5', code: 'validation_failed' },
          ],
        },
      });
      const byKey = await app.request('GET', '/v1/consumptions?client=i14-h&idempotency_key=p-4', {
        key: app.keys.read,
      });
      expect(byKey.body.data).toEqual([
        expect.objectContaining({ id: idOf('h', 'p-4'), status: 'applied', applied: '20', remaining: '70' }),
      ]);
      expect((await getConsumption(idOf('h', 'p-1'))).body).toMatchObject({ status: 'rejected', remaining: '90' });
      expect((await getConsumption(idOf('h', 'p-0'))).body).toMatchObject({ status: 'applied', applied: '10' });

      // the same batch key with other uses, while Redis holds its job: refused, nothing added (a job id that
      // is taken would have swallowed p-6 without a word)
      await expect(producer.consumeMany([use('h', 5, 'p-6')], { batchKey: 'i14-prod' })).rejects.toMatchObject({
        code: 'idempotency_conflict',
      });
      expect(await app.ctx.queues.consumption.getJob('consume-batch|i14-prod')).toMatchObject({
        data: { items: expect.arrayContaining([expect.objectContaining({ idempotency_key: 'p-4' })]) },
      });

      // two calls at once with one new key and other uses: one job is made, and the call whose uses it does not
      // carry is refused (read back after the add), never answered as if its uses were on their way (uses of
      // no client: whichever job is made fails them alone, and H's figures below stay as they are)
      const nobody = (key: string) => ({ ...use('h', 1, key), client: 'i14-nobody' });
      const racing = await Promise.allSettled([
        producer.consumeMany([nobody('p-7')], { batchKey: 'i14-race' }),
        producer.consumeMany([nobody('p-8')], { batchKey: 'i14-race' }),
      ]);
      expect(racing.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      expect(racing.find((r) => r.status === 'rejected')).toMatchObject({
        reason: { code: 'idempotency_conflict' },
      });

      // sent again, under the same key and under none: nothing more is applied
      await producer.consumeMany(uses, { batchKey: 'i14-prod' });
      const [fresh] = await producer.consumeMany(uses);
      expect(fresh!.jobId).not.toBe('consume-batch|i14-prod');
      const second = await awaitOutcome(app.ctx, 'consume-batch', fresh!.jobId, { timeoutMs: 30_000 });
      // p-0, p-1, p-3 and p-4 answered from before; p-2 still has no client, p-5 is still refused
      expect(second).toMatchObject({
        state: 'completed',
        value: {
          uses: 6,
          applied: 0,
          rejected: 0,
          replayed: 4,
          failed: [
            { index: 2, code: 'not_found' },
            { index: 5, code: 'validation_failed' },
          ],
        },
      });
      expect(await smsRow('h')).toEqual({ granted: '100', consumed: '30', remaining: '70' });
      // p-0, p-1, p-3, p-4: four consumptions, two of them consuming
      expect(await app.database.db('consumptions').where({ client_id: client.h!.id })).toHaveLength(4);
      expect(await ledgerConsumes('h')).toBe(2);

      // the shape of every use is checked before any is enqueued: one quantity that is no number, no job at all
      await expect(
        producer.consumeMany([use('h', 1, 'p-9'), { ...use('h', 1, 'p-10'), quantity: 'ten' }], {
          batchKey: 'i14-bad',
        }),
      ).rejects.toThrow(/quantity/);
      expect(await app.ctx.queues.consumption.getJob('consume-batch|i14-bad')).toBeUndefined();
    } finally {
      await producer.close();
    }
  }, 60_000);
});

describe('4b. CreditsProducer: a key taken by another payload is refused, for every job', () => {
  it('a single use, one of consumeEach, a hold: another payload under a held key throws, adds nothing', async () => {
    const producer = new CreditsProducer({
      connection: app.ctx.redisUrl,
      prefix: app.prefix,
      now: () => app.clock.now(),
    });
    const job = (id: string) => app.ctx.queues.consumption.getJob(id);
    try {
      const before = await smsRow('h');
      const first = await producer.consume(use('h', 3, 'q-1'));
      expect(first.jobId).toBe(jobIdOf('consume', use('h', 3, 'q-1')));
      expect(await awaitOutcome(app.ctx, 'consume', first.jobId, { timeoutMs: 30_000 })).toMatchObject({
        state: 'completed',
      });
      // the same use again, later (another accepted_at) and with its keys in another order: the same request
      const { idempotency_key, ...rest } = use('h', 3, 'q-1');
      await expect(producer.consume({ idempotency_key, ...rest })).resolves.toEqual(first);
      // and with its quantity written another way (3 as "3.00", "+03"): the same use, not another payload
      await expect(producer.consume({ ...use('h', 3, 'q-1'), quantity: '3.00' })).resolves.toEqual(first);
      await expect(producer.consume({ ...use('h', 3, 'q-1'), quantity: ' +03 ' })).resolves.toEqual(first);
      // another quantity under the key: refused — before, BullMQ's add found the id taken, did nothing, and the
      // call resolved as if 5 units were on their way
      await expect(producer.consume(use('h', 5, 'q-1'))).rejects.toMatchObject({
        name: 'ProducerConflictError',
        code: 'idempotency_conflict',
        message: expect.stringContaining(first.jobId),
      });
      expect((await job(first.jobId))?.data).toMatchObject({ quantity: 3 });

      // among many: the others are enqueued and applied, the one whose key is taken is named
      await expect(producer.consumeEach([use('h', 2, 'q-2'), use('h', 7, 'q-1')])).rejects.toThrow(
        /job 2 of the call's 2/,
      );
      const second = jobIdOf('consume', use('h', 2, 'q-2'));
      expect(await awaitOutcome(app.ctx, 'consume', second, { timeoutMs: 30_000 })).toMatchObject({
        state: 'completed',
      });

      // a hold's key, the same way
      const hold = { client: client.h!.ref, credit_type: SMS, quantity: 4, idempotency_key: 'q-hold' };
      const held = await producer.hold(hold);
      await expect(producer.hold({ ...hold, quantity: 6 })).rejects.toMatchObject({ code: 'idempotency_conflict' });
      expect((await job(held.jobId))?.data).toMatchObject({ quantity: 4 });
      expect(await awaitOutcome(app.ctx, 'hold', held.jobId, { timeoutMs: 30_000 })).toMatchObject({
        state: 'completed',
      });

      // 3 + 2 consumed, 4 held: nothing of the refused payloads
      const remaining = BigInt(before.remaining) - 3n - 2n - 4n;
      expect(await smsRow('h')).toEqual({
        granted: before.granted,
        consumed: String(BigInt(before.consumed) + 5n),
        remaining: String(remaining),
      });
    } finally {
      await producer.close();
    }
  }, 60_000);
});

describe('5. API keys from a short-lived cache, the rate limit counted in process', () => {
  const get = (base: string, key: string, path = '/v1/credit-types') =>
    fetch(base + path, { headers: { authorization: `Bearer ${key}` } });

  it('a key revoked with the CLI stops working within API_KEY_CACHE_MS of the cache clock', async () => {
    const key = await createApiKey(app.database.db, { name: 'i14 cli', scopes: ['read'], now: app.clock.now() });
    // read and remembered at t0: valid until t0 + 2,000 ms
    expect((await get(app.baseUrl, key.key)).status).toBe(200);
    const cli = await runCli(app, 'keys', 'revoke', key.id);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout.trim().split('\n').at(-1)).toBe(`revoked ${key.id}`);
    // t0 + 1,999: still the remembered answer (the bound allows it)
    ticks += KEY_CACHE_MS - 1;
    expect((await get(app.baseUrl, key.key)).status).toBe(200);
    // t0 + 2,000: the entry has lapsed, the key is read again and refused
    ticks += 1;
    const refused = await get(app.baseUrl, key.key);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ status: 401, code: 'unauthorized' });

    // revoked over HTTP in this process: refused at once, whatever the cache held
    const other = await createApiKey(app.database.db, { name: 'i14 http', scopes: ['read'], now: app.clock.now() });
    expect((await get(app.baseUrl, other.key)).status).toBe(200);
    const revoke = await app.request('POST', `/v1/api-keys/${other.id}/revoke`);
    expect(revoke.status, revoke.text).toBe(200);
    expect((await get(app.baseUrl, other.key)).status).toBe(401);
  }, 60_000);

  it('429 rate_limited with Retry-After once the limit is spent; the refused write records nothing', async () => {
    const limited: Sibling = await startSibling(app, ['api'], { config: { RATE_LIMIT_PER_MINUTE: 20 } });
    try {
      // 09:10:15 on the caches' clock: 45 s left in the minute
      ticks = Date.UTC(2026, 5, 1, 9, 10, 15);
      const key = await createApiKey(app.database.db, { name: 'i14 rate', scopes: ['write'], now: app.clock.now() });
      const base = limited.baseUrl!;
      // one process alone: exactly 20 admitted, the n-th leaving 20 − n
      for (let n = 1; n <= 20; n += 1) {
        const res = await get(base, key.key);
        expect(res.status, `request ${n}`).toBe(200);
        expect(res.headers.get('ratelimit')).toBe(`limit=20, remaining=${20 - n}, reset=45`);
        expect(res.headers.get('ratelimit-policy')).toBe('20;w=60');
        await res.arrayBuffer();
      }
      // the 21st, a write: refused before anything is recorded
      const refused = await fetch(`${base}/v1/consumptions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key.key}`, 'content-type': 'application/json' },
        body: JSON.stringify(use('a', 1, 'rl-1')),
      });
      expect(refused.status).toBe(429);
      expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(refused.headers.get('retry-after')).toBe('45');
      expect(await refused.json()).toMatchObject({ status: 429, code: 'rate_limited' });
      expect((await getConsumption(idOf('a', 'rl-1'))).status).toBe(404);
      expect(await acceptedRows()).toBe(0);
      // another key on the same process is not touched
      expect((await get(base, app.keys.read)).status).toBe(200);
      // 44 s later still refused, 1 s left; at 09:11:00 a new minute and a new budget
      ticks += 44_000;
      const stillRefused = await get(base, key.key);
      expect(stillRefused.status).toBe(429);
      expect(stillRefused.headers.get('retry-after')).toBe('1');
      ticks += 1_000;
      const next = await get(base, key.key);
      expect(next.status).toBe(200);
      expect(next.headers.get('ratelimit')).toBe('limit=20, remaining=19, reset=60');
    } finally {
      await limited.stop();
    }
  });

  it('counts the limit without a Redis round trip per request', async () => {
    // 1,000 a minute: a process sends its count after 1% of it (10 requests) unsent, or every
    // RATE_LIMIT_SYNC_MS (10 s here, longer than this test); 100 requests → 10 sends, and at most one
    // more read each while a send is in flight (≤ 20) — never 100
    const counted = await startSibling(app, ['api'], {
      config: { RATE_LIMIT_PER_MINUTE: 1_000, RATE_LIMIT_SYNC_MS: 10_000 },
    });
    try {
      ticks = Date.UTC(2026, 5, 1, 9, 20, 15);
      const key = await createApiKey(app.database.db, { name: 'i14 count', scopes: ['read'], now: app.clock.now() });
      expect((await get(counted.baseUrl!, key.key)).status).toBe(200);
      const redis = counted.ctx.redis;
      const pipeline = redis.pipeline.bind(redis);
      let roundTrips = 0;
      redis.pipeline = ((...args: Parameters<typeof redis.pipeline>) => {
        roundTrips += 1;
        return pipeline(...args);
      }) as typeof redis.pipeline;
      for (let n = 2; n <= 101; n += 1) {
        const res = await get(counted.baseUrl!, key.key);
        expect(res.status).toBe(200);
        await res.arrayBuffer();
      }
      expect(roundTrips).toBeGreaterThanOrEqual(10);
      expect(roundTrips).toBeLessThanOrEqual(20);
    } finally {
      await counted.stop();
    }
  });
});
