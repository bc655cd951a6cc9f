import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inSnapshot } from '../../src/db/transact.js';
import { type VerifyRead, verifyInvariants } from '../../src/services/verify.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

let app: TestApp;
let sms: { id: string; code: string };

beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-03-02T09:00:00.000Z' });
  sms = await createCreditType(app, { code: 'v-sms' });
});
afterAll(async () => {
  await app.close();
});

/** A hook for verifyInvariants that runs `write` once, right after the read named `at`. */
function once(at: VerifyRead, write: () => Promise<void>) {
  let done = false;
  return async (after: VerifyRead) => {
    if (after !== at || done) return;
    done = true;
    await write();
  };
}

describe('DOMAIN.md "Verify reads one snapshot"', () => {
  it('runs in a REPEATABLE READ, READ ONLY transaction', async () => {
    const mode = await inSnapshot(app.database.db, async (tx) => ({
      isolation: (await tx.raw('SHOW transaction_isolation')).rows[0].transaction_isolation,
      readOnly: (await tx.raw('SHOW transaction_read_only')).rows[0].transaction_read_only,
    }));
    expect(mode).toEqual({ isolation: 'repeatable read', readOnly: 'on' });
  });

  it('reports no violation when a consumption commits between a balance chunk and its ledger sums', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    await subscribe(app, client.id, pkg.code);
    let consumed: { status: number; body: { status: string; remaining: string } } | undefined;
    const report = await verifyInvariants(app.database.db, {
      // another connection (the worker's) commits a consumption after the balances were read and
      // before their ledger entries are summed: read apart, the balance says 10 and its ledger 7
      between: once('balances', async () => {
        consumed = await app.request('POST', '/v1/consumptions?wait=true', {
          key: app.keys.write,
          body: { client: client.id, credit_type: sms.code, quantity: 3, idempotency_key: 'during-verify' },
        });
      }),
    });
    expect(consumed?.status).toBe(200);
    expect(consumed?.body).toMatchObject({ status: 'applied', remaining: '7' });
    expect(report.violations).toEqual([]);
    expect(report.ok).toBe(true);
    // the consumption committed (verify blocked nothing), and a check run afterwards sees it whole
    const after = await verifyInvariants(app.database.db);
    expect(after).toMatchObject({ ok: true, checked: { consumptions: 1 } });
  });

  it('reports no violation when a hold commits between the ledger sums and the open holds of a chunk', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    await subscribe(app, client.id, pkg.code);
    let held: { status: number; body: { status: string; remaining: string } } | undefined;
    const report = await verifyInvariants(app.database.db, {
      // read apart, the ledger would say nothing is held and the open holds 4
      between: once('balance_ledger', async () => {
        held = await app.request('POST', '/v1/holds?wait=true', {
          key: app.keys.write,
          body: { client: client.id, credit_type: sms.code, quantity: 4, idempotency_key: 'hold-during-verify' },
        });
      }),
    });
    expect(held?.status).toBe(200);
    expect(held?.body).toMatchObject({ status: 'held', remaining: '6' });
    expect(report.violations).toEqual([]);
    expect((await verifyInvariants(app.database.db)).violations).toEqual([]);
  });

  it('reports no violation when a consumption commits between a consumption chunk and its ledger totals', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 5 }]);
    await subscribe(app, client.id, pkg.code);
    const first = await app.request('POST', '/v1/consumptions?wait=true', {
      key: app.keys.write,
      body: { client: client.id, credit_type: sms.code, quantity: 2, idempotency_key: 'before-verify' },
    });
    expect(first.status, first.text).toBe(200);
    const reversed: number[] = [];
    const report = await verifyInvariants(app.database.db, {
      // the reversal writes `reverse` ledger entries and marks the consumption reversed after the
      // consumption was read and before its ledger is summed
      between: once('allocations', async () => {
        const res = await app.request('POST', `/v1/consumptions/${first.body.id}/reverse?wait=true`, {
          key: app.keys.write,
        });
        reversed.push(res.status);
      }),
    });
    expect(reversed).toEqual([200]);
    expect(report.violations).toEqual([]);
    expect((await verifyInvariants(app.database.db)).ok).toBe(true);
  });
});
