import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnyRoute } from '../../src/http/route.js';
import { createHttpApp } from '../../src/http/server.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/** Every table the service writes, counted before and after the hostile requests. */
const TABLES = [
  'credit_types',
  'packages',
  'package_items',
  'clients',
  'subscriptions',
  'subscription_items',
  'subscription_periods',
  'balances',
  'ledger_entries',
  'consumptions',
  'consumption_allocations',
  'invoices',
  'invoice_lines',
  'invoice_counters',
  'recharges',
  'accepted_jobs',
  'idempotency_records',
  'outbox_events',
  'webhook_endpoints',
  'webhook_deliveries',
  'report_runs',
  'api_keys',
];
const CODES = [
  'validation_failed',
  'not_found',
  'conflict',
  'idempotency_conflict',
  'insufficient_balance',
  'payload_too_large',
  'forbidden',
  'unauthorized',
];

let app: TestApp;
let ids: { client: string; subscription: string; balance: string; invoice: string };

beforeAll(async () => {
  app = await startTestApp({ env: { RATE_LIMIT_PER_MINUTE: '1000000', BODY_LIMIT: '2mb' } });
  const sms = await createCreditType(app);
  const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
  const client = await createClient(app);
  const sub = await subscribe(app, client.id, pkg.code);
  // real ids too, so that hostile bodies reach the validation of routes that find their target
  ids = { client: client.id, subscription: sub.id, balance: sub.balances[0]!.id, invoice: sub.invoice.id };
});
afterAll(async () => {
  await app.close();
});

async function counts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of TABLES) {
    const [row] = (await app.database.db(table).count({ n: '*' })) as Array<{ n: bigint }>;
    out[table] = Number(row!.n);
  }
  return out;
}

const hostileScalar: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null,
    true,
    false,
    0,
    -1,
    1e308,
    -1e308,
    Number.MAX_SAFE_INTEGER + 2,
    1e-320,
    '',
    ' ',
    'NaN',
    'Infinity',
    '-0',
    '0x10',
    '1e3',
    '١٢٣',
  ),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map((b) => b.toString()),
  fc.double({ noNaN: true }),
  // far above every field's limit; at 1 MB the file took 83 s against 5 s (the API parses each body), and found no more
  fc.constant('x'.repeat(100_000)),
  fc.constant('=cmd|" /C calc"!A0'),
  fc.constant("'; DROP TABLE balances; --"),
  fc.constant('\u202e\u0000\ud800'),
);

const deep = (levels: number, array: boolean): unknown => {
  let value: unknown = 1;
  for (let i = 0; i < levels; i += 1) value = array ? [value] : { a: value };
  return value;
};

/** A hostile value for one field: wrong types, huge numbers, odd unicode, deep nesting, poisoned keys. */
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileScalar },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.constantFrom(deep(200, true), deep(200, false)) },
  { weight: 1, arbitrary: fc.constant(JSON.parse('{"__proto__":{"polluted":true}}') as unknown) },
  { weight: 1, arbitrary: fc.array(hostileScalar, { maxLength: 5 }) },
);

const FIELDS = [
  'client',
  'credit_type',
  'quantity',
  'idempotency_key',
  'code',
  'name',
  'unit',
  'decimals',
  'price',
  'currency',
  'validity',
  'items',
  'external_ref',
  'email',
  'metadata',
  'package',
  'starts_at',
  'mode',
  'occurred_at',
  'delta',
  'reason',
  'url',
  'events',
  'secret',
  'at',
  'type',
  'params',
  'format',
  'now',
  'as_of',
  'units',
];

/**
 * A body that can never be valid: not an object, or an object with a key no schema accepts (every
 * body schema is strict), plus hostile values in the fields the routes know.
 */
const hostileBody: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 1,
    arbitrary: fc
      .oneof(hostileScalar, fc.array(hostileValue, { maxLength: 3 }))
      .map((v) => JSON.stringify(v) ?? 'null'),
  },
  {
    weight: 6,
    arbitrary: fc
      .record({
        fields: fc.dictionary(fc.constantFrom(...FIELDS), hostileValue, { maxKeys: 6 }),
        poison: fc.constantFrom('__proto__', 'constructor', 'prototype', 'x_unexpected', '$where', ''),
        poisonValue: hostileValue,
      })
      .map(({ fields, poison, poisonValue }) => {
        const text = JSON.stringify(fields);
        // written as text so that a "__proto__" key reaches the server as an own key, as an attacker would send it
        const extra = `${JSON.stringify(poison)}:${JSON.stringify(poisonValue) ?? 'null'}`;
        return text === '{}' ? `{${extra}}` : `${text.slice(0, -1)},${extra}}`;
      }),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '{',
      '{"a":',
      '[1,2',
      '\u0000',
      'not json',
      `{"items":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
      `{"metadata":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}`,
    ),
  },
);

const idFor = (route: AnyRoute, pick: number): string => {
  const real = route.path.includes('/subscriptions/')
    ? ids.subscription
    : route.path.includes('/balances/')
      ? ids.balance
      : route.path.includes('/invoices/')
        ? ids.invoice
        : route.path.includes('/clients/')
          ? ids.client
          : undefined;
  const options = [
    real ?? '00000000-0000-4000-8000-000000000000',
    'not-an-id',
    '../../etc/passwd',
    '%00',
    'x'.repeat(300),
  ];
  return encodeURIComponent(options[pick % options.length]!);
};

describe('hostile input to every write endpoint', () => {
  it('answers 4xx problem+json and changes nothing', { timeout: 300_000 }, async () => {
    const { routes } = createHttpApp(app.ctx);
    const writes = (routes as AnyRoute[]).filter((r) => r.method !== 'get' && r.access !== 'public');
    expect(writes.length).toBeGreaterThan(15);
    const before = await counts();
    const seen = new Map<string, number>();
    for (const route of writes) {
      await fc.assert(
        fc.asyncProperty(
          hostileBody,
          fc.nat(),
          fc.constantFrom('', '?wait=true', '?wait=maybe', '?limit=-1'),
          async (body, pick, query) => {
            const url = route.path.replace(/\{\w+\}/g, () => idFor(route, pick)) + query;
            const res = await app.request(route.method.toUpperCase(), url, {
              raw: body,
              headers: { 'content-type': 'application/json' },
            });
            const label = `${route.method.toUpperCase()} ${route.path} ${body.slice(0, 120)}`;
            expect(res.status, label).toBeGreaterThanOrEqual(400);
            expect(res.status, label).toBeLessThan(500);
            expect(res.headers.get('content-type'), label).toMatch(/^application\/problem\+json/);
            expect(CODES, label).toContain(res.body.code);
            expect(res.text, label).not.toMatch(/\bat \w+ \(|node_modules|Error:/);
            seen.set(res.body.code, (seen.get(res.body.code) ?? 0) + 1);
          },
        ),
        { numRuns: 25 },
      );
    }
    expect(await counts()).toEqual(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(seen.get('validation_failed')).toBeGreaterThan(0);
  });
});
