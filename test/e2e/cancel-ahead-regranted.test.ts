import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_NIGHTLY_REPORTS, startTestApp, type TestApp } from '../helpers/app.js';
import { commerceScene } from '../helpers/commerce-scene.js';
import { closeVerified, httpSteps } from '../helpers/http-steps.js';

/**
 * A period whose renewal made ahead was taken back and then made again holds two grants of its package: the void
 * balances of the renewal taken back and the live ones of the renewal that stands. Taking back the renewal that
 * follows that period restores the item snapshot from that period's grant: the live one only (the void balances were
 * never granted to the period that runs). Packages: 100 sms + 7.5 min for 1 month at 19.99 USD (commerceScene).
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-01-01T00:00:00.000Z', env: NO_NIGHTLY_REPORTS });
  await commerce.creditTypes();
});
afterAll(async () => {
  await closeVerified(app);
});

const { ok, clockTo } = httpSteps(() => app);
const commerce = commerceScene(ok);

type Item = { credit_type: { code: string }; units: string };
type Balance = { id: string; source: string; status: string; remaining: string; credit_type: { code: string } };

const sub = (id: string) => ok('GET', `/v1/subscriptions/${id}`);
const items = async (id: string) => ((await sub(id)).items as Item[]).map((i) => [i.credit_type.code, i.units]);
const renewByHand = (id: string) => ok('POST', `/v1/subscriptions/${id}/renew?wait=true`, {});

describe('cancel at period end after a renewal made ahead of a period granted twice', () => {
  it('restores the items from the grant that stands, not from the void one too', async () => {
    await ok('POST', '/v1/clients', { external_ref: 'rg', name: 'rg' }, 201);
    await commerce.pack('p-rg', { name: 'rg', auto_renew: false });
    const s = await ok('POST', '/v1/subscriptions', { client: 'rg', package: 'p-rg' }, 201); // [01-01, 02-01)
    await clockTo('2026-01-10T00:00:00.000Z');
    await renewByHand(s.id); // [02-01, 03-01)
    await ok('POST', `/v1/subscriptions/${s.id}/cancel`, { at: 'period_end' }); // taken back: its balances void
    await ok('PATCH', `/v1/subscriptions/${s.id}`, { cancel_at_period_end: false });
    await renewByHand(s.id); // [02-01, 03-01) again: a second grant of that period
    expect(await items(s.id)).toEqual([
      ['sms', '100'],
      ['min', '7.5'],
    ]);
    // a renew job for that period again (a retry, a producer's late one) answers the grant that stands, not the
    // void one of the renewal taken back as well
    const { renewSubscription } = await import('../../src/jobs/renew.js');
    const again = await renewSubscription(
      app.ctx,
      { subscription_id: s.id, period_end: '2026-02-01T00:00:00.000Z' },
      'renewal-again',
    );
    expect(again.ok && again.value.status).toBe('already_renewed');
    const answered = again.ok ? again.value.balances : [];
    expect(answered.map((b) => [b.credit_type.code, b.granted])).toEqual([
      ['sms', '100'],
      ['min', '7.5'],
    ]);

    // in the period granted twice, renewed ahead by hand, then set to cancel at its end
    await clockTo('2026-02-10T00:00:00.000Z');
    await renewByHand(s.id); // [03-01, 04-01)
    const cancel = await app.request('POST', `/v1/subscriptions/${s.id}/cancel`, { body: { at: 'period_end' } });
    expect(cancel.status, cancel.text).toBe(200);
    expect(cancel.body).toMatchObject({
      current_period_start: '2026-02-01T00:00:00.000Z',
      current_period_end: '2026-03-01T00:00:00.000Z',
    });
    // the snapshot is the package's once, not once per grant the period ever had
    expect(await items(s.id)).toEqual([
      ['sms', '100'],
      ['min', '7.5'],
    ]);

    // taken back and renewed again, the next period grants 100 sms, not 200
    await ok('PATCH', `/v1/subscriptions/${s.id}`, { cancel_at_period_end: false });
    await renewByHand(s.id);
    const granted = ((await sub(s.id)).balances as Balance[])
      .filter((b) => b.credit_type.code === 'sms' && b.source === 'package')
      .sort((a, b) => (a.id < b.id ? -1 : 1));
    expect(granted.at(-1)).toMatchObject({ status: 'active', remaining: '100' });
    expect(await items(s.id)).toEqual([
      ['sms', '100'],
      ['min', '7.5'],
    ]);
    await ok('POST', `/v1/subscriptions/${s.id}/cancel`, { at: 'now' });
  });
});
