import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import { closingJobId } from '../../src/jobs/hold.js';
import { CreditsProducer } from '../../src/producer/index.js';
import { NO_NIGHTLY_REPORTS, startTestApp, type TestApp } from '../helpers/app.js';
import { balanceSteps, rowTotals } from '../helpers/balance-steps.js';
import { countRows } from '../helpers/fixtures.js';
import { closeVerified, httpSteps } from '../helpers/http-steps.js';
import { jsonRows } from '../helpers/reports.js';

/**
 * An audit of issue 15's edges over HTTP with a moved clock (PUT /v1/admin/clock, POST /v1/admin/nightly-runs), as
 * issue-15-check does it. Each block has its own client and credit type; the clock only moves forward. Every
 * expected number is worked out by hand in the comment beside it (BUSINESS_TZ UTC).
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-02-01T00:00:00.000Z', env: NO_NIGHTLY_REPORTS });
});
afterAll(async () => {
  await closeVerified(app);
});

const { call, ok, clockTo, nightly } = httpSteps(() => app);
/** A 422 problem+json with the contract's shape and `validation_failed` naming `field`. */
const expectProblem = (
  res: { status: number; text: string; headers: Headers; body: Record<string, unknown> },
  status: number,
  code: string,
) => {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status, code, type: expect.any(String), title: expect.any(String) });
  expect(typeof res.body.detail).toBe('string');
};

interface Scene {
  ct: string;
  ref: string;
  pkg: string;
}
/** A credit type, a package of `units` for a month and a client subscribed now. */
async function scene(
  name: string,
  units: number | string,
  options: { decimals?: number; maxFreezeDays?: number; dimensions?: string[]; autoRenew?: boolean } = {},
) {
  const s: Scene = { ct: `a15-${name}`, ref: `a15-${name}-client`, pkg: `a15-${name}-pack` };
  await ok(
    'POST',
    '/v1/credit-types',
    {
      code: s.ct,
      name: name,
      unit: 'unit',
      decimals: options.decimals ?? 0,
      ...(options.dimensions ? { dimensions: options.dimensions } : {}),
    },
    201,
  );
  await ok(
    'POST',
    '/v1/packages',
    {
      code: s.pkg,
      name: name,
      price: 1000,
      currency: 'USD',
      validity: { count: 1, unit: 'month' },
      items: [{ credit_type: s.ct, units }],
      auto_renew: options.autoRenew ?? false,
      ...(options.maxFreezeDays ? { max_freeze_days: options.maxFreezeDays } : {}),
    },
    201,
  );
  await ok('POST', '/v1/clients', { external_ref: s.ref, name }, 201);
  const sub = await ok('POST', '/v1/subscriptions', { client: s.ref, package: s.pkg }, 201);
  return { ...s, sub: sub.id as string, balance: sub.balances[0].id as string, subscription: sub };
}
const balances = balanceSteps({ call, ok });
const rowOf = (s: Scene, asOf?: string) => balances.rowOf(s.ref, s.ct, asOf);
const hold = (s: Scene, quantity: number | string, key: string, extra: Record<string, unknown> = {}) =>
  call('POST', '/v1/holds?wait=true', { client: s.ref, credit_type: s.ct, quantity, idempotency_key: key, ...extra });
const consume = (s: Scene, quantity: number | string, key: string, extra: Record<string, unknown> = {}) =>
  call('POST', '/v1/consumptions?wait=true', {
    client: s.ref,
    credit_type: s.ct,
    quantity,
    idempotency_key: key,
    ...extra,
  });

describe('capture of part of a hold, in a credit type of 2 decimals', () => {
  it('consumes exactly the part and releases exactly the rest; refusals change nothing', async () => {
    await clockTo('2026-02-01T10:00:00.000Z');
    const s = await scene('dec', '10', { decimals: 2 });
    const held = await hold(s, '3.5', 'd1');
    expect(held.status, held.text).toBe(200);
    // 10 − 3.5 = 6.5 usable, 3.5 held
    expect(held.body).toMatchObject({ status: 'held', quantity: '3.5', held: '3.5', remaining: '6.5' });
    expect(rowTotals(await rowOf(s))).toMatchObject({ granted: '10', consumed: '0', remaining: '6.5', held: '3.5' });

    const before = {
      ledger: await countRows(app, 'ledger_entries'),
      uses: await countRows(app, 'consumptions'),
    };
    for (const quantity of [0, '0', '0.00', -1, '-0.5', '3.51', '3.501', '1.005', 'abc', '', null, '1e400']) {
      const res = await call('POST', `/v1/holds/${held.body.id}/capture`, { quantity });
      expectProblem(res, 422, 'validation_failed');
    }
    expect({ ledger: await countRows(app, 'ledger_entries'), uses: await countRows(app, 'consumptions') }).toEqual(
      before,
    );
    expect(await ok('GET', `/v1/holds/${held.body.id}`)).toMatchObject({ status: 'held', held: '3.5' });

    await clockTo('2026-02-01T10:01:00.000Z');
    const captured = await ok('POST', `/v1/holds/${held.body.id}/capture`, { quantity: '1.25' });
    // 1.25 consumed, 3.5 − 1.25 = 2.25 back: 6.5 + 2.25 = 8.75 usable
    expect(captured.hold).toMatchObject({ status: 'captured', captured: '1.25', released: '2.25', lapsed: '0' });
    expect(captured.consumption).toMatchObject({
      status: 'applied',
      quantity: '1.25',
      applied: '1.25',
      allocations: [{ balance_id: s.balance, amount: '1.25' }],
      remaining: '8.75',
    });
    expect(rowTotals(await rowOf(s))).toMatchObject({ consumed: '1.25', remaining: '8.75', held: '0' });
    // again with the same quantity (written otherwise): the first answer, nothing more taken
    const again = await ok('POST', `/v1/holds/${held.body.id}/capture`, { quantity: '1.250' });
    expect(again.consumption.id).toBe(captured.consumption.id);
    expect(again.hold).toMatchObject({ captured: '1.25', released: '2.25' });
    // another quantity, or none (all 3.5 held), is another capture: 409, nothing more taken
    expectProblem(await call('POST', `/v1/holds/${held.body.id}/capture`, { quantity: '2' }), 409, 'conflict');
    expectProblem(await call('POST', `/v1/holds/${held.body.id}/capture`), 409, 'conflict');
    expect(rowTotals(await rowOf(s))).toMatchObject({ consumed: '1.25', remaining: '8.75', held: '0' });
    // a release after the capture is a conflict
    expectProblem(await call('POST', `/v1/holds/${held.body.id}/release`), 409, 'conflict');

    // a hold of more decimals than the type allows, zero, or negative: 422 and nothing held
    for (const quantity of ['0.001', 0, -2])
      expectProblem(await hold(s, quantity, `bad-${quantity}`), 422, 'validation_failed');
    // the whole usable total, to the cent: 8.75 held, 0 left; then a cent more is refused
    const whole = await hold(s, '8.75', 'd2');
    expect(whole.body).toMatchObject({ status: 'held', remaining: '0' });
    const cent = await hold(s, '0.01', 'd3');
    expectProblem(cent, 422, 'insufficient_balance');
    // captured in full (no quantity): 8.75 consumed, nothing back
    const full = await ok('POST', `/v1/holds/${whole.body.id}/capture`);
    expect(full.hold).toMatchObject({ captured: '8.75', released: '0' });
    expect(full.consumption).toMatchObject({ applied: '8.75', remaining: '0' });
    // 1.25 + 8.75 = 10 consumed
    expect(rowTotals(await rowOf(s))).toMatchObject({ consumed: '10', remaining: '0', held: '0' });
  });
});

describe('the edge of a hold: expires_at', () => {
  it('captures a millisecond before, not at expires_at; the sweep at expires_at expires it', async () => {
    await clockTo('2026-02-02T10:00:00.000Z');
    const s = await scene('edge', 10);
    const a = await hold(s, 2, 'e1', { expires_in_seconds: 60 });
    const b = await hold(s, 3, 'e2', { expires_in_seconds: 60 });
    // both expire at 10:01:00; 10 − 2 − 3 = 5 usable
    expect(a.body).toMatchObject({ expires_at: '2026-02-02T10:01:00.000Z', remaining: '8' });
    expect(b.body).toMatchObject({ expires_at: '2026-02-02T10:01:00.000Z', remaining: '5' });
    await clockTo('2026-02-02T10:00:59.999Z');
    const captured = await ok('POST', `/v1/holds/${a.body.id}/capture`, { quantity: 1 });
    // 1 consumed, 1 back: 5 + 1 = 6
    expect(captured.consumption).toMatchObject({ applied: '1', remaining: '6' });
    await clockTo('2026-02-02T10:01:00.000Z');
    expectProblem(await call('POST', `/v1/holds/${b.body.id}/capture`), 409, 'conflict');
    await nightly();
    expect(await ok('GET', `/v1/holds/${b.body.id}`)).toMatchObject({ status: 'expired', released: '3', held: '0' });
    // 6 + 3 = 9
    expect(rowTotals(await rowOf(s))).toMatchObject({ consumed: '1', remaining: '9', held: '0' });
    // release after the expiry answers the expired hold
    expect(await ok('POST', `/v1/holds/${b.body.id}/release`)).toMatchObject({ status: 'expired' });
    // expires_in_seconds out of range
    for (const seconds of [0, -1, 7 * 86_400 + 1, 1.5])
      expectProblem(await hold(s, 1, `x-${seconds}`, { expires_in_seconds: seconds }), 422, 'validation_failed');
  });
});

describe('a hold on a subscription frozen after it was taken', () => {
  it('a capture then answers what is usable: the frozen balance pays for nothing', async () => {
    await clockTo('2026-02-03T10:00:00.000Z');
    const s = await scene('frz', 10, { maxFreezeDays: 10 });
    const held = await hold(s, 4, 'f1', { expires_in_seconds: 86_400 });
    expect(held.body).toMatchObject({ status: 'held', remaining: '6' });
    const frozen = await ok('POST', `/v1/subscriptions/${s.sub}/freeze`, { days: 2 });
    expect(frozen).toMatchObject({ status: 'frozen', frozen_until: '2026-02-05T10:00:00.000Z' });
    // nothing usable: 6 frozen, 4 held
    expect(rowTotals(await rowOf(s))).toMatchObject({ remaining: '0', held: '4', unavailable: '6' });
    expectProblem(await hold(s, 1, 'f2'), 422, 'insufficient_balance');
    expect(await ok('POST', '/v1/consumptions/quote', { client: s.ref, credit_type: s.ct, quantity: 1 })).toMatchObject(
      { would: 'reject', remaining: '0' },
    );

    await clockTo('2026-02-03T11:00:00.000Z');
    const captured = await ok('POST', `/v1/holds/${held.body.id}/capture`, { quantity: 1 });
    // 1 consumed, 3 back to the frozen balance: usable stays 0 (the 6 + 3 = 9 are frozen)
    expect(captured.hold).toMatchObject({ captured: '1', released: '3' });
    expect(captured.consumption).toMatchObject({ applied: '1', remaining: '0' });
    expect(rowTotals(await rowOf(s))).toMatchObject({ consumed: '1', remaining: '0', held: '0', unavailable: '9' });
  });
});

describe('balances as of exact instants', () => {
  it('an entry counts at its own instant, not a millisecond before; nothing before the client', async () => {
    await clockTo('2026-02-10T09:00:00.000Z');
    const s = await scene('asof', 20);
    await clockTo('2026-02-10T10:00:00.000Z');
    expect((await consume(s, 5, 'u1')).status).toBe(200);
    await clockTo('2026-02-10T11:00:00.000Z');
    // for two hours: a release at 12:00 of a hold of the default 15 minutes would find it expired since 11:15
    const h = await hold(s, 4, 'h1', { expires_in_seconds: 7200 });
    expect(h.body).toMatchObject({ status: 'held', remaining: '11' });
    await clockTo('2026-02-10T12:00:00.000Z');
    expect((await ok('POST', `/v1/holds/${h.body.id}/release`)).status).toBe('released');

    // granted at 09:00 exactly: there then, not a millisecond before
    expect(await rowOf(s, '2026-02-10T08:59:59.999Z')).toBeUndefined();
    expect(rowTotals(await rowOf(s, '2026-02-10T09:00:00.000Z'))).toMatchObject({ granted: '20', remaining: '20' });
    // the use at 10:00: 20 − 5 = 15 at its instant, 20 just before
    expect(rowTotals(await rowOf(s, '2026-02-10T09:59:59.999Z'))).toMatchObject({ consumed: '0', remaining: '20' });
    expect(rowTotals(await rowOf(s, '2026-02-10T10:00:00.000Z'))).toMatchObject({ consumed: '5', remaining: '15' });
    // the hold at 11:00: 15 − 4 = 11, 4 held; released at 12:00: 15 again
    expect(rowTotals(await rowOf(s, '2026-02-10T11:00:00.000Z'))).toMatchObject({ remaining: '11', held: '4' });
    expect(rowTotals(await rowOf(s, '2026-02-10T11:59:59.999Z'))).toMatchObject({ remaining: '11', held: '4' });
    expect(rowTotals(await rowOf(s, '2026-02-10T12:00:00.000Z'))).toMatchObject({ remaining: '15', held: '0' });
    // now equals live; a day given means its end
    expect(await rowOf(s, '2026-02-10T12:00:00.000Z')).toEqual(await rowOf(s));
    expect(rowTotals(await rowOf(s, '2026-02-10'))).toMatchObject({ remaining: '15', held: '0' });
    // bad instants: 422 problem
    for (const bad of ['yesterday', '2026-02-10T10:00:00', '2026-13-01'])
      expectProblem(
        await call('GET', `/v1/clients/${s.ref}/balances?as_of=${encodeURIComponent(bad)}`),
        422,
        'validation_failed',
      );
  });

  it('at the instant a balance expires it is no longer usable, as the live answer says then', async () => {
    await clockTo('2026-02-11T00:00:00.000Z');
    const s = await scene('asof-exp', 6);
    // a grant of 4 that expires at 12:00 the same day
    const g = await ok(
      'POST',
      `/v1/clients/${s.ref}/grants`,
      { credit_type: s.ct, units: 4, expires_at: '2026-02-11T12:00:00Z', reason: 'short' },
      201,
    );
    expect(g.id).toBeTruthy();
    await clockTo('2026-02-11T11:59:59.999Z');
    const before = await rowOf(s);
    // 6 + 4 = 10 usable
    expect(rowTotals(before)).toMatchObject({ remaining: '10', expired: '0' });
    await clockTo('2026-02-11T12:00:00.000Z');
    const at = await rowOf(s);
    // at 12:00 the grant no longer pays: 6 usable, 4 expired (not swept yet)
    expect(rowTotals(at)).toMatchObject({ remaining: '6', expired: '4' });
    expect(await rowOf(s, '2026-02-11T12:00:00.000Z')).toEqual(at);
    expect(rowTotals(await rowOf(s, '2026-02-11T11:59:59.999Z'))).toEqual(rowTotals(before));
    await nightly();
    // swept: the same totals, as of then and now
    expect(rowTotals(await rowOf(s))).toEqual(rowTotals(at));
    expect(rowTotals(await rowOf(s, '2026-02-11T12:00:00.000Z'))).toEqual(rowTotals(at));
    expect(rowTotals(await rowOf(s, '2026-02-11T11:59:59.999Z'))).toEqual(rowTotals(before));
  });
});

describe('as of around a freeze that ran out before the sweep came (a read settled it)', () => {
  it('a frozen balance past its old expiry never shows as expired', async () => {
    await clockTo('2026-03-01T00:00:00.000Z');
    const s = await scene('asof-frz', 10, { maxFreezeDays: 10 });
    // a month: 03-01 → 04-01
    expect(s.subscription.current_period_end).toBe('2026-04-01T00:00:00.000Z');
    await clockTo('2026-03-25T00:00:00.000Z');
    // 10 days: until 04-04 00:00
    expect(await ok('POST', `/v1/subscriptions/${s.sub}/freeze`, { days: 10 })).toMatchObject({
      frozen_until: '2026-04-04T00:00:00.000Z',
    });
    await clockTo('2026-04-05T00:00:00.000Z');
    // past frozen_until, the sweep not run: the live read is as the sweep leaves it (what it owes the client done
    // first): unfrozen as of 04-04, pushed 10 days, 04-01 → 04-11, the 10 usable
    const live = await rowOf(s);
    expect(rowTotals(live)).toMatchObject({ remaining: '10', unavailable: '0', expired: '0' });
    expect(live.next_expiry).toBe('2026-04-11T00:00:00.000Z');
    await clockTo('2026-04-06T00:00:00.000Z');
    await nightly();
    // the sweep found nothing left to do: still unfrozen as of 04-04, once
    expect(await ok('GET', `/v1/subscriptions/${s.sub}`)).toMatchObject({
      status: 'active',
      current_period_end: '2026-04-11T00:00:00.000Z',
    });
    expect(rowTotals(await rowOf(s))).toMatchObject({ remaining: '10', expired: '0' });
    // as of 04-05: as it stood then, the live answer of 04-05 exactly
    expect(await rowOf(s, '2026-04-05T00:00:00.000Z')).toEqual(live);
    // as of 04-02 (frozen, past the expiry it had then, 04-01): the 10 unavailable, never `expired`
    expect(rowTotals(await rowOf(s, '2026-04-02T00:00:00.000Z'))).toMatchObject({
      remaining: '0',
      unavailable: '10',
      expired: '0',
    });
    // from the sweep on: usable, with the pushed expiry 04-11
    expect((await rowOf(s, '2026-04-06T00:00:00.000Z')).balances[0]).toMatchObject({
      remaining: '10',
      expires_at: '2026-04-11T00:00:00.000Z',
    });
    // and at 04-03 (frozen): unavailable 10
    expect(rowTotals(await rowOf(s, '2026-04-03T00:00:00.000Z'))).toMatchObject({
      remaining: '0',
      unavailable: '10',
      expired: '0',
    });
  });
});

describe('forecast edges', () => {
  it('no usage, usage only today, and window_days out of range', async () => {
    await clockTo('2026-05-01T00:00:00.000Z');
    const s = await scene('fc', 100);
    const forecast = (w?: number | string) =>
      call('GET', `/v1/clients/${s.ref}/forecast?credit_type=${s.ct}${w === undefined ? '' : `&window_days=${w}`}`);
    // no usage: no burn, the 100 expire unused on 06-01
    expect((await forecast()).body).toMatchObject({
      window_days: 30,
      remaining: '100',
      burn_per_day: '0',
      days_until_empty: null,
      empty_on: null,
      expiring_unused: [{ balance_id: s.balance, expires_at: '2026-06-01T00:00:00.000Z', units: '100' }],
    });
    for (const w of [0, -1, 367, 1.5, 'x']) expectProblem(await forecast(w), 422, 'validation_failed');
    await clockTo('2026-05-01T06:00:00.000Z');
    expect((await consume(s, 10, 'today')).status).toBe(200);
    // window 1 day: 10/day; 90 left last 9 days → empty 05-10 06:00, nothing unused
    expect((await forecast(1)).body).toMatchObject({
      remaining: '90',
      burn_per_day: '10',
      days_until_empty: 9,
      empty_on: '2026-05-10',
      empty_at: '2026-05-10T06:00:00.000Z',
      expiring_unused: [],
    });
    // window 366 days: 10/366 a day shown to the millionth (0.027322); 90 at 10 per 366 days lasts 3,294 days, beyond
    // the expiry on 06-01 00:00 (30 days 18 h = 738 h away): spent 738 h × 10 / (366 × 24 h) = 0.84 → 90 − 0.84
    // = 89.16, rounded up: 90 expire unused; empty then
    expect((await forecast(366)).body).toMatchObject({
      burn_per_day: '0.027322',
      days_until_empty: 30,
      empty_at: '2026-06-01T00:00:00.000Z',
      expiring_unused: [{ balance_id: s.balance, units: '90' }],
    });
    // a hold lowers what is left to forecast: 90 − 30 = 60 at 10/day → 6 days
    const h = await hold(s, 30, 'fh');
    expect(h.status).toBe(200);
    expect((await forecast(1)).body).toMatchObject({ remaining: '60', days_until_empty: 6 });
    await ok('POST', `/v1/holds/${h.body.id}/release`);
  });
});

describe('usage by dimension: edges', () => {
  it('unknown dimension 422; numbers and booleans kept as text; sums equal the ungrouped total', async () => {
    await clockTo('2026-05-02T00:00:00.000Z');
    const s = await scene('dim', 100, { dimensions: ['branch', 'vip'] });
    await clockTo('2026-05-02T10:00:00.000Z');
    expect((await consume(s, 3, 'd1', { metadata: { branch: 7, vip: true } })).status).toBe(200);
    expect((await consume(s, 4, 'd2', { metadata: { branch: '7', vip: false } })).status).toBe(200);
    expect((await consume(s, 5, 'd3', { metadata: { branch: { nested: 1 }, other: 'x' } })).status).toBe(200);
    expect((await consume(s, 6, 'd4')).status).toBe(200);
    const r = await consume(s, 2, 'd5', { metadata: { branch: 'north' } });
    await ok('POST', `/v1/consumptions/${r.body.id}/reverse?wait=true`);
    const usage = (g: string) =>
      call('GET', `/v1/clients/${s.ref}/usage?credit_type=${s.ct}&group_by=${g}&from=2026-05-01&to=2026-05-31`);
    expectProblem(await usage('team'), 422, 'validation_failed');
    expect((await usage('team')).body.errors).toEqual([expect.objectContaining({ field: 'query.group_by' })]);
    // 7: 3 + 4; north: 2 − 2 = 0; (none): 5 (an object is no value) + 6
    expect((await usage('branch')).body.data).toEqual([
      { key: '7', quantity: '7' },
      { key: 'north', quantity: '0' },
      { key: '(none)', quantity: '11' },
    ]);
    expect((await usage('vip')).body.data).toEqual([
      { key: 'false', quantity: '4' },
      { key: 'true', quantity: '3' },
      { key: '(none)', quantity: '11' },
    ]);
    // 3 + 4 + 5 + 6 + 2 − 2 = 18
    expect((await usage('day')).body.data).toEqual([{ key: '2026-05-02', quantity: '18' }]);
  });
});

describe('a capture and a release of one hold at once', () => {
  it('one of them closes it, the other is 409; nothing is given back twice', async () => {
    await clockTo('2026-05-03T00:00:00.000Z');
    const s = await scene('race', 50);
    const ids: string[] = [];
    for (let i = 0; i < 6; i += 1) {
      const h = await hold(s, 5, `r${i}`);
      expect(h.status, h.text).toBe(200);
      ids.push(h.body.id);
    }
    // 50 − 6 × 5 = 20 usable, 30 held
    expect(rowTotals(await rowOf(s))).toMatchObject({ remaining: '20', held: '30' });
    const answers = await Promise.all(
      ids.flatMap((id) => [
        call('POST', `/v1/holds/${id}/capture`, { quantity: 2 }),
        call('POST', `/v1/holds/${id}/release`),
      ]),
    );
    let captured = 0;
    for (let i = 0; i < ids.length; i += 1) {
      const [cap, rel] = [answers[2 * i]!, answers[2 * i + 1]!];
      expect([cap.status, rel.status].sort(), `${cap.text} / ${rel.text}`).toEqual([200, 409]);
      const final = await ok('GET', `/v1/holds/${ids[i]}`);
      if (cap.status === 200) {
        captured += 1;
        expect(final).toMatchObject({ status: 'captured', captured: '2', released: '3' });
      } else expect(final).toMatchObject({ status: 'released', released: '5' });
    }
    // each capture consumed 2: 50 − 2 × captured usable
    expect(rowTotals(await rowOf(s))).toMatchObject({
      consumed: String(2 * captured),
      remaining: String(50 - 2 * captured),
      held: '0',
    });
  });

  it('two captures of other quantities at once answer one capture', async () => {
    await clockTo('2026-05-03T01:00:00.000Z');
    const s = await scene('race2', 20);
    const h = await hold(s, 10, 'rr');
    const [a, b] = await Promise.all([
      call('POST', `/v1/holds/${h.body.id}/capture`, { quantity: 3 }),
      call('POST', `/v1/holds/${h.body.id}/capture`, { quantity: 4 }),
    ]);
    const final = await ok('GET', `/v1/holds/${h.body.id}`);
    expect(final.status).toBe('captured');
    const n = Number(final.captured);
    expect([3, 4]).toContain(n);
    for (const res of [a, b]) {
      expect([200, 409], res.text).toContain(res.status);
      if (res.status === 200) expect(res.body.hold.captured).toBe(String(n));
    }
    // 20 − n usable
    expect(rowTotals(await rowOf(s))).toMatchObject({ consumed: String(n), remaining: String(20 - n), held: '0' });
  });
});

describe('holds: references and lists', () => {
  it('unknown client or credit type, a bad id, a bad status filter', async () => {
    await clockTo('2026-05-04T00:00:00.000Z');
    const s = await scene('refs', 5);
    expectProblem(
      await call('POST', '/v1/holds?wait=true', {
        client: 'nobody',
        credit_type: s.ct,
        quantity: 1,
        idempotency_key: 'n1',
      }),
      404,
      'not_found',
    );
    expectProblem(
      await call('POST', '/v1/holds?wait=true', {
        client: s.ref,
        credit_type: 'nothing',
        quantity: 1,
        idempotency_key: 'n2',
      }),
      404,
      'not_found',
    );
    expectProblem(await call('GET', '/v1/holds/not-a-uuid'), 404, 'not_found');
    expectProblem(await call('POST', '/v1/holds/00000000-0000-4000-8000-000000000000/capture'), 404, 'not_found');
    expectProblem(await call('POST', '/v1/holds/00000000-0000-4000-8000-000000000000/release'), 404, 'not_found');
    expectProblem(await call('GET', '/v1/holds?status=open'), 422, 'validation_failed');
    expect((await ok('GET', '/v1/holds?client=nobody')).data).toEqual([]);
    // a rejected hold: 409 on capture and on release
    const short = await hold(s, 6, 'n3');
    expectProblem(short, 422, 'insufficient_balance');
    expectProblem(await call('POST', `/v1/holds/${short.body.id}/capture`), 409, 'conflict');
    expectProblem(await call('POST', `/v1/holds/${short.body.id}/release`), 409, 'conflict');
  });
});

describe('freeze edges', () => {
  it('the allowance to the millisecond, twice, unfreeze when not frozen, bad bodies', async () => {
    await clockTo('2026-06-01T00:00:00.000Z');
    const s = await scene('fz', 10, { maxFreezeDays: 3 });
    // 06-01 → 07-01
    expect(s.subscription.current_period_end).toBe('2026-07-01T00:00:00.000Z');
    await clockTo('2026-06-10T00:00:00.000Z');
    expectProblem(await call('POST', `/v1/subscriptions/${s.sub}/unfreeze`), 409, 'conflict');
    for (const body of [
      { days: 0 },
      { days: -1 },
      { days: 1.5 },
      { days: '2' },
      { until: '2026-06-09T00:00:00Z' },
      { until: '2026-06-10T00:00:00Z' },
      { until: '2026-06-13T00:00:00.001Z' },
      { days: 4 },
      { days: 1, until: '2026-06-11T00:00:00Z' },
      { until: 'soon' },
      { weeks: 1 },
    ])
      expectProblem(await call('POST', `/v1/subscriptions/${s.sub}/freeze`, body), 422, 'validation_failed');
    // exactly 3 days: until 06-13 00:00
    expect(await ok('POST', `/v1/subscriptions/${s.sub}/freeze`, { until: '2026-06-13T00:00:00Z' })).toMatchObject({
      status: 'frozen',
      frozen_until: '2026-06-13T00:00:00.000Z',
    });
    expectProblem(await call('POST', `/v1/subscriptions/${s.sub}/freeze`, { days: 1 }), 409, 'conflict');
    // unfrozen after 1 day 6 hours: pushed 30 h, 07-01 00:00 → 07-02 06:00
    await clockTo('2026-06-11T06:00:00.000Z');
    expect(await ok('POST', `/v1/subscriptions/${s.sub}/unfreeze`)).toMatchObject({
      status: 'active',
      current_period_end: '2026-07-02T06:00:00.000Z',
      balances: [expect.objectContaining({ expires_at: '2026-07-02T06:00:00.000Z' })],
    });
    // left: 72 h − 30 h = 42 h; 2 days is 48 h, too much; no body takes the 42 h: until 06-13 00:00
    expectProblem(await call('POST', `/v1/subscriptions/${s.sub}/freeze`, { days: 2 }), 422, 'validation_failed');
    expect(await ok('POST', `/v1/subscriptions/${s.sub}/freeze`)).toMatchObject({
      frozen_until: '2026-06-13T00:00:00.000Z',
    });
    // an unfreeze at once (0 s): nothing moves
    expect(await ok('POST', `/v1/subscriptions/${s.sub}/unfreeze`)).toMatchObject({
      status: 'active',
      current_period_end: '2026-07-02T06:00:00.000Z',
    });
    // the allowance is spent: 30 h + 0 = 30 h used, 42 h left — still 42 h (an instant freeze uses nothing)
    expect(await ok('POST', `/v1/subscriptions/${s.sub}/freeze`, { days: 1 })).toMatchObject({
      frozen_until: '2026-06-12T06:00:00.000Z',
    });
    // the sweep after it: pushed 24 h more, 07-02 06:00 → 07-03 06:00
    await clockTo('2026-06-12T07:00:00.000Z');
    await nightly();
    expect(await ok('GET', `/v1/subscriptions/${s.sub}`)).toMatchObject({
      status: 'active',
      current_period_end: '2026-07-03T06:00:00.000Z',
    });
    // 30 h + 24 h = 54 h used, 18 h left: 1 day (24 h) is too much
    expectProblem(await call('POST', `/v1/subscriptions/${s.sub}/freeze`, { days: 1 }), 422, 'validation_failed');
  });

  it('the next period has its own allowance; a freeze spent in full before renewal', async () => {
    await clockTo('2026-07-01T00:00:00.000Z');
    const s = await scene('fz2', 10, { maxFreezeDays: 2, autoRenew: true });
    // 07-01 → 08-01; frozen the last 2 days of it: 07-30 → 08-01 00:00 (the period end)
    await clockTo('2026-07-30T00:00:00.000Z');
    expect((await consume(s, 4, 'before')).status).toBe(200);
    expect(await ok('POST', `/v1/subscriptions/${s.sub}/freeze`, { days: 2 })).toMatchObject({
      frozen_until: '2026-08-01T00:00:00.000Z',
    });
    // the sweep at 08-01 00:00: unfrozen as of then, pushed 2 days → 08-03 00:00, not renewed yet
    await clockTo('2026-08-01T00:00:00.000Z');
    await nightly();
    expect(await ok('GET', `/v1/subscriptions/${s.sub}`)).toMatchObject({
      status: 'active',
      renewal_count: 0,
      current_period_end: '2026-08-03T00:00:00.000Z',
    });
    // 10 − 4 = 6 usable again until 08-03
    expect(rowTotals(await rowOf(s))).toMatchObject({ remaining: '6', unavailable: '0', expired: '0' });
    expectProblem(await call('POST', `/v1/subscriptions/${s.sub}/freeze`, { days: 1 }), 422, 'validation_failed');
    // renewed at 08-03: 08-03 → 09-03; the old 6 expire (no rollover), 10 new
    await clockTo('2026-08-03T00:00:00.000Z');
    await nightly();
    expect(await ok('GET', `/v1/subscriptions/${s.sub}`)).toMatchObject({
      renewal_count: 1,
      current_period_start: '2026-08-03T00:00:00.000Z',
      current_period_end: '2026-09-03T00:00:00.000Z',
    });
    expect(rowTotals(await rowOf(s))).toMatchObject({ granted: '20', remaining: '10', expired: '6' });
    // a new period: 2 days again
    expect(await ok('POST', `/v1/subscriptions/${s.sub}/freeze`, { days: 2 })).toMatchObject({
      frozen_until: '2026-08-05T00:00:00.000Z',
    });
  });
});

describe('a quote equals what the consumption then takes', () => {
  it('over balances of two priorities and 2 decimals, in reject and partial mode', async () => {
    await clockTo('2026-09-01T00:00:00.000Z');
    const s = await scene('quote', '5.5', { decimals: 2 });
    // a grant of 2.25, priority 10 (spent first), expiring after the package's balance (10-01)
    const g = await ok(
      'POST',
      `/v1/clients/${s.ref}/grants`,
      { credit_type: s.ct, units: '2.25', expires_at: '2026-12-01T00:00:00Z', priority: 10, reason: 'first' },
      201,
    );
    const quote = (body: Record<string, unknown>) =>
      ok('POST', '/v1/consumptions/quote', { client: s.ref, credit_type: s.ct, ...body });
    // 3.3 = 2.25 of G (priority 10) + 1.05 of the package's; 7.75 − 3.3 = 4.45 left
    const q = await quote({ quantity: '3.30' });
    expect(q).toMatchObject({ would: 'apply', quantity: '3.3', applied: '3.3', shortfall: '0', remaining: '4.45' });
    expect(q.allocations).toEqual([
      { balance_id: g.id, amount: '2.25', expires_at: '2026-12-01T00:00:00.000Z' },
      { balance_id: s.balance, amount: '1.05', expires_at: '2026-10-01T00:00:00.000Z' },
    ]);
    expectProblem(
      await call('POST', '/v1/consumptions/quote', { client: s.ref, credit_type: s.ct, quantity: '0.001' }),
      422,
      'validation_failed',
    );
    const used = await consume(s, '3.30', 'q1');
    expect(used.body).toMatchObject({ status: 'applied', applied: '3.3', remaining: '4.45' });
    expect(used.body.allocations).toEqual(q.allocations.map(({ expires_at: _, ...a }: { expires_at: string }) => a));
    // 5 wanted, 4.45 there: reject takes nothing, 0.55 short; the rejected use answers alike
    const r = await quote({ quantity: 5 });
    expect(r).toMatchObject({ would: 'reject', applied: '0', shortfall: '0.55', remaining: '4.45', allocations: [] });
    const refused = await consume(s, 5, 'q-rej');
    expectProblem(refused, 422, 'insufficient_balance');
    expect(refused.body).toMatchObject({ applied: '0', shortfall: '0.55', remaining: '4.45' });
    // partial takes 4.45 of the package's
    const p = await quote({ quantity: 5, mode: 'partial' });
    expect(p).toMatchObject({ would: 'partial', applied: '4.45', shortfall: '0.55', remaining: '0' });
    const partial = await consume(s, 5, 'q2', { mode: 'partial' });
    expect(partial.body).toMatchObject({ status: 'partial', applied: '4.45', shortfall: '0.55', remaining: '0' });
    expect(partial.body.allocations).toEqual([{ balance_id: s.balance, amount: '4.45' }]);
    // nothing left: partial takes nothing
    const none = await quote({ quantity: 1, mode: 'partial' });
    const after = await consume(s, 1, 'q3', { mode: 'partial' });
    expect(none.applied).toBe('0');
    expect(after.body.applied ?? '0').toBe('0');
  });
});

describe('a hold asked again after it closed', () => {
  it('answers the hold as it is now, 200, and takes nothing again', async () => {
    await clockTo('2026-09-02T00:00:00.000Z');
    const s = await scene('replay', 10);
    const first = await hold(s, 4, 'k1');
    await ok('POST', `/v1/holds/${first.body.id}/capture`, { quantity: 1 });
    const again = await hold(s, 4, 'k1');
    expect(again.status, again.text).toBe(200);
    expect(again.body).toMatchObject({ id: first.body.id, status: 'captured', captured: '1', replayed: true });
    const second = await hold(s, 2, 'k2');
    await ok('POST', `/v1/holds/${second.body.id}/release`);
    const back = await hold(s, 2, 'k2');
    expect(back.status, back.text).toBe(200);
    expect(back.body).toMatchObject({ id: second.body.id, status: 'released' });
    // 10 − 1 = 9; nothing else held
    expect(rowTotals(await rowOf(s))).toMatchObject({ consumed: '1', remaining: '9', held: '0' });
    expectProblem(await hold(s, 3, 'k2'), 409, 'idempotency_conflict');
  });
});

describe('forecast of a frozen subscription', () => {
  it('counts the frozen balance from frozen_until, with its pushed expiry, among what will expire unused', async () => {
    await clockTo('2026-09-03T00:00:00.000Z');
    const s = await scene('fc-frz', 10, { maxFreezeDays: 5 });
    // 09-03 → 10-03; 2 used now, 8 left
    expect((await consume(s, 2, 'f1')).status).toBe(200);
    // frozen 5 days: until 09-08 00:00
    await ok('POST', `/v1/subscriptions/${s.sub}/freeze`, { days: 5 });
    const forecast = await ok('GET', `/v1/clients/${s.ref}/forecast?credit_type=${s.ct}&window_days=30`);
    // nothing pays now: empty now (a gap until 09-08). Then the 8 at 2 per 30 days from 09-08 until the expiry
    // pushed by the 5 frozen days, 10-03 → 10-08: 30 days spend exactly 2, so 8 − 2 = 6 expire unused
    expect(forecast).toMatchObject({
      remaining: '0',
      burn_per_day: '0.066667', // 2 over 30 days
      days_until_empty: 0,
      empty_on: '2026-09-03',
      expiring_unused: [{ balance_id: s.balance, expires_at: '2026-10-08T00:00:00.000Z', units: '6' }],
    });
    // window 1 day: the 2 of 09-03 00:00 are in (09-02, 09-03], 2 a day. Empty now (the gap first); from 09-08
    // the 8 last 4 days, long before 10-08: nothing unused
    expect(await ok('GET', `/v1/clients/${s.ref}/forecast?credit_type=${s.ct}&window_days=1`)).toMatchObject({
      burn_per_day: '2',
      days_until_empty: 0,
      expiring_unused: [],
    });
  });
});

describe('a hold over two balances, the first expiring before the capture', () => {
  it("captures in the hold's order: the expired one's units first, the rest of it lapses", async () => {
    await clockTo('2026-10-01T00:00:00.000Z');
    const s = await scene('two', 10);
    // G: 3 units expiring 10-01 12:00, spent before the package's (10-01 → 11-01)
    const g = await ok(
      'POST',
      `/v1/clients/${s.ref}/grants`,
      { credit_type: s.ct, units: 3, expires_at: '2026-10-01T12:00:00Z', reason: 'short' },
      201,
    );
    const h = await hold(s, 5, 'two', { expires_in_seconds: 86_400 });
    // 3 of G + 2 of the package's; 13 − 5 = 8
    expect(h.body).toMatchObject({
      remaining: '8',
      allocations: [
        { balance_id: g.id, amount: '3' },
        { balance_id: s.balance, amount: '2' },
      ],
    });
    const c = await hold(s, 1, 'other', { expires_in_seconds: 86_400 });
    expect(c.body.allocations).toEqual([{ balance_id: s.balance, amount: '1' }]);
    await clockTo('2026-10-01T13:00:00.000Z');
    await nightly();
    // G expired with nothing left to expire (all 3 held); 10 − 2 − 1 = 7 usable
    expect(rowTotals(await rowOf(s))).toMatchObject({ remaining: '7', held: '6' });
    const captured = await ok('POST', `/v1/holds/${h.body.id}/capture`, { quantity: 2 });
    // 2 of G (its order first), G's last 1 lapses, the package's 2 come back: 7 + 2 = 9
    expect(captured.hold).toMatchObject({ captured: '2', released: '2', lapsed: '1' });
    expect(captured.consumption).toMatchObject({
      allocations: [{ balance_id: g.id, amount: '2' }],
      remaining: '9',
    });
    // cancelled now: the package's 9 are voided; the hold of 1 then lapses as void
    await ok('POST', `/v1/subscriptions/${s.sub}/cancel`, { at: 'now' });
    const released = await ok('POST', `/v1/holds/${c.body.id}/release`);
    expect(released).toMatchObject({ status: 'released', released: '0', lapsed: '1' });
    // granted 13; consumed 2; expired 1 (G); voided 9 + 1 = 10; nothing usable
    const row = await rowOf(s);
    expect(rowTotals(row)).toMatchObject({ granted: '13', consumed: '2', remaining: '0', held: '0', expired: '1' });
    expect(row.voided).toBe('10');
  });
});

describe('a capture asked before expires_at and applied after it', () => {
  it('is judged at when it was asked (accepted_at), as a use is dated when it happened', async () => {
    await clockTo('2026-10-02T00:00:00.000Z');
    const s = await scene('late', 10);
    const h = await hold(s, 4, 'late', { expires_in_seconds: 60 });
    // expires 00:01:00; 10 − 4 = 6
    expect(h.body).toMatchObject({ expires_at: '2026-10-02T00:01:00.000Z', remaining: '6' });
    const queue = app.ctx.queues.consumption;
    let answer: Promise<Awaited<ReturnType<typeof call>>> | undefined;
    try {
      await clockTo('2026-10-02T00:00:59.000Z');
      await queue.pause();
      // asked at 00:00:59, a second before the expiry (the caller waits); the workers come to it at 00:01:05
      answer = call('POST', `/v1/holds/${h.body.id}/capture`, { quantity: 3 });
      const jobId = closingJobId('capture', h.body.id);
      // the capture's job is queued (the paused workers will not take it): now the clock may pass the expiry
      await expect.poll(() => queue.getJob(jobId), { interval: 25 }).toBeTruthy();
      await clockTo('2026-10-02T00:01:05.000Z');
    } finally {
      await queue.resume();
    }
    const res = await answer!;
    expect(res.status, res.text).toBe(200);
    // a use dated when it was asked: occurred 00:00:59
    expect(res.body.consumption).toMatchObject({
      applied: '3',
      remaining: '7',
      occurred_at: '2026-10-02T00:00:59.000Z',
    });
    // 3 consumed, 1 back: 6 + 1 = 7
    expect(await ok('GET', `/v1/holds/${h.body.id}`)).toMatchObject({
      status: 'captured',
      captured: '3',
      released: '1',
    });
    expect(rowTotals(await rowOf(s))).toMatchObject({ consumed: '3', remaining: '7', held: '0' });
  });
});

describe("a use whose idempotency_key is a capture's", () => {
  it("is refused: it would take the name of the capture's consumption, and the capture never could", async () => {
    await clockTo('2026-10-03T00:00:00.000Z');
    const s = await scene('key', 10);
    const h = await hold(s, 4, 'k');
    const use = await consume(s, 1, `hold:${h.body.id}`);
    expectProblem(use, 422, 'validation_failed');
    expect(use.body.errors).toEqual([expect.objectContaining({ field: 'idempotency_key' })]);
    // in a batch likewise, a quote too
    const batch = await call('POST', '/v1/consumptions/batch', {
      items: [{ client: s.ref, credit_type: s.ct, quantity: 1, idempotency_key: `hold:${h.body.id}` }],
    });
    expectProblem(batch, 422, 'validation_failed');
    expect(batch.body.errors).toEqual([expect.objectContaining({ field: 'items.0.idempotency_key' })]);
    expectProblem(
      await call('POST', '/v1/consumptions/quote', {
        client: s.ref,
        credit_type: s.ct,
        quantity: 1,
        idempotency_key: `hold:${h.body.id}`,
      }),
      422,
      'validation_failed',
    );
    const captured = await call('POST', `/v1/holds/${h.body.id}/capture`, { quantity: 2 });
    expect(captured.status, captured.text).toBe(200);
    // 2 consumed, 2 back: 10 − 2 = 8
    expect(captured.body.consumption).toMatchObject({ applied: '2', remaining: '8' });
    expect(rowTotals(await rowOf(s))).toMatchObject({ consumed: '2', remaining: '8', held: '0' });
  });
});

describe('a capture job the worker refuses', () => {
  /** A hold of 4 of a balance of 10, and a producer's capture of 5 of it that the worker refused (nothing changed). */
  const refusedCapture = async (name: string, at: string) => {
    await clockTo(at);
    const s = await scene(name, 10);
    const h = await hold(s, 4, name);
    const producer = new CreditsProducer({
      connection: app.ctx.redisUrl,
      prefix: app.prefix,
      now: () => app.clock.now(),
    });
    const bad = await producer.capture({ hold_id: h.body.id, quantity: 5 });
    const outcome = await awaitOutcome(app.ctx, 'capture', bad.jobId, { timeoutMs: 20_000 });
    expect(outcome).toMatchObject({ state: 'failed', failure: { code: 'validation_failed' } });
    return { s, h, producer, bad };
  };

  it('leaves the hold capturable by a later, valid capture over HTTP', async () => {
    const { s, h, producer } = await refusedCapture('refused', '2026-10-04T00:00:00.000Z');
    await producer.close();
    expect(await ok('GET', `/v1/holds/${h.body.id}`)).toMatchObject({ status: 'held', held: '4' });
    const again = await call('POST', `/v1/holds/${h.body.id}/capture`, { quantity: 2 });
    expect(again.status, again.text).toBe(200);
    // 2 consumed, 2 back: 10 − 2 = 8
    expect(again.body.consumption).toMatchObject({ applied: '2', remaining: '8' });
    expect(rowTotals(await rowOf(s))).toMatchObject({ consumed: '2', remaining: '8', held: '0' });
  });

  it('leaves the hold capturable by a later, valid capture from the producer too (not a conflict)', async () => {
    const { s, h, producer, bad } = await refusedCapture('refused-producer', '2026-10-04T06:00:00.000Z');
    try {
      // the refused job changed nothing: the same door's corrected capture runs under the hold's job id
      const good = await producer.capture({ hold_id: h.body.id, quantity: 3 });
      expect(good.jobId).toBe(bad.jobId);
      const outcome = await awaitOutcome(app.ctx, 'capture', good.jobId, { timeoutMs: 20_000 });
      // 3 consumed, 1 back: 10 − 3 = 7
      expect(outcome).toMatchObject({ state: 'completed', value: { consumption: { applied: '3', remaining: '7' } } });
      // asked again, the same: answered from the hold's capture, nothing twice
      const repeat = await producer.capture({ hold_id: h.body.id, quantity: 3 });
      expect(await awaitOutcome(app.ctx, 'capture', repeat.jobId, { timeoutMs: 20_000 })).toMatchObject({
        state: 'completed',
      });
      // and another quantity now that it is captured: the conflict the caller must see
      await expect(producer.capture({ hold_id: h.body.id, quantity: 2 })).rejects.toMatchObject({
        name: 'ProducerConflictError',
      });
    } finally {
      await producer.close();
    }
    expect(rowTotals(await rowOf(s))).toMatchObject({ consumed: '3', remaining: '7', held: '0' });
  });
});

describe('the balances report with an open hold', () => {
  it('shows the held units apart, so that its row adds up', async () => {
    await clockTo('2026-10-05T00:00:00.000Z');
    const s = await scene('report', 10);
    expect((await consume(s, 1, 'r1')).status).toBe(200);
    const h = await hold(s, 4, 'r2');
    expect(h.status).toBe(200);
    const { rows } = await jsonRows<Record<string, string>>(app, { type: 'balances', params: { client: s.ref } });
    // 10 granted, 1 consumed, 4 held, 10 − 1 − 4 = 5 usable: 10 − 1 − 0 − 0 = 5 + 0 + 0 + 4
    expect(rows).toEqual([
      expect.objectContaining({ granted: '10', consumed: '1', remaining: '5', held: '4', expired: '0', voided: '0' }),
    ]);
    // as the live answer says
    expect(rowTotals(await rowOf(s))).toMatchObject({ consumed: '1', remaining: '5', held: '4' });
  });
});

describe('as of every step equals what the live answer said then', () => {
  it('through uses, holds, captures, releases, a grant, a freeze, an unfreeze, a reversal, a sweep', async () => {
    await clockTo('2026-11-01T00:00:00.000Z');
    const s = await scene('replay-all', 20, { maxFreezeDays: 10, decimals: 1 });
    const seen: Array<{ at: string; row: unknown }> = [];
    const snap = async () => {
      const at = app.clock.now().toISOString();
      seen.push({ at, row: await rowOf(s) });
    };
    const step = async (iso: string, action: () => Promise<unknown>) => {
      await clockTo(iso);
      await action();
      await snap();
    };
    await snap();
    let h1 = '';
    let h2 = '';
    let use = '';
    await step('2026-11-02T10:00:00.000Z', async () => {
      use = (await consume(s, '2.5', 's1')).body.id;
    });
    await step('2026-11-03T10:00:00.000Z', async () => {
      h1 = (await hold(s, '6', 's2', { expires_in_seconds: 86_400 })).body.id;
    });
    await step('2026-11-03T11:00:00.000Z', () =>
      ok(
        'POST',
        `/v1/clients/${s.ref}/grants`,
        { credit_type: s.ct, units: '3.5', expires_at: '2026-11-10T00:00:00Z', priority: 10, reason: 'g' },
        201,
      ),
    );
    await step('2026-11-03T12:00:00.000Z', async () => {
      h2 = (await hold(s, '4', 's3', { expires_in_seconds: 86_400 })).body.id;
    });
    await step('2026-11-03T13:00:00.000Z', () => ok('POST', `/v1/holds/${h1}/capture`, { quantity: '1.5' }));
    await step('2026-11-04T00:00:00.000Z', () => ok('POST', `/v1/subscriptions/${s.sub}/freeze`, { days: 5 }));
    await step('2026-11-05T00:00:00.000Z', () => ok('POST', `/v1/holds/${h2}/release`));
    await step('2026-11-06T00:00:00.000Z', () => ok('POST', `/v1/consumptions/${use}/reverse?wait=true`));
    await step('2026-11-07T00:00:00.000Z', () => ok('POST', `/v1/subscriptions/${s.sub}/unfreeze`));
    await step('2026-11-08T00:00:00.000Z', () => consume(s, '4', 's4'));
    await step('2026-11-10T00:00:00.000Z', async () => undefined);
    await step('2026-11-10T01:00:00.000Z', () => nightly());
    await step('2026-12-05T00:00:00.000Z', () => nightly());
    // by hand: B (the package's 20, 11-01 → 12-01) and G (3.5, priority 10: first, to 11-10).
    // 11-02 use 2.5: B 17.5 · h1 6: B 11.5 (6 held) · h2 4: G 3.5 + B 0.5 → G 0, B 11 · capture 1.5 of h1: B 15.5
    // (0.5 held) · frozen 11-04 · h2 released: G 3.5, B 16 · use reversed: B 18.5 · unfrozen 11-07 after 3 days:
    // B to 12-04 · use 4: G 3.5 + B 0.5 → B 18 · the 12-05 sweep expires B's 18.
    // consumed 2.5 + 1.5 − 2.5 + 4 = 5.5; granted 23.5 = 5.5 + 18 expired
    expect(rowTotals(seen.find((x) => x.at === '2026-11-08T00:00:00.000Z')!.row as Record<string, unknown>)).toEqual({
      granted: '23.5',
      consumed: '5.5',
      remaining: '18',
      held: '0',
      expired: '0',
      unavailable: '0',
    });
    expect(rowTotals(seen.at(-1)!.row as Record<string, unknown>)).toMatchObject({
      consumed: '5.5',
      remaining: '0',
      expired: '18',
    });
    // a balance's status is left out: an empty one past its expiry reads `active` live until the sweep marks it
    // (writing no entry), and `expired` as of any instant past its expiry afterwards (balance-as-of.ts says so)
    const statusless = (row: { balances: Array<Record<string, unknown>> }) => ({
      ...row,
      balances: row.balances.map(({ status: _, ...b }) => b),
    });
    for (const { at, row } of seen)
      expect(statusless(await rowOf(s, at)), at).toEqual(statusless(row as { balances: [] }));
  });
});

describe('forecast and usage: references', () => {
  it('404 for unknown references, 422 without a credit type; a type never held forecasts nothing', async () => {
    await clockTo('2026-12-10T00:00:00.000Z');
    const s = await scene('refs2', 5);
    await ok('POST', '/v1/credit-types', { code: 'a15-unheld', name: 'x', unit: 'x' }, 201);
    expectProblem(await call('GET', `/v1/clients/nobody/forecast?credit_type=${s.ct}`), 404, 'not_found');
    expectProblem(await call('GET', `/v1/clients/${s.ref}/forecast?credit_type=nothing`), 404, 'not_found');
    expectProblem(await call('GET', `/v1/clients/${s.ref}/forecast`), 422, 'validation_failed');
    expectProblem(await call('GET', `/v1/clients/nobody/usage?credit_type=${s.ct}`), 404, 'not_found');
    expectProblem(await call('GET', `/v1/clients/${s.ref}/usage?credit_type=nothing`), 404, 'not_found');
    expectProblem(
      await call('GET', `/v1/clients/${s.ref}/usage?credit_type=${s.ct}&from=2026-12-09&to=2026-12-01`),
      422,
      'validation_failed',
    );
    expectProblem(await call('GET', '/v1/clients/nobody/balances?as_of=2026-12-01'), 404, 'not_found');
    expect(await ok('GET', `/v1/clients/${s.ref}/forecast?credit_type=a15-unheld`)).toMatchObject({
      remaining: '0',
      burn_per_day: '0',
      days_until_empty: null,
      empty_on: null,
      expiring_unused: [],
    });
    expect((await ok('GET', `/v1/clients/${s.ref}/usage?credit_type=a15-unheld`)).data).toEqual([]);
  });
});

describe('as of around a freeze and a hold that ran out before a late sweep (reads settled them)', () => {
  it('each instant as the live answer said it then', async () => {
    await clockTo('2026-12-11T00:00:00.000Z');
    const s = await scene('late-sweep', 15, { maxFreezeDays: 5 });
    const seen: Array<{ at: string; row: unknown }> = [];
    const snap = async (iso: string) => {
      await clockTo(iso);
      seen.push({ at: iso, row: await rowOf(s) });
    };
    // a hold of 5 for 2 days (to 12-13 00:00); frozen 12-11 12:00 for 3 days (to 12-14 12:00)
    const h = await hold(s, 5, 'ls', { expires_in_seconds: 2 * 86_400 });
    expect(h.body).toMatchObject({ remaining: '10', expires_at: '2026-12-13T00:00:00.000Z' });
    await snap('2026-12-11T06:00:00.000Z');
    await clockTo('2026-12-11T12:00:00.000Z');
    await ok('POST', `/v1/subscriptions/${s.sub}/freeze`, { days: 3 });
    await snap('2026-12-12T00:00:00.000Z');
    // the hold past its expiry, not swept: the read expires it first (its 5 back on the frozen balance)
    await snap('2026-12-13T12:00:00.000Z');
    expect(rowTotals(seen.at(-1)!.row as Record<string, unknown>)).toMatchObject({ unavailable: '15', held: '0' });
    // then the freeze past frozen_until, not swept: the read unfreezes it as of 12-14 12:00 (pushed 3 days)
    await snap('2026-12-15T00:00:00.000Z');
    expect(rowTotals(seen.at(-1)!.row as Record<string, unknown>)).toMatchObject({ remaining: '15', unavailable: '0' });
    await clockTo('2026-12-16T00:00:00.000Z');
    await nightly();
    // the late sweep finds it done: unfrozen as of 12-14 12:00 (01-11 → 01-14), the hold expired: 15 usable
    await snap('2026-12-16T00:00:00.000Z');
    expect(rowTotals(seen.at(-1)!.row as Record<string, unknown>)).toMatchObject({ remaining: '15', held: '0' });
    expect(await ok('GET', `/v1/holds/${h.body.id}`)).toMatchObject({ status: 'expired', released: '5' });
    for (const { at, row } of seen) expect(await rowOf(s, at), at).toEqual(row);
  });
});

describe('as of an instant a hold and a freeze had run out, with no read of the client until a later sweep', () => {
  it('answers what a live read then answered (its twin, read then, settled them)', async () => {
    await clockTo('2027-04-01T00:00:00.000Z');
    const read = await scene('twin-read', 15, { maxFreezeDays: 5 });
    const quiet = await scene('twin-quiet', 15, { maxFreezeDays: 5 });
    // and a third never read, nor swept, before its past is asked
    const unread = await scene('twin-unread', 15, { maxFreezeDays: 5 });
    const view = (r: Record<string, unknown>) => ({
      ...rowTotals(r),
      next_expiry: r.next_expiry,
      balances: (r.balances as Array<Record<string, unknown>>).map((b) => [b.remaining, b.held, b.expires_at]),
    });
    // each twin: a hold of 5 for a day (to 04-02 00:00), then frozen 04-01 12:00 for 2 days (to 04-03 12:00)
    for (const s of [read, quiet, unread]) {
      const held = await hold(s, 5, `${s.ct}-h`, { expires_in_seconds: 86_400 });
      expect(held.status, held.text).toBe(200);
    }
    await clockTo('2027-04-01T12:00:00.000Z');
    for (const s of [read, quiet, unread]) await ok('POST', `/v1/subscriptions/${s.sub}/freeze`, { days: 2 });
    // the first twin is read past the hold's expiry, then past the freeze's end: each read does what the sweep owes
    const seen: Array<{ at: string; row: ReturnType<typeof view> }> = [];
    for (const at of ['2027-04-02T06:00:00.000Z', '2027-04-04T00:00:00.000Z']) {
      await clockTo(at);
      seen.push({ at, row: view(await rowOf(read)) });
    }
    // the hold's 5 back on the frozen balance; then unfrozen as of 04-03 12:00, its expiry pushed by the 2 days
    expect(seen[0]!.row).toMatchObject({ unavailable: '15', held: '0', remaining: '0' });
    expect(seen[1]!.row).toMatchObject({ unavailable: '0', held: '0', remaining: '15' });
    expect(seen[1]!.row.balances).toEqual([['15', '0', '2027-05-03T00:00:00.000Z']]);
    // the third, asked first of its past (nothing has recorded the hold's end or the freeze's yet): as they were
    await clockTo('2027-04-05T00:00:00.000Z');
    for (const { at, row } of seen) expect(view(await rowOf(unread, at)), `unread ${at}`).toEqual(row);
    // the other twin is not read until the sweep, two days later: its history then answers as its twin's reads did
    await clockTo('2027-04-06T00:00:00.000Z');
    await nightly();
    for (const { at, row } of seen) {
      expect(view(await rowOf(quiet, at)), `quiet ${at}`).toEqual(row);
      expect(view(await rowOf(read, at)), `read ${at}`).toEqual(row);
    }
  });
});

describe('a recharge while frozen', () => {
  it('is refused (409); the unfreeze then pushes the period by the frozen days', async () => {
    await clockTo('2027-01-01T00:00:00.000Z');
    const s = await scene('rch', 10, { maxFreezeDays: 10 });
    // 01-01 → 02-01; frozen 01-30 for 10 days
    await clockTo('2027-01-30T00:00:00.000Z');
    await ok('POST', `/v1/subscriptions/${s.sub}/freeze`, { days: 10 });
    await clockTo('2027-02-03T00:00:00.000Z');
    expectProblem(await call('POST', `/v1/subscriptions/${s.sub}/recharge?wait=true`, {}), 409, 'conflict');
    // unfrozen 02-05 after 6 days: 02-01 → 02-07
    await clockTo('2027-02-05T00:00:00.000Z');
    const u = await ok('POST', `/v1/subscriptions/${s.sub}/unfreeze`);
    expect(u).toMatchObject({ current_period_end: '2027-02-07T00:00:00.000Z' });
    expect(u.balances.map((b: Record<string, unknown>) => [b.remaining, b.expires_at])).toEqual([
      ['10', '2027-02-07T00:00:00.000Z'],
    ]);
    expect(rowTotals(await rowOf(s))).toMatchObject({ granted: '10', remaining: '10', unavailable: '0', expired: '0' });
  });
});

describe('holds racing uses on one balance of 2 decimals', () => {
  it('never overspend; held and consumed add up to the cent', async () => {
    await clockTo('2027-03-01T00:00:00.000Z');
    const s = await scene('race-dec', '5', { decimals: 2 });
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? hold(s, '0.35', `rh${i}`) : consume(s, '0.2', `rc${i}`))),
    );
    for (const res of answers) expect([200, 422], res.text).toContain(res.status);
    const holds = answers.filter((r, i) => i % 2 === 0 && r.status === 200);
    const uses = answers.filter((r, i) => i % 2 === 1 && r.status === 200);
    // in cents: 35 per hold, 20 per use, out of 500
    const heldCents = holds.length * 35;
    const usedCents = uses.length * 20;
    expect(heldCents + usedCents).toBeLessThanOrEqual(500);
    const cents = (v: string) => Math.round(Number(v) * 100);
    const row = await rowOf(s);
    expect(cents(row.held)).toBe(heldCents);
    expect(cents(row.consumed)).toBe(usedCents);
    expect(cents(row.remaining)).toBe(500 - heldCents - usedCents);
    // both kinds kept coming: the 20 uses and 20 holds ask 11 units, more than the 5 there are
    expect(cents(row.remaining)).toBeLessThan(35);
    // capture 0.05 of each, release nothing: each gives 0.3 back
    await Promise.all(holds.map((h) => ok('POST', `/v1/holds/${h.body.id}/capture`, { quantity: '0.05' })));
    const after = await rowOf(s);
    expect(cents(after.held)).toBe(0);
    expect(cents(after.consumed)).toBe(usedCents + holds.length * 5);
    expect(cents(after.remaining)).toBe(500 - usedCents - holds.length * 5);
  });
});

describe("the client's page with a frozen subscription and an open hold", () => {
  it('shows the forecast line, the hold and the unfreeze action', async () => {
    await clockTo('2027-04-01T00:00:00.000Z');
    const s = await scene('page', 10, { maxFreezeDays: 5 });
    expect((await consume(s, 2, 'p1')).status).toBe(200);
    const h = await hold(s, 3, 'p2', { expires_in_seconds: 86_400 });
    await ok('POST', `/v1/subscriptions/${s.sub}/freeze`, { days: 2 });
    const page = await app.request('GET', `/ui/clients/${s.ref}`, { key: app.keys.admin });
    expect(page.status, page.text.slice(0, 300)).toBe(200);
    expect(page.text).toContain(`data-forecast="${s.ct}"`);
    expect(page.text).toContain(`data-hold="${h.body.id}"`);
    expect(page.text).toContain(`data-action="unfreeze" data-subscription="${s.sub}"`);
    const past = await app.request('GET', `/ui/clients/${s.ref}?as_of=2027-03-31`, { key: app.keys.admin });
    expect(past.status).toBe(200);
  });
});
