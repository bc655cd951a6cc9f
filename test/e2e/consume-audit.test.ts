import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import { type JobPayload, jobIdOf } from '../../src/jobs/definitions.js';
import { NO_NIGHTLY_REPORTS, startSibling, startTestApp, type TestApp, type TestResponse } from '../helpers/app.js';
import { recyclingDatabase } from '../helpers/database.js';
import { batchOutcome, snapshotCounts } from '../helpers/fixtures.js';
import { closeVerified, httpSteps } from '../helpers/http-steps.js';
import { logCapture } from '../helpers/log-capture.js';

/**
 * An audit of consumption (DOMAIN.md "Consumption", API.md consumptions, batch, quote, reverse) over HTTP with a
 * moved clock, real Postgres and Redis: the spending order and what is never spent, the short answer, exactly once,
 * reversal, the quote against what the worker then does, and validation at the edge. Each test has a service of
 * its own (but the validation cases, which write nothing: one for them all). Expected numbers are worked out by hand
 * in the comments; BUSINESS_TZ is UTC.
 */
const log = logCapture();

let app: TestApp;
// one database, emptied for each test (a clone per test cost more than most tests)
const databases = recyclingDatabase();
afterAll(() => databases.drop());
const start = async () =>
  startTestApp({
    database: await databases.next(),
    roles: ['api', 'worker'],
    now: '2026-03-01T00:00:00.000Z',
    env: { ...NO_NIGHTLY_REPORTS, LOG_LEVEL: 'info' },
    logTo: log.stream,
  });
/** A describe's service for all of its tests (each of them writes nothing, and checks it), or none. */
let shared: TestApp | undefined;
beforeEach(async () => {
  log.clear();
  app = shared ?? (await start());
});
afterEach(async () => {
  if (app !== shared) await closeVerified(app);
});

const { call, ok, clockTo, nightly } = httpSteps(() => app);

type Balance = {
  id: string;
  remaining: string;
  granted: string;
  source: string;
  status: string;
  priority: number;
  valid_from: string;
  expires_at: string;
  credit_type: { code: string };
};
type Sub = { id: string; status: string; balances: Balance[]; invoice: { id: string } };

/** Credit types `sms` (0 decimals) and `min` (2 decimals), and clients `c1`, `c2`. */
async function catalog() {
  await ok('POST', '/v1/credit-types', { code: 'sms', name: 'SMS', unit: 'message' }, 201);
  await ok('POST', '/v1/credit-types', { code: 'min', name: 'Minutes', unit: 'minute', decimals: 2 }, 201);
  await ok('POST', '/v1/clients', { external_ref: 'c1', name: 'Client one' }, 201);
  await ok('POST', '/v1/clients', { external_ref: 'c2', name: 'Client two' }, 201);
}
const pack = (code: string, units: number | string, extra: Record<string, unknown> = {}) =>
  ok(
    'POST',
    '/v1/packages',
    {
      code,
      name: code,
      price: 1000,
      currency: 'USD',
      validity: { count: 1, unit: 'month' },
      items: [{ credit_type: (extra.credit_type as string | undefined) ?? 'sms', units }],
      ...Object.fromEntries(Object.entries(extra).filter(([k]) => k !== 'credit_type')),
    },
    201,
  );
const buy = (pkg: string, extra: Record<string, unknown> = {}): Promise<Sub> =>
  ok('POST', '/v1/subscriptions', { client: 'c1', package: pkg, ...extra }, 201);
const grant = (body: Record<string, unknown>, client = 'c1'): Promise<Balance> =>
  ok('POST', `/v1/clients/${client}/grants`, { credit_type: 'sms', reason: 'audit', ...body }, 201);
const balance = async (id: string): Promise<Balance> => ok('GET', `/v1/balances/${id}`);
const remainingOf = async (...ids: string[]) => Promise.all(ids.map(async (id) => (await balance(id)).remaining));
const use = (body: Record<string, unknown>) => ({ client: 'c1', credit_type: 'sms', ...body });
const consume = (body: Record<string, unknown>) => call('POST', '/v1/consumptions?wait=true', use(body));
const quote = (body: Record<string, unknown>) => call('POST', '/v1/consumptions/quote', use(body));
const ledgerCount = async (kind?: string) => {
  const q = app.database.db('ledger_entries');
  if (kind) q.where({ kind });
  const [row] = (await q.count({ n: '*' })) as Array<{ n: string | number }>;
  return Number(row?.n ?? 0);
};
const TABLES = [
  'balances',
  'ledger_entries',
  'consumptions',
  'consumption_allocations',
  'accepted_jobs',
  'outbox_events',
  'idempotency_records',
  'invoices',
];
const writes = () => snapshotCounts(app, TABLES);

const expectProblem = (res: TestResponse, status: number, code: string) => {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status, code });
  expect(typeof res.body.title).toBe('string');
  expect(typeof res.body.type).toBe('string');
  expect(typeof res.body.detail).toBe('string');
};

/** The quote of a use, then the use itself: the quote's figures are what the worker then did. */
async function quoteThenConsume(body: Record<string, unknown>) {
  const before = await writes();
  const q = await quote(body);
  expect(q.status, q.text).toBe(200);
  expect(await writes()).toEqual(before);
  const res = await consume(body);
  const result = res.status === 422 ? res.body : res.body;
  const would = { applied: 'apply', partial: 'partial', rejected: 'reject' } as const;
  const status = (res.status === 422 ? result.consumption_status : result.status) as keyof typeof would;
  expect(q.body.would).toBe(would[status]);
  expect(q.body.allocations.map((a: { balance_id: string; amount: string }) => [a.balance_id, a.amount])).toEqual(
    result.allocations.map((a: { balance_id: string; amount: string }) => [a.balance_id, a.amount]),
  );
  for (const field of ['quantity', 'applied', 'shortfall', 'remaining'] as const)
    expect(q.body[field], field).toBe(result[field]);
  return { quote: q.body, res };
}

describe('rule 2: the spending order', () => {
  it('priority, then the soonest expiry, then valid_from, then id: across subscriptions and a recharge', async () => {
    await catalog();
    await pack('month', 10); // priority 50, [03-01, 04-01)
    await pack('fortnight', 10, { validity: { count: 2, unit: 'week' } }); // priority 50, [03-01, 03-15)
    await pack('free', 5, { price: 0, priority: 10, validity: { count: 3, unit: 'month' } }); // ends 06-01
    const a = await buy('month');
    const a2 = await buy('month'); // the same priority, expiry and valid_from as `a`: the id decides
    const b = await buy('fortnight');
    const f = await buy('free');
    await clockTo('2026-03-02T00:00:00.000Z');
    // a recharge of `a`: 10 sms valid from now (03-02) to the period's end (04-01)
    await ok('POST', `/v1/subscriptions/${a.id}/recharge?wait=true`, {});
    const recharge = (await ok('GET', `/v1/subscriptions/${a.id}`)).balances.find(
      (x: Balance) => x.source === 'recharge',
    ) as Balance;
    expect(recharge).toMatchObject({
      granted: '10',
      valid_from: '2026-03-02T00:00:00.000Z',
      expires_at: '2026-04-01T00:00:00.000Z',
    });
    const [first, second] = [a.balances[0]!.id, a2.balances[0]!.id].sort();
    // 38 = free 5 (priority 10) + fortnight 10 (03-15) + the two month balances 10 + 10 (04-01, 03-01, by id)
    //      + 3 of the recharge (04-01, valid from 03-02)
    const { res } = await quoteThenConsume({ quantity: 38, idempotency_key: 'order' });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ status: 'applied', quantity: '38', applied: '38', shortfall: '0' });
    expect(res.body.allocations).toEqual([
      { balance_id: f.balances[0]!.id, amount: '5' },
      { balance_id: b.balances[0]!.id, amount: '10' },
      { balance_id: first, amount: '10' },
      { balance_id: second, amount: '10' },
      { balance_id: recharge.id, amount: '3' },
    ]);
    // 45 held in all, 38 spent: 7 left, all in the recharge
    expect(res.body.remaining).toBe('7');
    expect(await remainingOf(recharge.id, f.balances[0]!.id)).toEqual(['7', '0']);
  });

  it('grants of no subscription follow the same order; a lower priority beats an earlier expiry', async () => {
    await catalog();
    await pack('month', 4); // priority 50, expires 04-01
    const s = await buy('month');
    const late = await grant({ units: 3, priority: 40, expires_at: '2026-12-01T00:00:00.000Z' });
    const early = await grant({ units: 2, priority: 60, expires_at: '2026-03-05T00:00:00.000Z' });
    // same priority and expiry as the package balance, valid from earlier: spent before it
    const older = await grant({
      units: 1,
      expires_at: '2026-04-01T00:00:00.000Z',
      valid_from: '2026-02-01T00:00:00.000Z',
    });
    const { res } = await quoteThenConsume({ quantity: 9, idempotency_key: 'g1' });
    expect(res.status, res.text).toBe(200);
    expect(res.body.allocations).toEqual([
      { balance_id: late.id, amount: '3' },
      { balance_id: older.id, amount: '1' },
      { balance_id: s.balances[0]!.id, amount: '4' },
      { balance_id: early.id, amount: '1' },
    ]);
    expect(res.body.remaining).toBe('1');
  });

  it('renewed early, the next period waits for its start; then the rollover is spent by the same rule', async () => {
    await catalog();
    await pack('roll', 10, { rollover: { policy: 'all' } });
    const s = await buy('roll'); // [03-01, 04-01)
    expect((await consume({ quantity: 4, idempotency_key: 'r0' })).status).toBe(200);
    await clockTo('2026-03-25T00:00:00.000Z');
    await ok('POST', `/v1/subscriptions/${s.id}/renew?wait=true`, {});
    const next = ((await ok('GET', `/v1/subscriptions/${s.id}`)).balances as Balance[]).find(
      (x) => x.valid_from === '2026-04-01T00:00:00.000Z',
    )!;
    expect(next).toMatchObject({ source: 'package', remaining: '10', expires_at: '2026-05-01T00:00:00.000Z' });
    // 03-25: the old period's 6 are all there is; the next period's 10 wait for 04-01
    const short = await quoteThenConsume({ quantity: 7, idempotency_key: 'r1' });
    expectProblem(short.res, 422, 'insufficient_balance');
    expect(short.res.body).toMatchObject({ remaining: '6', shortfall: '1' });

    await clockTo('2026-04-01T00:00:00.000Z');
    await nightly();
    const live = ((await ok('GET', `/v1/subscriptions/${s.id}`)).balances as Balance[]).filter(
      (x) => x.status === 'active',
    );
    const rolled = live.find((x) => x.source === 'rollover')!;
    // the rollover starts and ends with the next period: [04-01, 05-01), priority 50 — a tie up to the id, and the
    // next period's balance (made on 03-25) has the smaller id
    expect(rolled).toMatchObject({
      granted: '6',
      remaining: '6',
      priority: 50,
      valid_from: '2026-04-01T00:00:00.000Z',
      expires_at: '2026-05-01T00:00:00.000Z',
    });
    expect(next.id < rolled.id).toBe(true);
    // 8 = 8 of the next period's 10; the rollover's 6 untouched
    const { res } = await quoteThenConsume({ quantity: 8, idempotency_key: 'r2' });
    expect(res.status, res.text).toBe(200);
    expect(res.body.allocations).toEqual([{ balance_id: next.id, amount: '8' }]);
    expect(await remainingOf(next.id, rolled.id)).toEqual(['2', '6']);
    expect(res.body.remaining).toBe('8');
  });
});

describe('a recharge balance takes its priority from its package', () => {
  it('the recharge of a priority-20 package is spent with it, before a priority-50 balance ending sooner', async () => {
    await catalog();
    await pack('first', 5, { priority: 20, rollover: { policy: 'all' } }); // [03-01, 04-01)
    await pack('plain', 5, { validity: { count: 2, unit: 'week' } }); // priority 50, ends 03-15
    const s = await buy('first');
    const plain = await buy('plain');
    await ok('POST', `/v1/subscriptions/${s.id}/recharge?wait=true`, {});
    const balances = async () => (await ok('GET', `/v1/subscriptions/${s.id}`)).balances as Balance[];
    const recharge = (await balances()).find((x) => x.source === 'recharge')!;
    expect(recharge).toMatchObject({ priority: 20, granted: '5', expires_at: '2026-04-01T00:00:00.000Z' });
    // 12 = the package balance 5 and the recharge 5 (priority 20, 04-01; by valid_from, both 03-01: by id)
    //      then 2 of `plain` (priority 50) although it ends sooner
    const { res } = await quoteThenConsume({ quantity: 12, idempotency_key: 'p1' });
    expect(res.status, res.text).toBe(200);
    const [a, b] = [s.balances[0]!.id, recharge.id].sort();
    expect(res.body.allocations).toEqual([
      { balance_id: a, amount: '5' },
      { balance_id: b, amount: '5' },
      { balance_id: plain.balances[0]!.id, amount: '2' },
    ]);
  });
});

describe('rule 1: what is never spent', () => {
  it('not yet valid, expired (before the sweep), void, suspended, frozen, pending: none of them pay', async () => {
    await catalog();
    await pack('month', 3);
    await pack('big', 100);
    await pack('short', 100, { validity: { count: 1, unit: 'week' } });
    await pack('freezable', 100, { max_freeze_days: 30 });
    const good = await buy('month'); // 3 sms, the only spendable ones
    const future = await buy('big', { starts_at: '2026-03-20T00:00:00.000Z' });
    await buy('short', { starts_at: '2026-02-25T00:00:00.000Z' }); // [02-25, 03-04)
    const voided = await buy('big');
    await ok('POST', `/v1/subscriptions/${voided.id}/cancel`, { at: 'now' });
    const suspended = await buy('big');
    await ok('PATCH', `/v1/subscriptions/${suspended.id}`, { status: 'suspended' });
    const frozen = await buy('freezable');
    await ok('POST', `/v1/subscriptions/${frozen.id}/freeze`, { days: 10 });
    const pending = await buy('big', { activation: 'on_payment' });
    expect(pending.status).toBe('pending');
    await grant({ units: 50, valid_from: '2026-03-10T00:00:00.000Z', expires_at: '2026-05-01T00:00:00.000Z' });
    await grant({ units: 50, expires_at: '2026-03-03T00:00:00.000Z' });
    expect(future.balances[0]!.valid_from).toBe('2026-03-20T00:00:00.000Z');
    // 03-05: the week package ended 03-04 and the grant 03-03, with no sweep run since
    await clockTo('2026-03-05T00:00:00.000Z');
    const before = await writes();

    const rejected = await quoteThenConsume({ quantity: 4, idempotency_key: 'n1' });
    expectProblem(rejected.res, 422, 'insufficient_balance');
    expect(rejected.res.body).toMatchObject({
      consumption_status: 'rejected',
      quantity: '4',
      applied: '0',
      shortfall: '1',
      remaining: '3',
      allocations: [],
    });
    // a rejection writes the consumption (rejected) and its event, never a ledger entry or a balance change
    const afterReject = await writes();
    expect(afterReject.ledger_entries).toBe(before.ledger_entries);
    expect(afterReject.consumption_allocations).toBe(before.consumption_allocations);
    expect(afterReject.balances).toBe(before.balances);
    expect((await balance(good.balances[0]!.id)).remaining).toBe('3');

    const partial = await quoteThenConsume({ quantity: 4, idempotency_key: 'n2', mode: 'partial' });
    expect(partial.res.status, partial.res.text).toBe(200);
    expect(partial.res.body).toMatchObject({
      status: 'partial',
      quantity: '4',
      applied: '3',
      shortfall: '1',
      remaining: '0',
      allocations: [{ balance_id: good.balances[0]!.id, amount: '3' }],
    });
    const row = (await ok('GET', '/v1/clients/c1/balances')).data.find(
      (r: { credit_type: { code: string } }) => r.credit_type.code === 'sms',
    );
    // the balances read agrees: 703 granted = 3 + 100 × 6 + 50 × 2; 0 spendable; suspended, frozen, pending 300
    // unavailable; the later subscription and grant 150 upcoming; the week and the 03-03 grant 150 expired (by time)
    expect(row).toMatchObject({
      granted: '703',
      consumed: '3',
      remaining: '0',
      unavailable: '300',
      upcoming: '150',
      expired: '150',
      voided: '100',
    });
    // the suspended, frozen and pending subscriptions kept their 100 each
    for (const s of [suspended, frozen, pending, future])
      expect((await balance(s.balances[0]!.id)).remaining).toBe('100');

    // resumed, and paid: each pays again, in the spending order. Paid on 03-05, the pending one's period starts then:
    // [03-05, 04-05), after the resumed one's [03-01, 04-01)
    await ok('PATCH', `/v1/subscriptions/${suspended.id}`, { status: 'active' });
    await ok('POST', `/v1/invoices/${pending.invoice.id}/pay`, {});
    const paid = (await ok('GET', `/v1/subscriptions/${pending.id}`)) as Sub;
    expect(paid.status).toBe('active');
    expect(paid.balances[0]).toMatchObject({
      valid_from: '2026-03-05T00:00:00.000Z',
      expires_at: '2026-04-05T00:00:00.000Z',
    });
    const back = await quoteThenConsume({ quantity: 150, idempotency_key: 'n3' });
    expect(back.res.status, back.res.text).toBe(200);
    expect(back.res.body.allocations).toEqual([
      { balance_id: suspended.balances[0]!.id, amount: '100' },
      { balance_id: paid.balances[0]!.id, amount: '50' },
    ]);
    expect(back.res.body.remaining).toBe('50');
  });

  it('a balance valid only from a later instant pays for a use that occurred inside its validity only', async () => {
    await catalog();
    const later = await grant({
      units: 5,
      valid_from: '2026-03-01T12:00:00.000Z',
      expires_at: '2026-03-02T00:00:00.000Z',
    });
    await clockTo('2026-03-01T13:00:00.000Z');
    // occurred at 11:00, before valid_from: nothing to spend
    const early = await quoteThenConsume({ quantity: 1, idempotency_key: 'v1', occurred_at: '2026-03-01T11:00:00Z' });
    expectProblem(early.res, 422, 'insufficient_balance');
    expect(early.res.body).toMatchObject({ remaining: '0', shortfall: '1' });
    // at exactly valid_from: spendable (valid_from <= occurred_at)
    const exact = await quoteThenConsume({ quantity: 1, idempotency_key: 'v2', occurred_at: '2026-03-01T12:00:00Z' });
    expect(exact.res.status, exact.res.text).toBe(200);
    expect(exact.res.body.allocations).toEqual([{ balance_id: later.id, amount: '1' }]);
    expect(exact.res.body.remaining).toBe('4');
  });
});

describe('never below zero under concurrency', () => {
  it('24 uses of 1 at once against 10 units over two balances: exactly 10 applied, 14 rejected, 0 left', async () => {
    await catalog();
    const a = await grant({ units: 4, expires_at: '2026-03-20T00:00:00.000Z' });
    const b = await grant({ units: 6, expires_at: '2026-04-01T00:00:00.000Z' });
    const answers = await Promise.all(
      Array.from({ length: 24 }, (_, i) => consume({ quantity: 1, idempotency_key: `race-${i}` })),
    );
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses.filter((x) => x === 200)).toHaveLength(10);
    expect(statuses.filter((x) => x === 422)).toHaveLength(14);
    for (const r of answers.filter((x) => x.status === 422)) expectProblem(r, 422, 'insufficient_balance');
    expect(await remainingOf(a.id, b.id)).toEqual(['0', '0']);
    expect(await ledgerCount('consume')).toBe(10);
  });
});

describe('rule 1 reads occurred_at: a use reported late', () => {
  it('spends a balance valid when it occurred until the sweep expires it; quote and worker agree', async () => {
    await catalog();
    const old = await grant({ units: 5, expires_at: '2026-03-03T00:00:00.000Z' });
    const cur = await grant({ units: 5, expires_at: '2026-04-01T00:00:00.000Z' });
    await clockTo('2026-03-04T00:00:00.000Z');
    // occurred 03-02, reported 03-04: `old` (ended 03-03) was valid then, and nearer its expiry
    const late = await quoteThenConsume({ quantity: 2, idempotency_key: 'late1', occurred_at: '2026-03-02T00:00:00Z' });
    expect(late.res.body.allocations).toEqual([{ balance_id: old.id, amount: '2' }]);
    // a use of now cannot spend it
    const now = await quoteThenConsume({ quantity: 2, idempotency_key: 'now1' });
    expect(now.res.body.allocations).toEqual([{ balance_id: cur.id, amount: '2' }]);
    expect(now.res.body.remaining).toBe('3');
    // the sweep expires what `old` had left (3): a late use finds only `cur` now
    await nightly();
    expect(await balance(old.id)).toMatchObject({ status: 'expired', remaining: '0' });
    const after = await quoteThenConsume({
      quantity: 1,
      idempotency_key: 'late2',
      occurred_at: '2026-03-02T00:00:00Z',
    });
    expect(after.res.body.allocations).toEqual([{ balance_id: cur.id, amount: '1' }]);
    expect(after.res.body.remaining).toBe('2');
  });
});

describe('rule 3: never below zero, and the short answer', () => {
  it('reject and partial, to the unit, with decimals; partial with nothing at all is a rejection', async () => {
    await catalog();
    const g = await grant({ credit_type: 'min', units: '2.5', expires_at: '2026-04-01T00:00:00.000Z' });
    const reject = await quoteThenConsume({ credit_type: 'min', quantity: '2.51', idempotency_key: 'm1' });
    expectProblem(reject.res, 422, 'insufficient_balance');
    expect(reject.res.body).toMatchObject({ quantity: '2.51', applied: '0', shortfall: '0.01', remaining: '2.5' });
    expect(await ledgerCount('consume')).toBe(0);

    const exact = await quoteThenConsume({ credit_type: 'min', quantity: '2.49', idempotency_key: 'm2' });
    expect(exact.res.body).toMatchObject({ status: 'applied', applied: '2.49', remaining: '0.01' });
    const part = await quoteThenConsume({ credit_type: 'min', quantity: 1, idempotency_key: 'm3', mode: 'partial' });
    expect(part.res.body).toMatchObject({ status: 'partial', applied: '0.01', shortfall: '0.99', remaining: '0' });
    expect((await balance(g.id)).remaining).toBe('0');
    // nothing left: mode=partial has nothing to deduct (ambiguous in DOMAIN; the service answers a rejection)
    const none = await quoteThenConsume({ credit_type: 'min', quantity: 1, idempotency_key: 'm4', mode: 'partial' });
    expectProblem(none.res, 422, 'insufficient_balance');
    expect(none.res.body).toMatchObject({ applied: '0', shortfall: '1', remaining: '0' });
    expect(await ledgerCount('consume')).toBe(2);
  });
});

describe('held units are not spendable', () => {
  it('a hold takes its units in the spending order; a use and its quote see only what is left', async () => {
    await catalog();
    const soon = await grant({ units: 3, expires_at: '2026-03-10T00:00:00.000Z' });
    const later = await grant({ units: 7, expires_at: '2026-04-01T00:00:00.000Z' });
    const hold = await ok('POST', '/v1/holds?wait=true', use({ quantity: 4, idempotency_key: 'h1' }));
    // 3 of `soon`, then 1 of `later`
    expect(hold).toMatchObject({ status: 'held', remaining: '6' });
    const short = await quoteThenConsume({ quantity: 7, idempotency_key: 'u1' });
    expectProblem(short.res, 422, 'insufficient_balance');
    expect(short.res.body).toMatchObject({ remaining: '6', shortfall: '1' });
    const fits = await quoteThenConsume({ quantity: 6, idempotency_key: 'u2' });
    expect(fits.res.body.allocations).toEqual([{ balance_id: later.id, amount: '6' }]);
    expect(await remainingOf(soon.id, later.id)).toEqual(['0', '0']);
  });
});

describe('rule 4: exactly once per (client, idempotency_key)', () => {
  it('a repeat answers the first result (replayed), however it is written; another payload is 409', async () => {
    await catalog();
    await pack('month', 10);
    const s = await buy('month');
    const c1 = (await ok('GET', '/v1/clients/c1')).id as string;
    const queued = await call('POST', '/v1/consumptions', use({ quantity: 3, idempotency_key: 'k1' }));
    expect(queued.status, queued.text).toBe(202);
    expect(queued.body).toMatchObject({ status: 'queued' });
    const first = await consume({ quantity: 3, idempotency_key: 'k1' });
    expect(first.status, first.text).toBe(200);
    expect(first.body).toMatchObject({ id: queued.body.id, status: 'applied', applied: '3', remaining: '7' });
    expect(first.body.replayed).toBe(true);
    // the same payload, written otherwise: the client by id, "3.0", the default mode spelt out
    const same = await consume({ client: c1, quantity: '3.0', mode: 'reject', idempotency_key: 'k1' });
    expect(same.status, same.text).toBe(200);
    expect(same.body).toMatchObject({ id: queued.body.id, applied: '3', remaining: '7', replayed: true });
    expect(await remainingOf(s.balances[0]!.id)).toEqual(['7']);

    const before = await writes();
    for (const other of [
      { quantity: 4 },
      { quantity: 3, mode: 'partial' },
      { quantity: 3, reference: 'x' },
      { quantity: 3, occurred_at: '2026-03-01T00:00:00Z' },
      { quantity: 3, metadata: { a: 1 } },
    ]) {
      const res = await consume({ idempotency_key: 'k1', ...other });
      expectProblem(res, 409, 'idempotency_conflict');
      const batch = await call('POST', '/v1/consumptions/batch', { items: [use({ idempotency_key: 'k1', ...other })] });
      expectProblem(batch, 409, 'idempotency_conflict');
    }
    expect(await writes()).toEqual(before);
    // the key is unique per client: c2 may use it for its own
    await grant({ units: 1, expires_at: '2026-04-01T00:00:00.000Z' }, 'c2');
    const theirs = await consume({ client: 'c2', quantity: 1, idempotency_key: 'k1' });
    expect(theirs.status, theirs.text).toBe(200);
    expect(theirs.body).toMatchObject({ status: 'applied', replayed: false });
    expect(theirs.body.id).not.toBe(queued.body.id);
  });

  it('a rejected use repeated after a top-up answers its rejection again and spends nothing', async () => {
    await catalog();
    await grant({ units: 2, expires_at: '2026-04-01T00:00:00.000Z' });
    const first = await consume({ quantity: 5, idempotency_key: 'late' });
    expectProblem(first, 422, 'insufficient_balance');
    expect(first.body).toMatchObject({ consumption_status: 'rejected', remaining: '2', shortfall: '3' });
    const topUp = await grant({ units: 10, expires_at: '2026-04-01T00:00:00.000Z' });
    const before = await writes();
    const again = await consume({ quantity: 5, idempotency_key: 'late' });
    expectProblem(again, 422, 'insufficient_balance');
    expect(again.body).toMatchObject({
      id: first.body.id,
      consumption_status: 'rejected',
      remaining: '2',
      shortfall: '3',
      replayed: true,
    });
    expect(await writes()).toEqual(before);
    expect(await remainingOf(topUp.id)).toEqual(['10']);
  });

  it('batch: fresh, repeated and short uses side by side; a short one fails alone; its key is bound', async () => {
    await catalog();
    const g = await grant({ units: 10, expires_at: '2026-04-01T00:00:00.000Z' });
    const earlier = await consume({ quantity: 2, idempotency_key: 'b0' });
    expect(earlier.status, earlier.text).toBe(200);
    const items = [
      use({ quantity: 3, idempotency_key: 'b1' }),
      use({ quantity: 2, idempotency_key: 'b0' }), // the earlier use, repeated
      use({ quantity: 50, idempotency_key: 'b2' }), // more than there is: rejected alone
      use({ quantity: 4, idempotency_key: 'b3' }),
    ];
    const res = await app.request('POST', '/v1/consumptions/batch', {
      body: { items },
      headers: { 'idempotency-key': 'batch-1' },
    });
    expect(res.status, res.text).toBe(202);
    expect(res.body.data[1]).toMatchObject({ id: earlier.body.id, status: 'applied', idempotency_key: 'b0' });
    const outcome = await batchOutcome(app, res.body.batch_key);
    expect(outcome).toMatchObject({
      state: 'completed',
      value: { uses: 4, applied: 2, partial: 0, rejected: 1, failed: [] },
    });
    // 10 − 2 (b0) − 3 (b1) − 4 (b3) = 1; b2 (50) rejected with 5 left at its turn
    const read = async (i: number) => ok('GET', `/v1/consumptions/${res.body.data[i].id}`);
    expect(await read(0)).toMatchObject({ status: 'applied', applied: '3', remaining: '5' });
    expect(await read(2)).toMatchObject({ status: 'rejected', applied: '0', shortfall: '45', remaining: '5' });
    expect(await read(3)).toMatchObject({ status: 'applied', applied: '4', remaining: '1' });
    expect(await remainingOf(g.id)).toEqual(['1']);
    expect(await ledgerCount('consume')).toBe(3);

    // the same request again: the same batch, nothing new; another body under its key: 409, nothing written
    const before = await writes();
    const retry = await app.request('POST', '/v1/consumptions/batch', {
      body: { items },
      headers: { 'idempotency-key': 'batch-1' },
    });
    expect(retry.status, retry.text).toBe(202);
    expect(retry.body.batch_key).toBe(res.body.batch_key);
    expect(retry.body.data.map((d: { id: string }) => d.id)).toEqual(res.body.data.map((d: { id: string }) => d.id));
    const other = await app.request('POST', '/v1/consumptions/batch', {
      body: { items: [use({ quantity: 1, idempotency_key: 'b9' })] },
      headers: { 'idempotency-key': 'batch-1' },
    });
    expectProblem(other, 409, 'idempotency_conflict');
    expect(await writes()).toEqual(before);
  });

  it('one batch naming a key twice: the same payload is one use; another payload under it is refused', async () => {
    await catalog();
    const g = await grant({ units: 10, expires_at: '2026-04-01T00:00:00.000Z' });
    const twice = await call('POST', '/v1/consumptions/batch', {
      items: [use({ quantity: 1, idempotency_key: 'd1' }), use({ quantity: 1, idempotency_key: 'd1' })],
    });
    expect(twice.status, twice.text).toBe(202);
    expect(twice.body.data[0].id).toBe(twice.body.data[1].id);
    await batchOutcome(app, twice.body.batch_key);
    expect(await remainingOf(g.id)).toEqual(['9']);
    const before = await writes();
    const clash = await call('POST', '/v1/consumptions/batch', {
      items: [use({ quantity: 1, idempotency_key: 'd2' }), use({ quantity: 2, idempotency_key: 'd2' })],
    });
    expectProblem(clash, 409, 'idempotency_conflict');
    expect(await writes()).toEqual(before);
  });
});

describe('a consume-batch job pushed by a producer: one bad use fails alone', () => {
  it('too precise, an unknown client and a short use beside good ones: each answered on its own', async () => {
    await catalog();
    const g = await grant({ units: 10, expires_at: '2026-04-01T00:00:00.000Z' });
    // accepted_at as a producer sets it (the default occurred_at; the job's own timestamp is the wall clock's)
    const data = {
      batch_key: 'producer-1',
      accepted_at: '2026-03-01T00:00:00.000Z',
      items: [
        use({ quantity: 2, idempotency_key: 'pb0' }),
        use({ quantity: 1.5, idempotency_key: 'pb1' }), // sms has no decimals
        use({ client: 'nobody', quantity: 1, idempotency_key: 'pb2' }),
        use({ quantity: 100, idempotency_key: 'pb3' }), // 8 left: rejected
        use({ quantity: 3, idempotency_key: 'pb4' }),
      ] as Array<JobPayload<'consume'>>,
    };
    const jobId = jobIdOf('consume-batch', data);
    await app.ctx.queues.consumption.add('consume-batch', data, { jobId });
    const outcome = await awaitOutcome(app.ctx, 'consume-batch', jobId, { timeoutMs: 20_000 });
    expect(outcome.state, JSON.stringify(outcome)).toBe('completed');
    if (outcome.state !== 'completed') return;
    expect(outcome.value).toMatchObject({ uses: 5, applied: 2, partial: 0, rejected: 1, replayed: 0 });
    expect(outcome.value.failed.map((f) => [f.index, f.idempotency_key, f.code])).toEqual([
      [1, 'pb1', 'validation_failed'],
      [2, 'pb2', 'not_found'],
    ]);
    // 10 − 2 − 3 = 5; the rejected one recorded, the two refused ones not at all
    expect(await remainingOf(g.id)).toEqual(['5']);
    const keys = await app.database.db('consumptions').orderBy('idempotency_key').select('idempotency_key', 'status');
    expect(keys.map((k: { idempotency_key: string; status: string }) => [k.idempotency_key, k.status])).toEqual([
      ['pb0', 'applied'],
      ['pb3', 'rejected'],
      ['pb4', 'applied'],
    ]);
  });
});

describe('API.md: a creating POST honours Idempotency-Key', () => {
  it('POST /v1/consumptions: the same header and body replay the use; another body under it is 409', async () => {
    await catalog();
    const g = await grant({ units: 10, expires_at: '2026-04-01T00:00:00.000Z' });
    const post = (body: Record<string, unknown>, key: string) =>
      app.request('POST', '/v1/consumptions?wait=true', { body: use(body), headers: { 'idempotency-key': key } });
    const first = await post({ quantity: 2, idempotency_key: 'h-a' }, 'hdr-1');
    expect(first.status, first.text).toBe(200);
    expect(first.body).toMatchObject({ status: 'applied', applied: '2', remaining: '8', replayed: false });
    const again = await post({ quantity: 2, idempotency_key: 'h-a' }, 'hdr-1');
    expect(again.status, again.text).toBe(200);
    expect(again.body).toMatchObject({ id: first.body.id, applied: '2', remaining: '8', replayed: true });
    const before = await writes();
    // another use under the same Idempotency-Key: refused, nothing written, nothing spent
    expectProblem(await post({ quantity: 3, idempotency_key: 'h-b' }, 'hdr-1'), 409, 'idempotency_conflict');
    expect(await writes()).toEqual(before);
    expect(await remainingOf(g.id)).toEqual(['8']);
    // a refused request leaves its header free: the caller corrects the body and retries with it
    expectProblem(await post({ quantity: 1.5, idempotency_key: 'h-c' }, 'hdr-2'), 422, 'validation_failed');
    const fixed = await post({ quantity: 1, idempotency_key: 'h-c' }, 'hdr-2');
    expect(fixed.status, fixed.text).toBe(200);
    expect(fixed.body).toMatchObject({ applied: '1', remaining: '7' });
    // a use rejected for insufficient balance was recorded: its header stays bound to it
    expectProblem(await post({ quantity: 50, idempotency_key: 'h-d' }, 'hdr-3'), 422, 'insufficient_balance');
    expectProblem(await post({ quantity: 1, idempotency_key: 'h-e' }, 'hdr-3'), 409, 'idempotency_conflict');
    const replay = await post({ quantity: 50, idempotency_key: 'h-d' }, 'hdr-3');
    expectProblem(replay, 422, 'insufficient_balance');
    expect(replay.body).toMatchObject({ consumption_status: 'rejected', replayed: true });
    expect(await remainingOf(g.id)).toEqual(['7']);
  });

  it('POST /v1/holds: the same header and body replay the hold; another body under it is 409', async () => {
    await catalog();
    const g = await grant({ units: 10, expires_at: '2026-04-01T00:00:00.000Z' });
    const post = (body: Record<string, unknown>, key: string) =>
      app.request('POST', '/v1/holds?wait=true', { body: use(body), headers: { 'idempotency-key': key } });
    const first = await post({ quantity: 4, idempotency_key: 'hh-a' }, 'hold-hdr-1');
    expect(first.status, first.text).toBe(200);
    expect(first.body).toMatchObject({ status: 'held', held: '4' });
    const again = await post({ quantity: 4, idempotency_key: 'hh-a' }, 'hold-hdr-1');
    expect(again.status, again.text).toBe(200);
    expect(again.body).toMatchObject({ id: first.body.id, held: '4', replayed: true });
    // another hold under the same Idempotency-Key: refused, nothing held
    expectProblem(await post({ quantity: 3, idempotency_key: 'hh-b' }, 'hold-hdr-1'), 409, 'idempotency_conflict');
    // 10 − 4 held = 6 usable
    expect(await remainingOf(g.id)).toEqual(['6']);
    // a refused request leaves its header free
    expectProblem(await post({ quantity: 0, idempotency_key: 'hh-c' }, 'hold-hdr-2'), 422, 'validation_failed');
    const fixed = await post({ quantity: 1, idempotency_key: 'hh-c' }, 'hold-hdr-2');
    expect(fixed.status, fixed.text).toBe(200);
    expect(await remainingOf(g.id)).toEqual(['5']);
  });
});

describe('rule 5: a reversal gives each allocation back, once', () => {
  it('to the balances it came from; one expired meanwhile takes its part back expired; twice is once', async () => {
    await catalog();
    const a = await grant({ units: 5, expires_at: '2026-03-03T00:00:00.000Z' });
    const b = await grant({ units: 5, expires_at: '2026-04-01T00:00:00.000Z' });
    const c = await grant({ units: 5, expires_at: '2026-05-01T00:00:00.000Z' });
    const used = await consume({ quantity: 12, idempotency_key: 'rv' });
    expect(used.body.allocations).toEqual([
      { balance_id: a.id, amount: '5' },
      { balance_id: b.id, amount: '5' },
      { balance_id: c.id, amount: '2' },
    ]);
    // 03-04: `a` ended on 03-03 (no sweep since): its 5 are not revived
    await clockTo('2026-03-04T00:00:00.000Z');
    const reverse = () => call('POST', `/v1/consumptions/${used.body.id}/reverse?wait=true`, {});
    const first = await reverse();
    expect(first.status, first.text).toBe(200);
    expect(first.body).toMatchObject({
      consumption_id: used.body.id,
      status: 'reversed',
      returned: '7',
      expired: '5',
      reversed_at: '2026-03-04T00:00:00.000Z',
      replayed: false,
    });
    expect(await remainingOf(a.id, b.id, c.id)).toEqual(['0', '5', '5']);
    // `a` is not revived: its 5 go back and expire there at once (a reverse and an expire entry, 0 left after)
    const entries = await app.database
      .db('ledger_entries')
      .whereIn('kind', ['reverse', 'expire'])
      .andWhere({ consumption_id: used.body.id })
      .orderBy('seq');
    const at = (id: string) => ({ [a.id]: 'a', [b.id]: 'b', [c.id]: 'c' })[id];
    expect(
      entries.map((e: { balance_id: string; kind: string; amount: bigint; remaining_after: bigint }) => [
        at(e.balance_id),
        e.kind,
        String(e.amount),
        String(e.remaining_after),
      ]),
    ).toEqual([
      ['b', 'reverse', '5', '5'],
      ['c', 'reverse', '2', '5'],
      ['a', 'reverse', '5', '5'],
      ['a', 'expire', '-5', '0'],
    ]);
    // so `a` counts its 5 expired, not consumed
    expect(await ok('GET', `/v1/balances/${a.id}`)).toMatchObject({ consumed: '0', expired: '5', remaining: '0' });
    const before = await writes();
    const again = await reverse();
    expect(again.status, again.text).toBe(200);
    expect(again.body).toMatchObject({ returned: '7', expired: '5', replayed: true });
    expect(await writes()).toEqual(before);
    expect(await ok('GET', `/v1/consumptions/${used.body.id}`)).toMatchObject({
      status: 'reversed',
      reversal: { returned: '7', expired: '5', reversed_at: '2026-03-04T00:00:00.000Z' },
    });
    // the returned units are spendable again, the expired ones not: 10 left
    const q = await quote({ quantity: 11 });
    expect(q.body).toMatchObject({ would: 'reject', remaining: '10', shortfall: '1' });
  });

  it('a partial use gives back what it took; a void balance expires its part; a rejected one nothing', async () => {
    await catalog();
    await pack('month', 4);
    const s = await buy('month');
    const g = await grant({ units: 3, expires_at: '2026-06-01T00:00:00.000Z' });
    const part = await consume({ quantity: 10, idempotency_key: 'p1', mode: 'partial' });
    expect(part.body).toMatchObject({ status: 'partial', applied: '7', shortfall: '3' });
    expect(part.body.allocations).toEqual([
      { balance_id: s.balances[0]!.id, amount: '4' },
      { balance_id: g.id, amount: '3' },
    ]);
    await ok('POST', `/v1/subscriptions/${s.id}/cancel`, { at: 'now' });
    const rev = await call('POST', `/v1/consumptions/${part.body.id}/reverse?wait=true`, {});
    expect(rev.status, rev.text).toBe(200);
    expect(rev.body).toMatchObject({ returned: '3', expired: '4' });
    expect(await remainingOf(s.balances[0]!.id, g.id)).toEqual(['0', '3']);
    expect(await ok('GET', `/v1/balances/${s.balances[0]!.id}`)).toMatchObject({
      status: 'void',
      consumed: '0',
      expired: '4',
    });

    const rejected = await consume({ quantity: 100, idempotency_key: 'p2' });
    expectProblem(rejected, 422, 'insufficient_balance');
    const before = await writes();
    expectProblem(await call('POST', `/v1/consumptions/${rejected.body.id}/reverse?wait=true`, {}), 409, 'conflict');
    // no partial reversal in API.md: a quantity is an unknown field, refused
    const more = await call('POST', `/v1/consumptions/${part.body.id}/reverse?wait=true`, { quantity: 100 });
    expectProblem(more, 422, 'validation_failed');
    expectProblem(
      await call('POST', '/v1/consumptions/00000000-0000-4000-8000-000000000000/reverse?wait=true', {}),
      404,
      'not_found',
    );
    expect(await writes()).toEqual(before);
  });
});

describe('a reversal of a use accepted and not yet applied', () => {
  it('is 409 conflict (the id exists: GET answers it queued), never 404; once applied it reverses', async () => {
    // this file's app has a worker: a second service without one keeps the use queued
    const lone = await startTestApp({ roles: ['api'], now: '2026-03-01T00:00:00.000Z' });
    try {
      const req = (method: string, path: string, body?: unknown) =>
        lone.request(method, path, body === undefined ? {} : { body });
      await req('POST', '/v1/credit-types', { code: 'sms', name: 'SMS', unit: 'message' });
      await req('POST', '/v1/clients', { external_ref: 'c1', name: 'Client one' });
      const g = await req('POST', '/v1/clients/c1/grants', {
        credit_type: 'sms',
        units: 10,
        expires_at: '2026-04-01T00:00:00.000Z',
        reason: 'audit',
      });
      expect(g.status, g.text).toBe(201);
      const queued = await req('POST', '/v1/consumptions', use({ quantity: 4, idempotency_key: 'q1' }));
      expect(queued.status, queued.text).toBe(202);
      expect((await req('GET', `/v1/consumptions/${queued.body.id}`)).body).toEqual({
        id: queued.body.id,
        status: 'queued',
      });
      const early = await req('POST', `/v1/consumptions/${queued.body.id}/reverse`, {});
      expectProblem(early, 409, 'conflict');
      expect(await lone.database.db('ledger_entries').where({ kind: 'reverse' })).toEqual([]);
      // a worker applies it; then it reverses
      const worker = await startSibling(lone, ['worker']);
      try {
        await expect
          .poll(async () => (await req('GET', `/v1/consumptions/${queued.body.id}`)).body.status, { timeout: 20_000 })
          .toBe('applied');
        const rev = await req('POST', `/v1/consumptions/${queued.body.id}/reverse?wait=true`, {});
        expect(rev.status, rev.text).toBe(200);
        expect(rev.body).toMatchObject({ returned: '4', expired: '0' });
        expect((await req('GET', `/v1/balances/${g.body.id}`)).body.remaining).toBe('10');
      } finally {
        await worker.stop();
      }
    } finally {
      await lone.close();
    }
  });
});

describe('validation at the edge: a problem+json of the contract, logged, nothing written', () => {
  /** A use's raw body with `quantity` written as given (and any other fields after it). */
  const raw = (quantity: string, creditType = 'sms', more = '') =>
    `{"client":"c1","credit_type":"${creditType}","quantity":${quantity},"idempotency_key":"v"${more}}`;
  const invalid = (what: string, body: string, field?: string) =>
    [what, body, 422, 'validation_failed', field] as const;
  const BAD: ReadonlyArray<readonly [string, string, number, string, string | undefined]> = [
    // [what, raw body, status, code, field named in errors]
    invalid('a malformed body', '{"client": "c1", "quantity": '),
    invalid('an array body', '[1, 2]'),
    invalid('no quantity', '{"client":"c1","credit_type":"sms","idempotency_key":"v"}', 'quantity'),
    invalid('a boolean quantity', raw('true'), 'quantity'),
    invalid('an object quantity', raw('{}'), 'quantity'),
    invalid('a negative quantity', raw('-1'), 'quantity'),
    invalid('a zero quantity', raw('0'), 'quantity'),
    invalid('"0.00"', raw('"0.00"', 'min'), 'quantity'),
    invalid('a text quantity', raw('"ten"'), 'quantity'),
    invalid('"NaN"', raw('"NaN"'), 'quantity'),
    invalid('"Infinity"', raw('"Infinity"'), 'quantity'),
    invalid('1.5 of a whole unit', raw('1.5'), 'quantity'),
    invalid('"0.001" of 2 decimals', raw('"0.001"', 'min'), 'quantity'),
    invalid('0.30000000000000004', raw('0.30000000000000004', 'min'), 'quantity'),
    invalid('10^15 + 1', raw('1000000000000001'), 'quantity'),
    invalid('2^53 + 1', raw('9007199254740993'), 'quantity'),
    invalid('a 30-digit number', raw('123456789012345678901234567890'), 'quantity'),
    invalid('a 30-digit string', raw('"123456789012345678901234567890"', 'min'), 'quantity'),
    invalid('1e400', raw('1e400'), 'quantity'),
    invalid('an exponent in a string', raw('"1e3"'), 'quantity'),
    invalid('an empty key', '{"client":"c1","credit_type":"sms","quantity":1,"idempotency_key":""}', 'idempotency_key'),
    invalid('a numeric key', '{"client":"c1","credit_type":"sms","quantity":1,"idempotency_key":7}', 'idempotency_key'),
    invalid('an unknown mode', raw('1', 'sms', ',"mode":"some"'), 'mode'),
    invalid('a bad occurred_at', raw('1', 'sms', ',"occurred_at":"yesterday"'), 'occurred_at'),
    invalid('a future occurred_at', raw('1', 'sms', ',"occurred_at":"2026-03-02T00:00:00Z"'), 'occurred_at'),
    invalid('an unknown field', raw('1', 'sms', ',"units":1')),
    [
      'an unknown client',
      '{"client":"nobody","credit_type":"sms","quantity":1,"idempotency_key":"v"}',
      404,
      'not_found',
      undefined,
    ],
    ['an unknown credit type', raw('1', 'gold'), 404, 'not_found', undefined],
  ];

  /**
   * What only the database or the clock refuses (a reference, a precision, a time): in a batch that use fails alone
   * (issue 14), answered `failed` with the code a single use is refused with; the rest is malformed whatever the
   * database holds, and refuses a batch whole.
   */
  const AT_THE_DOOR = new Set([
    '1.5 of a whole unit',
    '"0.001" of 2 decimals',
    '0.30000000000000004',
    'a future occurred_at',
    'an unknown client',
    'an unknown credit type',
  ]);

  describe('a use, its quote, a batch item', () => {
    // one service and catalog for the cases (a service each cost ~0.2 CPU-s): each one checks that it wrote nothing,
    // so each starts from the same store; the verify runs once, at the end
    beforeAll(async () => {
      app = await start();
      await catalog();
      await grant({ units: 10, expires_at: '2026-04-01T00:00:00.000Z' });
      await grant({ credit_type: 'min', units: 10, expires_at: '2026-04-01T00:00:00.000Z' });
      shared = app;
    });
    afterAll(async () => {
      shared = undefined;
      await closeVerified(app);
    });

    it.each(BAD)('%s', async (what, raw, status, code, field) => {
      const before = await writes();
      for (const path of ['/v1/consumptions?wait=true', '/v1/consumptions', '/v1/consumptions/quote']) {
        log.clear();
        const res = await app.request('POST', path, { raw });
        expectProblem(res, status, code);
        if (field) expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
        if (status === 422) expect(Array.isArray(res.body.errors), res.text).toBe(true);
        // logged: the request's one line, with its status
        const logged = log.entries().filter((l) => l.res?.statusCode === status);
        expect(logged.length, log.chunks.join('')).toBeGreaterThan(0);
      }
      if (AT_THE_DOOR.has(what)) {
        // in a batch, alone: accepted, that use failed under its own id, nothing else written
        const batch = await app.request('POST', '/v1/consumptions/batch', { raw: `{"items":[${raw}]}` });
        expect(batch.status, batch.text).toBe(202);
        expect(batch.body.data).toEqual([expect.objectContaining({ status: 'failed', code, idempotency_key: 'v' })]);
      } else if (raw.startsWith('{') && !raw.endsWith(' ')) {
        // in a batch: the item named, 422
        const batch = await app.request('POST', '/v1/consumptions/batch', {
          raw: `{"items":[{"client":"c1","credit_type":"sms","quantity":1,"idempotency_key":"ok"},${raw}]}`,
        });
        expectProblem(batch, 422, 'validation_failed');
        expect(batch.body.errors.some((e: { field: string }) => e.field.startsWith('items.1'))).toBe(true);
      }
      expect(await writes()).toEqual(before);
    });
  });

  it('a batch of no items, of 1,001 items, or with one bad item is refused whole, naming the item', async () => {
    await catalog();
    await grant({ units: 10, expires_at: '2026-04-01T00:00:00.000Z' });
    const before = await writes();
    const batch = (items: unknown) => call('POST', '/v1/consumptions/batch', { items });
    expectProblem(await batch([]), 422, 'validation_failed');
    expectProblem(await batch('x'), 422, 'validation_failed');
    const many = Array.from({ length: 1_001 }, (_, i) => use({ quantity: 1, idempotency_key: `many-${i}` }));
    expectProblem(await batch(many), 422, 'validation_failed');
    const oneBad = await batch([use({ quantity: 1, idempotency_key: 'x0' }), use({ idempotency_key: 'x1' })]);
    expectProblem(oneBad, 422, 'validation_failed');
    expect(oneBad.body.errors).toEqual([expect.objectContaining({ field: 'items.1.quantity' })]);
    // an Idempotency-Key longer than the contract allows
    const long = await app.request('POST', '/v1/consumptions?wait=true', {
      body: use({ quantity: 1, idempotency_key: 'x2' }),
      headers: { 'idempotency-key': 'k'.repeat(256) },
    });
    expectProblem(long, 422, 'validation_failed');
    expect(await writes()).toEqual(before);
  });

  it('a reversal: a malformed body, a reason of the wrong type, an id not a UUID, a GET of no such use', async () => {
    await catalog();
    await grant({ units: 10, expires_at: '2026-04-01T00:00:00.000Z' });
    const used = await consume({ quantity: 2, idempotency_key: 'rv-edge' });
    expect(used.status, used.text).toBe(200);
    const before = await writes();
    const path = `/v1/consumptions/${used.body.id}/reverse?wait=true`;
    expectProblem(await app.request('POST', path, { raw: '{"reason": ' }), 422, 'validation_failed');
    expectProblem(await call('POST', path, { reason: 5 }), 422, 'validation_failed');
    expectProblem(await call('POST', path, { reason: 'r'.repeat(501) }), 422, 'validation_failed');
    expectProblem(await call('POST', '/v1/consumptions/not-a-uuid/reverse?wait=true', {}), 404, 'not_found');
    expectProblem(await call('GET', '/v1/consumptions/00000000-0000-4000-8000-000000000000'), 404, 'not_found');
    expect(await writes()).toEqual(before);
    expect(await ok('GET', `/v1/consumptions/${used.body.id}`)).toMatchObject({ status: 'applied', applied: '2' });
  });

  it('the largest quantities allowed are read exactly: 10^15 units, and 2 decimals of a 16-digit number', async () => {
    await catalog();
    await grant({ units: '1000000000000000', expires_at: '2026-04-01T00:00:00.000Z' });
    await grant({ credit_type: 'min', units: '1000000000000000', expires_at: '2026-04-01T00:00:00.000Z' });
    const whole = await app.request('POST', '/v1/consumptions?wait=true', {
      raw: '{"client":"c1","credit_type":"sms","quantity":1000000000000000,"idempotency_key":"max"}',
    });
    expect(whole.status, whole.text).toBe(200);
    expect(whole.body).toMatchObject({ applied: '1000000000000000', remaining: '0' });
    const fine = await app.request('POST', '/v1/consumptions?wait=true', {
      raw: '{"client":"c1","credit_type":"min","quantity":99999999999999.99,"idempotency_key":"fine"}',
    });
    expect(fine.status, fine.text).toBe(200);
    // 10^15 − 99,999,999,999,999.99 = 900,000,000,000,000.01
    expect(fine.body).toMatchObject({ applied: '99999999999999.99', remaining: '900000000000000.01' });
  });
});
