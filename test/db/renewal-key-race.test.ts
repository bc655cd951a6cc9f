import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyInvariants } from '../../src/services/verify.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { untilWaitingForLocks } from '../helpers/lock-waits.js';

/**
 * Two renewals with one Idempotency-Key, the second arriving while the first's transaction is still open (CI's red
 * run of 2026-12-04: the loser of `test/e2e/idempotency-race.test.ts` was answered 200 for a second renewal). Both
 * find no record for the key before they begin; by the time the second reads the subscription, the first's renewal
 * has moved the period on, so the second names the next period's job. Here the first request is made to stand still
 * at the point of the race: it runs to its end, then its key's record is put back by a transaction of the test's,
 * left open while the second request comes in. The second must wait for that record and then answer from it — 409
 * for another body, the first's renewal for the same one — and never renew the next period.
 */
let app: TestApp;
let sms: { id: string; code: string };
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-03-10T12:00:00.000Z' });
  sms = await createCreditType(app, { code: 'key-race-sms' });
});
afterAll(async () => {
  const report = await verifyInvariants(app.database.db);
  expect(report.violations).toEqual([]);
  await app.close();
});

/**
 * Renews once with `key`, then sends `second` with the same key while the first's record is held back by an open
 * transaction that puts it in again; answers the second's response once that transaction has committed.
 */
async function secondWhileFirstOpen(key: string, second: Record<string, unknown>) {
  const client = await createClient(app);
  const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
  const sub = await subscribe(app, client.id, pkg.code);
  const headers = { 'idempotency-key': key };
  const renew = (body: Record<string, unknown>) =>
    app.request('POST', `/v1/subscriptions/${sub.id}/renew?wait=true`, { key: app.keys.write, body, headers });
  const first = await renew({});
  expect(first.status, first.text).toBe(200);
  const record = await app.database.db('idempotency_records').where({ key }).first();
  expect(record).toBeDefined();
  await app.database.db('idempotency_records').where({ key }).delete();

  const open = await app.database.db.transaction();
  let answer: Awaited<ReturnType<typeof renew>>;
  try {
    await open('idempotency_records').insert(record);
    const pending = renew(second);
    await untilWaitingForLocks(app.database.db);
    await open.commit();
    answer = await pending;
  } catch (error) {
    await open.rollback();
    throw error;
  }
  const periods = await app.database.db('subscription_periods').where({ subscription_id: sub.id });
  return { first, answer, periods };
}

describe('a renewal whose Idempotency-Key is being remembered by another request', () => {
  it('with another body: waits for the first, then 409, and renews nothing more', async () => {
    const { answer, periods } = await secondWhileFirstOpen('key-race-other', { apply_package_changes: true });
    expect(answer.status, answer.text).toBe(409);
    expect(answer.body.code).toBe('idempotency_conflict');
    expect(periods).toHaveLength(2);
  });

  it("with the same body: waits for the first, then answers the first's renewal, and renews nothing more", async () => {
    const { first, answer, periods } = await secondWhileFirstOpen('key-race-same', {});
    expect(answer.status, answer.text).toBe(200);
    expect(answer.body).toEqual(first.body);
    expect(periods).toHaveLength(2);
  });
});
