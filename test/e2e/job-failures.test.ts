import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
