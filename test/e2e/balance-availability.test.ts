import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyInvariants } from '../../src/services/verify.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { jsonRows } from '../helpers/reports.js';

let app: TestApp;
let sms: { id: string; code: string };

beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-04-10T12:00:00.000Z' });
  sms = await createCreditType(app, { code: 'av-sms' });
});
afterAll(async () => {
  const report = await verifyInvariants(app.database.db);
  expect(report.violations).toEqual([]);
  await app.close();
});

interface CreditTypeRow {
  credit_type: { code: string };
  granted: string;
  consumed: string;
  remaining: string;
  unavailable: string;
  upcoming: string;
  expired: string;
  voided: string;
  next_expiry: string | null;
  balances: Array<{ id: string; subscription_id: string | null; remaining: string; availability: string }>;
}

async function balancesOf(client: string): Promise<CreditTypeRow> {
  const res = await app.request<{ data: CreditTypeRow[] }>('GET', `/v1/clients/${client}/balances`, {
    key: app.keys.read,
  });
  expect(res.status, res.text).toBe(200);
  const row = res.body.data.find((r) => r.credit_type.code === sms.code);
  expect(row, res.text).toBeDefined();
  return row!;
}

const consume = (client: string, quantity: number, key: string) =>
  app.request('POST', '/v1/consumptions?wait=true', {
    key: app.keys.write,
    body: { client, credit_type: sms.code, quantity, idempotency_key: key },
  });

/** granted − consumed − expired − voided = remaining + unavailable + upcoming (the field descriptions' identity). */
function expectIdentity(
  row: Pick<CreditTypeRow, 'granted' | 'consumed' | 'expired' | 'voided' | 'remaining' | 'unavailable' | 'upcoming'>,
) {
  const n = (k: keyof typeof row) => BigInt(row[k]);
  expect(n('granted') - n('consumed') - n('expired') - n('voided')).toBe(
    n('remaining') + n('unavailable') + n('upcoming'),
  );
}

describe('DOMAIN.md "Usable means spendable": remaining counts only what a consumption could spend now', () => {
  it("a suspended subscription's units are unavailable, not remaining, and a consumption agrees", async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    const usable = await subscribe(app, client.id, pkg.code);
    const held = await subscribe(app, client.id, pkg.code);
    const suspended = await app.request('PATCH', `/v1/subscriptions/${held.id}`, { body: { status: 'suspended' } });
    expect(suspended.status, suspended.text).toBe(200);

    const row = await balancesOf(client.external_ref);
    expect(row).toMatchObject({ granted: '20', remaining: '10', unavailable: '10', upcoming: '0', expired: '0' });
    expect(row.next_expiry).toBe(usable.current_period_end);
    expectIdentity(row);
    const availability = Object.fromEntries(row.balances.map((b) => [b.subscription_id, b.availability]));
    expect(availability).toEqual({ [usable.id]: 'usable', [held.id]: 'unavailable' });

    // what the answer calls remaining is exactly what a consumption finds
    const tooMuch = await consume(client.id, 11, 'more-than-usable');
    expect(tooMuch.status, tooMuch.text).toBe(422);
    expect(tooMuch.body).toMatchObject({ code: 'insufficient_balance', remaining: '10', shortfall: '1' });
    const all = await consume(client.id, 10, 'all-usable');
    expect(all.status, all.text).toBe(200);
    expect(all.body).toMatchObject({ status: 'applied', remaining: '0' });

    const after = await balancesOf(client.external_ref);
    expect(after).toMatchObject({ consumed: '10', remaining: '0', unavailable: '10' });
    expectIdentity(after);

    // GET /v1/balances/{id} says the same of one balance
    const one = await app.request('GET', `/v1/balances/${held.balances[0]!.id}`, { key: app.keys.read });
    expect(one.status, one.text).toBe(200);
    expect(one.body).toMatchObject({ remaining: '10', availability: 'unavailable' });

    // resumed, the units are usable again, in the answer and for a consumption
    const resumed = await app.request('PATCH', `/v1/subscriptions/${held.id}`, { body: { status: 'active' } });
    expect(resumed.status, resumed.text).toBe(200);
    expect(await balancesOf(client.external_ref)).toMatchObject({ remaining: '10', unavailable: '0' });
    expect((await consume(client.id, 10, 'after-resume')).status).toBe(200);
  });

  it("a pending (on payment) subscription's units are unavailable until it is paid", async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 4 }]);
    const pending = await subscribe(app, client.id, pkg.code, { activation: 'on_payment' });
    expect(pending.status).toBe('pending');
    const row = await balancesOf(client.id);
    expect(row).toMatchObject({ granted: '4', remaining: '0', unavailable: '4', next_expiry: null });
    expectIdentity(row);
    const refused = await consume(client.id, 1, 'before-payment');
    expect(refused.status, refused.text).toBe(422);
    expect(refused.body).toMatchObject({ code: 'insufficient_balance', remaining: '0' });
  });

  it('a renewed period that has not started is upcoming, and becomes remaining when it starts', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 6 }]);
    const sub = await subscribe(app, client.id, pkg.code);
    const renewed = await app.request('POST', `/v1/subscriptions/${sub.id}/renew?wait=true`, {
      headers: { 'Idempotency-Key': 'renew-early' },
    });
    expect(renewed.status, renewed.text).toBe(200);

    const row = await balancesOf(client.id);
    expect(row).toMatchObject({ granted: '12', remaining: '6', unavailable: '0', upcoming: '6' });
    expectIdentity(row);
    expect(row.balances.map((b) => b.availability).sort()).toEqual(['upcoming', 'usable']);
    const refused = await consume(client.id, 7, 'beyond-this-period');
    expect(refused.status, refused.text).toBe(422);
    expect(refused.body).toMatchObject({ code: 'insufficient_balance', remaining: '6' });

    // the next period has started (the first one has ended, not yet swept)
    app.clock.set(sub.current_period_end);
    try {
      const later = await balancesOf(client.id);
      expect(later).toMatchObject({ remaining: '6', upcoming: '0', expired: '6' });
      expectIdentity(later);
    } finally {
      app.clock.set('2026-04-10T12:00:00.000Z');
    }
  });

  it('the balances report shows the same: unavailable and upcoming apart from remaining', async () => {
    const client = await createClient(app, { external_ref: 'av-report' });
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 8 }]);
    const held = await subscribe(app, client.id, pkg.code);
    const renewing = await subscribe(app, client.id, pkg.code);
    expect((await app.request('PATCH', `/v1/subscriptions/${held.id}`, { body: { status: 'suspended' } })).status).toBe(
      200,
    );
    expect(
      (
        await app.request('POST', `/v1/subscriptions/${renewing.id}/renew?wait=true`, {
          headers: { 'Idempotency-Key': 'renew-report' },
        })
      ).status,
    ).toBe(200);

    const { rows } = await jsonRows<Record<string, unknown>>(app, {
      type: 'balances',
      params: { client: client.external_ref },
    });
    const bySubscription = Object.fromEntries(rows.map((r) => [r.subscription_id as string, r]));
    expect(bySubscription[held.id]).toMatchObject({
      subscription_status: 'suspended',
      granted: '8',
      remaining: '0',
      unavailable: '8',
      upcoming: '0',
    });
    expect(bySubscription[renewing.id]).toMatchObject({
      subscription_status: 'active',
      granted: '16',
      remaining: '8',
      unavailable: '0',
      upcoming: '8',
    });
    for (const row of rows) expectIdentity(row as unknown as CreditTypeRow);
  });
});
