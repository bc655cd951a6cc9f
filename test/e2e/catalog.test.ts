import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { patchPackage } from '../../src/services/packages.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createCreditType, snapshotCounts } from '../helpers/fixtures.js';
import { untilWaitingForLocks } from '../helpers/lock-waits.js';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(async () => {
  await app.close();
});

describe('credit types', () => {
  it('creates, reads by id and by code, lists and patches', async () => {
    const created = await app.request('POST', '/v1/credit-types', {
      body: { code: 'support', name: 'Support', unit: 'hour', decimals: 2 },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      code: 'support',
      name: 'Support',
      unit: 'hour',
      decimals: 2,
      archived: false,
    });
    expect(created.body.id).toMatch(/^[0-9a-f-]{36}$/);

    const byId = await app.request('GET', `/v1/credit-types/${created.body.id}`, { key: app.keys.read });
    const byCode = await app.request('GET', '/v1/credit-types/support', { key: app.keys.read });
    expect(byId.body).toEqual(created.body);
    expect(byCode.body).toEqual(created.body);

    const patched = await app.request('PATCH', '/v1/credit-types/support', {
      body: { name: 'Support desk', archived: true },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ name: 'Support desk', archived: true, code: 'support', decimals: 2 });

    const archivedOnly = await app.request('GET', '/v1/credit-types?archived=true', { key: app.keys.read });
    expect(archivedOnly.body.data.map((c: { code: string }) => c.code)).toContain('support');
    const live = await app.request('GET', '/v1/credit-types?archived=false', { key: app.keys.read });
    expect(live.body.data.map((c: { code: string }) => c.code)).not.toContain('support');
  });

  it('answers 409 conflict for a taken code and writes nothing', async () => {
    await createCreditType(app, { code: 'dup' });
    const before = await snapshotCounts(app);
    const res = await app.request('POST', '/v1/credit-types', { body: { code: 'dup', name: 'Again', unit: 'thing' } });
    expect(res.status).toBe(409);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ code: 'conflict', status: 409, title: 'Conflict' });
    expect(await snapshotCounts(app)).toEqual(before);
  });

  it.each([
    [{ code: 'Bad Code', name: 'x', unit: 'u' }, 'code'],
    [{ code: 'ok', name: '', unit: 'u' }, 'name'],
    [{ code: 'ok', name: 'x', unit: 'u', decimals: 7 }, 'decimals'],
    [{ code: 'ok', name: 'x', unit: 'u', decimals: 1.5 }, 'decimals'],
    [{ code: 'ok', name: 'x' }, 'unit'],
    [{ code: 'ok', name: 'x', unit: 'u', extra: 1 }, '(body)'],
  ])('refuses %j with 422 naming %s', async (body, field) => {
    const before = await snapshotCounts(app);
    const res = await app.request('POST', '/v1/credit-types', { body });
    expect(res.status).toBe(422);
    expect(res.body.code).toBe('validation_failed');
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    expect(await snapshotCounts(app)).toEqual(before);
  });

  it('answers 404 not_found for an unknown credit type', async () => {
    const res = await app.request('GET', '/v1/credit-types/nope', { key: app.keys.read });
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('not_found');
    const patch = await app.request('PATCH', '/v1/credit-types/nope', { body: { name: 'x' } });
    expect(patch.status).toBe(404);
  });

  it('paginates by cursor', async () => {
    for (let i = 0; i < 5; i += 1) await createCreditType(app, { code: `page-${i}` });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: { body: { data: Array<{ code: string }>; next_cursor: string | null } } = await app.request(
        'GET',
        `/v1/credit-types?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        { key: app.keys.read },
      );
      expect(res.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...res.body.data.map((c) => c.code));
      cursor = res.body.next_cursor;
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    for (let i = 0; i < 5; i += 1) expect(seen).toContain(`page-${i}`);
    const bad = await app.request('GET', '/v1/credit-types?cursor=garbage', { key: app.keys.read });
    expect(bad.status).toBe(422);
    const tooMany = await app.request('GET', '/v1/credit-types?limit=501', { key: app.keys.read });
    expect(tooMany.status).toBe(422);
  });
});

describe('packages', () => {
  it('creates a package of several credit types with exact units', async () => {
    const sms = await createCreditType(app, { code: 'pk-sms', unit: 'message' });
    const api = await createCreditType(app, { code: 'pk-api', unit: 'call', decimals: 3 });
    const res = await app.request('POST', '/v1/packages', {
      body: {
        code: 'starter',
        name: 'Starter',
        price: 2500,
        currency: 'USD',
        validity: { count: 1, unit: 'month' },
        items: [
          { credit_type: sms.code, units: 100 },
          { credit_type: api.id, units: '1000.125' },
        ],
        rollover: { policy: 'percent', percent: 50, cap_percent: 100 },
        priority: 10,
      },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({
      code: 'starter',
      price: 2500,
      recharge_price: 2500,
      currency: 'USD',
      validity: { count: 1, unit: 'month' },
      priority: 10,
      rollover: { policy: 'percent', percent: 50, cap_percent: 100 },
      status: 'active',
    });
    expect(res.body.items).toEqual([
      { credit_type: expect.objectContaining({ code: 'pk-sms', unit: 'message' }), units: '100' },
      { credit_type: expect.objectContaining({ code: 'pk-api', decimals: 3 }), units: '1000.125' },
    ]);
  });

  it('changes fees and units later', async () => {
    const sms = await createCreditType(app, { code: 'pk2-sms' });
    const created = await app.request('POST', '/v1/packages', {
      body: {
        code: 'changing',
        name: 'Changing',
        price: 100,
        currency: 'EUR',
        validity: { count: 30, unit: 'day' },
        items: [{ credit_type: sms.code, units: 10 }],
      },
    });
    expect(created.status).toBe(201);
    const patched = await app.request('PATCH', '/v1/packages/changing', {
      body: { price: 150, recharge_price: 90, items: [{ credit_type: sms.code, units: 20 }] },
    });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body).toMatchObject({ price: 150, recharge_price: 90, items: [{ units: '20' }] });
    const reset = await app.request('PATCH', '/v1/packages/changing', { body: { recharge_price: null } });
    expect(reset.body.recharge_price).toBe(150);
  });

  it('two PATCHes of the items at once: the later replaces the earlier whole, never a mix of the two', async () => {
    const [sms, min] = [await createCreditType(app), await createCreditType(app)];
    const created = await app.request('POST', '/v1/packages', {
      body: {
        code: 'patched-twice',
        name: 'Twice',
        price: 100,
        currency: 'USD',
        validity: { count: 1, unit: 'month' },
        items: [{ credit_type: sms.code, units: 1 }],
      },
    });
    expect(created.status, created.text).toBe(201);
    // the first PATCH has replaced the items in a transaction still open when the second comes
    const first = await app.database.db.transaction();
    try {
      const items = [{ credit_type: sms.code, units: 5 }];
      expect((await patchPackage(first, 'patched-twice', { items }, app.clock.now())).ok).toBe(true);
      const second = app.request('PATCH', '/v1/packages/patched-twice', {
        body: { items: [{ credit_type: min.code, units: 7 }] },
      });
      await untilWaitingForLocks(app.database.db, 1, { about: 'package' });
      await first.commit();
      const res = await second;
      expect(res.status, res.text).toBe(200);
      expect(res.body.items).toEqual([{ credit_type: expect.objectContaining({ code: min.code }), units: '7' }]);
    } finally {
      if (!first.isCompleted()) await first.rollback();
    }
    const stored = await app.request('GET', '/v1/packages/patched-twice', { key: app.keys.read });
    expect(stored.body.items.map((i: { credit_type: { code: string } }) => i.credit_type.code)).toEqual([min.code]);
  });

  it.each([
    ['units with too many decimals', { items: [{ credit_type: 'v-sms', units: '1.5' }] }, 'items.0.units'],
    ['zero units', { items: [{ credit_type: 'v-sms', units: 0 }] }, 'items.0.units'],
    ['negative units', { items: [{ credit_type: 'v-sms', units: -5 }] }, 'items.0.units'],
    ['units above 10^15', { items: [{ credit_type: 'v-sms', units: '1000000000000001' }] }, 'items.0.units'],
    ['an unknown credit type', { items: [{ credit_type: 'nope', units: 1 }] }, 'items.0.credit_type'],
    [
      'a credit type twice',
      {
        items: [
          { credit_type: 'v-sms', units: 1 },
          { credit_type: 'v-sms', units: 2 },
        ],
      },
      'items.1.credit_type',
    ],
    ['no items', { items: [] }, 'items'],
    ['a float price', { price: 10.5 }, 'price'],
    ['a negative price', { price: -1 }, 'price'],
    ['an unknown currency', { currency: 'XYZ' }, 'currency'],
    ['a lowercase currency', { currency: 'usd' }, 'currency'],
    ['a bad validity unit', { validity: { count: 1, unit: 'fortnight' } }, 'validity.unit'],
    ['a zero validity', { validity: { count: 0, unit: 'day' } }, 'validity.count'],
    ['a priority above 100', { priority: 101 }, 'priority'],
    ['a percent rollover without percent', { rollover: { policy: 'percent' } }, 'rollover.percent'],
  ])('refuses %s with 422 and writes nothing', async (_what, override, field) => {
    if (!(await app.database.db('credit_types').where({ code: 'v-sms' }).first()))
      await createCreditType(app, { code: 'v-sms' });
    const before = await snapshotCounts(app);
    const res = await app.request('POST', '/v1/packages', {
      body: {
        code: 'invalid',
        name: 'Invalid',
        price: 100,
        currency: 'USD',
        validity: { count: 1, unit: 'month' },
        items: [{ credit_type: 'v-sms', units: 1 }],
        ...override,
      },
    });
    expect(res.status, res.text).toBe(422);
    expect(res.body.code).toBe('validation_failed');
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    expect(await snapshotCounts(app)).toEqual(before);
  });

  it('answers 409 for a taken package code, 404 for an unknown package', async () => {
    const sms = await createCreditType(app);
    const body = {
      code: 'taken',
      name: 'T',
      price: 1,
      currency: 'USD',
      validity: { count: 1, unit: 'year' },
      items: [{ credit_type: sms.code, units: 1 }],
    };
    expect((await app.request('POST', '/v1/packages', { body })).status).toBe(201);
    const before = await snapshotCounts(app);
    const again = await app.request('POST', '/v1/packages', { body });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('conflict');
    expect(await snapshotCounts(app)).toEqual(before);
    expect((await app.request('GET', '/v1/packages/none', { key: app.keys.read })).status).toBe(404);
    expect((await app.request('PATCH', '/v1/packages/none', { body: { price: 1 } })).status).toBe(404);
  });

  it('lists packages filtered by status and credit type', async () => {
    const only = await createCreditType(app, { code: 'filter-ct' });
    await app.request('POST', '/v1/packages', {
      body: {
        code: 'filtered',
        name: 'F',
        price: 1,
        currency: 'USD',
        validity: { count: 1, unit: 'day' },
        items: [{ credit_type: only.code, units: 1 }],
      },
    });
    const res = await app.request('GET', '/v1/packages?credit_type=filter-ct', { key: app.keys.read });
    expect(res.body.data.map((p: { code: string }) => p.code)).toEqual(['filtered']);
    await app.request('PATCH', '/v1/packages/filtered', { body: { status: 'archived' } });
    const active = await app.request('GET', '/v1/packages?credit_type=filter-ct&status=active', { key: app.keys.read });
    expect(active.body.data).toEqual([]);
  });
});
