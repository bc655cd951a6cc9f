import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatQuantity } from '../../src/domain/quantity.js';
import { expireDue } from '../../src/jobs/expire.js';
import { verifyInvariants } from '../../src/services/verify.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { jsonRows } from '../helpers/reports.js';

/**
 * Every report on a known data set — subscriptions, consumptions around midnight of the business
 * time zone, a rejected consumption, a reversal, a recharge, a renewal, a void invoice, a
 * cancellation and an expiry — compared with figures computed independently: from the
 * consumptions table, the invoices' lines, the outbox's events, the ledger, and the API's own views.
 */
const TZ = 'Asia/Riyadh'; // UTC+3, no DST: 21:00Z is already the next business day
const RANGE = { from: '2026-01-01', to: '2026-01-31' };
let app: TestApp;
let db: TestApp['database']['db'];
let now: Date;
const decimalsOf = new Map<string, number>();

type Row = Record<string, string | number | boolean | null>;
const key = (...parts: unknown[]) => parts.map(String).join('|');
const q = (scaled: unknown, code: string) => formatQuantity(BigInt(String(scaled)), decimalsOf.get(code)!);

beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-01-05T08:00:00.000Z', env: { BUSINESS_TZ: TZ } });
  db = app.database.db;
  const at = (iso: string) => app.clock.set(iso);
  const sms = await createCreditType(app, { code: 'x-sms', unit: 'message' });
  const data = await createCreditType(app, { code: 'x-data', unit: 'GB', decimals: 3 });
  decimalsOf.set('x-sms', 0).set('x-data', 3);
  const basic = await createPackage(app, [{ credit_type: sms.code, units: 100 }], { code: 'x-basic', price: 1000 });
  const combo = await createPackage(
    app,
    [
      { credit_type: sms.code, units: 50 },
      { credit_type: data.code, units: '2.5' },
    ],
    { code: 'x-combo', price: 2500 },
  );
  const travel = await createPackage(app, [{ credit_type: data.code, units: 12 }], {
    code: 'x-travel',
    price: 900,
    currency: 'EUR',
    validity: { count: 2, unit: 'week' },
  });
  const c1 = await createClient(app, { external_ref: 'x-ufuq', name: 'شركة الأفق' });
  const c2 = await createClient(app, { external_ref: 'x-acme', name: 'Acme' });
  const c3 = await createClient(app, { external_ref: 'x-zeta', name: 'Zeta' });

  const s1 = await subscribe(app, c1.id, basic.code);
  const s2 = await subscribe(app, c2.id, combo.code);
  at('2026-01-06T21:30:00.000Z'); // 7 January in Riyadh
  await subscribe(app, c3.id, travel.code);
  at('2026-01-08T09:00:00.000Z');
  const s4 = await subscribe(app, c2.id, basic.code);

  at('2026-01-20T08:00:00.000Z');
  const consume = async (
    client: string,
    creditType: string,
    quantity: string | number,
    idem: string,
    occurredAt: string,
    expected = 200,
  ) => {
    const res = await app.request('POST', '/v1/consumptions?wait=true', {
      key: app.keys.write,
      body: { client, credit_type: creditType, quantity, idempotency_key: idem, occurred_at: occurredAt },
    });
    expect(res.status, res.text).toBe(expected);
    return res.body as { id: string };
  };
  await consume(c1.id, sms.code, 10, 'k1', '2026-01-05T10:00:00.000Z');
  await consume(c1.id, sms.code, 7, 'k2', '2026-01-06T20:59:00.000Z'); // 23:59 on 6 January in Riyadh
  await consume(c1.id, sms.code, 5, 'k3', '2026-01-06T21:00:00.000Z'); // 00:00 on 7 January in Riyadh
  const wrong = await consume(c1.id, sms.code, 30, 'k4', '2026-01-12T12:00:00.000Z');
  await consume(c2.id, sms.code, 20, 'k5', '2026-01-09T12:00:00.000Z');
  await consume(c2.id, data.code, '1.25', 'k6', '2026-01-09T13:00:00.000Z');
  await consume(c2.id, data.code, '0.5', 'k7', '2026-01-15T12:00:00.000Z');
  await consume(c3.id, data.code, '3.5', 'k8', '2026-01-08T12:00:00.000Z');
  await consume(c3.id, data.code, '6.5', 'k9', '2026-01-10T12:00:00.000Z');
  await consume(c3.id, data.code, '5', 'k10', '2026-01-11T12:00:00.000Z', 422); // rejected: only 2 left

  const reversed = await app.request('POST', `/v1/consumptions/${wrong.id}/reverse?wait=true`, {
    key: app.keys.write,
    body: { reason: 'duplicate' },
  });
  expect(reversed.status, reversed.text).toBe(200);
  const recharged = await app.request('POST', `/v1/subscriptions/${s1.id}/recharge?wait=true`, {
    key: app.keys.write,
    headers: { 'idempotency-key': 'x-recharge' },
  });
  expect(recharged.status, recharged.text).toBe(200);
  const renewed = await app.request('POST', `/v1/subscriptions/${s2.id}/renew?wait=true`, { key: app.keys.write });
  expect(renewed.status, renewed.text).toBe(200);
  const voided = await app.request('POST', `/v1/invoices/${s4.invoice.id}/void`, {
    key: app.keys.write,
    body: { reason: 'test' },
  });
  expect(voided.status, voided.text).toBe(200);
  const cancelled = await app.request('POST', `/v1/subscriptions/${s4.id}/cancel`, {
    key: app.keys.write,
    body: { at: 'now' },
  });
  expect(cancelled.status, cancelled.text).toBe(200);

  at('2026-01-21T08:00:00.000Z'); // the travel pass (two weeks from 6 Jan 21:30Z) has ended
  const expiry = await expireDue(app.ctx, app.clock.now());
  expect(expiry.ok && expiry.value.subscriptions_expired).toBe(1);
  now = app.clock.now();
}, 60_000);

afterAll(async () => {
  const report = await verifyInvariants(db);
  expect(report.violations).toEqual([]);
  await app.close();
});

const dayOf = (column: string) => `to_char(${column} AT TIME ZONE '${TZ}', 'YYYY-MM-DD')`;

describe('consumption', () => {
  it(
    'per day and client equals the consumptions as reported ' + '(applied by occurred_at, returned by reversed_at)',
    async () => {
      const { rows, run } = await jsonRows<Row>(app, { type: 'consumption', params: { ...RANGE, per: 'client' } });
      expect(run.params).toMatchObject({
        from: '2025-12-31T21:00:00.000Z',
        to: '2026-01-31T20:59:59.999Z',
        time_zone: TZ,
      });
      const expected = new Map<string, { consumed: bigint; reversed: bigint }>();
      const entry = (k: string) => expected.get(k) ?? expected.set(k, { consumed: 0n, reversed: 0n }).get(k)!;
      const applied = (
        await db.raw(`
      SELECT ${dayOf('c.occurred_at')} AS day, ct.code, cl.external_ref, sum(c.applied) AS units
        FROM consumptions c JOIN credit_types ct ON ct.id = c.credit_type_id JOIN clients cl ON cl.id = c.client_id
       WHERE c.status <> 'rejected' GROUP BY 1, 2, 3`)
      ).rows as Array<{ day: string; code: string; external_ref: string; units: string }>;
      for (const r of applied) entry(key(r.day, r.code, r.external_ref)).consumed += BigInt(r.units);
      const returned = (
        await db.raw(`
      SELECT ${dayOf('c.reversed_at')} AS day, ct.code, cl.external_ref, sum(c.reversal_returned) AS units
        FROM consumptions c JOIN credit_types ct ON ct.id = c.credit_type_id JOIN clients cl ON cl.id = c.client_id
       WHERE c.status = 'reversed' GROUP BY 1, 2, 3`)
      ).rows as Array<{ day: string; code: string; external_ref: string; units: string }>;
      for (const r of returned) entry(key(r.day, r.code, r.external_ref)).reversed += BigInt(r.units);

      const actual = new Map(
        rows.map((r) => [
          key(r.period_start, r.credit_type, r.client_ref),
          { consumed: r.consumed, reversed: r.reversed, net: r.net },
        ]),
      );
      expect(actual).toEqual(
        new Map(
          [...expected].map(([k, v]) => {
            const code = k.split('|')[1]!;
            return [
              k,
              { consumed: q(v.consumed, code), reversed: q(v.reversed, code), net: q(v.consumed - v.reversed, code) },
            ];
          }),
        ),
      );
      // the business day, not the UTC one: 7 at 23:59 on the 6th, 5 at 00:00 on the 7th
      expect(actual.get('2026-01-06|x-sms|x-ufuq')).toMatchObject({ consumed: '7' });
      expect(actual.get('2026-01-07|x-sms|x-ufuq')).toMatchObject({ consumed: '5' });
      expect(actual.get('2026-01-20|x-sms|x-ufuq')).toEqual({ consumed: '0', reversed: '30', net: '-30' });
      expect(actual.has('2026-01-11|x-data|x-zeta')).toBe(false); // the rejected use took nothing
    },
  );

  it(
    'per week, per month and per package adds up to the ' + "same totals, and to the balances' running totals",
    async () => {
      const totals = (rows: Row[]) => {
        const out: Record<string, bigint> = {};
        for (const r of rows) {
          const code = String(r.credit_type);
          const scale = 10n ** BigInt(decimalsOf.get(code)!);
          const [whole, frac = ''] = String(r.net).replace('-', '').split('.');
          const scaled = BigInt(whole!) * scale + BigInt(`${frac}000000`.slice(0, decimalsOf.get(code)!) || '0');
          out[code] = (out[code] ?? 0n) + (String(r.net).startsWith('-') ? -scaled : scaled);
        }
        return out;
      };
      const daily = totals((await jsonRows<Row>(app, { type: 'consumption', params: RANGE })).rows);
      const weekly = (await jsonRows<Row>(app, { type: 'consumption', params: { ...RANGE, group_by: 'week' } })).rows;
      const monthly = (await jsonRows<Row>(app, { type: 'consumption', params: { ...RANGE, group_by: 'month' } })).rows;
      const perPackage = (await jsonRows<Row>(app, { type: 'consumption', params: { ...RANGE, per: 'package' } })).rows;
      expect(totals(weekly)).toEqual(daily);
      expect(totals(monthly)).toEqual(daily);
      expect(totals(perPackage)).toEqual(daily);
      // ISO weeks start on Monday: 5, 12 and 19 January 2026 are Mondays
      expect(new Set(weekly.map((r) => r.period_start))).toEqual(new Set(['2026-01-05', '2026-01-12', '2026-01-19']));
      expect(monthly.map((r) => r.period_start)).toEqual(['2026-01-01', '2026-01-01']);
      const running = (
        await db.raw(
          `SELECT ct.code, sum(b.consumed) AS consumed
             FROM balances b JOIN credit_types ct ON ct.id = b.credit_type_id GROUP BY 1`,
        )
      ).rows as Array<{ code: string; consumed: string }>;
      expect(daily).toEqual(Object.fromEntries(running.map((r) => [r.code, BigInt(r.consumed)])));
    },
  );

  it('filters by client, package and credit type', async () => {
    const filtered = (
      await jsonRows<Row>(app, {
        type: 'consumption',
        params: { ...RANGE, client: 'x-acme', package: 'x-combo', credit_type: 'x-data' },
      })
    ).rows;
    expect(filtered.map((r) => [r.period_start, r.net])).toEqual([
      ['2026-01-09', '1.25'],
      ['2026-01-15', '0.5'],
    ]);
  });
});

describe('renewals', () => {
  it(
    'counts starts, renewals, recharges and expirations as the events ' +
      'tell them, and revenue from the invoice lines (a void taken back on the day it was made)',
    async () => {
      const { rows } = await jsonRows<Row>(app, { type: 'renewals', params: RANGE });
      const expected = new Map<string, Record<string, number>>();
      const entry = (k: string) =>
        expected.get(k) ??
        expected
          .set(k, {
            new_subscriptions: 0,
            renewals: 0,
            recharges: 0,
            expirations: 0,
            new_revenue: 0,
            renewal_revenue: 0,
            recharge_revenue: 0,
            revenue: 0,
            voided_revenue: 0,
            renewals_undone: 0,
          })
          .get(k)!;
      const events = (
        await db.raw(`
      SELECT ${dayOf('e.created_at')} AS day, s.currency, e.type, count(*)::int AS n
        FROM outbox_events e JOIN subscriptions s ON s.id = e.subject_id
       WHERE e.type IN ('subscription.created', 'subscription.renewed', 'subscription.recharged',
                        'subscription.expired')
       GROUP BY 1, 2, 3`)
      ).rows as Array<{ day: string; currency: string; type: string; n: number }>;
      const column: Record<string, string> = {
        'subscription.created': 'new_subscriptions',
        'subscription.renewed': 'renewals',
        'subscription.recharged': 'recharges',
        'subscription.expired': 'expirations',
      };
      for (const e of events) entry(key(e.day, e.currency))[column[e.type]!]! += e.n;
      // the renewals made ahead taken back, as the events of the cancel or freeze that took them back list them
      const undone = (
        await db.raw(`
      SELECT ${dayOf('e.created_at')} AS day, s.currency,
             sum(jsonb_array_length(e.payload->'data'->'renewals_undone'))::int AS n
        FROM outbox_events e JOIN subscriptions s ON s.id = e.subject_id
       WHERE e.payload->'data'->'renewals_undone' IS NOT NULL
       GROUP BY 1, 2`)
      ).rows as Array<{ day: string; currency: string; n: number }>;
      for (const u of undone) entry(key(u.day, u.currency)).renewals_undone! += u.n;
      // every invoice on the day it was issued, and a void invoice's lines again, negative, on the day it was voided
      const revenue = (
        await db.raw(`
      SELECT day, currency, kind, sum(amount)::bigint AS total, sum(voided)::bigint AS voided
        FROM (SELECT ${dayOf('i.issued_at')} AS day, i.currency, i.kind, l.amount, 0 AS voided
                FROM invoices i JOIN invoice_lines l ON l.invoice_id = i.id
              UNION ALL
              SELECT ${dayOf('i.voided_at')}, i.currency, i.kind, -l.amount, l.amount
                FROM invoices i JOIN invoice_lines l ON l.invoice_id = i.id
               WHERE i.status = 'void') lines
       GROUP BY 1, 2, 3`)
      ).rows as Array<{ day: string; currency: string; kind: string; total: bigint; voided: bigint }>;
      const revenueColumn: Record<string, string> = {
        subscription: 'new_revenue',
        renewal: 'renewal_revenue',
        recharge: 'recharge_revenue',
      };
      for (const r of revenue) {
        const e = entry(key(r.day, r.currency));
        e[revenueColumn[r.kind]!]! += Number(r.total);
        e.revenue! += Number(r.total);
        e.voided_revenue! += Number(r.voided);
      }
      expect(
        new Map(rows.map(({ period_start, currency, ...figures }) => [key(period_start, currency), figures])),
      ).toEqual(expected);
      // spot checks: the travel pass started on 7 January in Riyadh (6 January in UTC); the invoice voided on
      // 20 January earned its 1000 on 8 January, the day it was issued, and is taken back on the 20th
      expect(rows.find((r) => r.period_start === '2026-01-07')).toMatchObject({
        currency: 'EUR',
        new_subscriptions: 1,
        new_revenue: 900,
      });
      expect(rows.find((r) => r.period_start === '2026-01-08')).toMatchObject({
        currency: 'USD',
        new_subscriptions: 1,
        new_revenue: 1000,
        voided_revenue: 0,
      });
      expect(rows.find((r) => r.period_start === '2026-01-20')).toMatchObject({
        renewals: 1,
        renewal_revenue: 2500,
        recharges: 1,
        recharge_revenue: 1000,
        new_revenue: -1000,
        revenue: 2500,
        voided_revenue: 1000,
      });
      expect(rows.find((r) => r.period_start === '2026-01-21')).toMatchObject({ currency: 'EUR', expirations: 1 });
    },
  );
});

describe('top_packages', () => {
  it(
    'ranks packages by new subscriptions plus renewals, as ' + 'the invoices count them, with their non-void revenue',
    async () => {
      const { rows } = await jsonRows<Row>(app, { type: 'top_packages', params: RANGE });
      const expected = (
        await db.raw(`
      SELECT p.code, count(*) FILTER (WHERE i.kind = 'subscription')::int AS new_subscriptions,
             count(*) FILTER (WHERE i.kind = 'renewal')::int AS renewals,
             COALESCE(sum(i.total) FILTER (WHERE i.status <> 'void'), 0)::int AS revenue
        FROM invoices i JOIN subscriptions s ON s.id = i.subscription_id JOIN packages p ON p.id = s.package_id
       WHERE i.kind IN ('subscription', 'renewal') GROUP BY 1`)
      ).rows as Array<{ code: string; new_subscriptions: number; renewals: number; revenue: number }>;
      expect(
        rows
          .map((r) => ({
            code: r.package_code,
            new_subscriptions: r.new_subscriptions,
            renewals: r.renewals,
            revenue: r.revenue,
          }))
          .sort((a, b) => String(a.code).localeCompare(String(b.code))),
      ).toEqual(expected.sort((a, b) => a.code.localeCompare(b.code)));
      // a tie on requests goes to the larger revenue (x-basic's second invoice was voided)
      expect(rows.map((r) => [r.rank, r.package_code, r.requests, r.revenue])).toEqual([
        [1, 'x-combo', 2, 5000],
        [2, 'x-basic', 2, 1000],
        [3, 'x-travel', 1, 900],
      ]);
    },
  );
});

interface SubscriptionView {
  id: string;
  status: string;
  package: { code: string };
  client: { external_ref: string };
  current_period_end: string;
  balances: Array<{
    id: string;
    status: string;
    remaining: string;
    valid_from: string;
    expires_at: string;
    credit_type: { code: string };
  }>;
}

async function allSubscriptions(): Promise<SubscriptionView[]> {
  const res = await app.request('GET', '/v1/subscriptions?limit=500', { key: app.keys.read });
  expect(res.status, res.text).toBe(200);
  return res.body.data as SubscriptionView[];
}

const usable = (b: SubscriptionView['balances'][number]) =>
  b.status === 'active' &&
  Date.parse(b.valid_from) <= now.getTime() &&
  Date.parse(b.expires_at) > now.getTime() &&
  b.remaining !== '0';

describe('subscriptions', () => {
  it('counts each status per package and describes each subscription as the API does', async () => {
    const { rows } = await jsonRows<Row>(app, { type: 'subscriptions' });
    const views = await allSubscriptions();
    const counts = new Map<string, number>();
    for (const s of views)
      counts.set(key(s.package.code, s.status), (counts.get(key(s.package.code, s.status)) ?? 0) + 1);
    const summary = rows.filter((r) => r.row_type === 'summary');
    expect(new Map(summary.map((r) => [key(r.package_code, r.status), r.count]))).toEqual(counts);
    expect(rows.slice(0, summary.length).every((r) => r.row_type === 'summary')).toBe(true);

    const detail = rows.filter((r) => r.row_type === 'subscription');
    expect(detail).toHaveLength(views.length);
    for (const s of views) {
      const row = detail.find((r) => r.subscription_id === s.id)!;
      const live = ['active', 'pending', 'suspended'].includes(s.status);
      expect(row).toMatchObject({
        status: s.status,
        package_code: s.package.code,
        client_ref: s.client.external_ref,
        period_end: s.current_period_end,
        days_left: live ? Math.max(0, Math.ceil((Date.parse(s.current_period_end) - now.getTime()) / 86_400_000)) : 0,
        // an ended one is not called depleted: it has nothing to spend because it ended
        depleted: live && !s.balances.some(usable),
      });
    }
    expect(detail.find((r) => r.client_ref === 'x-zeta')).toMatchObject({
      status: 'expired',
      depleted: false,
      days_left: 0,
    });
    expect(detail.find((r) => r.status === 'cancelled')).toMatchObject({ client_ref: 'x-acme', depleted: false });
  });
});

describe('balances', () => {
  it('per subscription and credit type agrees with the ledger and adds up', async () => {
    const { rows } = await jsonRows<Row>(app, { type: 'balances' });
    const ledger = (
      await db.raw(
        `
      SELECT l.subscription_id, ct.code,
             sum(l.amount) FILTER (WHERE l.kind IN ('grant', 'recharge', 'adjust')) AS granted,
             -- granted to balances valid by now: a period renewed ahead (x-acme's, from 02-05) is not begun
             COALESCE(sum(l.amount) FILTER (WHERE l.kind IN ('grant', 'recharge', 'adjust') AND b.valid_from <= ?), 0)
               AS granted_begun,
             COALESCE(-sum(l.amount) FILTER (WHERE l.kind IN ('consume', 'reverse')), 0) AS consumed,
             COALESCE(-sum(l.amount) FILTER (WHERE l.kind = 'void'), 0) AS voided,
             COALESCE(-sum(l.amount) FILTER (WHERE l.kind = 'expire'), 0) AS swept,
             sum(l.amount) AS held
        FROM ledger_entries l JOIN credit_types ct ON ct.id = l.credit_type_id JOIN balances b ON b.id = l.balance_id
       GROUP BY 1, 2`,
        [now],
      )
    ).rows as Array<{
      subscription_id: string;
      code: string;
      granted: string;
      granted_begun: string;
      consumed: string;
      voided: string;
      swept: string;
      held: string;
    }>;
    expect(rows).toHaveLength(ledger.length);
    const scaled = (value: unknown, code: string) => {
      const d = decimalsOf.get(code)!;
      const [whole, frac = ''] = String(value).split('.');
      return BigInt(whole!) * 10n ** BigInt(d) + BigInt(`${frac}000000`.slice(0, d) || '0');
    };
    for (const l of ledger) {
      const row = rows.find((r) => r.subscription_id === l.subscription_id && r.credit_type === l.code)!;
      expect(row, `${l.subscription_id} ${l.code}`).toBeDefined();
      expect({ granted: row.granted, consumed: row.consumed, voided: row.voided }).toEqual({
        granted: q(l.granted, l.code),
        consumed: q(l.consumed, l.code),
        voided: q(l.voided, l.code),
      });
      // what the ledger still holds is usable, unavailable (a subscription not active), upcoming, or
      // past its expiry and not yet swept
      const [g, c, r, n, u, e, v] = [
        'granted',
        'consumed',
        'remaining',
        'unavailable',
        'upcoming',
        'expired',
        'voided',
      ].map((k) => scaled(row[k], l.code));
      expect(g! - c! - e! - v!).toBe(r! + n! + u!);
      expect(e! - BigInt(l.swept)).toBe(BigInt(l.held) - r! - n! - u!);
      // consumed of what was granted for the periods begun
      const begun = BigInt(l.granted_begun);
      if (begun > 0n) expect(row.used_percent).toBeCloseTo((Number(c!) / Number(begun)) * 100, 1);
      else expect(row.used_percent).toBeNull();
    }
    // x-acme's combo, renewed ahead on 01-20 (its next period from 02-05): 20 of the 50 sms begun, not of 100;
    // 1.25 + 0.5 = 1.75 of the 2.5 data begun, not of 5
    const acme = rows.filter((r) => r.client_ref === 'x-acme' && r.package_code === 'x-combo');
    expect(acme.map((r) => [r.credit_type, r.granted, r.consumed, r.upcoming, r.used_percent])).toEqual([
      ['x-data', '5', '1.75', '2.5', 70],
      ['x-sms', '100', '20', '50', 40],
    ]);
    const ufuq = rows.find((r) => r.client_ref === 'x-ufuq')!;
    expect(ufuq).toMatchObject({ granted: '200', consumed: '22', remaining: '178', expired: '0', used_percent: 11 });
    const zeta = rows.find((r) => r.client_ref === 'x-zeta')!;
    expect(zeta).toMatchObject({
      granted: '12',
      consumed: '10',
      remaining: '0',
      expired: '2',
      subscription_status: 'expired',
    });
    const renewed = rows.find(
      (r) => r.client_ref === 'x-acme' && r.package_code === 'x-combo' && r.credit_type === 'x-data',
    )!;
    expect(renewed).toMatchObject({ granted: '5', consumed: '1.75', remaining: '0.75', upcoming: '2.5' });
  });
});

describe('expiring', () => {
  it(
    'lists the balances with units left and the subscriptions ' + 'ending in the next N days, as the API shows them',
    async () => {
      const { rows } = await jsonRows<Row>(app, { type: 'expiring', params: { days_ahead: 20 } });
      const until = now.getTime() + 20 * 86_400_000;
      const views = await allSubscriptions();
      const balances = views.flatMap((s) =>
        s.balances
          .filter(
            (b) =>
              b.status === 'active' &&
              b.remaining !== '0' &&
              Date.parse(b.expires_at) > now.getTime() &&
              Date.parse(b.expires_at) <= until,
          )
          .map((b) => ({ id: b.id, remaining: b.remaining })),
      );
      expect(
        rows
          .filter((r) => r.row_type === 'balance')
          .map((r) => ({ id: r.balance_id, remaining: r.remaining }))
          .sort((a, b) => String(a.id).localeCompare(String(b.id))),
      ).toEqual(balances.sort((a, b) => a.id.localeCompare(b.id)));
      const ending = views
        .filter(
          (s) =>
            s.status === 'active' &&
            Date.parse(s.current_period_end) > now.getTime() &&
            Date.parse(s.current_period_end) <= until,
        )
        .map((s) => s.id)
        .sort();
      expect(
        rows
          .filter((r) => r.row_type === 'subscription')
          .map((r) => r.subscription_id)
          .sort(),
      ).toEqual(ending);
      // soonest first, each with what it still holds
      const times = rows.map((r) => Date.parse(String(r.expires_at)));
      expect(times).toEqual([...times].sort((a, b) => a - b));
      expect(rows.find((r) => r.row_type === 'subscription' && r.client_ref === 'x-ufuq')).toMatchObject({
        remains: 'x-sms: 178',
        renews: false,
      });
    },
  );
});
