import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import { cleanup } from '../../src/jobs/cleanup.js';
import { CreditsProducer } from '../../src/producer/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { countRows, createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/**
 * Issue 13, item 9: a job that fails for a reason no caller can fix (a bug, a broken database object)
 * is answered under `?wait=true` as `500 internal` — never a 409 conflict, never with the raw error
 * message. JOB_ATTEMPTS=1 makes such a job fail for good at its first failure, so the wait sees it.
 */
const SECRET_MESSAGE = 'kaboom-from-a-trigger-7f3a';

let app: TestApp;
let sms: { code: string };
beforeAll(async () => {
  app = await startTestApp({
    roles: ['api', 'worker'],
    now: '2026-03-10T09:00:00.000Z',
    env: { JOB_ATTEMPTS: '1' },
  });
  sms = await createCreditType(app, { code: 'jf-sms' });
});
afterAll(async () => {
  await app.close();
});

/** A trigger in this test's own database that makes every insert into `table` fail unexpectedly. */
async function breakInserts(table: string): Promise<() => Promise<void>> {
  const db = app.database.db;
  await db.raw(
    `CREATE OR REPLACE FUNCTION test_explode() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN RAISE EXCEPTION '${SECRET_MESSAGE}'; END $$`,
  );
  await db.raw(`CREATE TRIGGER test_explode BEFORE INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION test_explode()`);
  return async () => {
    await db.raw(`DROP TRIGGER test_explode ON ${table}`);
  };
}

function expectInternal(res: { status: number; text: string; headers: Headers; body: any }): void {
  expect(res.status, res.text).toBe(500);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ type: 'urn:credits:problem:internal', status: 500, code: 'internal' });
  expect(res.text).not.toContain(SECRET_MESSAGE);
  expect(res.text).not.toMatch(/\n\s+at |\\n\s+at |node_modules|\.ts:\d+/);
}

describe('an unexpected job failure under ?wait=true', () => {
  it('a recharge whose write fails unexpectedly answers 500 internal, not 409, and writes nothing', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    const sub = await subscribe(app, client.id, pkg.code);
    const restore = await breakInserts('recharges');
    try {
      const before = { balances: await countRows(app, 'balances'), invoices: await countRows(app, 'invoices') };
      const res = await app.request('POST', `/v1/subscriptions/${sub.id}/recharge?wait=true`, {
        key: app.keys.write,
        headers: { 'Idempotency-Key': 'jf-recharge-1' },
      });
      expectInternal(res);
      // the job's transaction rolled back whole
      expect(await countRows(app, 'balances')).toBe(before.balances);
      expect(await countRows(app, 'invoices')).toBe(before.invoices);
      // no typed failure was stored for it: it failed for no reason a caller could fix
      expect(await countRows(app, 'job_failures')).toBe(0);
    } finally {
      await restore();
    }
  });

  it('a renewal whose write fails unexpectedly answers 500 internal too', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    const sub = await subscribe(app, client.id, pkg.code);
    const restore = await breakInserts('subscription_periods');
    try {
      const res = await app.request('POST', `/v1/subscriptions/${sub.id}/renew?wait=true`, {
        key: app.keys.write,
        headers: { 'Idempotency-Key': 'jf-renew-1' },
      });
      expectInternal(res);
    } finally {
      await restore();
    }
  });
});

describe('a failure stored for an earlier run of the same job id', () => {
  it('is not answered for a later run that failed unexpectedly (a stale refusal read as the new failure)', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    await subscribe(app, client.id, pkg.code);
    const held = await app.request('POST', '/v1/holds?wait=true', {
      key: app.keys.write,
      body: { client: client.id, credit_type: sms.code, quantity: 4, idempotency_key: 'jf-hold-1' },
    });
    expect(held.status, held.text).toBe(200);
    const producer = new CreditsProducer({ connection: app.ctx.redisUrl, prefix: app.prefix });
    try {
      // the first run: refused by the worker (5 of a hold of 4), its failure stored under the hold's job id
      const refused = await producer.capture({ hold_id: held.body.id, quantity: 5 });
      expect(await awaitOutcome(app.ctx, 'capture', refused.jobId, { timeoutMs: 20_000 })).toMatchObject({
        state: 'failed',
        failure: { code: 'validation_failed' },
      });
      // the next run under that id (the producer replaces the refused job) fails for a reason nobody can fix
      const restore = await breakInserts('consumptions');
      try {
        // one attempt, as JOB_ATTEMPTS=1 gives the service's own jobs: the wait sees it fail for good
        const next = await producer.capture({ hold_id: held.body.id, quantity: 2 }, { attempts: 1 });
        expect(next.jobId).toBe(refused.jobId);
        const outcome = await awaitOutcome(app.ctx, 'capture', next.jobId, { timeoutMs: 20_000 });
        expect(outcome).toMatchObject({ state: 'failed', failure: { code: 'internal' } });
      } finally {
        await restore();
      }
    } finally {
      await producer.close();
    }
    // nothing was captured: the hold still holds its 4
    const after = await app.request('GET', `/v1/holds/${held.body.id}`, { key: app.keys.read });
    expect(after.body).toMatchObject({ status: 'held', held: '4' });
  });
});

describe('a stored failure kept as long as BullMQ keeps its failed job', () => {
  it('the nightly cleanup forgets a job failure 7 days after it was stored, not before', async () => {
    const producer = new CreditsProducer({ connection: app.ctx.redisUrl, prefix: app.prefix });
    try {
      // a use naming no client fails at the worker for good (not_found), its failure stored under its job id
      const job = await producer.consume({
        client: 'jf-nobody',
        credit_type: sms.code,
        quantity: 1,
        idempotency_key: 'jf-clean-1',
      });
      expect(await awaitOutcome(app.ctx, 'consume', job.jobId, { timeoutMs: 20_000 })).toMatchObject({
        state: 'failed',
        failure: { code: 'not_found' },
      });
      const stored = await app.database.db('job_failures').where({ job_id: job.jobId }).first();
      expect(stored).toBeDefined();
      // stored at the real time BullMQ's retention counts in (removeOnFail: 7 days)
      const failedAt = (stored as { failed_at: Date }).failed_at.getTime();
      const sixDays = await cleanup(app.ctx, new Date(failedAt + 6 * 86_400_000));
      expect(sixDays.ok && sixDays.value.job_failures).toBe(0);
      expect(await app.database.db('job_failures').where({ job_id: job.jobId })).toHaveLength(1);
      const eightDays = await cleanup(app.ctx, new Date(failedAt + 8 * 86_400_000));
      expect(eightDays.ok && eightDays.value.job_failures).toBeGreaterThanOrEqual(1);
      expect(await app.database.db('job_failures').where({ job_id: job.jobId })).toHaveLength(0);
    } finally {
      await producer.close();
    }
  });
});
