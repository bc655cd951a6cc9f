import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expireDue } from '../../src/jobs/expire.js';
import { applyCaptures, applyReleases } from '../../src/jobs/hold-closing.js';
import { verifyInvariants } from '../../src/services/verify.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/**
 * DOMAIN.md "Holds": units held from a balance that expired *meanwhile* are not revived on release. A release (or the
 * rest of a capture) asked while the balance was still valid is dated when it was asked, like the capture's
 * consumption: its worker coming to it after the balance's expiry (a queue behind) does not make the units lapse —
 * they go back to the balance, and its own expiry deals with them (rolled over here).
 */
let app: TestApp;
let sms: { id: string; code: string };
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-01-20T12:00:00.000Z' });
  sms = await createCreditType(app, { code: 'hit-sms', unit: 'message' });
});
afterAll(async () => {
  const report = await verifyInvariants(app.database.db);
  expect(report.violations).toEqual([]);
  await app.close();
});

const iso = (ms: number) => new Date(ms).toISOString();
const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const hold = (body: Record<string, unknown>) =>
  app.request('POST', '/v1/holds?wait=true', { key: app.keys.write, body });

describe('a closing asked before its balance expired, applied after', () => {
  it('gives the units back to the balance (not lapsed): they roll over with it', async () => {
    const client = await createClient(app);
    // 31 days that end twelve hours from now; everything left rolls over into the renewal
    const expiresAt = app.clock.now().getTime() + DAY_MS / 2;
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }], {
      validity: { count: 31, unit: 'day' },
      rollover: { policy: 'all' },
    });
    const sub = await subscribe(app, client.id, pkg.code, {
      auto_renew: false,
      starts_at: iso(expiresAt - 31 * DAY_MS),
    });
    const balance = sub.balances[0]!.id;
    const toRelease = await hold({
      client: client.id,
      credit_type: sms.code,
      quantity: 3,
      idempotency_key: 'r1',
      expires_in_seconds: 2 * 86_400,
    });
    const toCapture = await hold({
      client: client.id,
      credit_type: sms.code,
      quantity: 4,
      idempotency_key: 'c1',
      expires_in_seconds: 2 * 86_400,
    });
    expect(toCapture.body.remaining).toBe('3');
    const renewed = await app.request('POST', `/v1/subscriptions/${sub.id}/renew?wait=true`, { key: app.keys.write });
    expect(renewed.status, renewed.text).toBe(200);

    // both asked an hour before the balance expired; their worker comes to them an hour after
    const askedAt = new Date(expiresAt - HOUR_MS);
    app.clock.set(iso(expiresAt + HOUR_MS));
    const [released] = await applyReleases(app.ctx, [
      {
        jobId: `release|${toRelease.body.id}`,
        data: { hold_id: toRelease.body.id, accepted_at: askedAt.toISOString() },
        enqueuedAt: askedAt,
      },
    ]);
    expect(released).toMatchObject({ ok: true, value: { status: 'released', released: '3', lapsed: '0' } });
    const [captured] = await applyCaptures(app.ctx, [
      {
        jobId: `capture|${toCapture.body.id}`,
        data: { hold_id: toCapture.body.id, quantity: 1, accepted_at: askedAt.toISOString() },
        enqueuedAt: askedAt,
      },
    ]);
    expect(captured).toMatchObject({
      ok: true,
      value: { hold: { status: 'captured', captured: '1', released: '3', lapsed: '0' } },
    });

    // the sweep: the old balance's 9 (10 − 1 consumed) roll over into the renewed period beside its own 10
    expect((await expireDue(app.ctx, app.clock.now())).ok).toBe(true);
    const rolled = await app.database.db('ledger_entries').where({ balance_id: balance, kind: 'rollover' }).first();
    expect(String(rolled?.amount)).toBe('-9');
    const balances = await app.request('GET', `/v1/clients/${client.id}/balances`, { key: app.keys.read });
    expect(balances.body.data[0]).toMatchObject({ remaining: '19', consumed: '1', held: '0', expired: '0' });
  });
});

describe('a release asked before expires_at that its worker reaches after the sweep', () => {
  it('is a release, not an expiry: the sweep leaves the hold to it, and no hold.expired is told', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    await subscribe(app, client.id, pkg.code, { auto_renew: false });
    const start = app.clock.now().getTime();
    const held = await hold({
      client: client.id,
      credit_type: sms.code,
      quantity: 5,
      idempotency_key: 'late-release',
      expires_in_seconds: 60,
    });
    expect(held.status, held.text).toBe(200);
    const queue = app.ctx.queues.consumption;
    await queue.pause();
    let released: ReturnType<typeof app.request>;
    try {
      // asked half a minute before the hold ends; the workers are behind
      app.clock.set(iso(start + 30_000));
      released = app.request('POST', `/v1/holds/${held.body.id}/release`, { key: app.keys.write });
      const jobId = `release|${held.body.id}`;
      await expect.poll(async () => (await app.database.db('accepted_jobs').where({ job_id: jobId })).length).toBe(1);
      // the sweep five minutes later comes before the release's worker
      app.clock.set(iso(start + 5 * 60_000));
      const swept = await expireDue(app.ctx, app.clock.now());
      expect(swept.ok && swept.value.holds_expired).toBe(0);
    } finally {
      await queue.resume();
    }
    const answer = await released;
    expect(answer.status, answer.text).toBe(200);
    expect(answer.body).toMatchObject({ status: 'released', released: '5', lapsed: '0', held: '0' });
    const events = await app.database.db('outbox_events').where({ subject_id: held.body.id }).pluck('type');
    expect(events).not.toContain('hold.expired');
    const balances = await app.request('GET', `/v1/clients/${client.id}/balances`, { key: app.keys.read });
    expect(balances.body.data[0]).toMatchObject({ remaining: '10', held: '0' });
  });
});

describe('balances as of an instant between a closing asked and its worker applying it', () => {
  it('read the hold still held, as a live read then did', async () => {
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    await subscribe(app, client.id, pkg.code, { auto_renew: false });
    const start = app.clock.now().getTime();
    const held = await hold({ client: client.id, credit_type: sms.code, quantity: 4, idempotency_key: 'as-of' });
    expect(held.status, held.text).toBe(200);
    const askedAt = new Date(start + 10_000);
    app.clock.set(iso(start + 60_000));
    const [captured] = await applyCaptures(app.ctx, [
      {
        jobId: `capture|${held.body.id}`,
        data: { hold_id: held.body.id, quantity: 1, accepted_at: askedAt.toISOString() },
        enqueuedAt: askedAt,
      },
    ]);
    expect(captured).toMatchObject({ ok: true, value: { hold: { captured: '1', released: '3' } } });
    const asOf = await app.request('GET', `/v1/clients/${client.id}/balances?as_of=${iso(start + 30_000)}`, {
      key: app.keys.read,
    });
    expect(asOf.status, asOf.text).toBe(200);
    expect(asOf.body.data[0]).toMatchObject({ remaining: '6', held: '4', consumed: '0' });
    const live = await app.request('GET', `/v1/clients/${client.id}/balances`, { key: app.keys.read });
    expect(live.body.data[0]).toMatchObject({ remaining: '9', held: '0', consumed: '1' });
  });
});
