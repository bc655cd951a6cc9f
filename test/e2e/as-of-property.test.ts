import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_NIGHTLY_REPORTS, startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage } from '../helpers/fixtures.js';
import { closeVerified } from '../helpers/http-steps.js';
import { jsonRows } from '../helpers/reports.js';

/**
 * DOMAIN.md "As of": balances can be read as of any past instant from the ledger alone. Any history over HTTP —
 * purchases (paid at once or on payment), payments and voided invoices, uses, holds and their captures (all or
 * part), releases and lapses, freezes and unfreezes (by hand and at their end), suspensions and resumes, renewals
 * with rollover, recharges, cancels, reversals, operators' grants and adjustments, nightly runs, the clock moving —
 * and after each step:
 * - `?as_of=` now answers what the live read answers (issue 15: "equal to the live answer at now");
 * - the balances hold what the open holds reserve, and the forecast starts from the live `remaining`;
 * - (before each use) a quote answers what the use then takes: the same balances, amounts and shortfall;
 * - the step's last change sent once more (its Idempotency-Key, its body), as a retry after a lost answer, answers
 *   the same (or 409 for a state change already made) and changes no row and no balance (rule 5);
 * and at the end of each history, every ledger invariant holds (POST /v1/admin/verify), its usage grouped by day,
 * week, month and dimension sums to one total, and `?as_of=` each past instant the history stopped at answers what
 * the live read answered then, however much was written afterwards (holds closed later, expiries swept later,
 * freezes lifted and their `extend` entries, suspensions resumed, cancels, reversals), and the reports written apart
 * in SQL of their own (balances, consumption, subscriptions, renewals, top packages) agree with the reads. Nothing
 * here is computed by hand: the reads check each other, and the hand-computed scenarios (issue-15-check, nights-walk)
 * check the numbers.
 */
let app: TestApp;
let codes: { u: string; v: string };
let packages: string[];

const START = Date.parse('2027-01-01T00:00:00.000Z');
/**
 * Histories a run draws: 18 in the suite. At 28 it was the suite's longest file (130 s of its 615, 2026-12-05), and
 * its histories grow dearer as the store fills (alone: 25.5 CPU-s at 28, 15.1 at 18); at 18 the suite's seed still
 * meets every operation and every kind of ledger entry (checked at the end — at 14 no freeze succeeds). More by
 * hand, with new seeds: AS_OF_HISTORIES=100 FC_SEED=random npx vitest run test/e2e/as-of-property.test.ts
 */
const HISTORIES = Number(process.env.AS_OF_HISTORIES ?? 18);

beforeAll(async () => {
  // the nightly steps make no report: the histories read none of a night's (the reports they check, reportsAgree,
  // are asked for), and each run made every type for each day the clock had passed since the last run
  const env = NO_NIGHTLY_REPORTS;
  app = await startTestApp({ roles: ['api', 'worker'], now: new Date(START).toISOString(), env });
  codes = {
    u: (await createCreditType(app, { decimals: 0, dimensions: ['branch'] })).code,
    v: (await createCreditType(app, { decimals: 2, unit: 'hour' })).code,
  };
  packages = [
    // a month of both, renewed at night, freezable for 10 days a period, spent first
    (
      await createPackage(
        app,
        [
          { credit_type: codes.u, units: 40 },
          { credit_type: codes.v, units: '3.5' },
        ],
        // half of what a period leaves rolls over into the next
        { auto_renew: true, max_freeze_days: 10, priority: 10, rollover: { policy: 'percent', percent: 50 } },
      )
    ).code,
    // a week of u, not renewed: expires under the others
    (
      await createPackage(app, [{ credit_type: codes.u, units: 15 }], {
        auto_renew: false,
        validity: { count: 7, unit: 'day' },
      })
    ).code,
    // three days of v, freezable
    (
      await createPackage(app, [{ credit_type: codes.v, units: '1.25' }], {
        auto_renew: false,
        max_freeze_days: 2,
        validity: { count: 3, unit: 'day' },
      })
    ).code,
  ];
});
afterAll(async () => {
  await closeVerified(app);
});

/** A use's `branch` (the dimension u declares), or none. */
type Branch = 'north' | 'south' | null;
const branch = fc.constantFrom<Branch>('north', 'south', null);

type Step =
  | { kind: 'buy'; pkg: number; onPayment: boolean }
  | { kind: 'pay'; pick: number }
  | { kind: 'use'; v: boolean; quantity: number; partial: boolean; branch: Branch }
  | { kind: 'hold'; v: boolean; quantity: number; minutes: number; branch: Branch }
  | { kind: 'capture'; pick: number; part: number }
  | { kind: 'release'; pick: number }
  | { kind: 'reverse'; pick: number }
  | { kind: 'freeze'; pick: number; days: number; thawAfterHours: number | null }
  | { kind: 'unfreeze'; pick: number }
  | { kind: 'renew'; pick: number }
  | { kind: 'recharge'; pick: number }
  | { kind: 'cancel'; pick: number; now: boolean }
  | { kind: 'suspend'; pick: number; resume: boolean }
  | { kind: 'grant'; v: boolean; units: number; days: number }
  | { kind: 'adjust'; pick: number; delta: number }
  | { kind: 'voidInvoice'; pick: number }
  | { kind: 'nightly' }
  | { kind: 'advance'; minutes: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('buy' as const),
      pkg: fc.integer({ min: 0, max: 2 }),
      // activated when its first invoice is paid (pending until then)
      onPayment: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('pay' as const), pick: fc.nat() }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('use' as const),
      v: fc.boolean(),
      quantity: fc.integer({ min: 1, max: 30 }),
      partial: fc.boolean(),
      branch,
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('hold' as const),
      v: fc.boolean(),
      quantity: fc.integer({ min: 1, max: 25 }),
      minutes: fc.integer({ min: 1, max: 3 * 24 * 60 }),
      branch,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('capture' as const),
      pick: fc.nat(),
      // 0: all of it; else that many parts in 4 of the hold (rounded down, at least one unit)
      part: fc.integer({ min: 0, max: 3 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reverse' as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('freeze' as const),
      pick: fc.nat(),
      days: fc.integer({ min: 1, max: 4 }),
      // null: left to run out (or to an unfreeze step)
      thawAfterHours: fc.option(fc.integer({ min: 1, max: 30 })),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('unfreeze' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('renew' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('recharge' as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat(), now: fc.boolean() }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('suspend' as const), pick: fc.nat(), resume: fc.boolean() }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('grant' as const),
      v: fc.boolean(),
      units: fc.integer({ min: 1, max: 20 }),
      days: fc.integer({ min: 1, max: 20 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('adjust' as const),
      pick: fc.nat(),
      delta: fc.integer({ min: -10, max: 10 }).filter((d) => d !== 0),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('voidInvoice' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('nightly' as const) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      // mostly within a day (a hold or a freeze still running), sometimes days (past expiries and period ends)
      minutes: fc.oneof(fc.integer({ min: 1, max: 24 * 60 }), fc.integer({ min: 1, max: 6 * 24 * 60 })),
    }),
  },
);

/** How often each route answered each status, over all the histories: the property is not met by refusals alone. */
const answered = new Map<string, number>();

/** Every request carries an Idempotency-Key (each step's own), as a producer retrying over HTTP sends it. */
const call = (method: string, path: string, body: unknown, key: string | undefined) =>
  app.request(method, path, {
    ...(body === undefined ? {} : { body }),
    ...(key ? { headers: { 'Idempotency-Key': key } } : {}),
  });

/** The last change a step sent: sent once more after the step, it must change nothing (at-least-once delivery). */
let lastChange: { method: string; path: string; body: unknown; key: string | undefined; status: number } | undefined;

/** A status from the set a step may answer (a refusal is an answer: it must change nothing the reads disagree on). */
/** The running step's Idempotency-Key, sent with each change it makes (not with reads, quotes or admin calls). */
let stepKey: string | undefined;

async function expectStatus(method: string, path: string, body: unknown, allowed: readonly number[]) {
  const change = method !== 'GET' && !path.startsWith('/v1/admin/') && !path.startsWith('/v1/consumptions/quote');
  const key = change ? stepKey : undefined;
  const res = await call(method, path, body, key);
  expect(allowed, `${method} ${path} ${JSON.stringify(body)}: ${res.status} ${res.text}`).toContain(res.status);
  const kind = `${method} ${path.replace(/\?.*$/, '').replace(/[0-9a-f-]{36}/g, '{id}')} ${res.status}`;
  answered.set(kind, (answered.get(kind) ?? 0) + 1);
  if (change) lastChange = { method, path, body, key, status: res.status };
  return res;
}

/** A quantity of at most two decimals ("-1.5"), exactly, in hundredths. */
const hundredths = (q: string): bigint => {
  const [whole = '0', fraction = ''] = q.replace('-', '').split('.');
  const value = BigInt(whole) * 100n + BigInt(`${fraction}00`.slice(0, 2));
  return q.startsWith('-') ? -value : value;
};

/** Quantities of `v` (2 decimals) from an integer: 1 → "0.25". */
const vQuantity = (n: number) => (n / 4).toFixed(2);

type Row = Record<string, string | number | boolean | null>;

/**
 * The reports of a client agree with the reads (they are written apart, in SQL of their own, so they can drift):
 * - `balances`: its rows sum, per credit type, to the live balances' remaining, unavailable, upcoming and held, and
 *   each row's units add up (granted − consumed − expired − voided = remaining + unavailable + upcoming + held);
 * - `consumption` over the history: its net is the usage's total, per credit type;
 * - `subscriptions`: a row per subscription of the client, with the status and period the API answers.
 */
async function reportsAgree(client: string, from: string, to: string, history: unknown): Promise<void> {
  const label = (what: string) => `${what} after ${JSON.stringify(history)}`;
  const live = (await expectStatus('GET', `/v1/clients/${client}/balances`, undefined, [200])).body.data as Array<
    Record<string, string> & { credit_type: { code: string } }
  >;
  const { rows: balanceRows } = await jsonRows<Row>(app, { type: 'balances', params: { client } });
  const columns = ['remaining', 'unavailable', 'upcoming', 'held'] as const;
  for (const code of [codes.u, codes.v]) {
    const rows = balanceRows.filter((r) => r.credit_type === code);
    const read = live.find((r) => r.credit_type.code === code);
    const sums = Object.fromEntries(
      columns.map((c) => [c, rows.reduce((sum, r) => sum + hundredths(String(r[c])), 0n)]),
    );
    const reads = Object.fromEntries(columns.map((c) => [c, read ? hundredths(read[c]!) : 0n]));
    expect(sums, label(`balances report of ${code} against the live read`)).toEqual(reads);
  }
  for (const r of balanceRows) {
    const [granted, consumed, expired, voided, ...kept] = ['granted', 'consumed', 'expired', 'voided', ...columns].map(
      (c) => hundredths(String(r[c])),
    );
    const left = kept.reduce((sum, q) => sum + q, 0n);
    expect(granted! - consumed! - expired! - voided!, label(`balances report row ${JSON.stringify(r)}`)).toBe(left);
  }
  for (const code of [codes.u, codes.v]) {
    const { rows } = await jsonRows<Row>(app, {
      type: 'consumption',
      params: { client, credit_type: code, from, to, group_by: 'month' },
    });
    const net = rows.reduce((sum, r) => sum + hundredths(String(r.net)), 0n);
    const range = `from=${from}&to=${to}`;
    const usage = await expectStatus(
      'GET',
      `/v1/clients/${client}/usage?credit_type=${code}&${range}`,
      undefined,
      [200],
    );
    const used = (usage.body.data as Array<{ quantity: string }>).reduce((sum, r) => sum + hundredths(r.quantity), 0n);
    expect(net, label(`consumption report of ${code} against the usage`)).toBe(used);
  }
  const { rows: subscriptionRows } = await jsonRows<Row>(app, { type: 'subscriptions', params: { client } });
  const listed = await expectStatus('GET', `/v1/subscriptions?client=${client}&limit=500`, undefined, [200]);
  const api = (listed.body.data as Array<Record<string, string>>)
    .map((s) => [s.id, s.status, s.current_period_start, s.current_period_end])
    .sort();
  const reported = subscriptionRows
    .filter((r) => r.row_type === 'subscription')
    .map((r) => [r.subscription_id, r.status, r.period_start, r.period_end])
    .sort();
  expect(reported, label('subscriptions report against GET /v1/subscriptions')).toEqual(api);

  // money: the renewals report's revenue is the client's invoices issued in the range less those voided in it, by
  // kind; its counts are the subscriptions started, their renewals (renewal_count: those made less those taken back,
  // renewals_undone) and the recharges; top_packages counts the same requests (the range ends now: a renewal taken
  // back by then is not one)
  const invoices = (await expectStatus('GET', `/v1/invoices?client=${client}&limit=500`, undefined, [200])).body
    .data as Array<{ kind: string; status: string; total: number; issued_at: string; voided_at: string | null }>;
  const within = (at: string | null) => at !== null && at >= from && at <= to;
  const issued = invoices.filter((i) => within(i.issued_at));
  const voided = invoices.filter((i) => within(i.voided_at));
  const sumOf = (list: typeof invoices, kind?: string) =>
    list.filter((i) => kind === undefined || i.kind === kind).reduce((sum, i) => sum + i.total, 0);
  const revenueOf = (kind: string) => sumOf(issued, kind) - sumOf(voided, kind);
  const { rows: renewalRows } = await jsonRows<Row>(app, {
    type: 'renewals',
    params: { client, from, to, group_by: 'month' },
  });
  const total = (rows: Row[], column: string) => rows.reduce((sum, r) => sum + Number(r[column]), 0);
  const subscriptions = listed.body.data as Array<{ renewal_count: number }>;
  expect(
    {
      new_revenue: total(renewalRows, 'new_revenue'),
      renewal_revenue: total(renewalRows, 'renewal_revenue'),
      recharge_revenue: total(renewalRows, 'recharge_revenue'),
      revenue: total(renewalRows, 'revenue'),
      voided_revenue: total(renewalRows, 'voided_revenue'),
      new_subscriptions: total(renewalRows, 'new_subscriptions'),
      renewals: total(renewalRows, 'renewals') - total(renewalRows, 'renewals_undone'),
    },
    label('renewals report against the invoices and subscriptions'),
  ).toEqual({
    new_revenue: revenueOf('subscription'),
    renewal_revenue: revenueOf('renewal'),
    recharge_revenue: revenueOf('recharge'),
    revenue: sumOf(issued) - sumOf(voided),
    voided_revenue: sumOf(voided),
    new_subscriptions: subscriptions.length,
    renewals: subscriptions.reduce((sum, s) => sum + s.renewal_count, 0),
  });
  const { rows: topRows } = await jsonRows<Row>(app, { type: 'top_packages', params: { client, from, to } });
  expect(
    { new_subscriptions: total(topRows, 'new_subscriptions'), renewals: total(topRows, 'renewals') },
    label('top_packages report against the renewals report'),
  ).toEqual({
    new_subscriptions: subscriptions.length,
    renewals: total(renewalRows, 'renewals') - total(renewalRows, 'renewals_undone'),
  });
  for (const r of topRows)
    expect(r.requests, label(`top_packages ${JSON.stringify(r)}`)).toBe(
      Number(r.new_subscriptions) + Number(r.renewals),
    );
}

describe('balances as of any instant agree with what the live read answered then', () => {
  it('over any history of uses, holds, captures, releases, freezes, reversals, nights and time', async () => {
    let clock = START;
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 3, maxLength: 24 }), async (steps) => {
        run += 1;
        const started = clock;
        const client = (await createClient(app)).id;
        const subscriptions: string[] = [];
        const holds: Array<{ id: string; quantity: number; v: boolean }> = [];
        const consumptions: string[] = [];
        const frozen: string[] = [];
        const invoices: string[] = [];
        let lastBalances: Array<{ id: string }> = [];
        /** The live answer at each instant the history stopped at (the last one read at that instant). */
        const seen = new Map<string, unknown>();
        /** After a step: as_of now equals live, verify finds nothing; the live answer kept for its instant. */
        const look = async (label: string) => {
          const now = new Date(clock).toISOString();
          const live = await expectStatus('GET', `/v1/clients/${client}/balances`, undefined, [200]);
          const asOf = await expectStatus('GET', `/v1/clients/${client}/balances?as_of=${now}`, undefined, [200]);
          expect(asOf.body.data, `${label} at ${now}: as_of now ≠ live`).toEqual(live.body.data);
          seen.set(now, live.body.data);
          lastBalances = (live.body.data as Array<{ balances: Array<{ id: string }> }>).flatMap((r) => r.balances);
          // the forecast starts from the same usable units, and what it says will expire unused is on balances that
          // hold it now (a frozen one's included: its units wait for the unfreeze)
          for (const row of live.body.data as Array<{
            credit_type: { code: string };
            remaining: string;
            balances: Array<{ id: string; remaining: string }>;
          }>) {
            const path = `/v1/clients/${client}/forecast?credit_type=${row.credit_type.code}`;
            const forecast = (await expectStatus('GET', path, undefined, [200])).body;
            expect(forecast.remaining, `${label}: forecast of ${row.credit_type.code}`).toBe(row.remaining);
            for (const unused of forecast.expiring_unused as Array<{ balance_id: string; units: string }>) {
              const balance = row.balances.find((b) => b.id === unused.balance_id);
              expect(balance, `${label}: ${JSON.stringify(unused)}`).toBeDefined();
              expect(hundredths(unused.units)).toBeGreaterThan(0n);
              expect(hundredths(unused.units)).toBeLessThanOrEqual(hundredths(balance!.remaining));
            }
            if (/^0(\.0+)?$/.test(forecast.burn_per_day)) expect(forecast.days_until_empty, label).toBeNull();
          }
          // what the balances hold is what the open holds reserve, per credit type
          const open = await expectStatus('GET', `/v1/holds?client=${client}&status=held&limit=500`, undefined, [200]);
          for (const row of live.body.data as Array<{ credit_type: { code: string }; held: string }>) {
            const reserved = (open.body.data as Array<{ credit_type: { code: string }; quantity: string }>)
              .filter((h) => h.credit_type.code === row.credit_type.code)
              .reduce((sum, h) => sum + hundredths(h.quantity), 0n);
            expect(reserved, `${label}: held of ${row.credit_type.code}`).toBe(hundredths(row.held));
          }
        };
        /**
         * The step's last change sent again, as a retry after a lost answer: the same answer where the route keeps
         * one (a key, a body's idempotency_key, a closing or a reversal made once), and in every case nothing changes.
         */
        const sentAgain = async (sent: NonNullable<typeof lastChange>, label: string) => {
          const counts = async () =>
            Promise.all(
              ['ledger_entries', 'invoices', 'consumptions', 'holds', 'subscriptions', 'balances'].map(async (t) =>
                Number((await app.database.db(t).count({ n: '*' }))[0]!.n),
              ),
            );
          const before = await counts();
          const live = await expectStatus('GET', `/v1/clients/${client}/balances`, undefined, [200]);
          const again = await call(sent.method, sent.path, sent.body, sent.key);
          const kind = `again ${sent.method} ${sent.path.replace(/\?.*$/, '').replace(/[0-9a-f-]{36}/g, '{id}')}`;
          answered.set(kind, (answered.get(kind) ?? 0) + 1);
          // a state change asked twice (cancel, void, an unfreeze after its end) may answer 409 the second time
          const same = again.status === sent.status || (sent.status < 300 && again.status === 409);
          expect(same, `${label}, sent again: ${sent.status} then ${again.status} ${again.text}`).toBe(true);
          expect(await counts(), `${label}, sent again: rows`).toEqual(before);
          const after = await expectStatus('GET', `/v1/clients/${client}/balances`, undefined, [200]);
          expect(after.body.data, `${label}, sent again: balances`).toEqual(live.body.data);
        };
        const moveClock = async (minutes: number) => {
          clock += minutes * 60_000;
          await expectStatus('PUT', '/v1/admin/clock', { now: new Date(clock).toISOString() }, [200]);
        };
        const steps_ = [{ kind: 'buy', pkg: 0, onPayment: false } as Step, ...steps];
        for (const [index, s] of steps_.entries()) {
          const key = `r${run}-${index}`;
          stepKey = key;
          lastChange = undefined;
          switch (s.kind) {
            case 'buy': {
              const body = { client, package: packages[s.pkg], ...(s.onPayment ? { activation: 'on_payment' } : {}) };
              const res = await expectStatus('POST', '/v1/subscriptions', body, [201]);
              subscriptions.push(res.body.id);
              if (res.body.invoice) invoices.push(res.body.invoice.id);
              break;
            }
            case 'pay': {
              if (invoices.length === 0) break;
              // 409: void (its pending subscription's period ended unpaid)
              await expectStatus(
                'POST',
                `/v1/invoices/${invoices[s.pick % invoices.length]}/pay`,
                undefined,
                [200, 409],
              );
              break;
            }
            case 'use': {
              const use = {
                client,
                credit_type: s.v ? codes.v : codes.u,
                quantity: s.v ? vQuantity(s.quantity) : s.quantity,
                idempotency_key: key,
                mode: s.partial ? 'partial' : 'reject',
                ...(s.branch ? { metadata: { branch: s.branch } } : {}),
              };
              // the quote, just before, answers what the use then takes (DOMAIN.md "Quote": the same allocation)
              const quote = await expectStatus('POST', '/v1/consumptions/quote', use, [200]);
              const res = await expectStatus('POST', '/v1/consumptions?wait=true', use, [200, 422]);
              const taken = (body: { allocations: Array<{ balance_id: string; amount: string }> }) =>
                body.allocations.map((a) => [a.balance_id, a.amount]);
              if (res.status === 422) expect(quote.body.would, `${JSON.stringify(s)}: ${res.text}`).toBe('reject');
              else {
                const { applied, shortfall, remaining } = res.body;
                expect({ ...quote.body, allocations: taken(quote.body) }, `${JSON.stringify(s)}`).toMatchObject({
                  applied,
                  shortfall,
                  remaining,
                  allocations: taken(res.body),
                });
              }
              if (res.status === 200 && res.body.status !== 'rejected') consumptions.push(res.body.id);
              break;
            }
            case 'hold': {
              const res = await expectStatus(
                'POST',
                '/v1/holds?wait=true',
                {
                  client,
                  credit_type: s.v ? codes.v : codes.u,
                  quantity: s.v ? vQuantity(s.quantity) : s.quantity,
                  idempotency_key: key,
                  expires_in_seconds: s.minutes * 60,
                  ...(s.branch ? { metadata: { branch: s.branch } } : {}),
                },
                [200, 201, 422],
              );
              if (res.status !== 422) holds.push({ id: res.body.id, quantity: s.quantity, v: s.v });
              break;
            }
            case 'capture': {
              if (holds.length === 0) break;
              const h = holds[s.pick % holds.length]!;
              const units = s.part === 0 ? undefined : Math.max(1, Math.floor((h.quantity * s.part) / 4));
              const body = units === undefined ? {} : { quantity: h.v ? vQuantity(units) : units };
              // 409: released, lapsed or captured another way before
              await expectStatus('POST', `/v1/holds/${h.id}/capture?wait=true`, body, [200, 409]);
              break;
            }
            case 'release': {
              if (holds.length === 0) break;
              const h = holds[s.pick % holds.length]!;
              await expectStatus('POST', `/v1/holds/${h.id}/release?wait=true`, undefined, [200, 409]);
              break;
            }
            case 'reverse': {
              if (consumptions.length === 0) break;
              const id = consumptions[s.pick % consumptions.length]!;
              await expectStatus('POST', `/v1/consumptions/${id}/reverse?wait=true`, {}, [200, 409]);
              break;
            }
            case 'freeze': {
              const id = subscriptions[s.pick % subscriptions.length]!;
              // 409: not active (frozen, expired); 422: the package allows no (more) freezing this period
              const res = await expectStatus(
                'POST',
                `/v1/subscriptions/${id}/freeze`,
                { days: s.days },
                [200, 409, 422],
              );
              if (res.status === 200) frozen.push(id);
              if (res.status === 200 && s.thawAfterHours !== null) {
                // lifted by hand some hours later (409 when its frozen_until came first: the read lifted it)
                await look(`step ${index} ${JSON.stringify(s)}, frozen`);
                await moveClock(s.thawAfterHours * 60);
                await expectStatus('POST', `/v1/subscriptions/${id}/unfreeze`, undefined, [200, 409]);
              }
              break;
            }
            case 'unfreeze': {
              // one frozen here (409 once its frozen_until has passed and the sweep or a read lifted it)
              if (frozen.length === 0) break;
              const id = frozen[s.pick % frozen.length]!;
              await expectStatus('POST', `/v1/subscriptions/${id}/unfreeze`, undefined, [200, 409]);
              break;
            }
            case 'renew': {
              const id = subscriptions[s.pick % subscriptions.length]!;
              // 409: not renewable now (cancelled, expired, frozen, renewed ahead already…)
              await expectStatus('POST', `/v1/subscriptions/${id}/renew?wait=true`, undefined, [200, 409, 422]);
              break;
            }
            case 'recharge': {
              const id = subscriptions[s.pick % subscriptions.length]!;
              await expectStatus('POST', `/v1/subscriptions/${id}/recharge?wait=true`, undefined, [200, 409, 422]);
              break;
            }
            case 'cancel': {
              const id = subscriptions[s.pick % subscriptions.length]!;
              const at = s.now ? 'now' : 'period_end';
              await expectStatus('POST', `/v1/subscriptions/${id}/cancel`, { at }, [200, 409, 422]);
              break;
            }
            case 'suspend': {
              const id = subscriptions[s.pick % subscriptions.length]!;
              const status = s.resume ? 'active' : 'suspended';
              await expectStatus('PATCH', `/v1/subscriptions/${id}`, { status }, [200, 409, 422]);
              break;
            }
            case 'grant': {
              // an operator's units, no subscription (source adjustment), expiring in `days`
              const body = {
                credit_type: s.v ? codes.v : codes.u,
                units: s.v ? vQuantity(s.units) : s.units,
                expires_at: new Date(clock + s.days * 86_400_000).toISOString(),
                reason: 'property',
              };
              await expectStatus('POST', `/v1/clients/${client}/grants`, body, [201]);
              break;
            }
            case 'adjust': {
              // a balance of the last live answer: 201, or 409/422 when it is not live or would go below zero
              const ids = lastBalances.map((b) => b.id);
              if (ids.length === 0) break;
              const body = { delta: s.delta, reason: 'property' };
              await expectStatus('POST', `/v1/balances/${ids[s.pick % ids.length]}/adjustments`, body, [201, 409, 422]);
              break;
            }
            case 'voidInvoice': {
              if (invoices.length === 0) break;
              const body = { reason: 'property' };
              await expectStatus('POST', `/v1/invoices/${invoices[s.pick % invoices.length]}/void`, body, [200, 409]);
              break;
            }
            case 'nightly': {
              const res = await expectStatus('POST', '/v1/admin/nightly-runs', {}, [200]);
              for (const phase of res.body.phases) expect(phase.failed, JSON.stringify(phase)).toEqual([]);
              break;
            }
            case 'advance': {
              await moveClock(s.minutes);
              break;
            }
          }
          await look(`step ${index} ${JSON.stringify(s)}`);
          if (lastChange) await sentAgain(lastChange, `step ${index} ${JSON.stringify(s)}`);
        }
        // every ledger invariant over the store (once a history: a verify reads it all, and a broken invariant stays
        // broken — the step that broke it is among this history's)
        const verify = await expectStatus('POST', '/v1/admin/verify', undefined, [200]);
        expect(verify.body.violations, JSON.stringify(steps_)).toEqual([]);
        // the history's net use, grouped by day, week, month and branch: every grouping sums to the same total
        const range = `from=${new Date(started).toISOString()}&to=${new Date(clock).toISOString()}`;
        for (const code of [codes.u, codes.v]) {
          const totals = new Map<string, string>();
          for (const by of code === codes.u ? ['day', 'week', 'month', 'branch'] : ['day', 'week', 'month']) {
            const usage = await expectStatus(
              'GET',
              `/v1/clients/${client}/usage?credit_type=${code}&group_by=${by}&${range}`,
              undefined,
              [200],
            );
            const rows = usage.body.data as Array<{ key: string; quantity: string }>;
            const sum = rows.reduce((total, r) => total + hundredths(r.quantity), 0n);
            totals.set(by, String(sum));
          }
          expect(new Set(totals.values()).size, `${code}: ${JSON.stringify([...totals])}`).toBe(1);
        }
        await reportsAgree(client, `${new Date(started).toISOString()}`, `${new Date(clock).toISOString()}`, steps_);
        for (const [at, then] of seen) {
          const asOf = await expectStatus('GET', `/v1/clients/${client}/balances?as_of=${at}`, undefined, [200]);
          expect(asOf.body.data, `as_of ${at}, read back after the history ${JSON.stringify(steps_)}`).toEqual(then);
        }
        // the next history starts a day later: this one's holds and freezes end in their own time meanwhile
        await moveClock(24 * 60);
      }),
      { numRuns: HISTORIES, endOnFailure: true },
    );
    // every operation took effect somewhere in the histories, not only its refusals, and the ledger saw every kind
    // of change the reads replay: the suite's seed is checked so (an edit cannot make it vacuous unnoticed); an
    // exploring run (FC_SEED=random) may draw histories without one or another
    if (process.env.FC_SEED === 'random') return;
    for (const done of [
      'POST /v1/consumptions 200',
      'POST /v1/holds 200',
      'POST /v1/holds/{id}/capture 200',
      'POST /v1/holds/{id}/release 200',
      'POST /v1/consumptions/{id}/reverse 200',
      'POST /v1/subscriptions/{id}/freeze 200',
      'POST /v1/subscriptions/{id}/unfreeze 200',
      'POST /v1/invoices/{id}/pay 200',
      'POST /v1/clients/{id}/grants 201',
      'POST /v1/balances/{id}/adjustments 201',
      'POST /v1/invoices/{id}/void 200',
    ])
      expect(answered.get(done) ?? 0, `${done} in ${JSON.stringify([...answered])}`).toBeGreaterThan(0);
    const kinds = (await app.database.db('ledger_entries').distinct('kind')).map((r: { kind: string }) => r.kind);
    expect(kinds.sort()).toEqual([
      'adjust',
      'consume',
      'expire',
      'extend',
      'grant',
      'hold',
      'recharge',
      'release',
      'reverse',
      'rollover',
      'void',
    ]);
  }, 240_000);
});
