import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expireDue } from '../../src/jobs/expire.js';
import { archiveMonth } from '../../src/services/archive.js';
import { verifyInvariants } from '../../src/services/verify.js';
import { NO_NIGHTLY_REPORTS, startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/**
 * Review finding: verify stops checking a month's consumptions once it is archived, so the archiving checks them last
 * and refuses a month whose consumptions do not add up — "the same conditions as verify's checkConsumption". One was
 * missing: a consumption not reversed whose ledger gave units back. verify named it; archive-month archived the month
 * all the same, and verify found nothing wrong from then on.
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-02-10T10:00:00.000Z', env: NO_NIGHTLY_REPORTS });
});
afterAll(async () => {
  await app.close();
});

describe('a month whose consumption the ledger gave back though it is not reversed', () => {
  it('is not archived: verify names it, and so does the refusal', async () => {
    const db = app.database.db;
    await expireDue(app.ctx, app.clock.now());
    const sms = await createCreditType(app, { code: 'acc-sms', unit: 'message' });
    const client = await createClient(app, { external_ref: 'acc-client' });
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 100 }], {
      validity: { count: 6, unit: 'month' },
    });
    await subscribe(app, client.id, pkg.code, { auto_renew: false });
    app.clock.set('2026-02-15T10:00:00.000Z');
    const used = await app.request('POST', '/v1/consumptions?wait=true', {
      key: app.keys.write,
      body: { client: client.id, credit_type: sms.code, quantity: 5, idempotency_key: 'acc-1' },
    });
    expect(used.status, used.text).toBe(200);

    // the ledger gives 2 back and expires them at once, as a reversal's expired part; the balance agrees, the
    // consumption records them expired, but it stays `applied`
    const [consumed] = await db('ledger_entries').where({ consumption_id: used.body.id, kind: 'consume' });
    const { seq: _seq, id: _id, ...entry } = consumed;
    const at = new Date('2026-02-16T10:00:00.000Z');
    await db('ledger_entries').insert([
      { ...entry, kind: 'reverse', amount: 2, remaining_after: 97, effective_at: at, created_at: at },
      { ...entry, kind: 'expire', amount: -2, remaining_after: 95, effective_at: at, created_at: at },
    ]);
    await db('consumptions').where({ id: used.body.id }).update({ reversal_expired: 2 });
    await db('balances')
      .where({ id: consumed.balance_id })
      .update({ consumed: db.raw('consumed - 2'), expired: db.raw('expired + 2') });
    expect((await verifyInvariants(db)).violations).toEqual([
      {
        invariant: 'consumption_ledger',
        subject: `consumption ${used.body.id}`,
        detail: 'not reversed but the ledger gave back 2',
      },
    ]);

    app.clock.set('2026-03-05T10:00:00.000Z');
    const february = await archiveMonth(db, '2026-02', app.clock.now());
    expect(february).toMatchObject({ ok: false, code: 'conflict' });
    expect(!february.ok && february.detail).toBe(
      "1 violation(s) among 2026-02's consumptions, nothing archived " +
        `(first: consumption ${used.body.id}: not reversed but the ledger gave back 2)`,
    );
    expect((await verifyInvariants(db)).violations).toHaveLength(1);
  });
});
