import { Job, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Admitter } from '../../src/commands/admitter.js';
import { accept, requeueLost } from '../../src/commands/index.js';
import { upsertJobFailure } from '../../src/db/repositories/job-failures.js';
import { recordEvents } from '../../src/db/repositories/outbox.js';
import { consumptionId } from '../../src/ids.js';
import { jobIdOf } from '../../src/jobs/definitions.js';
import { rechargeFingerprint } from '../../src/jobs/recharge.js';
import { relayRequeued } from '../../src/metrics.js';
import { dispatchOutbox } from '../../src/workers/relay.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/**
 * The relay's recovery of accepted requests whose job Redis lost, and the counter that shows it
 * (`credits_relay_requeued_total{kind="accepted"}`: what the chaos run counts from the relay's log
 * line, for an operator's /metrics).
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ roles: ['api'], now: '2026-05-01T00:00:00.000Z' });
});
afterAll(async () => {
  await app.close();
});

/**
 * Takes the consumption queue's next job as a worker would (BullMQ's manual processing: no processor), checks it is
 * `jobId`, and ends it as `end` says.
 */
async function endNextJob(jobId: string, end: (job: Job, token: string) => Promise<unknown>): Promise<void> {
  const connection = new Redis(app.ctx.redisUrl, { maxRetriesPerRequest: null });
  const worker = new Worker(app.ctx.queues.consumption.name, null, { connection, prefix: app.prefix });
  try {
    const token = 'relay-test';
    const job = (await worker.getNextJob(token)) as Job;
    expect(job.id).toBe(jobId);
    await end(job, token);
  } finally {
    await worker.close();
    connection.disconnect();
  }
}

const requeuedSoFar = async (): Promise<number> =>
  (await relayRequeued.get()).values.find((v) => v.labels.kind === 'accepted')?.value ?? 0;

/**
 * No job waiting and no request accepted (the tests before leave their jobs waiting, no worker here, and their rows
 * accepted), then a client holding 10 units of a credit type of its own.
 */
async function fromNothingAccepted() {
  await app.ctx.queues.consumption.drain(true);
  await app.database.db('accepted_jobs').del();
  const sms = await createCreditType(app);
  const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
  const client = await createClient(app);
  await subscribe(app, client.id, pkg.code);
  return { sms, client };
}

describe('relay: accepted requests missing from Redis', () => {
  it('are enqueued again under the same job id, counted once each, and left alone while Redis holds them', async () => {
    const sms = await createCreditType(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    const client = await createClient(app);
    await subscribe(app, client.id, pkg.code);
    // three uses accepted on their own, a job each (a batch request would carry them in one job)
    for (const i of [1, 2, 3]) {
      const res = await app.request('POST', '/v1/consumptions', {
        key: app.keys.write,
        body: { client: client.id, credit_type: sms.code, quantity: 1, idempotency_key: `r-${i}` },
      });
      expect(res.status, res.text).toBe(202);
    }
    const rows = (await app.database.db('accepted_jobs').select('job_id')) as Array<{ job_id: string }>;
    expect(rows).toHaveLength(3);
    const queue = app.ctx.queues.consumption;

    // Redis holds every job: nothing to do
    const before = await requeuedSoFar();
    expect(await requeueLost(app.ctx, 0)).toBe(0);
    expect(await requeuedSoFar()).toBe(before);

    // Redis loses two of them
    for (const { job_id } of rows.slice(0, 2)) await (await Job.fromId(queue, job_id))!.remove();
    await app.database.db('accepted_jobs').update({ last_enqueued_at: null });
    expect(await requeueLost(app.ctx, 0)).toBe(2);
    expect(await requeuedSoFar()).toBe(before + 2);
    for (const { job_id } of rows) expect(await queue.getJobState(job_id)).toBe('waiting');
  });
});

describe("relay: a group's carrier missing from Redis", () => {
  it('enqueues each carried use again as its own consume job, counted once each, then watches that job', async () => {
    const sms = await createCreditType(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    const client = await createClient(app);
    await subscribe(app, client.id, pkg.code);
    // three single uses in one group (an admitter whose group is written once three commands wait)
    const admitter = new Admitter(app.ctx, { maxCommands: 3, maxWaitMs: 60_000, maxInFlight: 1 });
    const data = (key: string) => ({
      client: client.id,
      credit_type: sms.code,
      quantity: 1,
      idempotency_key: key,
      accepted_at: '2026-05-01T00:00:00.000Z',
    });
    const keys = ['g-1', 'g-2', 'g-3'];
    const answers = await Promise.all(
      keys.map((key) =>
        admitter.submit([{ name: 'consume', data: data(key), subjectId: consumptionId(client.id, key) }], {}),
      ),
    );
    expect(answers.map((a) => a.ok)).toEqual([true, true, true]);
    const jobIds = keys.map((key) => jobIdOf('consume', data(key)));
    const rows = (await app.database.db('accepted_jobs').whereIn('job_id', jobIds).select('carrier_job_id')) as Array<{
      carrier_job_id: string | null;
    }>;
    const carriers = new Set(rows.map((r) => r.carrier_job_id));
    expect(carriers.size).toBe(1);
    const [carrierId] = [...carriers];
    expect(carrierId).toMatch(/^consume-batch\|group-/);
    const queue = app.ctx.queues.consumption;

    // Redis loses the carrier: each use comes back on its own, under its API.md job id
    await (await Job.fromId(queue, carrierId!))!.remove();
    await app.database.db('accepted_jobs').update({ last_enqueued_at: null });
    const before = await requeuedSoFar();
    expect(await requeueLost(app.ctx, 0)).toBe(3);
    expect(await requeuedSoFar()).toBe(before + 3);
    for (const jobId of jobIds) expect((await Job.fromId(queue, jobId))?.name).toBe('consume');
    // the rows forget the lost carrier: from now on the relay finds their own jobs, and leaves them alone
    const after = await app.database.db('accepted_jobs').whereIn('job_id', jobIds).select('carrier_job_id');
    expect(after.map((r) => r.carrier_job_id)).toEqual([null, null, null]);
    await app.database.db('accepted_jobs').update({ last_enqueued_at: null });
    expect(await requeueLost(app.ctx, 0)).toBe(0);
    expect(await requeuedSoFar()).toBe(before + 3);
  });
});

describe('relay: an accepted request whose job failed with a failure stored by an earlier run', () => {
  it('is retried, not taken as settled by that stale failure (the last run failed only transiently)', async () => {
    const { sms, client } = await fromNothingAccepted();
    const res = await app.request('POST', '/v1/consumptions', {
      key: app.keys.write,
      body: { client: client.id, credit_type: sms.code, quantity: 1, idempotency_key: 'stale-1' },
    });
    expect(res.status, res.text).toBe(202);
    const { job_id: jobId } = (await app.database.db('accepted_jobs').first('job_id')) as { job_id: string };
    const queue = app.ctx.queues.consumption;
    // a refusal stored under this job id by an earlier run
    await upsertJobFailure(app.database.db, {
      job_id: jobId,
      queue: 'consumption',
      name: 'consume',
      code: 'validation_failed',
      detail: 'an earlier run was refused',
      errors: null,
      extra: null,
      failed_at: app.clock.now(),
    });
    // this run takes the job and fails: for good (no retry left), on an outage rather than a refusal — no
    // failure of its own was stored
    await endNextJob(jobId, (job, token) =>
      job.moveToFailed(new UnrecoverableError('connection terminated unexpectedly'), token),
    );
    expect(await queue.getJobState(jobId)).toBe('failed');

    await app.database.db('accepted_jobs').update({ last_enqueued_at: null });
    expect(await requeueLost(app.ctx, 0)).toBe(1);
    // run again, and the accepted row kept until a worker settles it
    expect(await queue.getJobState(jobId)).toBe('waiting');
    expect(await app.database.db('accepted_jobs').where({ job_id: jobId })).toHaveLength(1);
  });
});

/** One use accepted in an HTTP batch of its own (its row names the consume-batch carrier beside it), from nothing. */
async function oneCarriedUse(key: string) {
  const { sms, client } = await fromNothingAccepted();
  const res = await app.request('POST', '/v1/consumptions/batch', {
    key: app.keys.write,
    body: { items: [{ client: client.id, credit_type: sms.code, quantity: 1, idempotency_key: key }] },
  });
  expect(res.status, res.text).toBe(202);
  const row = (await app.database.db('accepted_jobs').first('job_id', 'carrier_job_id')) as {
    job_id: string;
    carrier_job_id: string;
  };
  expect(row.carrier_job_id).toBe(jobIdOf('consume-batch', { batch_key: res.body.batch_key, items: [] }));
  return row;
}

/** The relay's pass: the use goes on as its own consume job, its row kept (forgetting the carrier) until settled. */
async function expectTravelsAlone(row: { job_id: string }) {
  await app.database.db('accepted_jobs').update({ last_enqueued_at: null });
  expect(await requeueLost(app.ctx, 0)).toBe(1);
  expect((await Job.fromId(app.ctx.queues.consumption, row.job_id))?.name).toBe('consume');
  expect(await app.database.db('accepted_jobs').where({ job_id: row.job_id }).select('carrier_job_id')).toEqual([
    { carrier_job_id: null },
  ]);
}

describe('relay: a carried use whose carrier finished without it', () => {
  it('travels on its own instead of being taken as settled (it would be lost)', async () => {
    const row = await oneCarriedUse('behind-1');
    const queue = app.ctx.queues.consumption;
    // Redis holds, under the carrier's name, a batch that finished without this use (an earlier one of that name)
    await (await Job.fromId(queue, row.carrier_job_id))!.remove();
    await queue.add('consume-batch', { batch_key: 'earlier', items: [] }, { jobId: row.carrier_job_id });
    await endNextJob(row.carrier_job_id, (job, token) => job.moveToCompleted({ uses: 0 }, token, false));
    expect(await queue.getJobState(row.carrier_job_id)).toBe('completed');
    await expectTravelsAlone(row);
  });

  it("travels on its own when its carrier failed for good, not taken as settled by the carrier's failure", async () => {
    const row = await oneCarriedUse('refused-carrier');
    // the worker refused the carrier whole (a payload it reads otherwise, after a rollback): its failure stored, as
    // failCommand stores one, and the job failed with it — the use in it neither applied nor refused on its own
    const failure = { code: 'validation_failed' as const, detail: 'items.0: unrecognized key "extra"' };
    await upsertJobFailure(app.database.db, {
      job_id: row.carrier_job_id,
      queue: 'consumption',
      name: 'consume-batch',
      ...failure,
      errors: null,
      extra: null,
      failed_at: app.clock.now(),
    });
    await endNextJob(row.carrier_job_id, (job, token) =>
      job.moveToFailed(new UnrecoverableError(`${failure.code}: ${failure.detail}`), token),
    );
    expect(await app.ctx.queues.consumption.getJobState(row.carrier_job_id)).toBe('failed');
    await expectTravelsAlone(row);
  });
});

describe('relay: an accepted request whose own job finished before it was accepted (Postgres restored)', () => {
  /**
   * A hold accepted, and its job ended by a run that did not apply it; then its row written again. So it is after a
   * restore of Postgres from a backup taken before that run: the request comes again, its row is written anew, and
   * its enqueue adds nothing (Redis holds the job finished, up to an hour).
   */
  async function holdWhoseJobRan(key: string, rowAgain: boolean) {
    const { sms, client } = await fromNothingAccepted();
    const res = await app.request('POST', '/v1/holds', {
      key: app.keys.write,
      body: { client: client.id, credit_type: sms.code, quantity: 2, idempotency_key: key, expires_in_seconds: 600 },
    });
    expect(res.status, res.text).toBe(202);
    const row = (await app.database.db('accepted_jobs').first('job_id', 'carrier_job_id')) as {
      job_id: string;
      carrier_job_id: string | null;
    };
    expect(row.carrier_job_id).toBeNull();
    await endNextJob(row.job_id, (job, token) => job.moveToCompleted({ earlier: true }, token, false));
    // Postgres's clock, which writes accepted_at, is this machine's, which BullMQ's finishedOn was read from
    if (rowAgain)
      await app.database.db('accepted_jobs').update({ accepted_at: app.database.db.raw('clock_timestamp()') });
    await app.database.db('accepted_jobs').update({ last_enqueued_at: null });
    return row.job_id;
  }

  it('runs again under its job id (the finished run removed), its row kept until a worker settles it', async () => {
    const jobId = await holdWhoseJobRan('restored-1', true);
    const queue = app.ctx.queues.consumption;
    expect(await queue.getJobState(jobId)).toBe('completed');
    const before = await requeuedSoFar();
    expect(await requeueLost(app.ctx, 0)).toBe(1);
    expect(await requeuedSoFar()).toBe(before + 1);
    const job = await Job.fromId(queue, jobId);
    expect(await job?.getState()).toBe('waiting');
    expect(job?.name).toBe('hold');
    expect(job?.returnvalue ?? null).toBeNull();
    expect(await app.database.db('accepted_jobs').where({ job_id: jobId })).toHaveLength(1);
    // Redis holds it now: left alone
    await app.database.db('accepted_jobs').update({ last_enqueued_at: null });
    expect(await requeueLost(app.ctx, 0)).toBe(0);
  });

  it('is taken as settled when its job finished after it was accepted (the run that applied it)', async () => {
    const jobId = await holdWhoseJobRan('restored-2', false);
    expect(await requeueLost(app.ctx, 0)).toBe(0);
    expect(await app.ctx.queues.consumption.getJobState(jobId)).toBe('completed');
    expect(await app.database.db('accepted_jobs').where({ job_id: jobId })).toHaveLength(0);
  });
});

describe("relay: a group's carrier that failed for good on transient errors, carrying several uses", () => {
  it('is run again once, and the sweep goes on to the rest of its batch (a lost job is enqueued again)', async () => {
    const { sms, client } = await fromNothingAccepted();
    // two single uses in one group: one carrier for both
    const admitter = new Admitter(app.ctx, { maxCommands: 2, maxWaitMs: 60_000, maxInFlight: 1 });
    const data = (key: string) => ({
      client: client.id,
      credit_type: sms.code,
      quantity: 1,
      idempotency_key: key,
      accepted_at: '2026-05-01T00:00:00.000Z',
    });
    const answers = await Promise.all(
      ['tf-1', 'tf-2'].map((key) =>
        admitter.submit([{ name: 'consume', data: data(key), subjectId: consumptionId(client.id, key) }], {}),
      ),
    );
    expect(answers.map((a) => a.ok)).toEqual([true, true]);
    const [carrierId, ...others] = (
      (await app.database.db('accepted_jobs').distinct('carrier_job_id')) as Array<{ carrier_job_id: string | null }>
    ).map((r) => r.carrier_job_id);
    expect(others).toEqual([]);
    // the carrier ran out of attempts on an outage: failed, and no failure of its own stored
    await endNextJob(carrierId!, (job, token) =>
      job.moveToFailed(new UnrecoverableError('connection terminated unexpectedly'), token),
    );
    const queue = app.ctx.queues.consumption;
    expect(await queue.getJobState(carrierId!)).toBe('failed');
    // and a use accepted after them whose job Redis lost
    const res = await app.request('POST', '/v1/consumptions', {
      key: app.keys.write,
      body: { client: client.id, credit_type: sms.code, quantity: 1, idempotency_key: 'tf-lost' },
    });
    expect(res.status, res.text).toBe(202);
    const lost = jobIdOf('consume', { ...data('tf-lost') });
    await (await Job.fromId(queue, lost))!.remove();

    await app.database.db('accepted_jobs').update({ last_enqueued_at: null });
    // the carrier retried once (not once per use it carries), the lost use enqueued again
    expect(await requeueLost(app.ctx, 0)).toBe(2);
    expect(await queue.getJobState(carrierId!)).toBe('waiting');
    expect(await queue.getJobState(lost)).toBe('waiting');
    expect(await app.database.db('accepted_jobs').whereNotNull('last_enqueued_at')).toHaveLength(3);
  });
});

describe('relay: automatic recharges dispatched together, one of them clashing with an earlier request', () => {
  it('refuses that one alone: the others are accepted and enqueued', async () => {
    await fromNothingAccepted();
    const sms = await createCreditType(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    type Held = { client: string; id: string; balance: string };
    const subscriptions: Held[] = [];
    for (let i = 0; i < 2; i += 1) {
      const client = await createClient(app);
      const s = await subscribe(app, client.id, pkg.code);
      const balance = (await app.database.db('balances').where({ subscription_id: s.id }).first('id')) as {
        id: string;
      };
      subscriptions.push({ client: client.id, id: s.id, balance: balance.id });
    }
    const [clashing, other] = subscriptions as [Held, Held];
    // a recharge asked by hand under the key the automatic one of the first balance takes, with other items
    const byHand = {
      subscription_id: clashing.id,
      idempotency_key: `auto-${clashing.balance}`,
      items: [{ credit_type: sms.code, units: '1' }],
      accepted_at: app.clock.now().toISOString(),
    };
    const taken = await accept(app.database.db, [
      { name: 'recharge', data: byHand, requestHash: rechargeFingerprint(byHand), subjectId: clashing.id },
    ]);
    expect(taken.ok).toBe(true);
    // the events so far (the sales') dispatched first
    while ((await dispatchOutbox(app.ctx)) > 0);
    // both balances crossed their threshold: two automatic recharges (the second balance's told twice)
    const autoRecharge = (s: Held) => ({
      type: 'command.auto_recharge' as const,
      clientId: s.client,
      subjectId: s.balance,
      data: { subscription_id: s.id, balance_id: s.balance },
    });
    await recordEvents(
      app.database.db,
      [autoRecharge(clashing), autoRecharge(other), autoRecharge(other)],
      app.clock.now(),
    );
    expect(await dispatchOutbox(app.ctx)).toBe(3);

    const otherJob = jobIdOf('recharge', { subscription_id: other.id, idempotency_key: `auto-${other.balance}` });
    expect(await app.database.db('accepted_jobs').where({ job_id: otherJob })).toHaveLength(1);
    expect((await Job.fromId(app.ctx.queues.recharge, otherJob))?.data).toMatchObject({ auto: true });
    // the clashing one refused: the request by hand stands as it was accepted
    const clashJob = jobIdOf('recharge', { subscription_id: clashing.id, idempotency_key: `auto-${clashing.balance}` });
    const kept = (await app.database.db('accepted_jobs').where({ job_id: clashJob })) as Array<{ data: unknown }>;
    expect(kept.map((r) => r.data)).toEqual([expect.objectContaining({ items: byHand.items })]);
  });
});
