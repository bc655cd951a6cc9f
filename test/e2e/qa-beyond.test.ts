import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_NIGHTLY_REPORTS, startTestApp, type TestApp } from '../helpers/app.js';
import { closeVerified, httpSteps } from '../helpers/http-steps.js';
import { jsonRows } from '../helpers/reports.js';

/**
 * QA beyond the issue-15 tests: freeze, forecast, usage and as-of edges they leave, over HTTP with a moved clock
 * (PUT /v1/admin/clock, POST /v1/admin/nightly-runs). Every expected number is worked out by hand from DOMAIN.md,
 * API.md and the README in the comment beside it (BUSINESS_TZ UTC). The clock only moves forward.
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2027-01-01T00:00:00.000Z', env: NO_NIGHTLY_REPORTS });
});
afterAll(async () => {
  await closeVerified(app);
});

const { call, ok, clockTo, nightly } = httpSteps(() => app);

interface Row {
  granted: string;
  consumed: string;
  remaining: string;
  held: string;
  expired: string;
  unavailable: string;
  balances: Array<{ id: string; expires_at: string; availability: string; remaining: string }>;
}
const rowOf = async (ref: string, ct: string, asOf?: string): Promise<Row> => {
  const q = asOf ? `?as_of=${encodeURIComponent(asOf)}` : '';
  const body = await ok('GET', `/v1/clients/${ref}/balances${q}`);
  return body.data.find((r: { credit_type: { code: string } }) => r.credit_type.code === ct);
};
const totals = (r: Row) => ({
  granted: r.granted,
  consumed: r.consumed,
  remaining: r.remaining,
  expired: r.expired,
  unavailable: r.unavailable,
});
/** Each balance of a row: [id, expires_at, availability]. */
const lots = (r: Row) => r.balances.map((b) => [b.id, b.expires_at, b.availability]);
const consume = (ref: string, ct: string, quantity: number | string, key: string, extra: object = {}) =>
  call('POST', '/v1/consumptions?wait=true', {
    client: ref,
    credit_type: ct,
    quantity,
    idempotency_key: key,
    ...extra,
  });
const grant = async (ref: string, ct: string, units: number | string, expiresAt: string, priority = 50) =>
  (
    await ok(
      'POST',
      `/v1/clients/${ref}/grants`,
      { credit_type: ct, units, expires_at: expiresAt, priority, reason: 'qa' },
      201,
    )
  ).id as string;

describe('two freezes in one period, a recharge and a grant beside them', () => {
  const CT = 'qb-fz';
  const REF = 'qb-fz-client';
  const ids = { sub: '', p: '', r: '', g: '' };

  it('freeze by days, unfreeze by hand early; a grant pays while frozen', async () => {
    await ok('POST', '/v1/credit-types', { code: CT, name: 'fz', unit: 'unit' }, 201);
    await ok(
      'POST',
      '/v1/packages',
      {
        code: 'qb-fz-pack',
        name: 'fz',
        price: 1000,
        currency: 'USD',
        validity: { count: 1, unit: 'month' },
        items: [{ credit_type: CT, units: 100 }],
        auto_renew: true,
        max_freeze_days: 10,
      },
      201,
    );
    await ok('POST', '/v1/clients', { external_ref: REF, name: 'fz' }, 201);
    const sub = await ok('POST', '/v1/subscriptions', { client: REF, package: 'qb-fz-pack' }, 201);
    // 01-01 + 1 month = 02-01
    expect(sub.current_period_end).toBe('2027-02-01T00:00:00.000Z');
    ids.sub = sub.id;
    ids.p = sub.balances[0].id;
    // G: 20 of the client's own, expiring 02-05 (after P's 02-01: spent after P at equal priority)
    ids.g = await grant(REF, CT, 20, '2027-02-05T00:00:00Z');

    await clockTo('2027-01-05T00:00:00.000Z');
    // P first (02-01 < 02-05): P 100 − 10 = 90; total 90 + 20 = 110
    const c1 = await consume(REF, CT, 10, 'c1');
    expect(c1.status, c1.text).toBe(200);
    expect(c1.body.allocations).toEqual([expect.objectContaining({ balance_id: ids.p, amount: '10' })]);
    expect(c1.body.remaining).toBe('110');

    await clockTo('2027-01-08T00:00:00.000Z');
    const rc = await ok('POST', `/v1/subscriptions/${ids.sub}/recharge?wait=true`, {});
    // R: one package's worth, valid until the period's end 02-01
    expect(rc.balances).toEqual([expect.objectContaining({ granted: '100', expires_at: '2027-02-01T00:00:00.000Z' })]);
    ids.r = rc.balances[0].id;

    await clockTo('2027-01-10T00:00:00.000Z');
    // 3 days of 24 h from 01-10 00:00
    expect(await ok('POST', `/v1/subscriptions/${ids.sub}/freeze`, { days: 3 })).toMatchObject({
      status: 'frozen',
      frozen_until: '2027-01-13T00:00:00.000Z',
      current_period_end: '2027-02-01T00:00:00.000Z',
    });

    await clockTo('2027-01-11T00:00:00.000Z');
    // P and R (90 + 100) pay for nothing; G (not the subscription's) pays: 20 − 5 = 15
    const c2 = await consume(REF, CT, 5, 'c2');
    expect(c2.status, c2.text).toBe(200);
    expect(c2.body.allocations).toEqual([expect.objectContaining({ balance_id: ids.g, amount: '5' })]);
    expect(c2.body.remaining).toBe('15');
    // 20 > 15 usable: rejected, nothing taken from the frozen 190
    const c3 = await consume(REF, CT, 20, 'c3');
    expect(c3.status, c3.text).toBe(422);
    expect(c3.body.code).toBe('insufficient_balance');
    // granted 100 + 20 + 100 = 220, consumed 15, usable 15 (G), unavailable 90 + 100 = 190
    expect(totals(await rowOf(REF, CT))).toEqual({
      granted: '220',
      consumed: '15',
      remaining: '15',
      expired: '0',
      unavailable: '190',
    });

    // unfrozen by hand at 01-12 00:00, a day before frozen_until: pushed 2 days (not 3): 02-01 → 02-03
    await clockTo('2027-01-12T00:00:00.000Z');
    const thawed = await ok('POST', `/v1/subscriptions/${ids.sub}/unfreeze`);
    expect(thawed).toMatchObject({ status: 'active', current_period_end: '2027-02-03T00:00:00.000Z' });
    expect(thawed.balances.map((b: Record<string, string>) => [b.id, b.remaining, b.expires_at]).sort()).toEqual(
      [
        [ids.p, '90', '2027-02-03T00:00:00.000Z'],
        [ids.r, '100', '2027-02-03T00:00:00.000Z'],
      ].sort(),
    );
    // the grant is no balance of the subscription: its expiry stays 02-05
    const g = (await rowOf(REF, CT)).balances.find((b) => b.id === ids.g);
    expect(g).toMatchObject({ expires_at: '2027-02-05T00:00:00.000Z', remaining: '15' });
  });

  it('the second freeze counts against what the first used (the sum), and spans the period end', async () => {
    await clockTo('2027-01-20T00:00:00.000Z');
    // 2 days used + 9 = 11 > 10: refused; changes nothing
    const tooMuch = await call('POST', `/v1/subscriptions/${ids.sub}/freeze`, { days: 9 });
    expect(tooMuch.status, tooMuch.text).toBe(422);
    // 01-20 → 01-28 00:00:00.001 is 8 days and 1 ms: 2 + 8 d + 1 ms > 10 d
    const oneMs = await call('POST', `/v1/subscriptions/${ids.sub}/freeze`, { until: '2027-01-28T00:00:00.001Z' });
    expect(oneMs.status, oneMs.text).toBe(422);
    expect((await ok('GET', `/v1/subscriptions/${ids.sub}`)).status).toBe('active');

    // 01-30 → 02-07 is 8 days: 2 + 8 = 10, exactly the allowance; it spans the period end (02-03)
    await clockTo('2027-01-30T00:00:00.000Z');
    expect(await ok('POST', `/v1/subscriptions/${ids.sub}/freeze`, { until: '2027-02-07T00:00:00Z' })).toMatchObject({
      status: 'frozen',
      frozen_until: '2027-02-07T00:00:00.000Z',
    });
    // nothing left of the allowance: 0 + anything is refused... while frozen, a second freeze is 409
    expect((await call('POST', `/v1/subscriptions/${ids.sub}/freeze`, { days: 1 })).status).toBe(409);

    // the period end passes under a nightly run: auto_renew, yet neither renewed nor expired
    await clockTo('2027-02-03T00:00:00.000Z');
    await nightly();
    expect(await ok('GET', `/v1/subscriptions/${ids.sub}`)).toMatchObject({
      status: 'frozen',
      renewal_count: 0,
      current_period_end: '2027-02-03T00:00:00.000Z',
    });
    // the grant is not frozen: the sweep on 02-05 expires its 15
    await clockTo('2027-02-05T00:00:00.000Z');
    await nightly();
    expect(totals(await rowOf(REF, CT))).toEqual({
      granted: '220',
      consumed: '15',
      remaining: '0',
      expired: '15',
      unavailable: '190',
    });
    await clockTo('2027-02-06T00:00:00.000Z');
    expect((await consume(REF, CT, 1, 'c4')).status).toBe(422);
  });

  it('the sweep unfreezes at frozen_until (late), pushes by exactly 8 days; then the renewal', async () => {
    // the sweep runs 6 h after frozen_until: pushed 02-07 − 01-30 = 8 days: 02-03 → 02-11
    await clockTo('2027-02-07T06:00:00.000Z');
    await nightly();
    const after = await ok('GET', `/v1/subscriptions/${ids.sub}`);
    expect(after).toMatchObject({
      status: 'active',
      renewal_count: 0,
      frozen_until: null,
      current_period_start: '2027-01-01T00:00:00.000Z',
      current_period_end: '2027-02-11T00:00:00.000Z',
    });
    // the statement's extend entries: amount 0, each balance twice (02-01 → 02-03, then 02-03 → 02-11)
    const st = await ok(
      'GET',
      `/v1/clients/${REF}/statement?credit_type=${CT}&from=2027-01-01T00:00:00Z&to=2027-02-28T00:00:00Z`,
    );
    const extend = (st.data as Array<Record<string, string>>)
      .filter((e) => e.kind === 'extend')
      .map((e) => [e.balance_id, e.amount, e.remaining_after, e.previous_expires_at, e.expires_at])
      .sort();
    expect(extend).toEqual(
      [
        [ids.p, '0', '90', '2027-02-01T00:00:00.000Z', '2027-02-03T00:00:00.000Z'],
        [ids.p, '0', '90', '2027-02-03T00:00:00.000Z', '2027-02-11T00:00:00.000Z'],
        [ids.r, '0', '100', '2027-02-01T00:00:00.000Z', '2027-02-03T00:00:00.000Z'],
        [ids.r, '0', '100', '2027-02-03T00:00:00.000Z', '2027-02-11T00:00:00.000Z'],
      ].sort(),
    );
    // no extend for the grant, no expire for P or R
    expect(extend.some((e) => e[0] === ids.g)).toBe(false);
    const expires = (st.data as Array<Record<string, string>>).filter((e) => e.kind === 'expire');
    expect(expires.map((e) => [e.balance_id, e.amount])).toEqual([[ids.g, '-15']]);

    // spendable again: 100 takes P's 90 then 10 of R (same expiry, P began first): 100 − 10 = 90 left
    await clockTo('2027-02-08T00:00:00.000Z');
    const c5 = await consume(REF, CT, 100, 'c5');
    expect(c5.status, c5.text).toBe(200);
    expect(c5.body.allocations.map((a: Record<string, string>) => [a.balance_id, a.amount])).toEqual([
      [ids.p, '90'],
      [ids.r, '10'],
    ]);
    expect(c5.body.remaining).toBe('90');

    // the renewal comes at the pushed end, 02-11, and grants for 02-11 → 03-11; R's 90 expire (no rollover)
    await clockTo('2027-02-11T00:00:00.000Z');
    await nightly();
    expect(await ok('GET', `/v1/subscriptions/${ids.sub}`)).toMatchObject({
      status: 'active',
      renewal_count: 1,
      current_period_start: '2027-02-11T00:00:00.000Z',
      current_period_end: '2027-03-11T00:00:00.000Z',
    });
    // granted 220 + 100 = 320; consumed 15 + 100 = 115; expired 15 + 90 = 105; usable the new 100
    expect(totals(await rowOf(REF, CT))).toEqual({
      granted: '320',
      consumed: '115',
      remaining: '100',
      expired: '105',
      unavailable: '0',
    });
  });

  it('as of: the expiry each balance had at the instant, before and after each unfreeze', async () => {
    // during freeze 1 (01-11 12:00): P, R unavailable with their first expiry 02-01; G usable 15
    const f1 = await rowOf(REF, CT, '2027-01-11T12:00:00Z');
    expect(totals(f1)).toEqual({ granted: '220', consumed: '15', remaining: '15', expired: '0', unavailable: '190' });
    expect(lots(f1).sort()).toEqual(
      [
        [ids.p, '2027-02-01T00:00:00.000Z', 'unavailable'],
        [ids.r, '2027-02-01T00:00:00.000Z', 'unavailable'],
        [ids.g, '2027-02-05T00:00:00.000Z', 'usable'],
      ].sort(),
    );
    // between the freezes (01-20): pushed once, 02-03; all usable: 90 + 100 + 15 = 205
    const between = await rowOf(REF, CT, '2027-01-20T00:00:00Z');
    expect(between.remaining).toBe('205');
    expect(lots(between).sort()).toEqual(
      [
        [ids.p, '2027-02-03T00:00:00.000Z', 'usable'],
        [ids.r, '2027-02-03T00:00:00.000Z', 'usable'],
        [ids.g, '2027-02-05T00:00:00.000Z', 'usable'],
      ].sort(),
    );
    // a millisecond before G's expiry and at it (02-05 00:00): 15 usable, then 15 expired; P, R frozen at 02-03
    expect(totals(await rowOf(REF, CT, '2027-02-04T23:59:59.999Z'))).toMatchObject({ remaining: '15', expired: '0' });
    const atExpiry = await rowOf(REF, CT, '2027-02-05T00:00:00Z');
    expect(totals(atExpiry)).toMatchObject({ remaining: '0', expired: '15', unavailable: '190' });
    expect(lots(atExpiry).sort()).toEqual(
      [
        [ids.p, '2027-02-03T00:00:00.000Z', 'unavailable'],
        [ids.r, '2027-02-03T00:00:00.000Z', 'unavailable'],
        [ids.g, '2027-02-05T00:00:00.000Z', 'expired'],
      ].sort(),
    );
    // 02-07 03:00: past frozen_until, before the sweep came (06:00): as a live read then, unfrozen, pushed to 02-11
    const thawed = await rowOf(REF, CT, '2027-02-07T03:00:00Z');
    expect(totals(thawed)).toMatchObject({ remaining: '190', unavailable: '0' });
    expect(lots(thawed).filter((l) => l[0] !== ids.g)).toEqual([
      [ids.p, '2027-02-11T00:00:00.000Z', 'usable'],
      [ids.r, '2027-02-11T00:00:00.000Z', 'usable'],
    ]);
  });
});
