import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyInvariants } from '../../src/services/verify.js';
import { type Sibling, startSibling, startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/**
 * `replayed` (API.md: "true when this repeats the first answer for the same key") on a repeat that
 * meets the first request's job still queued: it waits for that job and answers its result — which,
 * seen from the job, is the first application (`replayed: false`). The repeat must say `true`, as it
 * does once the job has run. The app runs no worker, so the jobs stay queued until the test starts one.
 */
let app: TestApp;
let worker: Sibling | undefined;
let client: { id: string };
let subscriptionId = '';
const SMS = 'replay-sms';

beforeAll(async () => {
  app = await startTestApp({ roles: ['api'], now: '2026-04-01T09:00:00.000Z' });
  await createCreditType(app, { code: SMS });
  const pkg = await createPackage(app, [{ credit_type: SMS, units: 100 }], { recharge_price: 500 });
  client = await createClient(app);
  subscriptionId = (await subscribe(app, client.id, pkg.code)).id;
});
afterAll(async () => {
  await worker?.stop();
  expect((await verifyInvariants(app.database.db)).violations).toEqual([]);
  await app.close();
});

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  app.request('POST', path, { key: app.keys.write, body, headers });

describe('a repeat that waits for the first request’s job', () => {
  it('says replayed: true for a consumption, a hold and a recharge, each applied once', async () => {
    const use = { client: client.id, credit_type: SMS, quantity: 3, idempotency_key: 'r-use' };
    const held = { client: client.id, credit_type: SMS, quantity: 2, idempotency_key: 'r-hold' };
    const topUp = { 'idempotency-key': 'r-top-up' };
    // the first requests: accepted, queued (no worker yet)
    expect((await post('/v1/consumptions', use)).status).toBe(202);
    expect((await post('/v1/holds', held)).status).toBe(202);
    expect((await post(`/v1/subscriptions/${subscriptionId}/recharge`, {}, topUp)).status).toBe(202);
    // their repeats, waiting: each meets its job still queued
    const repeats = Promise.all([
      post('/v1/consumptions?wait=true', use),
      post('/v1/holds?wait=true', held),
      post(`/v1/subscriptions/${subscriptionId}/recharge?wait=true`, {}, topUp),
    ]);
    worker = await startSibling(app, ['worker']);
    const [consumed, holding, recharged] = await repeats;
    expect(consumed.status, consumed.text).toBe(200);
    expect(consumed.body).toMatchObject({ status: 'applied', applied: '3', replayed: true });
    expect(holding.status, holding.text).toBe(200);
    expect(holding.body).toMatchObject({ status: 'held', quantity: '2', replayed: true });
    expect(recharged.status, recharged.text).toBe(200);
    expect(recharged.body).toMatchObject({ replayed: true });

    // each applied once, by the first request's job
    const rows = await app.database.db('consumptions').where({ client_id: client.id });
    expect(rows).toHaveLength(1);
    expect(await app.database.db('holds').where({ client_id: client.id })).toHaveLength(1);
    expect(await app.database.db('recharges').where({ subscription_id: subscriptionId })).toHaveLength(1);

    // and once applied, a repeat answers from the stored result, replayed as before
    const again = await post('/v1/consumptions?wait=true', use);
    expect(again.body).toMatchObject({ status: 'applied', replayed: true });
  });

  it('two identical waited uses at once: the one that made the job says false, the other true', async () => {
    await worker?.stop();
    worker = undefined;
    const use = { client: client.id, credit_type: SMS, quantity: 1, idempotency_key: 'r-twice' };
    const both = [post('/v1/consumptions?wait=true', use), post('/v1/consumptions?wait=true', use)];
    // both are accepted before any worker runs: one job between them
    worker = await startSibling(app, ['worker']);
    const answers = await Promise.all(both);
    for (const res of answers) expect(res.status, res.text).toBe(200);
    expect(answers.map((res) => res.body.replayed).sort()).toEqual([false, true]);
    expect(
      await app.database.db('consumptions').where({ client_id: client.id, idempotency_key: 'r-twice' }),
    ).toHaveLength(1);
  });
});
