import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_NIGHTLY_REPORTS, startTestApp, type TestApp } from '../helpers/app.js';
import { closeVerified, httpSteps } from '../helpers/http-steps.js';
import { download, jsonRows, parseCsv, runReport } from '../helpers/reports.js';

/**
 * An outsider's walk of the core product over HTTP with a manual clock: every figure below is computed by hand
 * from DOMAIN.md, API.md and the README, not read back from the service first. The clock only moves forward,
 * so the steps run in order: March sales, a hand renewal on 12 March, the nightly run of 10 April, its sweep.
 */
let app: TestApp;
const { call, ok, clockTo, nightly } = httpSteps(() => app);

beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-03-01T00:00:00.000Z', env: NO_NIGHTLY_REPORTS });
  await ok('POST', '/v1/credit-types', { code: 'sms', name: 'SMS', unit: 'message' }, 201);
  await ok('POST', '/v1/credit-types', { code: 'support', name: 'Support', unit: 'hour', decimals: 2 }, 201);
  await ok('POST', '/v1/credit-types', { code: 'api', name: 'API', unit: 'call' }, 201);
  await ok(
    'POST',
    '/v1/packages',
    {
      code: 'biz',
      name: 'Business',
      price: 10000,
      currency: 'USD',
      validity: { count: 1, unit: 'month' },
      items: [
        { credit_type: 'sms', units: 1000 },
        { credit_type: 'support', units: '2.5' },
        { credit_type: 'api', units: 500 },
      ],
      recharge_price: 3000,
    },
    201,
  );
});

afterAll(async () => {
  await closeVerified(app);
});

const consume = (body: Record<string, unknown>) => call('POST', '/v1/consumptions?wait=true', body);
const rowOf = (balances: { data: Array<{ credit_type: { code: string } }> }, code: string) =>
  balances.data.find((r) => r.credit_type.code === code) as unknown as Record<string, string>;

describe('walk-core: buying a bundle', () => {
  it('one balance per credit type for the period and one invoice in minor units', async () => {
    await ok('POST', '/v1/clients', { external_ref: 'walk-buy', name: 'Buyer' }, 201);
    const sub = await ok('POST', '/v1/subscriptions', { client: 'walk-buy', package: 'biz' }, 201);
    expect(sub.status).toBe('active');
    expect(sub.current_period_start).toBe('2026-03-01T00:00:00.000Z');
    expect(sub.current_period_end).toBe('2026-04-01T00:00:00.000Z');
    expect(sub.price).toBe(10000);
    expect(sub.currency).toBe('USD');
    const lots = sub.balances.map((b: Record<string, any>) => [b.credit_type.code, b.credit_type.unit, b.granted]);
    expect(lots).toEqual([
      ['sms', 'message', '1000'],
      ['support', 'hour', '2.5'],
      ['api', 'call', '500'],
    ]);
    for (const b of sub.balances)
      expect([b.valid_from, b.expires_at]).toEqual([sub.current_period_start, sub.current_period_end]);
    expect(sub.invoice).toMatchObject({ kind: 'subscription', status: 'issued', currency: 'USD', total: 10000 });
    expect(sub.invoice.lines.reduce((s: number, l: { amount: number }) => s + l.amount, 0)).toBe(10000);
    const bal = await ok('GET', '/v1/clients/walk-buy/balances');
    expect(bal.data.map((r: Record<string, any>) => [r.credit_type.code, r.granted, r.remaining])).toEqual([
      ['sms', '1000', '1000'],
      ['support', '2.5', '2.5'],
      ['api', '500', '500'],
    ]);
  });

  it('support hours take two decimals, not three', async () => {
    const r = await consume({ client: 'walk-buy', credit_type: 'support', quantity: '0.125', idempotency_key: 's-0' });
    expect(r.status).toBe(422);
    expect(r.body.code).toBe('validation_failed');
    const used = await consume({
      client: 'walk-buy',
      credit_type: 'support',
      quantity: '0.75',
      idempotency_key: 's-1',
    });
    expect(used.status, used.text).toBe(200);
    expect(used.body).toMatchObject({ status: 'applied', quantity: '0.75', applied: '0.75', remaining: '1.75' });
  });
});

describe('walk-core: consumption order, shortage, partial, reversal', () => {
  it('spends the priority package first, then the soonest expiry, never below zero', async () => {
    await clockTo('2026-03-02T00:00:00.000Z');
    const pkg = (code: string, extra: Record<string, unknown>) =>
      ok(
        'POST',
        '/v1/packages',
        { code, name: code, price: 1000, currency: 'USD', items: [{ credit_type: 'sms', units: 100 }], ...extra },
        201,
      );
    await pkg('o-free', {
      price: 0,
      priority: 10,
      validity: { count: 2, unit: 'month' },
      items: [{ credit_type: 'sms', units: 50 }],
    });
    await pkg('o-week', { validity: { count: 1, unit: 'week' } });
    await pkg('o-month', { validity: { count: 1, unit: 'month' } });
    await ok('POST', '/v1/clients', { external_ref: 'walk-order', name: 'Order' }, 201);
    const subs: Record<string, any> = {};
    for (const p of ['o-month', 'o-week', 'o-free'])
      subs[p] = await ok('POST', '/v1/subscriptions', { client: 'walk-order', package: p }, 201);
    const lot = (p: string) => subs[p].balances[0].id as string;
    expect(subs['o-free'].invoice.total).toBe(0);

    // 120 = 50 of the free (priority 10) + 70 of the week package (expires 9 March, before 2 April)
    const first = await consume({ client: 'walk-order', credit_type: 'sms', quantity: 120, idempotency_key: 'o-1' });
    expect(first.status, first.text).toBe(200);
    expect(first.body).toMatchObject({ status: 'applied', quantity: '120', applied: '120', remaining: '130' });
    expect(first.body.allocations.map((a: Record<string, string>) => [a.balance_id, a.amount])).toEqual([
      [lot('o-free'), '50'],
      [lot('o-week'), '70'],
    ]);

    // 1000 asked, 130 left: 422 with the figures, nothing taken
    const short = await consume({ client: 'walk-order', credit_type: 'sms', quantity: 1000, idempotency_key: 'o-2' });
    expect(short.status, short.text).toBe(422);
    expect(short.body).toMatchObject({
      code: 'insufficient_balance',
      quantity: '1000',
      applied: '0',
      shortfall: '870',
    });
    expect(short.body.remaining).toBe('130');

    // partial: 200 asked, the 130 left are taken (30 of the week, 100 of the month), 70 short
    const part = await consume({
      client: 'walk-order',
      credit_type: 'sms',
      quantity: 200,
      idempotency_key: 'o-3',
      mode: 'partial',
    });
    expect(part.status, part.text).toBe(200);
    expect(part.body).toMatchObject({ status: 'partial', applied: '130', shortfall: '70', remaining: '0' });
    expect(part.body.allocations.map((a: Record<string, string>) => [a.balance_id, a.amount])).toEqual([
      [lot('o-week'), '30'],
      [lot('o-month'), '100'],
    ]);
    const empty = await consume({ client: 'walk-order', credit_type: 'sms', quantity: 1, idempotency_key: 'o-4' });
    expect(empty.status).toBe(422);

    // the first use given back once: 50 to the free lot, 70 to the week lot
    const rev = await ok('POST', `/v1/consumptions/${first.body.id}/reverse?wait=true`);
    expect(rev).toMatchObject({ status: 'reversed', returned: '120', expired: '0', replayed: false });
    const again = await ok('POST', `/v1/consumptions/${first.body.id}/reverse?wait=true`);
    expect(again).toEqual({ ...rev, replayed: true });
    const reversed = await ok('GET', `/v1/consumptions/${first.body.id}`);
    expect(reversed.status).toBe('reversed');
    const bal = rowOf(await ok('GET', '/v1/clients/walk-order/balances'), 'sms');
    expect([bal.granted, bal.consumed, bal.remaining]).toEqual(['250', '130', '120']);
  });
});

describe('walk-core: recharge', () => {
  it('refills a consumed period with one package worth, invoiced once per Idempotency-Key', async () => {
    await clockTo('2026-03-10T00:00:00.000Z');
    await ok('POST', '/v1/clients', { external_ref: 'walk-top', name: 'Top' }, 201);
    const sub = await ok('POST', '/v1/subscriptions', { client: 'walk-top', package: 'biz' }, 201);
    expect(sub.current_period_end).toBe('2026-04-10T00:00:00.000Z');
    const used = await consume({ client: 'walk-top', credit_type: 'sms', quantity: 950, idempotency_key: 't-1' });
    expect(used.body.remaining).toBe('50');
    await clockTo('2026-03-20T00:00:00.000Z');
    const headers = { 'idempotency-key': 'top-up-1' };
    const r1 = await app.request('POST', `/v1/subscriptions/${sub.id}/recharge?wait=true`, { headers });
    expect(r1.status, r1.text).toBe(200);
    const r2 = await app.request('POST', `/v1/subscriptions/${sub.id}/recharge?wait=true`, { headers });
    expect(r2.status, r2.text).toBe(200);
    expect(r2.body).toEqual({ ...r1.body, replayed: true });
    const invoices = (await ok('GET', '/v1/invoices?client=walk-top')).data;
    expect(invoices.map((i: Record<string, any>) => [i.kind, i.total, i.currency])).toEqual([
      ['subscription', 10000, 'USD'],
      ['recharge', 3000, 'USD'],
    ]);
    const bal = await ok('GET', '/v1/clients/walk-top/balances');
    expect([rowOf(bal, 'sms').granted, rowOf(bal, 'sms').remaining]).toEqual(['2000', '1050']);
    expect(rowOf(bal, 'support').remaining).toBe('5');
    expect(rowOf(bal, 'api').remaining).toBe('1000');
    const recharged = rowOf(bal, 'sms') as unknown as { balances: Array<Record<string, string>> };
    const lot = recharged.balances.find((b) => b.source === 'recharge');
    expect(lot).toMatchObject({ valid_from: '2026-03-20T00:00:00.000Z', expires_at: '2026-04-10T00:00:00.000Z' });
  });
});

describe('walk-core: fees and units changed later', () => {
  it('sold periods keep theirs; renewals take the new fee unless priced apart, new units when asked', async () => {
    await clockTo('2026-03-12T00:00:00.000Z');
    await ok(
      'POST',
      '/v1/packages',
      {
        code: 'fee',
        name: 'Fee',
        price: 5000,
        currency: 'USD',
        validity: { count: 1, unit: 'month' },
        items: [{ credit_type: 'sms', units: 100 }],
      },
      201,
    );
    const buy = async (ref: string, extra: Record<string, unknown> = {}) => {
      await ok('POST', '/v1/clients', { external_ref: ref, name: ref }, 201);
      return ok('POST', '/v1/subscriptions', { client: ref, package: 'fee', ...extra }, 201);
    };
    const kept = await buy('walk-fee-kept');
    const follows = await buy('walk-fee-follows');
    const own = await buy('walk-fee-own', { price: 4000 });
    expect([kept.price, own.price, own.invoice.total]).toEqual([5000, 4000, 4000]);
    await ok('PATCH', `/v1/subscriptions/${follows.id}`, { apply_package_changes: true });

    const patched = await ok('PATCH', '/v1/packages/fee', { price: 6000, items: [{ credit_type: 'sms', units: 200 }] });
    expect(patched.price).toBe(6000);
    // the period already sold keeps its units and its invoice
    const keptNow = await ok('GET', `/v1/subscriptions/${kept.id}`);
    expect(keptNow.balances.map((b: Record<string, string>) => b.granted)).toEqual(['100']);

    const newcomer = await buy('walk-fee-new');
    expect([newcomer.price, newcomer.invoice.total, newcomer.balances[0].granted]).toEqual([6000, 6000, '200']);

    const renew = async (id: string) => {
      const r = await call('POST', `/v1/subscriptions/${id}/renew?wait=true`);
      expect(r.status, r.text).toBe(200);
      return r.body;
    };
    const figures = async (id: string) => {
      const s = await ok('GET', `/v1/subscriptions/${id}`);
      const next = s.balances.filter((b: Record<string, string>) => b.valid_from === '2026-04-12T00:00:00.000Z');
      const inv = (await ok('GET', `/v1/invoices?client=${s.client.id}`)).data.find(
        (i: Record<string, string>) => i.kind === 'renewal',
      );
      return [
        s.current_period_start,
        s.current_period_end,
        next.map((b: Record<string, string>) => b.granted),
        inv.total,
      ];
    };
    await renew(kept.id);
    await renew(follows.id);
    await renew(own.id);
    const period = ['2026-04-12T00:00:00.000Z', '2026-05-12T00:00:00.000Z'];
    expect(await figures(kept.id)).toEqual([...period, ['100'], 6000]);
    expect(await figures(follows.id)).toEqual([...period, ['200'], 6000]);
    expect(await figures(own.id)).toEqual([...period, ['100'], 4000]);
    // the same renewal asked again with its Idempotency-Key does nothing more
    const headers = { 'idempotency-key': 'renew-kept-1' };
    const k1 = await app.request('POST', `/v1/subscriptions/${kept.id}/renew?wait=true`, { headers });
    const k2 = await app.request('POST', `/v1/subscriptions/${kept.id}/renew?wait=true`, { headers });
    expect([k1.status, k2.status]).toEqual([200, 200]);
    expect(k2.body.period_end).toBe(k1.body.period_end);
    const renewals = (await ok('GET', `/v1/invoices?client=walk-fee-kept`)).data;
    expect(renewals.map((i: Record<string, string>) => i.kind)).toEqual(['subscription', 'renewal', 'renewal']);
    expect((await ok('GET', `/v1/subscriptions/${kept.id}`)).current_period_end).toBe('2026-06-12T00:00:00.000Z');
  });
});

describe('walk-core: nightly renewal, rollover and expiry', () => {
  const subs: Record<string, any> = {};
  it('the nightly run renews auto-renewing periods ahead, with a new invoice and new balances', async () => {
    await clockTo('2026-03-13T00:00:00.000Z');
    const pkg = (code: string, rollover: Record<string, unknown>) =>
      ok(
        'POST',
        '/v1/packages',
        {
          code,
          name: code,
          price: 2500,
          currency: 'USD',
          validity: { count: 1, unit: 'month' },
          items: [{ credit_type: 'sms', units: 100 }],
          rollover,
          auto_renew: true,
        },
        201,
      );
    await pkg('roll-all', { policy: 'all' });
    await pkg('roll-cap', { policy: 'percent', percent: 50, cap_percent: 20 });
    await pkg('roll-none', { policy: 'none' });
    for (const p of ['roll-all', 'roll-cap', 'roll-none']) {
      const ref = `walk-${p}`;
      await ok('POST', '/v1/clients', { external_ref: ref, name: ref }, 201);
      subs[p] = await ok('POST', '/v1/subscriptions', { client: ref, package: p }, 201);
      expect(subs[p].auto_renew).toBe(true);
      const used = await consume({ client: ref, credit_type: 'sms', quantity: 40, idempotency_key: `${p}-1` });
      expect(used.body.remaining).toBe('60');
    }
    // 36 hours before the end the period ends after the next nightly run (02:00 on 12 April): not yet renewed
    await clockTo('2026-04-11T12:00:00.000Z');
    await nightly();
    expect((await ok('GET', `/v1/subscriptions/${subs['roll-all'].id}`)).renewal_count).toBe(0);
    // the run of 12 April at 02:00 is the last before the end (its look-ahead is 26 hours): it renews
    await clockTo('2026-04-12T02:00:00.000Z');
    const report = await nightly();
    expect(report.phases.find((ph: { phase: string }) => ph.phase === 'renewals').completed).toBe(3);
    for (const p of ['roll-all', 'roll-cap', 'roll-none']) {
      const s = await ok('GET', `/v1/subscriptions/${subs[p].id}`);
      expect([s.current_period_start, s.current_period_end, s.renewal_count]).toEqual([
        '2026-04-13T00:00:00.000Z',
        '2026-05-13T00:00:00.000Z',
        1,
      ]);
      const inv = (await ok('GET', `/v1/invoices?client=walk-${p}`)).data;
      expect(inv.map((i: Record<string, any>) => [i.kind, i.total, i.period_start])).toEqual([
        ['subscription', 2500, '2026-03-13T00:00:00.000Z'],
        ['renewal', 2500, '2026-04-13T00:00:00.000Z'],
      ]);
      // the old period is still the one spent from until it ends
      const row = rowOf(await ok('GET', `/v1/clients/walk-${p}/balances`), 'sms');
      expect([row.granted, row.remaining, row.upcoming]).toEqual(['200', '60', '100']);
    }
    // a second nightly run the same night renews nothing again
    await nightly();
    const inv = (await ok('GET', '/v1/invoices?client=walk-roll-all')).data;
    expect(inv).toHaveLength(2);
  });

  it('a recharge between the renewal made ahead and the renewal date refills at once', async () => {
    await clockTo('2026-04-12T12:00:00.000Z');
    const spent = await consume({ client: 'walk-roll-none', credit_type: 'sms', quantity: 60, idempotency_key: 'n-2' });
    expect(spent.body.remaining).toBe('0');
    // the renewed period's 100 are upcoming: nothing to spend until 13 April
    const short = await consume({ client: 'walk-roll-none', credit_type: 'sms', quantity: 1, idempotency_key: 'n-3' });
    expect([short.status, short.body.code]).toEqual([422, 'insufficient_balance']);
    const top = await ok('POST', `/v1/subscriptions/${subs['roll-none'].id}/recharge?wait=true`);
    // recharge_price defaults to the price; valid from now to the end of the period paid for (13 May)
    expect([
      top.price,
      top.balances.map((b: Record<string, string>) => [b.granted, b.valid_from, b.expires_at]),
    ]).toEqual([2500, [['100', '2026-04-12T12:00:00.000Z', '2026-05-13T00:00:00.000Z']]]);
    const used = await consume({ client: 'walk-roll-none', credit_type: 'sms', quantity: 1, idempotency_key: 'n-4' });
    expect([used.status, used.body.remaining]).toEqual([200, '99']);
  });

  it('periods without auto-renew expire at their end with the units left', async () => {
    // walk-buy's Business period ended on 1 April unrenewed: 1000 sms, 1.75 hours, 500 calls expired
    const s = (await ok('GET', '/v1/subscriptions?client=walk-buy')).data[0];
    expect(s.status).toBe('expired');
    const bal = await ok('GET', '/v1/clients/walk-buy/balances');
    expect(bal.data.map((r: Record<string, any>) => [r.credit_type.code, r.consumed, r.expired, r.remaining])).toEqual([
      ['sms', '0', '1000', '0'],
      ['support', '0.75', '1.75', '0'],
      ['api', '0', '500', '0'],
    ]);
  });

  it('at the old period end the rollover policy moves units into the new period and the rest expire', async () => {
    await clockTo('2026-04-13T01:00:00.000Z');
    await nightly();
    const expected: Record<string, [string, string, string, string]> = {
      // granted (100 + 100: a rollover moves units, it grants none), consumed, expired, remaining
      'roll-all': ['200', '40', '0', '160'],
      'roll-cap': ['200', '40', '40', '120'],
      // roll-none spent its 60 and 1 of a 100 recharge bought on 12 April: nothing of March is left to expire
      'roll-none': ['300', '101', '0', '199'],
    };
    for (const p of ['roll-all', 'roll-cap', 'roll-none']) {
      const row = rowOf(await ok('GET', `/v1/clients/walk-${p}/balances`), 'sms');
      expect([row.granted, row.consumed, row.expired, row.remaining], p).toEqual(expected[p]);
      const lots = (row as unknown as { balances: Array<Record<string, string>> }).balances;
      const rolled = lots.filter((b) => b.source === 'rollover');
      const units = { 'roll-all': ['60'], 'roll-cap': ['20'], 'roll-none': [] }[p];
      expect(rolled.map((b) => b.granted)).toEqual(units);
      for (const b of rolled)
        expect([b.valid_from, b.expires_at]).toEqual(['2026-04-13T00:00:00.000Z', '2026-05-13T00:00:00.000Z']);
    }
  });
});

describe('walk-core: reports by hand, JSON and CSV alike', () => {
  /** The JSON rows, after checking that the CSV run of the same report says the same figures. */
  const both = async (body: Record<string, unknown>) => {
    const { rows } = await jsonRows(app, body);
    const csvRun = await runReport(app, { ...body, format: 'csv' });
    expect(csvRun.status, csvRun.error ?? '').toBe('done');
    const [header, ...records] = parseCsv((await download(app, csvRun.id)).text);
    expect(header).toEqual(Object.keys(rows[0] ?? {}));
    expect(records).toEqual(rows.map((r) => Object.values(r).map((v) => (v === null ? '' : String(v)))));
    return rows as Array<Record<string, unknown>>;
  };
  const pick = (rows: Array<Record<string, unknown>>, keys: string[]) => rows.map((r) => keys.map((k) => r[k]));

  it('subscription status and days left (29 days 23 hours count as 30)', async () => {
    const rows = await both({ type: 'subscriptions', params: { client: 'walk-roll-cap' } });
    expect(pick(rows, ['row_type', 'package_code', 'status', 'count', 'period_end', 'days_left', 'depleted'])).toEqual([
      ['summary', 'roll-cap', 'active', 1, null, null, null],
      ['subscription', 'roll-cap', 'active', null, '2026-05-13T00:00:00.000Z', 30, false],
    ]);
  });

  it('consumed against remaining per credit type', async () => {
    const rows = await both({ type: 'balances', params: { client: 'walk-roll-cap' } });
    const keys = ['credit_type', 'granted', 'consumed', 'remaining', 'expired', 'used_percent'];
    expect(pick(rows, keys)).toEqual([['sms', '200', '40', '120', '40', 20]]);
    const topped = await both({ type: 'balances', params: { client: 'walk-top' } });
    // 1000 + 1000 sms granted, 950 used, 1050 expired on 10 April; hours 2.5 + 2.5; calls 500 + 500
    expect(pick(topped, keys)).toEqual([
      ['api', '1000', '0', '0', '1000', 0],
      ['sms', '2000', '950', '0', '1050', 47.5],
      ['support', '5', '0', '0', '5', 0],
    ]);
  });

  it('consumption over time: 120 + 130 used on 2 March, 120 given back', async () => {
    const params = { client: 'walk-order', credit_type: 'sms', group_by: 'day', from: '2026-03-01', to: '2026-03-31' };
    const rows = await both({ type: 'consumption', params });
    expect(pick(rows, ['period_start', 'consumed', 'reversed', 'net'])).toEqual([['2026-03-02', '250', '120', '130']]);
  });

  it('renewals and their revenue, counted when made', async () => {
    const params = { client: 'walk-fee-kept', group_by: 'month', from: '2026-03-01', to: '2026-04-30' };
    const rows = await both({ type: 'renewals', params });
    const keys = ['period_start', 'new_subscriptions', 'renewals', 'new_revenue', 'renewal_revenue', 'revenue'];
    expect(pick(rows, keys)).toEqual([['2026-03-01', 1, 2, 5000, 12000, 17000]]);
  });

  it('most requested packages: new and renewals, revenue without recharges', async () => {
    const rows = await both({ type: 'top_packages', params: { from: '2026-03-01', to: '2026-04-30' } });
    expect(pick(rows, ['rank', 'package_code', 'new_subscriptions', 'renewals', 'revenue'])).toEqual([
      [1, 'fee', 4, 4, 5000 + 5000 + 4000 + 6000 + 6000 + 6000 + 4000 + 6000],
      [2, 'biz', 2, 0, 20000],
      [3, 'roll-all', 1, 1, 5000],
      [4, 'roll-cap', 1, 1, 5000],
      [5, 'roll-none', 1, 1, 5000],
      [6, 'o-month', 1, 0, 1000],
      [7, 'o-week', 1, 0, 1000],
      [8, 'o-free', 1, 0, 0],
    ]);
  });
});

describe('walk-core: invoices', () => {
  it('numbers are gapless for the year and the totals add up by hand', async () => {
    const all = (await ok('GET', '/v1/invoices?limit=500')).data as Array<Record<string, any>>;
    // 1 Business + 3 order + 2 top-up + 8 fee + 6 rollover invoices + 1 recharge of roll-none
    expect(all).toHaveLength(21);
    const numbers = all.map((i) => i.number).sort();
    expect(numbers).toEqual(Array.from({ length: 21 }, (_, n) => `INV-2026-${String(n + 1).padStart(6, '0')}`));
    expect(all.reduce((sum, i) => sum + i.total, 0)).toBe(10000 + 2000 + 13000 + 42000 + 15000 + 2500);
    for (const i of all) expect(i.total).toBe(i.lines.reduce((s: number, l: { amount: number }) => s + l.amount, 0));
  });

  it('pay and void: a paid one stays paid, a voided one cannot be paid', async () => {
    await clockTo('2026-04-14T00:00:00.000Z');
    const [first, recharge] = (await ok('GET', '/v1/invoices?client=walk-top')).data;
    const paid = await ok('POST', `/v1/invoices/${recharge.id}/pay`);
    expect(paid).toMatchObject({
      number: recharge.number,
      status: 'paid',
      total: 3000,
      paid_at: '2026-04-14T00:00:00.000Z',
    });
    // paying twice answers the paid invoice again; voiding a paid one is refused
    expect(await ok('POST', `/v1/invoices/${recharge.id}/pay`)).toEqual(paid);
    expect((await call('POST', `/v1/invoices/${recharge.id}/void`)).status).toBe(409);
    const voided = await ok('POST', `/v1/invoices/${first.id}/void`, { reason: 'walk' });
    expect(voided).toMatchObject({ status: 'void', void_reason: 'walk', paid_at: null, total: 10000 });
    const payVoided = await call('POST', `/v1/invoices/${first.id}/pay`);
    expect([payVoided.status, payVoided.body.code]).toEqual([409, 'conflict']);
    expect(await ok('POST', `/v1/invoices/${first.id}/void`)).toEqual(voided);
    // neither changed a number or a total
    const after = (await ok('GET', '/v1/invoices?client=walk-top')).data;
    expect(after.map((i: Record<string, any>) => [i.number, i.status, i.total])).toEqual([
      [first.number, 'void', 10000],
      [recharge.number, 'paid', 3000],
    ]);
  });
});

describe('walk-core: edges of the calendar', () => {
  const subs: Record<string, any> = {};
  const lots = (s: { balances: Array<Record<string, any>> }) =>
    s.balances.map((b) => [b.credit_type.code, b.source, b.status, b.granted, b.remaining, b.expired, b.expires_at]);

  it('a use dated before the period, a recharge of chosen items at a chosen fee', async () => {
    await clockTo('2026-04-15T00:00:00.000Z');
    const mk = (code: string, extra: Record<string, unknown>) => {
      const items = [{ credit_type: 'sms', units: 10 }];
      const body = { code, name: code, price: 700, currency: 'USD', items, auto_renew: true, ...extra };
      return ok('POST', '/v1/packages', { ...body, validity: { count: 1, unit: 'week' } }, 201);
    };
    await mk('late', {});
    await mk('roll-dec', {
      items: [{ credit_type: 'support', units: '2.5' }],
      rollover: { policy: 'percent', percent: 50 },
    });
    for (const p of ['late', 'roll-dec']) {
      await ok('POST', '/v1/clients', { external_ref: `walk-${p}`, name: p }, 201);
      subs[p] = await ok('POST', '/v1/subscriptions', { client: `walk-${p}`, package: p }, 201);
    }
    await consume({ client: 'walk-late', credit_type: 'sms', quantity: 4, idempotency_key: 'l-1' });
    await consume({ client: 'walk-roll-dec', credit_type: 'support', quantity: '0.75', idempotency_key: 'd-1' });
    const before = { occurred_at: '2026-04-14T00:00:00.000Z' };
    const back = await consume({
      client: 'walk-late',
      credit_type: 'sms',
      quantity: 1,
      idempotency_key: 'l-0',
      ...before,
    });
    expect([back.status, back.body.shortfall, back.body.remaining]).toEqual([422, '1', '0']);
    const items = [{ credit_type: 'sms', units: 5 }];
    const rc = await ok('POST', `/v1/subscriptions/${subs.late.id}/recharge?wait=true`, { items, price: 250 });
    expect([rc.price, rc.balances.map((b: Record<string, string>) => [b.granted, b.expires_at])]).toEqual([
      250,
      [['5', '2026-04-22T00:00:00.000Z']],
    ]);
  });

  it('a nightly run two days late renews from where the period ended; the old units expire or roll over', async () => {
    await clockTo('2026-04-24T03:00:00.000Z');
    await nightly();
    const late = await ok('GET', `/v1/subscriptions/${subs.late.id}`);
    expect([late.status, late.current_period_start, late.current_period_end]).toEqual([
      'active',
      '2026-04-22T00:00:00.000Z',
      '2026-04-29T00:00:00.000Z',
    ]);
    expect(lots(late)).toEqual([
      ['sms', 'package', 'expired', '10', '0', '6', '2026-04-22T00:00:00.000Z'],
      ['sms', 'recharge', 'expired', '5', '0', '5', '2026-04-22T00:00:00.000Z'],
      ['sms', 'package', 'active', '10', '10', '0', '2026-04-29T00:00:00.000Z'],
    ]);
    const inv = (await ok('GET', '/v1/invoices?client=walk-late')).data;
    expect(inv.map((i: Record<string, any>) => [i.kind, i.total, i.period_start])).toEqual([
      ['subscription', 700, '2026-04-15T00:00:00.000Z'],
      ['recharge', 250, '2026-04-15T00:00:00.000Z'],
      ['renewal', 700, '2026-04-22T00:00:00.000Z'],
    ]);
    // 1.75 hours left, 50 % is 0.875: 0.87 rolls over (two decimals), 0.88 expires, nothing is lost or made
    const dec = await ok('GET', `/v1/subscriptions/${subs['roll-dec'].id}`);
    expect(lots(dec)).toEqual([
      ['support', 'package', 'expired', '2.5', '0', '0.88', '2026-04-22T00:00:00.000Z'],
      ['support', 'package', 'active', '2.5', '2.5', '0', '2026-04-29T00:00:00.000Z'],
      ['support', 'rollover', 'active', '0.87', '0.87', '0', '2026-04-29T00:00:00.000Z'],
    ]);
    const row = rowOf(await ok('GET', '/v1/clients/walk-roll-dec/balances'), 'support');
    expect([row.granted, row.consumed, row.expired, row.remaining]).toEqual(['5', '0.75', '0.88', '3.37']);
  });

  it('renewing an expired subscription by hand starts the new period now', async () => {
    const buy = (await ok('GET', '/v1/subscriptions?client=walk-buy')).data[0];
    expect(buy.status).toBe('expired');
    const r = await ok('POST', `/v1/subscriptions/${buy.id}/renew?wait=true`);
    expect([r.status, r.late, r.period_start, r.period_end, r.price]).toEqual([
      'renewed',
      true,
      '2026-04-24T03:00:00.000Z',
      '2026-05-24T03:00:00.000Z',
      10000,
    ]);
    expect((await ok('GET', `/v1/subscriptions/${buy.id}`)).status).toBe('active');
  });

  it('a new year numbers from 1 again; 31 January + 1 month is 28 February, and back to the 31st', async () => {
    await clockTo('2027-01-31T00:00:00.000Z');
    await ok('POST', '/v1/clients', { external_ref: 'walk-year', name: 'Year' }, 201);
    const y = await ok('POST', '/v1/subscriptions', { client: 'walk-year', package: 'biz' }, 201);
    expect([y.invoice.number, y.current_period_end]).toEqual(['INV-2027-000001', '2027-02-28T00:00:00.000Z']);
    const r = await ok('POST', `/v1/subscriptions/${y.id}/renew?wait=true`);
    expect([r.period_start, r.period_end]).toEqual(['2027-02-28T00:00:00.000Z', '2027-03-31T00:00:00.000Z']);
    const numbers = (await ok('GET', '/v1/invoices?client=walk-year')).data.map(
      (i: Record<string, string>) => i.number,
    );
    expect(numbers).toEqual(['INV-2027-000001', 'INV-2027-000002']);
  });
});

describe('walk-core: months later', () => {
  const now = '2027-01-31T00:00:00.000Z';
  it('reversing a use whose balances expired revives nothing: its part comes back expired', async () => {
    const order = (await ok('GET', '/v1/consumptions?client=walk-order&idempotency_key=o-3')).data[0];
    const rev = await ok('POST', `/v1/consumptions/${order.id}/reverse?wait=true`);
    expect([rev.status, rev.returned, rev.expired]).toEqual(['reversed', '0', '130']);
    // the 130 are taken back from consumed and expire where they went back: 0 consumed, 120 + 130 expired
    const row = rowOf(await ok('GET', '/v1/clients/walk-order/balances'), 'sms');
    expect([row.granted, row.consumed, row.expired, row.remaining]).toEqual(['250', '0', '250', '0']);
    const params = {
      client: 'walk-order',
      credit_type: 'sms',
      group_by: 'month',
      from: '2026-03-01',
      to: '2027-01-31',
    };
    const { rows } = await jsonRows(app, { type: 'consumption', params });
    // each reversal counts when it was made: the 130 given back now (2027-01-31), expired where they went back
    expect(rows.map((r) => [r.period_start, r.consumed, r.reversed, r.net])).toEqual([
      ['2026-03-01', '250', '120', '130'],
      ['2027-01-01', '0', '130', '-130'],
    ]);
  });

  it('a use sent twice is applied once; its key with another quantity is 409', async () => {
    const a = await consume({ client: 'walk-year', credit_type: 'sms', quantity: 2, idempotency_key: 'y-1' });
    const b = await consume({ client: 'walk-year', credit_type: 'sms', quantity: 2, idempotency_key: 'y-1' });
    const c = await consume({ client: 'walk-year', credit_type: 'sms', quantity: 3, idempotency_key: 'y-1' });
    expect([a.status, a.body.remaining, b.status, b.body.replayed, b.body.remaining]).toEqual([
      200,
      '998',
      200,
      true,
      '998',
    ]);
    expect([c.status, c.body.code]).toEqual([409, 'idempotency_conflict']);
  });

  it('the renewals report takes a voided invoice back in the month of its void and counts the lapse', async () => {
    const params = { client: 'walk-top', group_by: 'month', from: '2026-03-01', to: '2026-04-30' };
    const { rows } = await jsonRows(app, { type: 'renewals', params });
    const keys = ['period_start', 'new_subscriptions', 'recharges', 'expirations', 'new_revenue', 'recharge_revenue'];
    // the sale of 10 March (10,000) stays in March, as March's report said before the void; its void of 14 April is
    // April's (−10,000); the recharge of 20 March (3,000) was paid
    expect(rows.map((r) => [...keys.map((k) => r[k]), r.voided_revenue])).toEqual([
      ['2026-03-01', 1, 1, 0, 10000, 3000, 0],
      ['2026-04-01', 0, 0, 1, -10000, 0, 10000],
    ]);
  });

  it('a hand renewal long after a period ended (no auto-renew, no sweep since) sells a period from now', async () => {
    // walk-fee-kept's period ended on 12 June 2026 and no sweep has run since: by hand, it had already expired,
    // so the renewal starts now (DOMAIN "Renew") rather than selling 12 June – 12 July 2026, a month gone by
    const kept = (await ok('GET', '/v1/subscriptions?client=walk-fee-kept')).data[0];
    expect([kept.auto_renew, kept.current_period_end]).toEqual([false, '2026-06-12T00:00:00.000Z']);
    const r = await ok('POST', `/v1/subscriptions/${kept.id}/renew?wait=true`, { apply_package_changes: true });
    expect([r.late, r.period_start, r.period_end, r.price]).toEqual([true, now, '2027-02-28T00:00:00.000Z', 6000]);
    expect(r.balances.map((b: Record<string, string>) => [b.granted, b.valid_from])).toEqual([['200', now]]);
    const row = rowOf(await ok('GET', '/v1/clients/walk-fee-kept/balances'), 'sms');
    expect(row.remaining).toBe('200');
  });

  it('a subscription price set by PATCH is what the next renewal charges; null follows the package again', async () => {
    const own = (await ok('GET', '/v1/subscriptions?client=walk-fee-own')).data[0];
    const patched = await ok('PATCH', `/v1/subscriptions/${own.id}`, { price: 4500 });
    expect([patched.price, patched.price_source]).toEqual([4500, 'subscription']);
    const r = await ok('POST', `/v1/subscriptions/${own.id}/renew?wait=true`);
    expect([r.price, r.period_start]).toEqual([4500, now]);
    const back = await ok('PATCH', `/v1/subscriptions/${own.id}`, { price: null });
    expect([back.price, back.price_source]).toEqual([6000, 'package']);
  });
});

describe('walk-core: paying to start, and what the reports say after a void', () => {
  it('activation on payment: units unavailable until the invoice is paid, then spendable', async () => {
    await ok('POST', '/v1/clients', { external_ref: 'walk-pend', name: 'Pending' }, 201);
    const body = { client: 'walk-pend', package: 'biz', activation: 'on_payment' };
    const p = await ok('POST', '/v1/subscriptions', body, 201);
    // 2027: year start 1, renewal 2, the two hand renewals 3 and 4, this sale 5
    expect([p.status, p.invoice.number, p.invoice.status]).toEqual(['pending', 'INV-2027-000005', 'issued']);
    const c = await consume({ client: 'walk-pend', credit_type: 'sms', quantity: 1, idempotency_key: 'p-1' });
    expect([c.status, c.body.code, c.body.remaining]).toEqual([422, 'insufficient_balance', '0']);
    const rows = (await ok('GET', '/v1/clients/walk-pend/balances')).data as Array<Record<string, any>>;
    expect(rows.map((r) => [r.credit_type.code, r.remaining, r.unavailable])).toEqual([
      ['sms', '0', '1000'],
      ['support', '0', '2.5'],
      ['api', '0', '500'],
    ]);
    expect((await ok('POST', `/v1/invoices/${p.invoice.id}/pay`)).status).toBe('paid');
    expect((await ok('GET', `/v1/subscriptions/${p.id}`)).status).toBe('active');
    const c2 = await consume({ client: 'walk-pend', credit_type: 'sms', quantity: 1, idempotency_key: 'p-2' });
    expect([c2.status, c2.body.remaining]).toEqual([200, '999']);
    // a recharge key sent again with another fee is 409
    const headers = { 'idempotency-key': 'rk-1' };
    const path = `/v1/subscriptions/${p.id}/recharge?wait=true`;
    const r1 = await app.request('POST', path, { headers, body: { price: 100 } });
    const r2 = await app.request('POST', path, { headers, body: { price: 200 } });
    expect([r1.status, r2.status, r2.body.code]).toEqual([200, 409, 'idempotency_conflict']);
  });

  it('top packages leave the voided Business sale out of revenue and count the late hand renewal', async () => {
    const { rows } = await jsonRows(app, { type: 'top_packages', params: { from: '2026-03-01', to: '2026-04-30' } });
    // Business: walk-buy's sale and its renewal of 24 April (10,000 each); walk-top's sale was voided
    expect(rows.slice(0, 2).map((r) => [r.package_code, r.new_subscriptions, r.renewals, r.revenue])).toEqual([
      ['fee', 4, 4, 42000],
      ['biz', 2, 1, 20000],
    ]);
  });

  it('consumption per package: support hours by month', async () => {
    const params = { per: 'package', group_by: 'month', credit_type: 'support', from: '2026-03-01', to: '2026-04-30' };
    const { rows } = await jsonRows(app, { type: 'consumption', params });
    expect(rows.map((r) => [r.period_start, r.package_code, r.net])).toEqual([
      ['2026-03-01', 'biz', '0.75'],
      ['2026-04-01', 'roll-dec', '0.75'],
    ]);
  });
});

describe('walk-core: defaults', () => {
  it('a report on demand covers the last 30 days up to and including now', async () => {
    const { doc, rows } = await jsonRows(app, { type: 'consumption', params: { credit_type: 'sms' } });
    expect([doc.params.from, doc.params.to]).toEqual(['2027-01-01T00:00:00.000Z', '2027-01-31T00:00:00.000Z']);
    // walk-year's 2 and walk-pend's 1, used at this very instant; walk-order's 130 taken back today
    expect(rows.map((r) => [r.period_start, r.consumed, r.net])).toEqual([['2027-01-31', '3', '-127']]);
  });

  it('a renewal following the package takes its changed validity; lapsed, it starts now', async () => {
    const follows = (await ok('GET', '/v1/subscriptions?client=walk-fee-follows')).data[0];
    await ok('PATCH', '/v1/packages/fee', { validity: { count: 2, unit: 'week' } });
    const r = await ok('POST', `/v1/subscriptions/${follows.id}/renew?wait=true`);
    expect([r.period_start, r.period_end, r.late, r.price]).toEqual([
      '2027-01-31T00:00:00.000Z',
      '2027-02-14T00:00:00.000Z',
      true,
      6000,
    ]);
  });
});
