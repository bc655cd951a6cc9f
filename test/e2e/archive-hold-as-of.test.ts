import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportRows } from '../../src/db/reports/rows.js';
import { balancesQuery } from '../../src/reports/balances.js';
import { archiveMonth } from '../../src/services/archive.js';
import { verifyInvariants } from '../../src/services/verify.js';
import { NO_NIGHTLY_REPORTS, startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/**
 * Review finding: a hold written in a month later archived, that ran out after the month's end and was expired later
 * (by a read or the sweep: its `release` dated at its `expires_at`). As of an instant between its end and that read,
 * a live read would have given its units back (HOLD_EXPIRED_BY) — but that rule asked for the hold's own `hold` entry
 * in the live ledger, which left with the archived month: the same as_of (and the balances report's picture of it)
 * answered the units still held after the archiving, where it answered them given back before.
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-01-10T10:00:00.000Z', env: NO_NIGHTLY_REPORTS });
});
afterAll(async () => {
  expect((await verifyInvariants(app.database.db)).violations).toEqual([]);
  await app.close();
});

const at = (iso: string) => app.clock.set(iso);
const balancesAsOf = async (client: string, asOf: string) => {
  const res = await app.request('GET', `/v1/clients/${client}/balances?as_of=${encodeURIComponent(asOf)}`, {
    key: app.keys.read,
  });
  expect(res.status, res.text).toBe(200);
  return res.body;
};
const picture = async (client: string, asOf: string) =>
  (await reportRows(app.database.db, balancesQuery({ asOf: new Date(asOf), live: false }))).filter(
    (r) => r.client_ref === client,
  );

describe('a hold of an archived month that ran out after it, expired later', () => {
  it('is given back as of an instant after its end, archived or not', async () => {
    const sms = await createCreditType(app, { code: 'ah-sms', unit: 'message' });
    const client = await createClient(app, { external_ref: 'ah-client' });
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 100 }], {
      validity: { count: 6, unit: 'month' },
    });
    await subscribe(app, client.id, pkg.code, { auto_renew: false });
    // 4 held on 31 January for a day: it runs out on 1 February at 20:00, and nothing reads the client until the 3rd
    at('2026-01-31T20:00:00.000Z');
    const held = await app.request('POST', '/v1/holds?wait=true', {
      key: app.keys.write,
      body: {
        client: client.id,
        credit_type: sms.code,
        quantity: 4,
        idempotency_key: 'ah-1',
        expires_in_seconds: 86_400,
      },
    });
    expect(held.status, held.text).toBe(200);
    at('2026-02-03T09:00:00.000Z');
    const live = await app.request('GET', `/v1/clients/${client.id}/balances`, { key: app.keys.read });
    expect(live.body.data[0]).toMatchObject({ remaining: '100', held: '0' });
    expect((await app.request('GET', `/v1/holds/${held.body.id}`)).body).toMatchObject({ status: 'expired' });

    at('2026-03-05T12:00:00.000Z');
    const instant = '2026-02-02T00:00:00.000Z';
    const before = await balancesAsOf(client.id, instant);
    expect(before.data[0]).toMatchObject({ remaining: '100', held: '0' });
    const pictureBefore = await picture(client.external_ref, instant);
    expect(pictureBefore).toHaveLength(1);

    const january = await archiveMonth(app.database.db, '2026-01', app.clock.now());
    expect(january.ok, january.ok ? '' : january.detail).toBe(true);
    expect(await balancesAsOf(client.id, instant)).toEqual(before);
    expect(await picture(client.external_ref, instant)).toEqual(pictureBefore);
  });
});
