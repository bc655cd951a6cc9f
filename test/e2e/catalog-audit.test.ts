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
