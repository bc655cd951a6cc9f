import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptGroup, type SettledLookup } from '../../src/commands/accept.js';
import { Admitter } from '../../src/commands/admitter.js';
import { consumptionId } from '../../src/ids.js';
import { jobIdOf } from '../../src/jobs/definitions.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/**
 * Issue 14, "acceptance coalesced": concurrent requests are recorded by one statement per group
 * (src/commands/admitter.ts), yet each is answered on its own, all or none — a conflict in one never
 * refuses its neighbours, and what a 202 promises (recorded in Postgres) is unchanged.
 */
let app: TestApp;
let client: { id: string };
let sms: { code: string };
const statements: string[] = [];

beforeAll(async () => {
  // no worker: what is accepted stays accepted, so the rows can be counted
  // a generous grouping window, so that the grouping shows whatever the load of the machine
  app = await startTestApp({ roles: ['api'], now: '2026-04-01T00:00:00.000Z', env: { ACCEPT_BATCH_WAIT_MS: '50' } });
  sms = await createCreditType(app, { code: 'adm-sms' });
  client = await createClient(app);
  const pkg = await createPackage(app, [{ credit_type: sms.code, units: 1_000 }]);
  await subscribe(app, client.id, pkg.code);
  app.ctx.db.on('query', (q: { sql: string }) => {
    if (q.sql.includes('INSERT INTO accepted_jobs')) statements.push(q.sql);
  });
});
afterAll(async () => {
  await app.close();
});

const use = (key: string, quantity = 1) =>
  app.request('POST', '/v1/consumptions', {
    key: app.keys.write,
    body: { client: client.id, credit_type: sms.code, quantity, idempotency_key: key },
  });

describe('the admitter', () => {
  it('records many concurrent requests with a few statements, each answered 202 and recorded', async () => {
    statements.length = 0;
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => use(`many-${i}`)));
    expect(answers.map((a) => a.status)).toEqual(Array(60).fill(202));
    const rows = await app.database.db('accepted_jobs').where('job_id', 'like', 'consume|%many-%');
    expect(rows).toHaveLength(60);
    // grouped: fewer statements than half the requests (how few depends on when the requests arrive: about ten
    // on a quiet machine, twenty seen beside the whole suite on two busy cores)
    expect(statements.length).toBeLessThan(30);
  });

  it('answers a conflicting request 409 without refusing the requests grouped with it', async () => {
    expect((await use('taken', 1)).status).toBe(202);
    const answers = await Promise.all([
      use('taken', 2),
      ...Array.from({ length: 20 }, (_, i) => use(`neighbour-${i}`)),
    ]);
    expect(answers[0]!.status).toBe(409);
    expect(answers[0]!.body.code).toBe('idempotency_conflict');
    expect(answers.slice(1).map((a) => a.status)).toEqual(Array(20).fill(202));
    const taken = await app.database.db('accepted_jobs').where('job_id', 'like', '%|taken');
    expect(taken).toHaveLength(1);
    expect(taken[0].data.quantity).toBe(1);
  });

  it('the same key twice at once with two payloads: one is recorded, the other is 409', async () => {
    for (let round = 0; round < 10; round += 1) {
      const answers = await Promise.all([use(`twice-${round}`, 1), use(`twice-${round}`, 2)]);
      expect(answers.map((a) => a.status).sort()).toEqual([202, 409]);
    }
    expect(await app.database.db('accepted_jobs').where('job_id', 'like', '%|twice-%')).toHaveLength(10);
  });

  it('the same key twice at once with one payload: both are answered 202, one job is recorded', async () => {
    const answers = await Promise.all([use('same-twice', 3), use('same-twice', 3)]);
    expect(answers.map((a) => a.status)).toEqual([202, 202]);
    expect(answers[0]!.body.id).toBe(answers[1]!.body.id);
    expect(await app.database.db('accepted_jobs').where('job_id', 'like', '%|same-twice')).toHaveLength(1);
  });

  it('a request applied between the settled lookup and the insert still refuses another payload', async () => {
    // The interleaving CI met (idempotency-race): the loser looked for a settled request, found none, the
    // winner was applied (its accepted row deleted with its effect written), and the loser's insert then
    // found the job id free and answered 202 for a payload that would never be applied. The lookup below
    // plays the worker: it answers what it saw, then applies the winner before the caller goes on.
    expect((await use('applied-between', 1)).status).toBe(202);
    const data = { client: client.id, credit_type: sms.code, quantity: 2, idempotency_key: 'applied-between' };
    const jobId = jobIdOf('consume', data);
    const [winner] = await app.database.db('accepted_jobs').where({ job_id: jobId });
    let applied = false;
    const settled: SettledLookup = async (db) => {
      const seen = new Map(applied ? [[jobId, { requestHash: winner.request_hash, status: 'applied' }]] : []);
      if (!applied) {
        await db('accepted_jobs').where({ job_id: jobId }).delete();
        applied = true;
      }
      return seen;
    };
    const [answer] = await acceptGroup(app.ctx.db, [
      { commands: [{ name: 'consume', data, requestHash: 'another payload' }], options: { settled } },
    ]);
    expect(answer!.ok ? answer!.value : answer!.code).toBe('idempotency_conflict');
    // nothing of the loser's was recorded: what remains, if anything, is the winner's
    const rows = await app.database.db('accepted_jobs').where({ job_id: jobId });
    expect(rows.map((r) => r.request_hash)).toEqual(applied ? [] : [winner.request_hash]);
  });
});

/**
 * The lead's design for issue 14: the single uses of a group travel in one `consume-batch` carrier
 * job, each still recorded on its own with the carrier's job id beside it (the waited ones named in its
 * `waited`: test/e2e/carried-wait.test.ts answers them). An
 * admitter of its own here, whose group is written once four commands wait: the group is exactly the
 * four submitted below, whatever the load of the machine.
 */
describe("the admitter's carrier of a group's single uses", () => {
  const at = '2026-04-01T00:00:00.000Z';
  const command = (key: string) => ({
    name: 'consume' as const,
    data: { client: client.id, credit_type: sms.code, quantity: 1, idempotency_key: key, accepted_at: at },
    requestHash: `hash-${key}`,
    subjectId: consumptionId(client.id, key),
  });
  const rowOf = async (key: string) =>
    (await app.database
      .db('accepted_jobs')
      .where({ job_id: jobIdOf('consume', command(key).data) })
      .first()) as { job_id: string; carrier_job_id: string | null } | undefined;

  it('carries the single uses, waited for or not, in one consume-batch job; a batch keeps its own', async () => {
    const admitter = new Admitter(app.ctx, { maxCommands: 4, maxWaitMs: 60_000, maxInFlight: 1 });
    const batchData = { batch_key: 'own-batch', items: [command('g-batch').data] };
    const [a, b, waiter, batch] = await Promise.all([
      admitter.submit([command('g-a')], {}),
      admitter.submit([command('g-b')], {}),
      admitter.submit([command('g-w')], { watch: true }),
      admitter.submit([command('g-batch')], { carry: { name: 'consume-batch', data: batchData } }),
    ]);
    for (const answer of [a, b, waiter, batch]) expect(answer.ok && answer.value[0]!.state).toBe('new');
    if (waiter.ok) waiter.value[0]!.watch?.cancel();
    const queue = app.ctx.queues.consumption;

    // the three single uses: one carrier, named by a batch key of the group's own, holding them in order, the
    // waited one named in `waited` (the carrier's end answers it whole)
    const [rowA, rowB, rowW] = [await rowOf('g-a'), await rowOf('g-b'), await rowOf('g-w')];
    expect(rowA?.carrier_job_id).toMatch(/^consume-batch\|group-[0-9a-f-]{36}$/);
    expect(rowB?.carrier_job_id).toBe(rowA?.carrier_job_id);
    expect(rowW?.carrier_job_id).toBe(rowA?.carrier_job_id);
    const carrier = await queue.getJob(rowA!.carrier_job_id!);
    expect(carrier?.name).toBe('consume-batch');
    expect(carrier?.data.items).toEqual([command('g-a').data, command('g-b').data, command('g-w').data]);
    expect(carrier?.data.waited).toEqual([2]);
    expect(carrier?.id).toBe(jobIdOf('consume-batch', carrier!.data));
    // no job of their own
    for (const row of [rowA, rowB, rowW]) expect(await queue.getJob(row!.job_id)).toBeUndefined();
    // a batch request keeps the carrier it brought
    expect((await rowOf('g-batch'))?.carrier_job_id).toBe('consume-batch|own-batch');
    expect((await queue.getJob('consume-batch|own-batch'))?.data.items).toHaveLength(1);
  });

  it('a group of more single uses than a consume-batch job may carry fills one carrier, then another', async () => {
    const admitter = new Admitter(app.ctx, { maxCommands: 1_001, maxWaitMs: 60_000, maxInFlight: 1 });
    const keys = Array.from({ length: 1_001 }, (_, i) => `g-many-${i}`);
    const answers = await Promise.all(keys.map((k) => admitter.submit([command(k)], {})));
    expect(answers.every((a) => a.ok)).toBe(true);
    const rows = (await app.database
      .db('accepted_jobs')
      .where('job_id', 'like', '%|g-many-%')
      .select('carrier_job_id')) as Array<{ carrier_job_id: string | null }>;
    const sizes = new Map<string | null, number>();
    for (const r of rows) sizes.set(r.carrier_job_id, (sizes.get(r.carrier_job_id) ?? 0) + 1);
    expect([...sizes.values()].sort((a, b) => b - a)).toEqual([1_000, 1]);
    for (const [id, size] of sizes)
      expect((await app.ctx.queues.consumption.getJob(id!))?.data.items).toHaveLength(size);
  });

  it('a use alone in its group keeps its consume job under its own job id', async () => {
    const admitter = new Admitter(app.ctx, { maxCommands: 4, maxWaitMs: 60_000, maxInFlight: 1 });
    const answer = await admitter.submit([command('g-alone')], {});
    expect(answer.ok && answer.value[0]!.state).toBe('new');
    const row = await rowOf('g-alone');
    expect(row?.carrier_job_id).toBeNull();
    expect((await app.ctx.queues.consumption.getJob(row!.job_id))?.name).toBe('consume');
  });

  it('a carrier takes only the uses recorded now: one accepted before keeps its row and its job', async () => {
    const admitter = new Admitter(app.ctx, { maxCommands: 3, maxWaitMs: 60_000, maxInFlight: 1 });
    // g-a was carried above and is still pending (no worker here): accepted again, it is not carried twice
    const carriedBefore = (await rowOf('g-a'))?.carrier_job_id;
    const answers = await Promise.all(['g-a', 'g-c', 'g-d'].map((k) => admitter.submit([command(k)], {})));
    expect(answers.map((x) => x.ok && x.value[0]!.state)).toEqual(['pending', 'new', 'new']);
    expect((await rowOf('g-a'))?.carrier_job_id).toBe(carriedBefore);
    // enqueued again under its own id, as any request accepted before is (the database applies it once)
    expect((await app.ctx.queues.consumption.getJob(jobIdOf('consume', command('g-a').data)))?.name).toBe('consume');
    const carrierId = (await rowOf('g-c'))?.carrier_job_id;
    expect(carrierId).not.toBe(carriedBefore);
    expect((await rowOf('g-d'))?.carrier_job_id).toBe(carrierId);
    const carrier = await app.ctx.queues.consumption.getJob(carrierId!);
    expect(carrier?.data.items.map((i: { idempotency_key: string }) => i.idempotency_key)).toEqual(['g-c', 'g-d']);
  });
});
