import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expireDue } from '../../src/jobs/expire.js';
import { archiveMonth } from '../../src/services/archive.js';
import { NO_NIGHTLY_REPORTS, startTestApp, type TestApp } from '../helpers/app.js';
import { commerceScene } from '../helpers/commerce-scene.js';
import { closeVerified, httpSteps } from '../helpers/http-steps.js';

/**
 * Review finding: a cancel at period end takes back a renewal made ahead unless a recharge bought into it keeps it
 * (paid, or spent from: services/renewal-undo.ts). Which recharge sold a balance was read from the balance's
 * `recharge` ledger entry — gone once its month was archived. A paid recharge bought into a renewal made ahead, in a
 * month archived before the renewed period began, was then not found: the cancel took the renewal back and voided
 * the recharge's units as a recharge with no sale, its invoice still paid.
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-01-10T00:00:00.000Z', env: NO_NIGHTLY_REPORTS });
});
afterAll(async () => {
  await closeVerified(app);
});

const { ok, clockTo } = httpSteps(() => app);
const commerce = commerceScene(ok);

describe('a paid recharge bought into a renewal made ahead, its month archived', () => {
  it('still keeps the renewal when the subscription is cancelled at period end', async () => {
    await expireDue(app.ctx, app.clock.now());
    await commerce.creditTypes();
    await clockTo('2026-01-20T00:00:00.000Z');
    await ok('POST', '/v1/clients', { external_ref: 'arr', name: 'arr' }, 201);
    await commerce.pack('p-arr', { name: 'arr', auto_renew: true });
    const s = await ok('POST', '/v1/subscriptions', { client: 'arr', package: 'p-arr' }, 201); // [01-20, 02-20)
    await clockTo('2026-01-25T00:00:00.000Z');
    await ok('POST', `/v1/subscriptions/${s.id}/renew?wait=true`, {}); // ahead: [02-20, 03-20)
    await clockTo('2026-01-26T00:00:00.000Z');
    const bought = await ok('POST', `/v1/subscriptions/${s.id}/recharge?wait=true`, {});
    await ok('POST', `/v1/invoices/${bought.invoice_id}/pay`, {});

    await clockTo('2026-02-02T00:00:00.000Z');
    const january = await archiveMonth(app.database.db, '2026-01', app.clock.now());
    expect(january.ok, january.ok ? '' : january.detail).toBe(true);

    expect(await ok('POST', `/v1/subscriptions/${s.id}/cancel`, { at: 'period_end' })).toMatchObject({
      cancel_at_period_end: true,
      current_period_start: '2026-02-20T00:00:00.000Z',
      renewal_count: 1,
    });
    const recharged = new Set((bought.balances as Array<{ id: string }>).map((b) => b.id));
    const balances = (await ok('GET', `/v1/subscriptions/${s.id}`)).balances as Array<{ id: string; status: string }>;
    expect(balances.filter((b) => recharged.has(b.id)).map((b) => b.status)).toEqual(['active', 'active']);
    expect(balances.filter((b) => b.status === 'void')).toEqual([]);
  });
});
