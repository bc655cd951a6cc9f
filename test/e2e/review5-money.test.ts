import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import { jobIdOf } from '../../src/jobs/definitions.js';
import { verifyInvariants } from '../../src/services/verify.js';
import type { ExpiryResult } from '../../src/views/maintenance.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { recyclingDatabase } from '../helpers/database.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/**
 * Review of the money and period code: figures worked out by hand in the comments. Each test has a service of its
 * own (the expiry sweep looks at every subscription of its database).
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

const at = (iso: string) => app.clock.set(iso);

async function sweep(asOf: string): Promise<ExpiryResult> {
  const data = { as_of: asOf };
  const jobId = jobIdOf('expire', data);
  await app.ctx.queues.maintenance.add('expire', data, { jobId });
  const outcome = await awaitOutcome(app.ctx, 'expire', jobId, { timeoutMs: 20_000 });
  if (outcome.state !== 'completed') throw new Error(`expire job ${jobId}: ${JSON.stringify(outcome)}`);
  return outcome.value;
}

describe('the rollover cap is a share of the grant of the period that ends', () => {
  // A judgement call left to the owner (so `it.fails`): expire.ts caps a period's rollover at a share of the
  // subscription's item snapshot, which a renewal with apply_package_changes has already replaced with the NEXT
  // period's units by the time the old balances expire (a renewal always comes first). DOMAIN.md says "cap_percent of
  // one period's grant of that item"; read as the period that ends, the cap here is 50 (50 % of 100), not 5 (50 % of
  // the next period's 10). money-audit.test.ts pins the current reading (its "sms ending 03-31" figure, 8 where the
  // ending period's 100 would give 20, and "min" 1.8 where the ending period's 7.5 would give 1.5). A fix: take the
  // group's `package` balances' granted sum as periodUnits when there are any (expire.ts, `periodUnits`).
  it.fails('a renewal following a package cut from 100 to 10 units keeps the old period’s cap', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 100 }], {
      rollover: { policy: 'percent', percent: 100, cap_percent: 50 },
    });
    const sub = await subscribe(app, client.id, pkg.code);
    const patched = await app.request('PATCH', `/v1/packages/${pkg.code}`, {
      body: { items: [{ credit_type: sms.code, units: 10 }] },
    });
    expect(patched.status, patched.text).toBe(200);
    const renewed = await app.request('POST', `/v1/subscriptions/${sub.id}/renew?wait=true`, {
      key: app.keys.write,
      body: { apply_package_changes: true },
    });
    expect(renewed.status, renewed.text).toBe(200);

    at(sub.current_period_end);
    await sweep(sub.current_period_end);
    // the period that ended was granted 100 and left 100 unused: 100% of them is 100, capped at 50% of that
    // period's 100 — 50 roll over (not 50% of the next period's 10 units: 5)
    const rolled = await app.database
      .db('ledger_entries')
      .where({ subscription_id: sub.id, kind: 'rollover' })
      .andWhere('amount', '<', 0);
    expect(rolled.reduce((sum, e) => sum + -BigInt(e.amount), 0n)).toBe(50n);
  });
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
