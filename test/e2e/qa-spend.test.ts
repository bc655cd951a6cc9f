import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NO_NIGHTLY_REPORTS, startTestApp, type TestApp, type TestResponse } from '../helpers/app.js';
import { recyclingDatabase } from '../helpers/database.js';
import { snapshotCounts } from '../helpers/fixtures.js';
import { closeVerified, httpSteps } from '../helpers/http-steps.js';

/**
 * QA of the spend path over HTTP (DOMAIN.md "Consumption", "Holds, quotes"; API.md consumptions, batch, quote, holds,
 * reverse) with a moved clock: every expected figure is worked out by hand in the comment beside it. It leaves to
 * consume-audit and holds what they cover already and goes for the edges between them. BUSINESS_TZ is UTC.
 */
let app: TestApp;
const databases = recyclingDatabase();
afterAll(() => databases.drop());
beforeEach(async () => {
  app = await startTestApp({
    database: await databases.next(),
    roles: ['api', 'worker'],
    now: '2026-03-01T00:00:00.000Z',
    env: { ...NO_NIGHTLY_REPORTS },
  });
});
afterEach(async () => {
  await closeVerified(app);
});

const { call, ok, clockTo } = httpSteps(() => app);

type Balance = { id: string; remaining: string; held: string; expires_at: string };
type Alloc = { balance_id: string; amount: string };

async function catalog() {
  await ok('POST', '/v1/credit-types', { code: 'sms', name: 'SMS', unit: 'message' }, 201);
  await ok('POST', '/v1/credit-types', { code: 'min', name: 'Minutes', unit: 'minute', decimals: 2 }, 201);
  await ok('POST', '/v1/clients', { external_ref: 'c1', name: 'Client one' }, 201);
}
const grant = (body: Record<string, unknown>): Promise<Balance> =>
  ok('POST', '/v1/clients/c1/grants', { credit_type: 'sms', reason: 'qa', ...body }, 201);
const use = (body: Record<string, unknown>) => ({ client: 'c1', credit_type: 'sms', ...body });
const consume = (body: Record<string, unknown>) => call('POST', '/v1/consumptions?wait=true', use(body));
const quote = (body: Record<string, unknown>) => call('POST', '/v1/consumptions/quote', use(body));
const remainingOf = (...ids: string[]) =>
  Promise.all(ids.map(async (id) => ((await ok('GET', `/v1/balances/${id}`)) as Balance).remaining));
const pairs = (allocations: Alloc[]) => allocations.map((a) => [a.balance_id, a.amount]);
const TABLES = ['balances', 'ledger_entries', 'consumptions', 'consumption_allocations', 'holds', 'outbox_events'];
const writes = () => snapshotCounts(app, TABLES);
const expectProblem = (res: TestResponse, status: number, code: string) => {
  expect(res.status, res.text).toBe(status);
  expect(res.body).toMatchObject({ status, code });
};

/** The quote writes nothing and says what the use then does, figure for figure. */
async function quoteThenConsume(body: Record<string, unknown>) {
  const before = await writes();
  const q = await quote(body);
  expect(q.status, q.text).toBe(200);
  expect(await writes()).toEqual(before);
  const res = await consume(body);
  const would = { applied: 'apply', partial: 'partial', rejected: 'reject' } as const;
  const status = (res.status === 422 ? res.body.consumption_status : res.body.status) as keyof typeof would;
  expect(q.body.would).toBe(would[status]);
  expect(pairs(q.body.allocations)).toEqual(pairs(res.body.allocations));
  for (const field of ['quantity', 'applied', 'shortfall', 'remaining'] as const)
    expect(q.body[field], field).toBe(res.body[field]);
  return { quote: q.body, res };
}

describe('spending order edges, then every last unit', () => {
  it('priority, expiry, valid_from; not yet valid, expiring at occurred_at out; partial, then reject 1', async () => {
    await catalog();
    await ok(
      'POST',
      '/v1/packages',
      {
        code: 'month',
        name: 'm',
        price: 1000,
        currency: 'USD',
        validity: { count: 1, unit: 'month' },
        items: [{ credit_type: 'sms', units: 10 }],
      },
      201,
    );
    const sub = await ok('POST', '/v1/subscriptions', { client: 'c1', package: 'month' }, 201); // [03-01, 04-01)
    const pkg = sub.balances[0].id as string;
    const prio = await grant({ units: 2, priority: 30, expires_at: '2026-06-01T00:00:00.000Z' });
    const soon = await grant({ units: 3, expires_at: '2026-03-20T00:00:00.000Z' });
    // the package balance's priority and expiry, valid from earlier: before it
    const older = await grant({
      units: 2,
      expires_at: '2026-04-01T00:00:00.000Z',
      valid_from: '2026-02-01T00:00:00.000Z',
    });
    const edge = await grant({ units: 4, expires_at: '2026-03-01T12:00:00.000Z' });
    const future = await grant({
      units: 5,
      valid_from: '2026-03-05T00:00:00.000Z',
      expires_at: '2026-05-01T00:00:00.000Z',
    });
    await clockTo('2026-03-01T12:00:00.000Z'); // `edge` expires exactly now: occurred_at < expires_at fails
    // eligible: prio 2 + soon 3 + older 2 + pkg 10 = 17; asked 20 → applied 17, shortfall 20 − 17 = 3
    const { res } = await quoteThenConsume({ quantity: 20, idempotency_key: 'all', mode: 'partial' });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ status: 'partial', applied: '17', shortfall: '3', remaining: '0' });
    expect(pairs(res.body.allocations)).toEqual([
      [prio.id, '2'],
      [soon.id, '3'],
      [older.id, '2'],
      [pkg, '10'],
    ]);
    // nothing left: 1 more is refused, shortfall 1 − 0 = 1
    const short = await quoteThenConsume({ quantity: 1, idempotency_key: 'one-more' });
    expectProblem(short.res, 422, 'insufficient_balance');
    expect(short.res.body).toMatchObject({
      consumption_status: 'rejected',
      applied: '0',
      shortfall: '1',
      remaining: '0',
    });
    expect(await remainingOf(edge.id, future.id)).toEqual(['4', '5']); // untouched (before the sweep)
    const row = (await ok('GET', '/v1/clients/c1/balances')).data.find(
      (r: { credit_type: { code: string } }) => r.credit_type.code === 'sms',
    );
    // remaining 0; upcoming = future 5; expired = edge 4 (past expiry, before the sweep)
    expect(row).toMatchObject({ remaining: '0', upcoming: '5', expired: '4', consumed: '17' });
  });
});

describe('a 2-decimal credit type', () => {
  it('spends in 0.01 steps across balances, answers trimmed decimals, refuses a third decimal', async () => {
    await catalog();
    const a = await grant({ credit_type: 'min', units: '1.25', expires_at: '2026-03-10T00:00:00.000Z' });
    const b = await grant({ credit_type: 'min', units: '2.5', expires_at: '2026-04-01T00:00:00.000Z' });
    // "2.50": a 1.25 (sooner), then b 2.50 − 1.25 = 1.25; left 3.75 − 2.50 = 1.25
    const { res } = await quoteThenConsume({ credit_type: 'min', quantity: '2.50', idempotency_key: 'd1' });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ quantity: '2.5', applied: '2.5', remaining: '1.25' });
    expect(pairs(res.body.allocations)).toEqual([
      [a.id, '1.25'],
      [b.id, '1.25'],
    ]);
    const before = await writes();
    expectProblem(
      await consume({ credit_type: 'min', quantity: '0.001', idempotency_key: 'd2' }),
      422,
      'validation_failed',
    );
    expectProblem(
      await consume({ credit_type: 'min', quantity: 0.125, idempotency_key: 'd3' }),
      422,
      'validation_failed',
    );
    expectProblem(await quote({ credit_type: 'min', quantity: '1.001' }), 422, 'validation_failed');
    expect(await writes()).toEqual(before);
    // a JSON number 1.3 in partial mode: 1.25 there, shortfall 1.30 − 1.25 = 0.05
    const part = await quoteThenConsume({ credit_type: 'min', quantity: 1.3, idempotency_key: 'd4', mode: 'partial' });
    expect(part.res.body).toMatchObject({ status: 'partial', applied: '1.25', shortfall: '0.05', remaining: '0' });
  });
});

describe('the quote and an open hold', () => {
  it('counts held units out while held, and back in once the hold is past expires_at, before the sweep', async () => {
    await catalog();
    const g = await grant({ units: 10, expires_at: '2026-04-01T00:00:00.000Z' });
    const h = await ok(
      'POST',
      '/v1/holds?wait=true',
      use({ quantity: 8, idempotency_key: 'h', expires_in_seconds: 60 }),
    );
    expect(h).toMatchObject({ status: 'held', remaining: '2', expires_at: '2026-03-01T00:01:00.000Z' }); // 10 − 8
    // while held: 5 > 2 left → reject, shortfall 5 − 2 = 3
    const held = await quote({ quantity: 5 });
    expect(held.body).toMatchObject({ would: 'reject', applied: '0', shortfall: '3', remaining: '2' });
    await clockTo('2026-03-01T00:02:00.000Z'); // the hold ran out a minute ago; no sweep has run
    const before = await writes();
    const q = await quote({ quantity: 5 });
    expect(await writes()).toEqual(before);
    // the hold is owed back: 10 spendable, 5 taken, 10 − 5 = 5 left
    expect(q.body).toMatchObject({ would: 'apply', applied: '5', shortfall: '0', remaining: '5' });
    expect(pairs(q.body.allocations)).toEqual([[g.id, '5']]);
    const res = await consume({ quantity: 5, idempotency_key: 'after-hold' });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ status: 'applied', applied: '5', remaining: '5' });
    expect(pairs(res.body.allocations)).toEqual(pairs(q.body.allocations));
    expect((await ok('GET', `/v1/holds/${h.id}`)).status).toBe('expired');
  });
});

describe('hold, partial capture, then a use', () => {
  it("captures in the hold's order and gives the rest back where it came from, not to the soonest", async () => {
    await catalog();
    const a = await grant({ units: 3, expires_at: '2026-03-05T00:00:00.000Z' });
    const b = await grant({ units: 4, expires_at: '2026-03-10T00:00:00.000Z' });
    const c = await grant({ units: 10, expires_at: '2026-04-01T00:00:00.000Z' });
    const h = await ok('POST', '/v1/holds?wait=true', use({ quantity: 9, idempotency_key: 'h9' }));
    // a 3, b 4, c 9 − 7 = 2; left 17 − 9 = 8
    expect(pairs(h.allocations)).toEqual([
      [a.id, '3'],
      [b.id, '4'],
      [c.id, '2'],
    ]);
    expect(h.remaining).toBe('8');
    expect(await remainingOf(a.id, b.id, c.id)).toEqual(['0', '0', '8']);
    // more than held: 422, nothing changes
    const before = await writes();
    expectProblem(await call('POST', `/v1/holds/${h.id}/capture`, { quantity: 10 }), 422, 'validation_failed');
    expect(await writes()).toEqual(before);
    const cap = await ok('POST', `/v1/holds/${h.id}/capture`, { quantity: 5 });
    // 5 in the hold's order: a 3, b 2; released b 4 − 2 = 2 and c 2: a 0, b 2, c 10; left 17 − 5 = 12
    expect(cap.consumption).toMatchObject({ status: 'applied', applied: '5', remaining: '12' });
    expect(pairs(cap.consumption.allocations)).toEqual([
      [a.id, '3'],
      [b.id, '2'],
    ]);
    expect(cap.hold).toMatchObject({ status: 'captured', captured: '5', released: '4' }); // 9 − 5
    expect(await remainingOf(a.id, b.id, c.id)).toEqual(['0', '2', '10']);
    // again: the same answer, marked replayed
    const again = await ok('POST', `/v1/holds/${h.id}/capture`, { quantity: 5 });
    expect(again).toEqual({
      hold: { ...cap.hold, replayed: true },
      consumption: { ...cap.consumption, replayed: true },
    });
    // a use of 3 after it: b 2, then c 1; left 12 − 3 = 9
    const { res } = await quoteThenConsume({ quantity: 3, idempotency_key: 'u3' });
    expect(pairs(res.body.allocations)).toEqual([
      [b.id, '2'],
      [c.id, '1'],
    ]);
    expect(res.body.remaining).toBe('9');
    // release twice answers the same; a capture after it is 409; a release after a capture is 409
    const h2 = await ok('POST', '/v1/holds?wait=true', use({ quantity: 2, idempotency_key: 'h2' }));
    const r1 = await ok('POST', `/v1/holds/${h2.id}/release`);
    expect(await ok('POST', `/v1/holds/${h2.id}/release`)).toEqual({ ...r1, replayed: true });
    expectProblem(await call('POST', `/v1/holds/${h2.id}/capture`, {}), 409, 'conflict');
    expectProblem(await call('POST', `/v1/holds/${h.id}/release`), 409, 'conflict');
    expect(await remainingOf(a.id, b.id, c.id)).toEqual(['0', '0', '9']); // c 10 − 1, the 2 held came back
  });
});

describe('a batch of five over HTTP', () => {
  it('an unknown client fails alone, and so does the short use, each by id', async () => {
    await catalog();
    const g = await grant({ units: 10, expires_at: '2026-04-01T00:00:00.000Z' });
    const b1 = use({ quantity: 3, idempotency_key: 'b1' });
    const b3 = use({ quantity: 50, idempotency_key: 'b3' });
    const b4 = use({ quantity: 2, idempotency_key: 'b4' });
    const b5 = use({ quantity: 1, idempotency_key: 'b5' });
    const nobody = use({ quantity: 1, idempotency_key: 'b2', client: 'nobody' });
    // a single use naming an unknown client is 404 not_found (API.md: "no such id/code"); inside a batch the same
    // use fails alone (issue 14), answered as the worker's refusals are: an item `failed` with the contract's code,
    // read by its id, nothing deducted for it
    expectProblem(await consume({ quantity: 1, idempotency_key: 's1', client: 'nobody' }), 404, 'not_found');
    const res = await call('POST', '/v1/consumptions/batch?wait=true', { items: [b1, nobody, b3, b4, b5] });
    expect(res.status, res.text).toBe(200);
    expect(res.body.data[1]).toEqual({
      id: expect.any(String),
      status: 'failed',
      idempotency_key: 'b2',
      code: 'not_found',
      detail: 'no client "nobody"',
    });
    expect(await ok('GET', `/v1/consumptions/${res.body.data[1].id}`)).toEqual(res.body.data[1]);
    res.body.data.splice(1, 1);
    const byKey = Object.fromEntries(
      res.body.data.map((d: { idempotency_key: string }) => [d.idempotency_key, d]),
    ) as Record<string, { id: string; status: string; applied: string; shortfall: string; remaining: string }>;
    // in the batch's order: b1 10 − 3 = 7; b3 50 > 7 rejected, shortfall 50 − 7 = 43; b4 7 − 2 = 5; b5 5 − 1 = 4
    expect(byKey.b1).toMatchObject({ status: 'applied', applied: '3', remaining: '7' });
    expect(byKey.b3).toMatchObject({ status: 'rejected', applied: '0', shortfall: '43', remaining: '7' });
    expect(byKey.b4).toMatchObject({ status: 'applied', applied: '2', remaining: '5' });
    expect(byKey.b5).toMatchObject({ status: 'applied', applied: '1', remaining: '4' });
    for (const d of Object.values(byKey)) expect(await ok('GET', `/v1/consumptions/${d.id}`)).toMatchObject(d);
    expect(await remainingOf(g.id)).toEqual(['4']);
  });
});

describe('idempotency across a single use, a batch and the quote', () => {
  it('the same key and body replays; another body is 409 whole, nothing written', async () => {
    await catalog();
    const g = await grant({ units: 10, expires_at: '2026-04-01T00:00:00.000Z' });
    const first = await consume({ quantity: 2, idempotency_key: 'k1' });
    expect(first.body).toMatchObject({ status: 'applied', remaining: '8', replayed: false }); // 10 − 2
    expect((await consume({ quantity: 1, idempotency_key: 'k0' })).body.remaining).toBe('7'); // 8 − 1
    const before = await writes();
    const again = await consume({ quantity: 2, idempotency_key: 'k1' });
    // the first result, as it was: remaining 8, not today's 7
    expect(again.body).toMatchObject({ id: first.body.id, applied: '2', remaining: '8', replayed: true });
    expectProblem(await consume({ quantity: 3, idempotency_key: 'k1' }), 409, 'idempotency_conflict');
    const q = await quote({ quantity: 2, idempotency_key: 'k1' });
    expect(q.body).toMatchObject({ would: 'apply', applied: '2', replayed: true, consumption_id: first.body.id });
    expect(pairs(q.body.allocations)).toEqual(pairs(first.body.allocations));
    expect(q.body.remaining).toBe('8'); // the first result's 8, as the replayed use answers
    expectProblem(await quote({ quantity: 3, idempotency_key: 'k1' }), 409, 'idempotency_conflict');
    const clash = await call('POST', '/v1/consumptions/batch?wait=true', {
      items: [use({ quantity: 3, idempotency_key: 'k1' }), use({ quantity: 1, idempotency_key: 'k2' })],
    });
    // QA: an item whose key clashes with an applied use refuses the whole batch (409), k2 is not applied either
    expectProblem(clash, 409, 'idempotency_conflict');
    expect(await writes()).toEqual(before);
    const same = await call('POST', '/v1/consumptions/batch?wait=true', {
      items: [use({ quantity: 2, idempotency_key: 'k1' }), use({ quantity: 1, idempotency_key: 'k2' })],
    });
    expect(same.status, same.text).toBe(200);
    expect(same.body.data[0]).toMatchObject({ id: first.body.id, status: 'applied', applied: '2' });
    expect(same.body.data[1]).toMatchObject({ status: 'applied', applied: '1', remaining: '6' }); // 7 − 1
    expect(await remainingOf(g.id)).toEqual(['6']);
  });
});

describe('a reversal across two balances, one expired since', () => {
  it('gives back to the live one; the expired part goes back and expires there', async () => {
    await catalog();
    const a = await grant({ units: 3, expires_at: '2026-03-05T00:00:00.000Z' });
    const b = await grant({ units: 10, expires_at: '2026-04-01T00:00:00.000Z' });
    const u = await consume({ quantity: 5, idempotency_key: 'r1' });
    // a 3 (sooner), b 5 − 3 = 2; left 13 − 5 = 8
    expect(pairs(u.body.allocations)).toEqual([
      [a.id, '3'],
      [b.id, '2'],
    ]);
    expect(u.body.remaining).toBe('8');
    await clockTo('2026-03-06T00:00:00.000Z'); // a expired, no sweep yet
    const r = await call('POST', `/v1/consumptions/${u.body.id}/reverse?wait=true`, {});
    expect(r.status, r.text).toBe(200);
    // b's 2 come back; a's 3 go back and expire there (README "A reversal")
    expect(r.body).toMatchObject({ status: 'reversed', returned: '2', expired: '3', replayed: false });
    expect(await remainingOf(a.id, b.id)).toEqual(['0', '10']); // a 0 + 3 − 3 expired; b 8 + 2
    const row = (await ok('GET', '/v1/clients/c1/balances')).data[0];
    // granted 3 + 10 = 13; consumed 5 − 5 = 0; remaining 10; expired a's 3
    expect(row).toMatchObject({ granted: '13', consumed: '0', remaining: '10', expired: '3' });
    const twice = await ok('POST', `/v1/consumptions/${u.body.id}/reverse?wait=true`, {});
    expect(twice).toMatchObject({ returned: '2', expired: '3', replayed: true });
    expect(await remainingOf(a.id, b.id)).toEqual(['0', '10']); // once
  });
});
