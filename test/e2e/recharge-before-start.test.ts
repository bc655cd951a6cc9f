import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyInvariants } from '../../src/services/verify.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { recyclingDatabase } from '../helpers/database.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/**
 * A recharge of a subscription bought to start later is valid from its first period's start — also once that period
 * was renewed ahead (renewed was read as begun, and its units could be spent before the subscription started).
 * Figures worked out by hand in the comments.
 */
let app: TestApp;
let sms: { id: string; code: string };
const databases = recyclingDatabase();
afterAll(() => databases.drop());
beforeEach(async () => {
  app = await startTestApp({
    database: await databases.next(),
    roles: ['api', 'worker'],
    now: '2026-01-10T00:00:00.000Z',
  });
  sms = await createCreditType(app, { code: 'r5-sms', unit: 'message' });
});
afterEach(async () => {
  const report = await verifyInvariants(app.database.db);
  expect(report.violations).toEqual([]);
  await app.close();
});

describe('a recharge of a subscription bought to start later', () => {
  it('is valid from the first period’s start even once that period was renewed ahead', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    // bought on 10 Jan to start on 20 Jan: [20 Jan, 20 Feb), then renewed ahead: [20 Feb, 20 Mar)
    const sub = await subscribe(app, client.id, pkg.code, { starts_at: '2026-01-20T00:00:00.000Z' });
    const renewed = await app.request('POST', `/v1/subscriptions/${sub.id}/renew?wait=true`, { key: app.keys.write });
    expect(renewed.status, renewed.text).toBe(200);
    const recharged = await app.request('POST', `/v1/subscriptions/${sub.id}/recharge?wait=true`, {
      key: app.keys.write,
      headers: { 'idempotency-key': 'r5-later' },
    });
    expect(recharged.status, recharged.text).toBe(200);
    // nothing of the subscription runs before 20 Jan: its recharge's units are spent from then, as its package's are
    // (a recharge of the same subscription not renewed is valid from 20 Jan)
    expect(recharged.body.balances.map((b: { valid_from: string }) => b.valid_from)).toEqual([
      '2026-01-20T00:00:00.000Z',
    ]);
    const use = await app.request('POST', '/v1/consumptions?wait=true', {
      key: app.keys.write,
      body: { client: client.id, credit_type: sms.code, quantity: 1, idempotency_key: 'r5-before-start' },
    });
    expect(use.status, use.text).toBe(422);
  });
});
