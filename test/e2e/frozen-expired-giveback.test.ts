import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportRows } from '../../src/db/reports/rows.js';
import { balancesQuery } from '../../src/reports/balances.js';
import { NO_NIGHTLY_REPORTS, startTestApp, type TestApp } from '../helpers/app.js';
import { commerceScene } from '../helpers/commerce-scene.js';
import { closeVerified, httpSteps } from '../helpers/http-steps.js';

/**
 * DOMAIN.md consumption rule 5: a reversal gives each allocation back to its balance, and an expired one is not
 * revived. A balance that expired before its subscription was frozen (the last period's, renewed ahead, the sweep not
 * there yet) is expired whatever the freeze: the unfreeze moves only the expiries still running when the clock
 * stopped (domain/freeze.ts extendExpiries). The same for units a hold gives back on release (DOMAIN.md "Holds": units
 * held from a balance that expired meanwhile are not revived).
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-01-31T00:00:00.000Z', env: NO_NIGHTLY_REPORTS });
  await commerce.creditTypes();
});
afterAll(async () => {
  await closeVerified(app);
});

const { ok, clockTo, nightly } = httpSteps(() => app);
const commerce = commerceScene(ok);

describe('units given back to a balance that expired before its subscription was frozen', () => {
  it('records the part as expired: the freeze does not revive it', async () => {
    await ok('POST', '/v1/clients', { external_ref: 'rf', name: 'rf' }, 201);
    await commerce.pack('p-rf', { name: 'rf', auto_renew: true, max_freeze_days: 10 });
    const s = await ok('POST', '/v1/subscriptions', { client: 'rf', package: 'p-rf' }, 201); // [01-31, 02-28)
    await clockTo('2026-02-10T00:00:00.000Z');
    const used = await ok('POST', '/v1/consumptions?wait=true', {
      client: 'rf',
      credit_type: 'sms',
      quantity: 10,
      idempotency_key: 'rf-1',
    });
    expect(used).toMatchObject({ status: 'applied', applied: '10' });
    const old = used.allocations[0].balance_id as string;
    // the nightly run of 02-27 renews ahead: [02-28, 03-31)
    await clockTo('2026-02-27T00:00:00.000Z');
    await nightly();
    // past the old period's end, before any sweep: frozen in the new period
    await clockTo('2026-02-28T01:00:00.000Z');
    await ok('POST', `/v1/subscriptions/${s.id}/freeze`, { days: 1 });
    const reversed = await ok('POST', `/v1/consumptions/${used.id}/reverse?wait=true`, {});
    expect(reversed).toMatchObject({ status: 'reversed', returned: '0', expired: '10' });
    // the 10 went back and expired there at once: its remaining is the 90 the sweep has not reached yet
    const balance = await app.database.db('balances').where({ id: old }).first();
    expect({ remaining: balance.remaining, expired: balance.expired }).toEqual({ remaining: 90n, expired: 10n });

    // and every read of it says so: its 90 are expired (the unfreeze will not move it), not unavailable like the
    // 100 of the new period that the freeze keeps — the balance, the client's balances now and as of now, the report
    expect(await ok('GET', `/v1/balances/${old}`)).toMatchObject({ availability: 'expired', remaining: '90' });
    const standing = { remaining: '0', unavailable: '100', upcoming: '0', expired: '100' };
    const sms = (rows: Array<{ credit_type: { code: string } }>) => rows.find((r) => r.credit_type.code === 'sms');
    expect(sms((await ok('GET', '/v1/clients/rf/balances')).data)).toMatchObject(standing);
    const now = app.clock.now().toISOString();
    expect(sms((await ok('GET', `/v1/clients/rf/balances?as_of=${now}`)).data)).toMatchObject(standing);
    const client = await ok('GET', '/v1/clients/rf');
    for (const live of [true, false]) {
      const rows = await reportRows(
        app.database.db,
        balancesQuery({ asOf: app.clock.now(), live, clientId: client.id }),
      );
      expect(
        rows.find((r) => r.credit_type === 'sms'),
        `live: ${live}`,
      ).toMatchObject({
        remaining: '0',
        unavailable: '100',
        expired: '100',
      });
    }
  });

  it('a hold released after its balance expired before the freeze: its units lapse (DOMAIN.md "Holds")', async () => {
    await clockTo('2026-03-01T00:00:00.000Z');
    await ok('POST', '/v1/clients', { external_ref: 'hf', name: 'hf' }, 201);
    await commerce.pack('p-hf', { name: 'hf', auto_renew: true, max_freeze_days: 10 });
    const s = await ok('POST', '/v1/subscriptions', { client: 'hf', package: 'p-hf' }, 201); // [03-01, 04-01)
    // the nightly run of 03-31 renews ahead: [04-01, 05-01); a hold of 3 days taken from the running period
    await clockTo('2026-03-31T00:00:00.000Z');
    await nightly();
    const held = await ok('POST', '/v1/holds?wait=true', {
      client: 'hf',
      credit_type: 'sms',
      quantity: 10,
      idempotency_key: 'hf-1',
      expires_in_seconds: 3 * 86_400,
    });
    expect(held).toMatchObject({ status: 'held', held: '10' });
    await clockTo('2026-04-01T01:00:00.000Z');
    await ok('POST', `/v1/subscriptions/${s.id}/freeze`, { days: 1 });
    const released = await ok('POST', `/v1/holds/${held.id}/release`);
    expect(released).toMatchObject({ status: 'released', released: '0', lapsed: '10' });
  });
});
