import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CREDIT_TYPE_TTL_MS } from '../../src/services/ref-resolver.js';
import { startSibling, startTestApp, type TestApp, type TestResponse } from '../helpers/app.js';
import { closeVerified, httpSteps } from '../helpers/http-steps.js';

/**
 * An audit of the catalogue and of access over HTTP (real Postgres and Redis, a moved clock): credit types,
 * packages and their changes after sale, clients, cursor pagination of every list, API keys and their scopes,
 * revocation and the rate limit, and the problem+json of every refusal. Expected values are worked out by hand
 * in the comments; BUSINESS_TZ is UTC.
 */
let app: TestApp;
/** The clock of the in-process caches (API keys, credit types) and of the rate-limit minutes: moved by the tests. */
let tick = Date.parse('2026-03-01T00:00:30.000Z');
beforeAll(async () => {
  app = await startTestApp({
    roles: ['api', 'worker'],
    now: '2026-03-01T00:00:00.000Z',
    env: { WEBHOOK_ALLOW_PRIVATE: 'true' },
    ticks: () => tick,
  });
});
afterAll(async () => {
  await closeVerified(app);
});

const { call, ok, clockTo } = httpSteps(() => app);

const expectProblem = (res: TestResponse, status: number, code: string) => {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ type: `urn:credits:problem:${code}`, status, code });
  expect(typeof res.body.title).toBe('string');
  expect(res.body.title.length).toBeGreaterThan(0);
  expect(typeof res.body.detail).toBe('string');
  expect(res.body.detail.length).toBeGreaterThan(0);
  if (status === 422) expect(Array.isArray(res.body.errors)).toBe(true);
};
const fields = (res: TestResponse): string[] => (res.body.errors ?? []).map((e: { field: string }) => e.field);

/** Every row of a list, page by page with `?cursor=`, each page checked for the contract's shape. */
async function walk(path: string, limit: number): Promise<Array<Record<string, unknown>>> {
  const rows: Array<Record<string, unknown>> = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 100; pages += 1) {
    const sep = path.includes('?') ? '&' : '?';
    const url = `${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const body = await ok('GET', url);
    expect(Object.keys(body).sort(), url).toEqual(['data', 'next_cursor']);
    expect(body.data.length, url).toBeLessThanOrEqual(limit);
    rows.push(...body.data);
    cursor = body.next_cursor;
    if (cursor === null) return rows;
    expect(typeof cursor).toBe('string');
  }
  throw new Error(`${path}: more than 100 pages`);
}

describe('credit types: create, get, list, patch', () => {
  it('creates with the defaults of DOMAIN.md and reads it by id and by code', async () => {
    const created = await ok('POST', '/v1/credit-types', { code: 'ct-a', name: 'Texts', unit: 'message' }, 201);
    expect(created).toEqual({
      id: expect.any(String),
      code: 'ct-a',
      name: 'Texts',
      unit: 'message',
      decimals: 0,
      archived: false,
      dimensions: [],
      created_at: '2026-03-01T00:00:00.000Z',
      updated_at: '2026-03-01T00:00:00.000Z',
    });
    expect(await ok('GET', `/v1/credit-types/${created.id}`)).toEqual(created);
    expect(await ok('GET', '/v1/credit-types/ct-a')).toEqual(created);
    expectProblem(await call('GET', '/v1/credit-types/ct-none'), 404, 'not_found');
  });

  it.each([
    ['decimals 7', { decimals: 7 }, 'decimals'],
    ['decimals -1', { decimals: -1 }, 'decimals'],
    ['decimals 1.5', { decimals: 1.5 }, 'decimals'],
    ['decimals as text', { decimals: '2' }, 'decimals'],
    ['an empty unit', { unit: ' ' }, 'unit'],
    ['an empty name', { name: '' }, 'name'],
    ['an upper-case code', { code: 'CT-B' }, 'code'],
    ['6 dimensions', { dimensions: ['a', 'b', 'c', 'd', 'e', 'f'] }, 'dimensions'],
    ['a dimension twice', { dimensions: ['branch', 'branch'] }, 'dimensions'],
    ['an unknown field', { colour: 'red' }, '(body)'],
  ])('refuses %s with 422 validation_failed naming the field, and writes nothing', async (_, extra, field) => {
    const before = (await walk('/v1/credit-types', 500)).length;
    const res = await call('POST', '/v1/credit-types', { code: 'ct-b', name: 'B', unit: 'call', ...extra });
    expectProblem(res, 422, 'validation_failed');
    expect(fields(res).join(' ')).toContain(field === '(body)' ? '' : field);
    expect((await walk('/v1/credit-types', 500)).length).toBe(before);
  });

  it('takes 5 dimensions and 6 decimals; a taken code is 409 conflict and changes nothing', async () => {
    const made = await ok(
      'POST',
      '/v1/credit-types',
      { code: 'ct-c', name: 'Hours', unit: 'hour', decimals: 6, dimensions: ['a', 'b', 'c', 'd', 'e'] },
      201,
    );
    expect(made).toMatchObject({ decimals: 6, dimensions: ['a', 'b', 'c', 'd', 'e'] });
    const again = await call('POST', '/v1/credit-types', { code: 'ct-c', name: 'Other', unit: 'minute' });
    expectProblem(again, 409, 'conflict');
    expect(await ok('GET', '/v1/credit-types/ct-c')).toEqual(made);
  });

  it('PATCH changes name, unit, dimensions and archived; code and decimals never change (422)', async () => {
    const made = await ok('POST', '/v1/credit-types', { code: 'ct-d', name: 'D', unit: 'page', decimals: 2 }, 201);
    await clockTo('2026-03-01T01:00:00.000Z');
    const patched = await ok('PATCH', '/v1/credit-types/ct-d', { name: 'Pages', unit: 'sheet', dimensions: ['desk'] });
    expect(patched).toEqual({
      ...made,
      name: 'Pages',
      unit: 'sheet',
      dimensions: ['desk'],
      updated_at: '2026-03-01T01:00:00.000Z',
    });
    // the refusal names the field that cannot change, and why
    const decimals = await call('PATCH', '/v1/credit-types/ct-d', { decimals: 3 });
    expectProblem(decimals, 422, 'validation_failed');
    expect(decimals.body.errors).toEqual([{ field: 'decimals', message: expect.stringMatching(/^never changes: /) }]);
    const code = await call('PATCH', '/v1/credit-types/ct-d', { code: 'ct-e', name: 'E' });
    expectProblem(code, 422, 'validation_failed');
    expect(code.body.errors).toEqual([{ field: 'code', message: expect.stringMatching(/^never changes: /) }]);
    for (const body of [{}, { dimensions: ['a', 'b', 'c', 'd', 'e', 'f'] }, { colour: 'red' }]) {
      expectProblem(await call('PATCH', '/v1/credit-types/ct-d', body), 422, 'validation_failed');
    }
    expectProblem(await call('PATCH', '/v1/credit-types/ct-none', { name: 'x' }), 404, 'not_found');
    expect(await ok('GET', `/v1/credit-types/${made.id}`)).toEqual(patched);
    await clockTo('2026-03-01T00:00:00.000Z');
  });

  it('a unit renamed by PATCH is the unit every answer names afterwards (consumptions, quote, forecast)', async () => {
    await ok('POST', '/v1/credit-types', { code: 'ct-u', name: 'U', unit: 'message' }, 201);
    await ok('POST', '/v1/clients', { external_ref: 'cu', name: 'Client U' }, 201);
    await ok(
      'POST',
      '/v1/packages',
      {
        code: 'pk-u',
        name: 'U',
        price: 100,
        currency: 'USD',
        validity: { count: 1, unit: 'month' },
        items: [{ credit_type: 'ct-u', units: 10 }],
      },
      201,
    );
    await ok('POST', '/v1/subscriptions', { client: 'cu', package: 'pk-u' }, 201);
    const used = await ok('POST', '/v1/consumptions?wait=true', {
      client: 'cu',
      credit_type: 'ct-u',
      quantity: 3,
      idempotency_key: 'u-1',
    });
    // read once with the old unit: whatever remembers it has now seen it
    expect((await ok('GET', `/v1/consumptions/${used.id}`)).credit_type.unit).toBe('message');
    const quote = { client: 'cu', credit_type: 'ct-u', quantity: 1 };
    expect((await ok('POST', '/v1/consumptions/quote', quote)).credit_type.unit).toBe('message');
    expect((await ok('GET', '/v1/clients/cu/forecast?credit_type=ct-u')).credit_type.unit).toBe('message');

    await ok('PATCH', '/v1/credit-types/ct-u', { unit: 'text' });
    expect((await ok('GET', '/v1/clients/cu/balances')).data[0].credit_type.unit).toBe('text');
    expect((await ok('GET', `/v1/consumptions/${used.id}`)).credit_type.unit).toBe('text');
    expect((await ok('POST', '/v1/consumptions/quote', quote)).credit_type.unit).toBe('text');
    expect((await ok('GET', '/v1/clients/cu/forecast?credit_type=ct-u')).credit_type.unit).toBe('text');
    const next = await ok('POST', '/v1/consumptions?wait=true', {
      client: 'cu',
      credit_type: 'ct-u',
      quantity: 1,
      idempotency_key: 'u-2',
    });
    expect(next.remaining).toBe('6'); // 10 − 3 − 1
  });

  it('another process names the renamed unit once it has remembered the old one for CREDIT_TYPE_TTL_MS', async () => {
    const other = await startSibling(app, ['api']);
    try {
      const there = (path: string) =>
        fetch(`${other.baseUrl}${path}`, { headers: { authorization: `Bearer ${app.keys.read}` } }).then(
          async (r) => (await r.json()) as { credit_type: { unit: string } },
        );
      const used = await ok('GET', '/v1/consumptions?client=cu&idempotency_key=u-1');
      const path = `/v1/consumptions/${used.data[0].id}`;
      expect((await there(path)).credit_type.unit).toBe('text');
      await ok('PATCH', '/v1/credit-types/ct-u', { unit: 'sms' });
      expect((await ok('GET', path)).credit_type.unit).toBe('sms');
      // the other process remembered "text" at `tick`; it reads again once CREDIT_TYPE_TTL_MS has passed
      tick += CREDIT_TYPE_TTL_MS - 1;
      expect((await there(path)).credit_type.unit).toBe('text');
      tick += 1;
      expect((await there(path)).credit_type.unit).toBe('sms');
    } finally {
      await other.stop();
    }
  });
});

describe('packages: items, defaults, validation', () => {
  const body = (code: string, extra: Record<string, unknown> = {}) => ({
    code,
    name: code,
    price: 2500,
    currency: 'EUR',
    validity: { count: 1, unit: 'month' },
    items: [
      { credit_type: 'pk-sms', units: 100 },
      { credit_type: 'pk-min', units: '2.5' },
    ],
    ...extra,
  });

  it('creates with the defaults of DOMAIN.md: priority 50, recharge_price = price, rollover none, active', async () => {
    await ok('POST', '/v1/credit-types', { code: 'pk-sms', name: 'SMS', unit: 'message' }, 201);
    await ok('POST', '/v1/credit-types', { code: 'pk-min', name: 'Minutes', unit: 'minute', decimals: 2 }, 201);
    const made = await ok('POST', '/v1/packages', body('pk-a'), 201);
    expect(made).toMatchObject({
      code: 'pk-a',
      price: 2500,
      currency: 'EUR',
      validity: { count: 1, unit: 'month', calendar: 'gregory' },
      recharge_price: 2500,
      rollover: { policy: 'none' },
      auto_renew: false,
      priority: 50,
      status: 'active',
    });
    expect(
      made.items.map((i: { credit_type: { code: string }; units: string }) => [i.credit_type.code, i.units]),
    ).toEqual([
      ['pk-sms', '100'],
      ['pk-min', '2.5'],
    ]);
    expect(await ok('GET', `/v1/packages/${made.id}`)).toEqual(made);
    expect(await ok('GET', '/v1/packages/pk-a')).toEqual(made);
    const edges = await ok('POST', '/v1/packages', body('pk-b', { priority: 0, auto_renew: true }), 201);
    expect(edges).toMatchObject({ priority: 0, auto_renew: true });
    expect(await ok('POST', '/v1/packages', body('pk-c', { priority: 100, recharge_price: 0 }), 201)).toMatchObject({
      priority: 100,
      recharge_price: 0,
    });
    expectProblem(await call('POST', '/v1/packages', body('pk-a')), 409, 'conflict');
  });

  it.each([
    ['no items', { items: [] }, 'items'],
    [
      'a credit type twice',
      {
        items: [
          { credit_type: 'pk-sms', units: 1 },
          { credit_type: 'pk-sms', units: 2 },
        ],
      },
      'items.1.credit_type',
    ],
    ['an unknown credit type', { items: [{ credit_type: 'pk-none', units: 1 }] }, 'items.0.credit_type'],
    ['3 decimals of a 2-decimal type', { items: [{ credit_type: 'pk-min', units: '0.125' }] }, 'items.0.units'],
    ['zero units', { items: [{ credit_type: 'pk-sms', units: 0 }] }, 'items.0.units'],
    ['units above 10^15', { items: [{ credit_type: 'pk-sms', units: '1000000000000001' }] }, 'items.0.units'],
    ['negative units', { items: [{ credit_type: 'pk-sms', units: -5 }] }, 'items.0.units'],
    ['priority 101', { priority: 101 }, 'priority'],
    ['priority -1', { priority: -1 }, 'priority'],
    ['priority 2.5', { priority: 2.5 }, 'priority'],
    ['a negative price', { price: -1 }, 'price'],
    ['a price with decimals', { price: 12.5 }, 'price'],
    ['a lower-case currency', { currency: 'eur' }, 'currency'],
    ['a currency ISO 4217 does not know', { currency: 'ABC' }, 'currency'],
    ['validity in hours', { validity: { count: 1, unit: 'hour' } }, 'validity.unit'],
    ['validity of 0 months', { validity: { count: 0, unit: 'month' } }, 'validity.count'],
    ['status on create', { status: 'archived' }, '(body)'],
    ['a rollover percent of 0', { rollover: { policy: 'percent', percent: 0 } }, 'rollover.percent'],
  ])('refuses %s with 422 naming the field, and writes nothing', async (_, extra, field) => {
    const before = (await walk('/v1/packages', 500)).length;
    const res = await call('POST', '/v1/packages', body('pk-bad', extra));
    expectProblem(res, 422, 'validation_failed');
    if (field !== '(body)') expect(fields(res)).toContain(field);
    expect((await walk('/v1/packages', 500)).length).toBe(before);
    expectProblem(await call('GET', '/v1/packages/pk-bad'), 404, 'not_found');
  });

  it('the same credit type by id and by code is one credit type twice (422)', async () => {
    const sms = await ok('GET', '/v1/credit-types/pk-sms');
    const res = await call(
      'POST',
      '/v1/packages',
      body('pk-twice', {
        items: [
          { credit_type: sms.id, units: 1 },
          { credit_type: 'pk-sms', units: 2 },
        ],
      }),
    );
    expectProblem(res, 422, 'validation_failed');
    expect(fields(res)).toEqual(['items.1.credit_type']);
  });

  it('PATCH refuses what POST refuses, and 404 for an unknown package; a refused PATCH changes nothing', async () => {
    const before = await ok('GET', '/v1/packages/pk-a');
    const twice = [
      { credit_type: 'pk-sms', units: 1 },
      { credit_type: 'pk-sms', units: 1 },
    ];
    for (const [patch, field] of [
      [{ priority: 101 }, 'priority'],
      [{ items: [] }, 'items'],
      [{ items: twice }, 'items.1.credit_type'],
      [{ currency: 'USD', price: 1 }, 'currency'],
      [{ code: 'pk-z' }, 'code'],
      [{ status: 'deleted' }, 'status'],
      [{}, '(body)'],
    ] as const) {
      const res = await call('PATCH', '/v1/packages/pk-a', patch);
      expectProblem(res, 422, 'validation_failed');
      expect(fields(res)).toEqual([field]);
    }
    expectProblem(await call('PATCH', '/v1/packages/pk-none', { priority: 1 }), 404, 'not_found');
    expect(await ok('GET', '/v1/packages/pk-a')).toEqual(before);
  });
});

describe('packages: fees and units changed after sale (DOMAIN.md "Fees", "Renew")', () => {
  type Balance = { credit_type: { code: string }; granted: string; valid_from: string; source: string };
  const grantsFrom = async (id: string, from: string) =>
    ((await ok('GET', `/v1/subscriptions/${id}`)).balances as Balance[])
      .filter((b) => b.valid_from === from && b.source === 'package')
      .map((b) => [b.credit_type.code, b.granted])
      .sort();
  const items = (s: { items: Array<{ credit_type: { code: string }; units: string }> }) =>
    s.items.map((i) => [i.credit_type.code, i.units]).sort();

  it('existing subscriptions keep their item snapshot and own price; renewals follow the package price', async () => {
    await clockTo('2026-03-01T00:00:00.000Z');
    await ok('POST', '/v1/clients', { external_ref: 'cf', name: 'Client F' }, 201);
    await ok(
      'POST',
      '/v1/packages',
      {
        code: 'pk-f',
        name: 'F',
        price: 1000,
        currency: 'USD',
        validity: { count: 1, unit: 'month' },
        items: [
          { credit_type: 'pk-sms', units: 100 },
          { credit_type: 'pk-min', units: '2.5' },
        ],
      },
      201,
    );
    const s1 = await ok('POST', '/v1/subscriptions', { client: 'cf', package: 'pk-f' }, 201);
    const s2 = await ok('POST', '/v1/subscriptions', { client: 'cf', package: 'pk-f', price: 700 }, 201);
    const s3 = await ok(
      'POST',
      '/v1/subscriptions',
      { client: 'cf', package: 'pk-f', apply_package_changes: true },
      201,
    );
    const s5 = await ok('POST', '/v1/subscriptions', { client: 'cf', package: 'pk-f' }, 201);
    expect([s1.price, s2.price, s3.price]).toEqual([1000, 700, 1000]);
    expect([s1.price_source, s2.price_source]).toEqual(['package', 'subscription']);

    // "Fees and units can be changed later": 1000 → 1200, items 100 sms + 2.5 min → 150 sms
    const patched = await ok('PATCH', '/v1/packages/pk-f', {
      price: 1200,
      items: [{ credit_type: 'pk-sms', units: 150 }],
    });
    expect(patched).toMatchObject({ price: 1200, recharge_price: 1200 });
    expect(items(patched)).toEqual([['pk-sms', '150']]);

    // a new sale gets the package as it is now
    const s4 = await ok('POST', '/v1/subscriptions', { client: 'cf', package: 'pk-f' }, 201);
    expect(s4.price).toBe(1200);
    expect(s4.invoice.total).toBe(1200);
    expect(items(s4)).toEqual([['pk-sms', '150']]);
    expect(await grantsFrom(s4.id, '2026-03-01T00:00:00.000Z')).toEqual([['pk-sms', '150']]);

    // the ones sold before keep their snapshot of items until renewal; their fee is the one they renew at
    const s1now = await ok('GET', `/v1/subscriptions/${s1.id}`);
    expect(items(s1now)).toEqual([
      ['pk-min', '2.5'],
      ['pk-sms', '100'],
    ]);
    expect(s1now.price).toBe(1200);
    expect((await ok('GET', `/v1/subscriptions/${s2.id}`)).price).toBe(700);

    await clockTo('2026-04-01T00:00:00.000Z');
    const renew = (id: string, body: Record<string, unknown> = {}) =>
      ok('POST', `/v1/subscriptions/${id}/renew?wait=true`, body);
    // s1 follows the package price (1200) with its snapshot (100 sms, 2.5 min)
    expect(await renew(s1.id)).toMatchObject({ status: 'renewed', price: 1200, currency: 'USD' });
    expect(await grantsFrom(s1.id, '2026-04-01T00:00:00.000Z')).toEqual([
      ['pk-min', '2.5'],
      ['pk-sms', '100'],
    ]);
    // s2 keeps its own price 700 and its snapshot
    expect(await renew(s2.id)).toMatchObject({ status: 'renewed', price: 700 });
    expect(await grantsFrom(s2.id, '2026-04-01T00:00:00.000Z')).toEqual([
      ['pk-min', '2.5'],
      ['pk-sms', '100'],
    ]);
    // s3 (apply_package_changes) and s5 (asked at renewal) take the package's items now: 150 sms
    expect(await renew(s3.id)).toMatchObject({ status: 'renewed', price: 1200 });
    expect(await grantsFrom(s3.id, '2026-04-01T00:00:00.000Z')).toEqual([['pk-sms', '150']]);
    expect(await renew(s5.id, { apply_package_changes: true })).toMatchObject({ status: 'renewed', price: 1200 });
    expect(await grantsFrom(s5.id, '2026-04-01T00:00:00.000Z')).toEqual([['pk-sms', '150']]);
    expect(items(await ok('GET', `/v1/subscriptions/${s5.id}`))).toEqual([['pk-sms', '150']]);

    const invoices = (await walk('/v1/invoices?client=cf', 500)) as Array<{ kind: string; total: number }>;
    // 5 sales: 1000, 700, 1000, 1000, 1200; 4 renewals: 1200, 700, 1200, 1200
    expect(invoices.map((i) => `${i.kind}:${i.total}`).sort()).toEqual(
      [
        'subscription:1000',
        'subscription:700',
        'subscription:1000',
        'subscription:1000',
        'subscription:1200',
        'renewal:1200',
        'renewal:700',
        'renewal:1200',
        'renewal:1200',
      ].sort(),
    );
  });

  it('an archived package cannot be bought (409, nothing written) but its subscriptions still renew', async () => {
    const archived = await ok('PATCH', '/v1/packages/pk-f', { status: 'archived' });
    expect(archived.status).toBe('archived');
    expect((await ok('GET', '/v1/packages?status=archived')).data.map((p: { code: string }) => p.code)).toContain(
      'pk-f',
    );
    expect((await ok('GET', '/v1/packages?status=active')).data.map((p: { code: string }) => p.code)).not.toContain(
      'pk-f',
    );
    const before = (await walk('/v1/invoices?client=cf', 500)).length;
    const subs = (await walk('/v1/subscriptions?client=cf', 500)).length;
    expectProblem(await call('POST', '/v1/subscriptions', { client: 'cf', package: 'pk-f' }), 409, 'conflict');
    expect((await walk('/v1/invoices?client=cf', 500)).length).toBe(before);
    expect((await walk('/v1/subscriptions?client=cf', 500)).length).toBe(subs);

    const s = (await walk('/v1/subscriptions?client=cf&package=pk-f', 500))[0] as { id: string };
    await clockTo('2026-05-01T00:00:00.000Z');
    const renewed = await ok('POST', `/v1/subscriptions/${s.id}/renew?wait=true`, {});
    expect(renewed).toMatchObject({ status: 'renewed' });
    expect((await walk('/v1/invoices?client=cf', 500)).length).toBe(before + 1);
    // back on sale: active again
    expect((await ok('PATCH', '/v1/packages/pk-f', { status: 'active' })).status).toBe('active');
    await ok('POST', '/v1/subscriptions', { client: 'cf', package: 'pk-f' }, 201);
  });
});

describe('clients: upsert by external_ref, get, list, patch', () => {
  it('POST creates (201), then finds the same external_ref and updates it (200)', async () => {
    const made = await ok('POST', '/v1/clients', { external_ref: 'crm-1', name: 'One', email: 'a@example.com' }, 201);
    expect(made).toMatchObject({ external_ref: 'crm-1', name: 'One', email: 'a@example.com', metadata: {} });
    const again = await ok('POST', '/v1/clients', { external_ref: 'crm-1', name: 'One Ltd' }, 200);
    // email not given: kept
    expect(again).toMatchObject({ id: made.id, name: 'One Ltd', email: 'a@example.com' });
    expect(await ok('GET', `/v1/clients/${made.id}`)).toEqual(again);
    expect(await ok('GET', '/v1/clients/crm-1')).toEqual(again);
    const patched = await ok('PATCH', '/v1/clients/crm-1', { email: null, metadata: { tier: 'gold' } });
    expect(patched).toMatchObject({ id: made.id, name: 'One Ltd', email: null, metadata: { tier: 'gold' } });
    const listed = (await walk('/v1/clients?search=crm-1', 500)) as Array<{ id: string }>;
    expect(listed.map((c) => c.id)).toEqual([made.id]);
  });

  it('refuses bad fields with 422, an unknown client with 404, and an external_ref change by PATCH', async () => {
    const before = (await walk('/v1/clients', 500)).length;
    for (const bad of [
      { name: 'x' },
      { external_ref: '', name: 'x' },
      { external_ref: 'crm-2', name: '' },
      { external_ref: 'crm-2', name: 'x', email: 'not-an-email' },
      { external_ref: 'crm-2', name: 'x', metadata: 'flat' },
      { external_ref: 'crm-2', name: 'x', id: '00000000-0000-4000-8000-000000000000' },
    ]) {
      expectProblem(await call('POST', '/v1/clients', bad), 422, 'validation_failed');
    }
    expect((await walk('/v1/clients', 500)).length).toBe(before);
    expectProblem(await call('GET', '/v1/clients/crm-none'), 404, 'not_found');
    expectProblem(await call('PATCH', '/v1/clients/crm-none', { name: 'x' }), 404, 'not_found');
    expectProblem(await call('PATCH', '/v1/clients/crm-1', { external_ref: 'crm-9' }), 422, 'validation_failed');
    expectProblem(await call('PATCH', '/v1/clients/crm-1', {}), 422, 'validation_failed');
    expect((await ok('GET', '/v1/clients/crm-1')).external_ref).toBe('crm-1');
  });
});

describe('a reference is an id or a code / external_ref (API.md Conventions)', () => {
  it("a UUID-shaped reference that is one row's id and another's code names the row whose id it is", async () => {
    // an external_ref from a sales system is often a UUID: it may equal the id this service gave another client
    const a = await ok('POST', '/v1/clients', { external_ref: 'ref-a', name: 'A' }, 201);
    const b = await ok('POST', '/v1/clients', { external_ref: a.id, name: 'B' }, 201);
    // a change of A moves its row (Postgres writes a new version of it), after B's
    await ok('PATCH', '/v1/clients/ref-a', { name: 'A2' });
    expect((await ok('GET', `/v1/clients/${a.id}`)).id).toBe(a.id);
    expect((await ok('PATCH', `/v1/clients/${a.id}`, { name: 'A3' })).id).toBe(a.id);
    expect((await ok('GET', `/v1/clients/${b.id}`)).name).toBe('B');

    const ct = await ok('POST', '/v1/credit-types', { code: 'ref-ct', name: 'A', unit: 'u' }, 201);
    await ok('POST', '/v1/credit-types', { code: ct.id, name: 'B', unit: 'u' }, 201);
    await ok('PATCH', '/v1/credit-types/ref-ct', { name: 'A2' });
    expect((await ok('GET', `/v1/credit-types/${ct.id}`)).id).toBe(ct.id);
    expect((await ok('PATCH', `/v1/credit-types/${ct.id}`, { name: 'A3' })).id).toBe(ct.id);

    const pkg = (code: string) => ({
      code,
      name: code,
      price: 1,
      currency: 'USD',
      validity: { count: 1, unit: 'day' },
      items: [{ credit_type: 'ref-ct', units: 1 }],
    });
    const p = await ok('POST', '/v1/packages', pkg('ref-pk'), 201);
    await ok('POST', '/v1/packages', pkg(p.id), 201);
    await ok('PATCH', '/v1/packages/ref-pk', { name: 'A2' });
    expect((await ok('GET', `/v1/packages/${p.id}`)).id).toBe(p.id);
    expect((await ok('PATCH', `/v1/packages/${p.id}`, { priority: 7 })).id).toBe(p.id);
  });

  it('an id written in capitals names the same row on every route, a use and a quote as a GET', async () => {
    // RFC 9562: a UUID's hex digits are case-insensitive on input; Postgres reads 'ABC…' as the id 'abc…'
    const c = await ok('POST', '/v1/clients', { external_ref: 'ref-caps', name: 'Caps' }, 201);
    const ct = await ok('POST', '/v1/credit-types', { code: 'ref-caps-ct', name: 'Caps', unit: 'u' }, 201);
    await ok(
      'POST',
      '/v1/packages',
      {
        code: 'ref-caps-pk',
        name: 'Caps',
        price: 1,
        currency: 'USD',
        validity: { count: 1, unit: 'month' },
        items: [{ credit_type: ct.id, units: 10 }],
      },
      201,
    );
    const [client, creditType] = [c.id.toUpperCase(), ct.id.toUpperCase()];
    expect((await ok('GET', `/v1/clients/${client}`)).id).toBe(c.id);
    await ok('POST', '/v1/subscriptions', { client, package: 'ref-caps-pk' }, 201);
    const use = { client, credit_type: creditType, quantity: 3 };
    expect(await ok('POST', '/v1/consumptions/quote', use)).toMatchObject({ would: 'apply', applied: '3' });
    const used = await ok('POST', '/v1/consumptions?wait=true', { ...use, idempotency_key: 'caps-1' });
    expect(used).toMatchObject({ status: 'applied', remaining: '7' });
    // the same use named in lower case is the same use: a repeat, nothing more taken
    const again = await ok('POST', '/v1/consumptions?wait=true', {
      ...use,
      client: c.id,
      credit_type: ct.id,
      idempotency_key: 'caps-1',
    });
    expect(again).toMatchObject({ id: used.id, remaining: '7' });
  });
});

describe('codes and external_refs are unique, also when asked for at once', () => {
  it('5 concurrent creations of one code: one 201, four 409; of one external_ref: one 201, four 200', async () => {
    const five = <T>(make: () => Promise<T>) => Promise.all([make(), make(), make(), make(), make()]);
    const cts = await five(() => call('POST', '/v1/credit-types', { code: 'race-ct', name: 'R', unit: 'u' }));
    expect(cts.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409]);
    for (const r of cts.filter((r) => r.status === 409)) expectProblem(r, 409, 'conflict');
    const pkgs = await five(() =>
      call('POST', '/v1/packages', {
        code: 'race-pk',
        name: 'R',
        price: 1,
        currency: 'USD',
        validity: { count: 1, unit: 'week' },
        items: [{ credit_type: 'race-ct', units: 1 }],
      }),
    );
    expect(pkgs.map((r) => r.status).sort()).toEqual([201, 409, 409, 409, 409]);
    for (const r of pkgs.filter((r) => r.status === 409)) expectProblem(r, 409, 'conflict');
    const clients = await five(() => call('POST', '/v1/clients', { external_ref: 'race-cl', name: 'R' }));
    expect(clients.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 201]);
    expect(new Set(clients.map((r) => r.body.id)).size).toBe(1);
    expect((await walk('/v1/clients?search=race-cl', 500)).length).toBe(1);
  });
});

describe('every list of API.md pages by cursor and answers {data, next_cursor}', () => {
  it('each list route documents ?limit= (≤ 500, default 50) and ?cursor=', async () => {
    const doc = (await call('GET', '/openapi.json')).body as {
      paths: Record<string, Record<string, { parameters?: Array<{ name: string; in: string; schema: any }> }>>;
    };
    const lists: string[] = [];
    const wrong: string[] = [];
    for (const route of app.ctx.config ? (await import('../../src/http/routes/index.js')).allRoutes() : []) {
      if (route.method !== 'get') continue;
      const ok200 = route.responses[200]?.schema as { shape?: Record<string, unknown> } | undefined;
      if (!ok200?.shape || !('next_cursor' in ok200.shape)) continue;
      lists.push(route.path);
      const params = doc.paths[route.path]?.get?.parameters ?? [];
      const limit = params.find((p) => p.in === 'query' && p.name === 'limit')?.schema;
      const cursor = params.find((p) => p.in === 'query' && p.name === 'cursor');
      if (limit?.default !== 50 || limit?.maximum !== 500) wrong.push(`${route.path} limit ${JSON.stringify(limit)}`);
      if (!cursor) wrong.push(`${route.path} takes no ?cursor=`);
    }
    expect(lists.length).toBeGreaterThanOrEqual(13);
    expect(wrong).toEqual([]);
  });

  it('pages of 2 give every row once, in the order of one page of 500, ending with next_cursor null', async () => {
    // rows enough in every list (most made above): 3 more of what the earlier tests made fewer of
    for (const n of [1, 2, 3]) {
      await ok('POST', '/v1/clients', { external_ref: `page-${n}`, name: `Page ${n}` }, 201);
      await ok('POST', '/v1/reports', { type: 'balances', format: 'json' }, 202);
      await ok('POST', '/v1/webhook-endpoints', { url: `http://127.0.0.1:9/hook-${n}`, events: ['report.ready'] }, 201);
      await ok('POST', '/v1/holds?wait=true', {
        client: 'cf',
        credit_type: 'pk-sms',
        quantity: 1,
        idempotency_key: `page-hold-${n}`,
      });
      await ok('POST', '/v1/consumptions?wait=true', {
        client: 'cf',
        credit_type: 'pk-sms',
        quantity: 1,
        idempotency_key: `page-use-${n}`,
      });
    }
    const lists = [
      '/v1/credit-types',
      '/v1/packages',
      '/v1/clients',
      '/v1/subscriptions',
      '/v1/consumptions',
      '/v1/consumptions?client=cf',
      '/v1/invoices',
      '/v1/invoices?client=cf',
      '/v1/holds?client=cf',
      '/v1/reports',
      '/v1/webhook-endpoints',
      '/v1/events',
      '/v1/api-keys',
      '/v1/audit-events',
      '/v1/clients/cf/statement',
    ];
    for (const path of lists) {
      const all = (await walk(path, 500)).map((r) => JSON.stringify(r.id ?? r.seq));
      expect(all.length, path).toBeGreaterThanOrEqual(3);
      const paged = (await walk(path, 2)).map((r) => JSON.stringify(r.id ?? r.seq));
      expect(paged, path).toEqual(all);
      expect(new Set(paged).size, path).toBe(paged.length);
    }
  });

  it('a list asked without ?limit= gives 50 rows and a cursor to the rest', async () => {
    for (let n = (await walk('/v1/clients', 500)).length; n <= 50; n += 1) {
      await ok('POST', '/v1/clients', { external_ref: `fill-${n}`, name: `Fill ${n}` }, 201);
    }
    // 30 sales of 1 item: 30 more grants in cf's statement, 60 more events (subscription.created, invoice.created)
    for (let n = 0; n < 30; n += 1) await ok('POST', '/v1/subscriptions', { client: 'cf', package: 'ref-pk' }, 201);
    for (const path of ['/v1/clients', '/v1/events', '/v1/clients/cf/statement']) {
      const first = await ok('GET', path);
      expect(first.data.length, path).toBe(50);
      expect(typeof first.next_cursor, path).toBe('string');
    }
  });

  it('refuses limit 0, 501 and a cursor it never gave out with 422', async () => {
    for (const path of ['/v1/clients', '/v1/packages', '/v1/clients/cf/statement', '/v1/events', '/v1/invoices']) {
      for (const q of ['limit=0', 'limit=501', 'limit=x', 'cursor=not-a-cursor']) {
        expectProblem(await call('GET', `${path}?${q}`), 422, 'validation_failed');
      }
    }
  });
});

describe('API keys: scopes on every route group, revocation within the cache bound', () => {
  const as = (key: string | null, method: string, path: string, body?: unknown) =>
    app.request(method, path, { key, ...(body === undefined ? {} : { body }) });

  it('no key is 401; a read key cannot write, a write key cannot administer; nothing written', async () => {
    const none = await as(null, 'GET', '/v1/clients');
    expectProblem(none, 401, 'unauthorized');
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer realm="credits"/);
    expectProblem(await as('crd_not-a-key-at-all-0000000000000000', 'GET', '/v1/clients'), 401, 'unauthorized');
    const { read, write, admin } = app.keys;

    expect((await as(read, 'GET', '/v1/clients/crm-1')).status).toBe(200);
    expect((await as(read, 'GET', '/v1/packages/pk-a')).status).toBe(200);
    expectProblem(await as(read, 'POST', '/v1/clients', { external_ref: 'by-read', name: 'R' }), 403, 'forbidden');
    expectProblem(await as(read, 'PATCH', '/v1/clients/crm-1', { name: 'by read' }), 403, 'forbidden');
    expectProblem(
      await as(read, 'POST', '/v1/consumptions', {
        client: 'cf',
        credit_type: 'pk-sms',
        quantity: 1,
        idempotency_key: 'r',
      }),
      403,
      'forbidden',
    );
    expectProblem(await as(read, 'GET', '/v1/webhook-endpoints'), 403, 'forbidden');

    expect((await as(write, 'POST', '/v1/clients', { external_ref: 'by-write', name: 'W' })).status).toBe(201);
    expectProblem(
      await as(write, 'POST', '/v1/credit-types', { code: 'by-write', name: 'W', unit: 'u' }),
      403,
      'forbidden',
    );
    expectProblem(await as(write, 'PATCH', '/v1/credit-types/ct-a', { name: 'by write' }), 403, 'forbidden');
    expectProblem(await as(write, 'PATCH', '/v1/packages/pk-a', { price: 1 }), 403, 'forbidden');
    expectProblem(await as(write, 'POST', '/v1/api-keys', { name: 'k', scopes: ['admin'] }), 403, 'forbidden');
    expectProblem(await as(write, 'GET', '/v1/audit-events'), 403, 'forbidden');
    expectProblem(await as(write, 'PUT', '/v1/admin/clock', { now: '2030-01-01T00:00:00.000Z' }), 403, 'forbidden');

    // nothing a refused request asked for was written
    expectProblem(await as(admin, 'GET', '/v1/clients/by-read'), 404, 'not_found');
    expectProblem(await as(admin, 'GET', '/v1/credit-types/by-write'), 404, 'not_found');
    expect((await as(admin, 'GET', '/v1/clients/crm-1')).body.name).toBe('One Ltd');
    expect((await as(admin, 'GET', '/v1/credit-types/ct-a')).body.name).toBe('Texts');
    expect((await as(admin, 'GET', '/v1/packages/pk-a')).body.price).toBe(2500);
    expect((await ok('GET', '/v1/admin/clock')).now).toBe('2026-05-01T00:00:00.000Z');
  });

  it('a key revoked through the API stops at once; one revoked elsewhere within API_KEY_CACHE_MS (5 s)', async () => {
    const made = await ok('POST', '/v1/api-keys', { name: 'short-lived', scopes: ['read'] }, 201);
    expect((await as(made.key, 'GET', '/v1/credit-types')).status).toBe(200);
    expect((await ok('POST', `/v1/api-keys/${made.id}/revoke`, {})).revoked_at).toBe('2026-05-01T00:00:00.000Z');
    expectProblem(await as(made.key, 'GET', '/v1/credit-types'), 401, 'unauthorized');

    // revoked by the CLI or another process: this process remembers its check for 5 s of its clock
    const other = await ok('POST', '/v1/api-keys', { name: 'elsewhere', scopes: ['write'] }, 201);
    expect((await as(other.key, 'GET', '/v1/credit-types')).status).toBe(200);
    await app.database.db('api_keys').where({ id: other.id }).update({ revoked_at: new Date() });
    tick += 4_999;
    expect((await as(other.key, 'GET', '/v1/credit-types')).status).toBe(200);
    tick += 1;
    expectProblem(await as(other.key, 'GET', '/v1/credit-types'), 401, 'unauthorized');
    expectProblem(await as(other.key, 'POST', '/v1/clients', { external_ref: 'late', name: 'L' }), 401, 'unauthorized');
    expectProblem(await call('GET', '/v1/clients/late'), 404, 'not_found');
  });
});

describe('problems: every refusal is problem+json with type, title, status, code, detail', () => {
  it('an unknown route or method is 404 not_found', async () => {
    expectProblem(await call('GET', '/v1/nothing-here'), 404, 'not_found');
    expectProblem(await call('DELETE', '/v1/clients/crm-1'), 404, 'not_found');
    expectProblem(await call('GET', '/v2/clients'), 404, 'not_found');
    expect((await ok('GET', '/v1/clients/crm-1')).external_ref).toBe('crm-1');
  });

  it('a path whose percent-encoding is not UTF-8 is 422 naming the path, not a 500; on a page, 404', async () => {
    for (const path of [
      '/v1/clients/%ZZ',
      '/v1/credit-types/%E0%A4%A',
      '/v1/packages/%ZZ',
      '/v1/clients/%C3/balances',
    ]) {
      const res = await call('GET', path);
      expectProblem(res, 422, 'validation_failed');
      expect(res.body.errors, path).toEqual([{ field: '(path)', message: 'is not valid percent-encoded UTF-8' }]);
    }
    expectProblem(await call('PATCH', '/v1/clients/%ZZ', { name: 'x' }), 422, 'validation_failed');
    const page = await call('GET', '/ui/clients/%ZZ');
    expect(page.status).toBe(404);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
  });

  it('malformed JSON, another content type, or a body that is not an object: 422 and nothing written', async () => {
    const before = (await walk('/v1/clients', 500)).length;
    const malformed = await app.request('POST', '/v1/clients', { raw: '{"external_ref": "bad-1", "name": ' });
    expectProblem(malformed, 422, 'validation_failed');
    expect(fields(malformed)).toEqual(['(body)']);
    const text = await app.request('POST', '/v1/clients', {
      raw: JSON.stringify({ external_ref: 'bad-2', name: 'Text' }),
      headers: { 'content-type': 'text/plain' },
    });
    expectProblem(text, 422, 'validation_failed');
    // the answer says why: the body was not sent as JSON (not "expected object, received undefined")
    expect(text.body.errors).toEqual([
      { field: '(body)', message: 'must be JSON, sent with Content-Type: application/json (not text/plain)' },
    ]);
    const none = await app.request('POST', '/v1/clients');
    expectProblem(none, 422, 'validation_failed');
    expect(none.body.errors).toEqual([
      { field: '(body)', message: 'is required: a JSON object, sent with Content-Type: application/json' },
    ]);
    for (const raw of ['[]', 'null', '"text"', '42']) {
      expectProblem(await app.request('POST', '/v1/clients', { raw }), 422, 'validation_failed');
    }
    expect((await walk('/v1/clients', 500)).length).toBe(before);
  });

  it('an Idempotency-Key on a creating POST replays the answer; reused with another body it is 409', async () => {
    const headers = { 'idempotency-key': 'cl-idem-1' };
    const first = await app.request('POST', '/v1/clients', { body: { external_ref: 'idem', name: 'I' }, headers });
    expect(first.status).toBe(201);
    const again = await app.request('POST', '/v1/clients', { body: { external_ref: 'idem', name: 'I' }, headers });
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    const other = await app.request('POST', '/v1/clients', { body: { external_ref: 'idem', name: 'J' }, headers });
    expectProblem(other, 409, 'idempotency_conflict');
    expect((await ok('GET', '/v1/clients/idem')).name).toBe('I');
  });
});

describe('rate limit per key (RATE_LIMIT_PER_MINUTE)', () => {
  let limited: TestApp;
  // 10:00:45 of a fixed minute: the window ends in 15 s
  let at = Date.parse('2026-05-01T10:00:45.000Z');
  beforeAll(async () => {
    limited = await startTestApp({ env: { RATE_LIMIT_PER_MINUTE: '5' }, ticks: () => at });
  });
  afterAll(async () => {
    await limited.close();
  });

  it('the 6th request in a minute: 429 rate_limited with Retry-After to the minute end, writing nothing', async () => {
    const key = limited.keys.write;
    for (let i = 1; i <= 5; i += 1) {
      const res = await limited.request('GET', '/v1/clients', { key });
      expect(res.status, `request ${i}`).toBe(200);
      expect(res.headers.get('ratelimit')).toBe(`limit=5, remaining=${5 - i}, reset=15`);
      expect(res.headers.get('ratelimit-policy')).toBe('5;w=60');
    }
    const refused = await limited.request('POST', '/v1/clients', { key, body: { external_ref: 'rl', name: 'R' } });
    expectProblem(refused, 429, 'rate_limited');
    expect(refused.headers.get('retry-after')).toBe('15');
    // another key has its own minute
    expectProblem(await limited.request('GET', '/v1/clients/rl', { key: limited.keys.admin }), 404, 'not_found');
    // the next minute admits the key again
    at += 15_000;
    expect(
      (await limited.request('POST', '/v1/clients', { key, body: { external_ref: 'rl', name: 'R' } })).status,
    ).toBe(201);
  });
});
