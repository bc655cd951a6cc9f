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
    for (const body of [{ decimals: 3 }, { code: 'ct-e' }, {}, { dimensions: ['a', 'b', 'c', 'd', 'e', 'f'] }]) {
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
    for (const patch of [
      { priority: 101 },
      { items: [] },
      {
        items: [
          { credit_type: 'pk-sms', units: 1 },
          { credit_type: 'pk-sms', units: 1 },
        ],
      },
      { currency: 'USD' },
      { code: 'pk-z' },
      { status: 'deleted' },
      {},
    ]) {
      expectProblem(await call('PATCH', '/v1/packages/pk-a', patch), 422, 'validation_failed');
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
