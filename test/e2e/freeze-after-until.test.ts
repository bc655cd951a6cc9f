import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyInvariants } from '../../src/services/verify.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, snapshotCounts, subscribe } from '../helpers/fixtures.js';

/**
 * DOMAIN.md "Freeze": a freeze ends at its `frozen_until`, whether or not the expiry sweep has recorded it yet (every
 * read already answers it ended). A freeze asked after that instant, before the sweep came, is a second freeze of a
 * subscription whose clock runs again — not "frozen already".
 */
let app: TestApp;
let sms: { id: string; code: string };
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-06-01T00:00:00.000Z' });
  sms = await createCreditType(app, { code: 'fau-sms', unit: 'message' });
});
afterAll(async () => {
  const report = await verifyInvariants(app.database.db);
  expect(report.violations).toEqual([]);
  await app.close();
});

const at = (iso: string) => app.clock.set(iso);
const freeze = (id: string, body?: unknown) =>
  app.request('POST', `/v1/subscriptions/${id}/freeze`, { key: app.keys.write, body });
const eventsOf = async (subject: string) =>
  (await app.database.db('outbox_events').where({ subject_id: subject }).orderBy('seq')) as Array<{
    type: string;
    payload: { data: Record<string, unknown> };
  }>;

describe('a freeze asked after the last one ended at frozen_until, before the sweep came', () => {
  it('ends the last one there (as the sweep would), then freezes again within what is left', async () => {
    at('2026-06-01T00:00:00.000Z');
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 5 }], { max_freeze_days: 10 });
    const sub = await subscribe(app, client.id, pkg.code);
    expect(sub.current_period_end).toBe('2026-07-01T00:00:00.000Z');

    at('2026-06-10T00:00:00.000Z');
    expect((await freeze(sub.id, { days: 3 })).status).toBe(200);

    // 14 June: the freeze ended on 13 June; no sweep has run since. 3 days used, 7 left: 8 is beyond, nothing changes
    at('2026-06-14T00:00:00.000Z');
    const before = await snapshotCounts(app, ['subscription_freezes', 'outbox_events', 'ledger_entries']);
    const beyond = await freeze(sub.id, { days: 8 });
    expect(beyond.status, beyond.text).toBe(422);
    expect(beyond.body).toMatchObject({ code: 'validation_failed', errors: [{ field: 'days' }] });
    expect(await snapshotCounts(app, ['subscription_freezes', 'outbox_events', 'ledger_entries'])).toEqual(before);

    const again = await freeze(sub.id, { days: 2 });
    expect(again.status, again.text).toBe(200);
    // the first freeze pushed the period end by exactly its 3 days before the second one stopped the clock
    expect(again.body).toMatchObject({
      status: 'frozen',
      frozen_at: '2026-06-14T00:00:00.000Z',
      frozen_until: '2026-06-16T00:00:00.000Z',
      current_period_end: '2026-07-04T00:00:00.000Z',
    });
    expect(again.body.balances.map((b: { expires_at: string }) => b.expires_at)).toEqual(['2026-07-04T00:00:00.000Z']);
    const records = await app.database
      .db('subscription_freezes')
      .where({ subscription_id: sub.id })
      .orderBy('frozen_at');
    expect(records.map((r) => [r.frozen_at.toISOString(), r.unfrozen_at?.toISOString() ?? null, r.ended_by])).toEqual([
      ['2026-06-10T00:00:00.000Z', '2026-06-13T00:00:00.000Z', 'sweep'],
      ['2026-06-14T00:00:00.000Z', null, null],
    ]);
    const types = (await eventsOf(sub.id)).map((e) => e.type).filter((t) => t.includes('frozen'));
    expect(types).toEqual(['subscription.frozen', 'subscription.unfrozen', 'subscription.frozen']);
  });
});

describe('a change of a subscription whose freeze ended at frozen_until, before the sweep came', () => {
  it('meets it active (the freeze ended there first), as every read shows it: suspend, renew, recharge', async () => {
    at('2026-08-01T00:00:00.000Z');
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 5 }], { max_freeze_days: 10 });
    const subs = [];
    for (let i = 0; i < 3; i++) {
      const client = await createClient(app);
      const sub = await subscribe(app, client.id, pkg.code, { auto_renew: false });
      expect((await freeze(sub.id, { days: 2 })).status).toBe(200);
      subs.push(sub);
    }
    // 4 August: the freezes ended on 3 August; no sweep has run since
    at('2026-08-04T00:00:00.000Z');
    const [toSuspend, toRenew, toRecharge] = subs.map((s) => s.id) as [string, string, string];
    const suspended = await app.request('PATCH', `/v1/subscriptions/${toSuspend}`, {
      key: app.keys.write,
      body: { status: 'suspended' },
    });
    expect(suspended.status, suspended.text).toBe(200);
    expect(suspended.body).toMatchObject({ status: 'suspended', current_period_end: '2026-09-03T00:00:00.000Z' });
    const renewed = await app.request('POST', `/v1/subscriptions/${toRenew}/renew?wait=true`, {
      key: app.keys.write,
    });
    expect(renewed.status, renewed.text).toBe(200);
    const recharged = await app.request('POST', `/v1/subscriptions/${toRecharge}/recharge?wait=true`, {
      key: app.keys.write,
    });
    expect(recharged.status, recharged.text).toBe(200);
    for (const sub of subs) {
      const record = await app.database.db('subscription_freezes').where({ subscription_id: sub.id }).first();
      expect(record).toMatchObject({ ended_by: 'sweep' });
      expect(record.unfrozen_at.toISOString()).toBe('2026-08-03T00:00:00.000Z');
    }
  });
});
