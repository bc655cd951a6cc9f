import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { awaitOutcome, requeueLost } from '../../src/commands/index.js';
import { createDb, type Db } from '../../src/db/knex.js';
import { holdId } from '../../src/ids.js';
import { withDatabase } from '../../src/infra/services.js';
import { CreditsProducer } from '../../src/producer/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { closeVerified } from '../helpers/http-steps.js';
import { removeTestQueueKeys } from '../helpers/queue-keys.js';

/**
 * README "Restoring Postgres from a backup": the service runs on a database, a backup of it is taken, two holds are
 * applied (one accepted through the API, one pushed by the producer), then the service runs on the backup with the
 * same Redis, which still holds both jobs completed. The API's request sent again is applied by the relay (its row is
 * new, its job finished before it: `finishedBefore` in commands/recover.ts); the producer's job sent again is not —
 * Redis still holds it — until `forget-completed-jobs` removes the completed jobs. Then each hold is held once.
 */
const PREFIX = `{restore-${process.pid}}`;
const NOW = '2026-05-01T00:00:00.000Z';
const NOW_DATE = new Date(NOW);
const server = () => inject('pgServerUrl');
/** The databases this file made (the live one and its backup), and the pools it opened on them. */
const databases: string[] = [];
const pools: Db[] = [];
const poolOn = (url: string): Db => {
  const db = createDb({ url, poolMax: 2 });
  pools.push(db);
  return db;
};

/**
 * What writes under PREFIX — each service (its queues write their `meta` when made, its workers and listeners the
 * `events` stream), the producer, the CLI — is opened through here and closed by the teardown before it removes the
 * keys: the services share PREFIX, so none of their closes removes it (helpers/app.ts), and a test that failed, or
 * ran past its timeout while its body went on, leaves open what it had not closed yet. Once the teardown began,
 * nothing more is opened (a body still running meets a refusal, not a queue writing under keys just removed).
 */
const closers: Array<() => Promise<void>> = [];
const inFlight = new Set<Promise<unknown>>();
let tearingDown = false;

/** `close`, made safe to call twice (the test's own close, then the teardown's), and registered for the teardown. */
function closedAtTeardown(close: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | undefined;
  const once = () => {
    closing ??= close();
    return closing;
  };
  closers.push(once);
  return once;
}

/** Runs `work` (a service starting, the CLI) unless the teardown began; the teardown waits for it to end. */
async function opening<T>(work: () => Promise<T>): Promise<T> {
  if (tearingDown) throw new Error(`the file's teardown began: nothing more runs on ${PREFIX}`);
  const running = work();
  inFlight.add(running);
  try {
    return await running;
  } finally {
    inFlight.delete(running);
  }
}

afterAll(async () => {
  tearingDown = true;
  // what is starting or running ends first (a body that ran past its timeout may be in the middle of one), then
  // everything opened closes, the latest first: only then is nothing left to write under PREFIX
  await Promise.allSettled([...inFlight]);
  for (const close of [...closers].reverse()) await close().catch(() => undefined);
  await removeTestQueueKeys(PREFIX);
  // the pools first: a connection a forced drop cut would fail in a pool still open
  for (const db of pools) await db.destroy();
  const admin = new pg.Client({ connectionString: server() });
  await admin.connect();
  try {
    for (const name of databases)
      await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
});

/** The service on this database (not dropped when it stops), on the queues of PREFIX, closed at the teardown. */
async function serviceOn(database: TestDatabase): Promise<TestApp> {
  const app = await opening(() =>
    startTestApp({
      database: { ...database, drop: async () => undefined },
      roles: ['api', 'worker'],
      now: NOW,
      // the relay's own rounds find nothing this test does not ask for (it calls requeueLost itself)
      env: { BULL_PREFIX: PREFIX, RELAY_GRACE_MS: '3600000' },
    }),
  );
  return { ...app, close: closedAtTeardown(app.close) };
}

/** The typed producer on PREFIX, closed at the teardown. */
function producerOn(): { producer: CreditsProducer; close: () => Promise<void> } {
  if (tearingDown) throw new Error(`the file's teardown began: nothing more runs on ${PREFIX}`);
  const producer = new CreditsProducer({ connection: inject('redisUrl'), prefix: PREFIX, now: () => NOW_DATE });
  return { producer, close: closedAtTeardown(() => producer.close()) };
}

/** A copy of the database as it stands now: a backup, restored. Nothing may be connected to it meanwhile. */
async function backupOf(database: TestDatabase): Promise<TestDatabase> {
  await database.db.destroy();
  const name = `${database.name}_backup`;
  const admin = new pg.Client({ connectionString: server() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE ${pg.escapeIdentifier(database.name)}`);
  } finally {
    await admin.end();
  }
  databases.push(name);
  const url = withDatabase(server(), name);
  return { url, name, db: poolOn(url), drop: async () => undefined };
}

describe('Postgres restored from a backup while Redis keeps its completed jobs', () => {
  // three services and a CLI process (tsx): seconds alone, far more beside the whole suite — past vitest's 30 s the
  // body would go on after the teardown
  it("applies the API's request sent again (the relay), the producer's once completed jobs are forgotten", {
    timeout: 120_000,
  }, async () => {
    let live = await createTestDatabase();
    databases.push(live.name);
    pools.push(live.db);
    const first = await serviceOn(live);
    const sms = await createCreditType(first);
    const pkg = await createPackage(first, [{ credit_type: sms.code, units: 10 }]);
    const client = await createClient(first);
    await subscribe(first, client.id, pkg.code);
    await first.close();

    const backup = await backupOf(live);
    live = { ...live, db: poolOn(live.url) };

    // after the backup: a hold through the API and one from the producer, both applied
    const apiHold = { client: client.id, credit_type: sms.code, quantity: 2, idempotency_key: 'api-1' };
    const producerHold = { client: client.id, credit_type: sms.code, quantity: 3, idempotency_key: 'producer-1' };
    const before = await serviceOn(live);
    const held = await before.request('POST', '/v1/holds?wait=true', { key: before.keys.write, body: apiHold });
    expect(held.status, held.text).toBe(200);
    const { producer, close: closeProducer } = producerOn();
    const pushed = await producer.hold(producerHold);
    expect(await awaitOutcome(before.ctx, 'hold', pushed.jobId, { timeoutMs: 20_000 })).toMatchObject({
      state: 'completed',
      value: { status: 'held' },
    });
    expect((await before.request('GET', `/v1/clients/${client.id}/balances`)).body.data[0]).toMatchObject({
      remaining: '5',
      held: '5',
    });
    await before.close();

    // restored: the backup knows neither hold; Redis holds both jobs completed
    const restored = await serviceOn(backup);
    try {
      const balances = async () => (await restored.request('GET', `/v1/clients/${client.id}/balances`)).body.data[0];
      expect(await balances()).toMatchObject({ remaining: '10', held: '0' });
      const apiHoldId = holdId(client.id, 'api-1');
      const producerHoldId = holdId(client.id, 'producer-1');
      expect((await restored.request('GET', `/v1/holds/${apiHoldId}`)).status).toBe(404);

      // the API's caller sends its request again: accepted, its row written anew, its enqueue adding nothing
      const again = await restored.request('POST', '/v1/holds', { key: restored.keys.write, body: apiHold });
      expect(again.status, again.text).toBe(202);
      const [row] = (await backup.db('accepted_jobs').select('job_id')) as Array<{ job_id: string }>;
      expect(await restored.ctx.queues.consumption.getJobState(row!.job_id)).toBe('completed');
      // the relay tells the job finished before the request was accepted: it runs again, and applies it
      expect(await requeueLost(restored.ctx, 0)).toBe(1);
      expect(await awaitOutcome(restored.ctx, 'hold', row!.job_id, { timeoutMs: 20_000 })).toMatchObject({
        state: 'completed',
        value: { id: apiHoldId, status: 'held', quantity: '2' },
      });
      expect(await backup.db('accepted_jobs').where({ job_id: row!.job_id })).toHaveLength(0);

      // the producer's job sent again changes nothing while Redis holds it completed...
      expect((await producer.hold(producerHold)).jobId).toBe(pushed.jobId);
      expect(await restored.ctx.queues.consumption.getJobState(pushed.jobId)).toBe('completed');
      expect((await restored.request('GET', `/v1/holds/${producerHoldId}`)).status).toBe(404);
      // ...until the completed jobs are forgotten (README's step), then it runs
      const cli = await opening(() => runCli(restored, 'forget-completed-jobs'));
      expect(cli.code, cli.stderr).toBe(0);
      expect(cli.stdout).toMatch(/^consumption: [1-9]\d* completed job\(s\) removed$/m);
      const replayed = await producer.hold(producerHold);
      expect(await awaitOutcome(restored.ctx, 'hold', replayed.jobId, { timeoutMs: 20_000 })).toMatchObject({
        state: 'completed',
        value: { id: producerHoldId, status: 'held', quantity: '3' },
      });
      expect(await balances()).toMatchObject({ remaining: '5', held: '5' });
    } finally {
      await closeProducer();
      await closeVerified(restored);
    }
  });
});
