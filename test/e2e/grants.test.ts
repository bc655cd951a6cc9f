import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import { pgCode } from '../../src/db/knex.js';
import { enqueueMaintenance } from '../../src/scheduler/nightly.js';
import { verifyInvariants } from '../../src/services/verify.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, snapshotCounts, subscribe } from '../helpers/fixtures.js';
import { jsonRows } from '../helpers/reports.js';

const START = '2026-06-01T09:00:00.000Z';

let app: TestApp;
let hours: { id: string; code: string };

beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: START });
  hours = await createCreditType(app, { code: 'g-hours', unit: 'hour', decimals: 2 });
});
afterAll(async () => {
  const report = await verifyInvariants(app.database.db);
  expect(report.violations).toEqual([]);
  await app.close();
});

const grant = (client: string, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  app.request('POST', `/v1/clients/${client}/grants`, { body, headers });
const consume = (client: string, quantity: number | string, key: string) =>
  app.request('POST', '/v1/consumptions?wait=true', {
    key: app.keys.write,
    body: { client, credit_type: hours.code, quantity, idempotency_key: key },
  });
async function hoursOf(client: string) {
  const res = await app.request('GET', `/v1/clients/${client}/balances`, { key: app.keys.read });
  expect(res.status, res.text).toBe(200);
  return res.body.data.find((r: { credit_type: { code: string } }) => r.credit_type.code === hours.code);
}
async function sweep(asOf: string) {
  const job = await enqueueMaintenance(app.ctx, 'expire', new Date(asOf));
  const outcome = await awaitOutcome(app.ctx, 'expire', job.jobId, { timeoutMs: 20_000 });
  expect(outcome.state, JSON.stringify(outcome)).toBe('completed');
  return outcome.state === 'completed' ? outcome.value : undefined;
}

describe('POST /v1/clients/{id}/grants: units for a client with no live balance (source adjustment)', () => {
  it(
    'grants to a client with no subscription; the units are ' +
      'consumed, reversed, expired by the sweep, and verify stays clean',
    async () => {
      app.clock.set(START);
      const client = await createClient(app);
      const res = await grant(client.external_ref, {
        credit_type: hours.code,
        units: '5.5',
        expires_at: '2026-07-01T00:00:00Z',
        reason: 'goodwill after the outage',
      });
      expect(res.status, res.text).toBe(201);
      expect(res.body).toMatchObject({
        subscription_id: null,
        source: 'adjustment',
        status: 'active',
        availability: 'usable',
        credit_type: { id: hours.id, code: hours.code },
        granted: '5.5',
        remaining: '5.5',
        priority: 50,
        valid_from: START,
        expires_at: '2026-07-01T00:00:00.000Z',
        ledger_entry: {
          kind: 'adjust',
          amount: '5.5',
          remaining_after: '5.5',
          subscription_id: null,
          reason: 'goodwill after the outage',
          actor: expect.stringMatching(/^key:/),
        },
      });
      const balanceId = res.body.id as string;
      expect(res.body.ledger_entry.balance_id).toBe(balanceId);
      expect(await hoursOf(client.id)).toMatchObject({
        granted: '5.5',
        remaining: '5.5',
        next_expiry: '2026-07-01T00:00:00.000Z',
      });

      const used = await consume(client.id, 2, 'use-grant');
      expect(used.status, used.text).toBe(200);
      expect(used.body).toMatchObject({
        status: 'applied',
        allocations: [{ balance_id: balanceId, amount: '2' }],
        remaining: '3.5',
      });
      const tooMuch = await consume(client.id, 4, 'more-than-granted');
      expect(tooMuch.status, tooMuch.text).toBe(422);
      expect(tooMuch.body).toMatchObject({ code: 'insufficient_balance', remaining: '3.5' });

      const reversed = await app.request('POST', `/v1/consumptions/${used.body.id}/reverse?wait=true`, {
        key: app.keys.write,
      });
      expect(reversed.status, reversed.text).toBe(200);
      expect(await hoursOf(client.id)).toMatchObject({ consumed: '0', remaining: '5.5' });

      expect(await consume(client.id, '1.25', 'use-again')).toMatchObject({ status: 200 });
      const statement = await app.request('GET', `/v1/clients/${client.id}/statement`, { key: app.keys.read });
      expect(
        statement.body.data.map((e: { kind: string; amount: string; subscription_id: string | null }) => [
          e.kind,
          e.amount,
          e.subscription_id,
        ]),
      ).toEqual([
        ['adjust', '5.5', null],
        ['consume', '-2', null],
        ['reverse', '2', null],
        ['consume', '-1.25', null],
      ]);
      expect((await verifyInvariants(app.database.db)).violations).toEqual([]);

      // past its expiry: counted as expired at once, and the sweep expires it like any other balance
      app.clock.set('2026-07-01T00:00:00.000Z');
      expect(await hoursOf(client.id)).toMatchObject({ remaining: '0', expired: '4.25' });
      const swept = await sweep('2026-07-01T00:00:00.000Z');
      expect(swept?.balances_expired).toBeGreaterThanOrEqual(1);
      const after = await app.request('GET', `/v1/balances/${balanceId}`, { key: app.keys.read });
      expect(after.body).toMatchObject({ status: 'expired', remaining: '0', expired: '4.25', availability: 'expired' });
      expect(await hoursOf(client.id)).toMatchObject({
        granted: '5.5',
        consumed: '1.25',
        remaining: '0',
        expired: '4.25',
      });
      const lastEntry = (
        await app.request('GET', `/v1/clients/${client.id}/statement`, { key: app.keys.read })
      ).body.data.at(-1);
      expect(lastEntry).toMatchObject({ kind: 'expire', amount: '-4.25', remaining_after: '0', subscription_id: null });
      const events = await app.database.db('outbox_events').where({ subject_id: balanceId }).pluck('type');
      expect(events).toEqual(expect.arrayContaining(['balance.adjusted', 'balance.expired']));
      // a second sweep finds nothing more (and does not spin on the subscription-less balance)
      expect(await sweep('2026-07-01T00:05:00.000Z')).toMatchObject({ balances_expired: 0 });
      expect((await verifyInvariants(app.database.db)).violations).toEqual([]);
      app.clock.set(START);
    },
  );

  it('is spent in the spending order beside subscription balances, and waits for its valid_from', async () => {
    app.clock.set(START);
    const client = await createClient(app);
    const pkg = await createPackage(app, [{ credit_type: hours.code, units: 10 }]);
    const sub = await subscribe(app, client.id, pkg.code);
    const first = await grant(client.id, {
      credit_type: hours.id,
      units: 1,
      expires_at: '2026-12-31T00:00:00Z',
      priority: 10,
      reason: 'spend me first',
    });
    expect(first.status, first.text).toBe(201);
    const later = await grant(client.id, {
      credit_type: hours.code,
      units: 3,
      valid_from: '2026-06-15T00:00:00Z',
      expires_at: '2026-08-01T00:00:00Z',
      reason: 'from the 15th',
    });
    expect(later.status, later.text).toBe(201);
    expect(later.body).toMatchObject({ availability: 'upcoming', valid_from: '2026-06-15T00:00:00.000Z' });
    expect(await hoursOf(client.id)).toMatchObject({ granted: '14', remaining: '11', upcoming: '3' });

    const used = await consume(client.id, 2, 'order');
    expect(used.status, used.text).toBe(200);
    expect(used.body.allocations).toEqual([
      { balance_id: first.body.id, amount: '1' },
      { balance_id: sub.balances[0]!.id, amount: '1' },
    ]);

    // a suspended subscription holds its units; the grant, of no subscription, stays usable
    expect((await app.request('PATCH', `/v1/subscriptions/${sub.id}`, { body: { status: 'suspended' } })).status).toBe(
      200,
    );
    app.clock.set('2026-06-20T00:00:00.000Z');
    expect(await hoursOf(client.id)).toMatchObject({ remaining: '3', unavailable: '9', upcoming: '0' });
    const fromGrant = await consume(client.id, 3, 'while-suspended');
    expect(fromGrant.status, fromGrant.text).toBe(200);
    expect(fromGrant.body.allocations).toEqual([{ balance_id: later.body.id, amount: '3' }]);
    expect((await app.request('PATCH', `/v1/subscriptions/${sub.id}`, { body: { status: 'active' } })).status).toBe(
      200,
    );
    app.clock.set(START);
  });

  it('shows in the balances report as a row of no subscription and no package', async () => {
    app.clock.set(START);
    const client = await createClient(app, { external_ref: 'g-report' });
    expect(
      (await grant(client.id, { credit_type: hours.code, units: 4, expires_at: '2026-09-01T00:00:00Z', reason: 'r' }))
        .status,
    ).toBe(201);
    const { rows } = await jsonRows<Record<string, unknown>>(app, {
      type: 'balances',
      params: { client: client.external_ref },
    });
    expect(rows).toEqual([
      expect.objectContaining({
        subscription_id: null,
        client_ref: 'g-report',
        package_code: null,
        subscription_status: null,
        credit_type: hours.code,
        granted: '4',
        remaining: '4',
        unavailable: '0',
        upcoming: '0',
      }),
    ]);
    // consumption per package: what grants paid for is a row of no package, so the split adds up
    expect((await consume(client.id, 1, 'report-use')).status).toBe(200);
    const usage = await jsonRows<Record<string, unknown>>(app, {
      type: 'consumption',
      params: { client: client.external_ref, per: 'package', group_by: 'day' },
    });
    expect(usage.rows).toEqual([
      expect.objectContaining({ credit_type: hours.code, package_code: null, consumed: '1', reversed: '0' }),
    ]);
    const expiring = await jsonRows<Record<string, unknown>>(app, {
      type: 'expiring',
      params: { client: client.external_ref, days_ahead: 120 },
    });
    expect(expiring.rows).toEqual([
      expect.objectContaining({ row_type: 'balance', subscription_id: null, client_ref: 'g-report', remaining: '3' }),
    ]);
  });

  it('honours Idempotency-Key: the same request replays its answer, another body is 409', async () => {
    const client = await createClient(app);
    const body = { credit_type: hours.code, units: 2, expires_at: '2026-09-01T00:00:00Z', reason: 'once' };
    const a = await grant(client.id, body, { 'Idempotency-Key': 'grant-1' });
    const b = await grant(client.id, body, { 'Idempotency-Key': 'grant-1' });
    expect(a.status, a.text).toBe(201);
    expect(b.status).toBe(201);
    expect(b.body).toEqual(a.body);
    expect(b.headers.get('idempotent-replayed')).toBe('true');
    const other = await grant(client.id, { ...body, units: 3 }, { 'Idempotency-Key': 'grant-1' });
    expect(other.status, other.text).toBe(409);
    expect(other.body).toMatchObject({ code: 'idempotency_conflict' });
    expect(await hoursOf(client.id)).toMatchObject({ granted: '2' });
  });

  it(
    'refuses, changing nothing: unknown client or credit ' + 'type 404, bad units or validity 422, no admin scope 403',
    async () => {
      app.clock.set(START);
      const client = await createClient(app);
      const archived = await createCreditType(app, { code: 'g-old' });
      expect(
        (await app.request('PATCH', `/v1/credit-types/${archived.code}`, { body: { archived: true } })).status,
      ).toBe(200);
      const ok = { credit_type: hours.code, units: 1, expires_at: '2026-07-01T00:00:00Z', reason: 'r' };
      const before = await snapshotCounts(app);
      const cases: Array<[string, string, Record<string, unknown>, number, string, string?]> = [
        ['unknown client', 'nobody-here', ok, 404, 'not_found'],
        ['unknown credit type', client.id, { ...ok, credit_type: 'no-such-type' }, 404, 'not_found'],
        ['too many decimals', client.id, { ...ok, units: '1.125' }, 422, 'validation_failed', 'units'],
        ['zero units', client.id, { ...ok, units: 0 }, 422, 'validation_failed', 'units'],
        ['negative units', client.id, { ...ok, units: '-1' }, 422, 'validation_failed', 'units'],
        [
          'expires_at not after valid_from',
          client.id,
          { ...ok, valid_from: '2026-07-01T00:00:00Z' },
          422,
          'validation_failed',
          'expires_at',
        ],
        [
          'expires_at in the past',
          client.id,
          { ...ok, expires_at: '2026-05-01T00:00:00Z' },
          422,
          'validation_failed',
          'expires_at',
        ],
        [
          'expires_at in the past, valid_from earlier still',
          client.id,
          { ...ok, valid_from: '2026-04-01T00:00:00Z', expires_at: '2026-05-01T00:00:00Z' },
          422,
          'validation_failed',
          'expires_at',
        ],
        [
          'archived credit type',
          client.id,
          { ...ok, credit_type: archived.code },
          422,
          'validation_failed',
          'credit_type',
        ],
        ['no reason', client.id, { ...ok, reason: '' }, 422, 'validation_failed', 'reason'],
        ['a field it does not take', client.id, { ...ok, subscription: 'x' }, 422, 'validation_failed'],
      ];
      for (const [name, ref, body, status, code, field] of cases) {
        const res = await grant(ref, body);
        expect(res.status, `${name}: ${res.text}`).toBe(status);
        expect(res.body, name).toMatchObject({ code });
        if (field)
          expect(
            (res.body.errors as Array<{ field: string }>).map((e) => e.field),
            name,
          ).toContain(field);
      }
      const writeKey = await app.request('POST', `/v1/clients/${client.id}/grants`, { key: app.keys.write, body: ok });
      expect(writeKey.status).toBe(403);
      expect(await snapshotCounts(app)).toEqual(before);
    },
  );

  it('the database refuses a balance of no subscription unless it is an adjustment', async () => {
    const client = await createClient(app);
    const now = new Date(START);
    const row = {
      id: '00000000-0000-4000-8000-0000000000aa',
      client_id: client.id,
      subscription_id: null,
      credit_type_id: hours.id,
      source: 'package',
      granted: 1,
      remaining: 1,
      priority: 50,
      valid_from: now,
      expires_at: new Date('2026-07-01T00:00:00Z'),
      period_start: now,
      created_at: now,
      updated_at: now,
    };
    const refused = await app.database
      .db('balances')
      .insert(row)
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(pgCode(refused)).toBe('23514');
    // an adjustment may (rolled back: a balance with no ledger entry would be a violation of its own)
    const tx = await app.database.db.transaction();
    try {
      await tx('balances').insert({ ...row, source: 'adjustment' });
    } finally {
      await tx.rollback();
    }
  });
});
