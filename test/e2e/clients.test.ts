import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { countRows } from '../helpers/fixtures.js';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(async () => {
  await app.close();
});

describe('clients (POST upserts by external_ref)', () => {
  it('creates with 201, then finds and updates with 200', async () => {
    const first = await app.request('POST', '/v1/clients', {
      key: app.keys.write,
      body: { external_ref: 'crm-1', name: 'Acme', email: 'ops@acme.test', metadata: { tier: 'gold' } },
    });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      external_ref: 'crm-1',
      name: 'Acme',
      email: 'ops@acme.test',
      metadata: { tier: 'gold' },
    });
    const again = await app.request('POST', '/v1/clients', {
      key: app.keys.write,
      body: { external_ref: 'crm-1', name: 'Acme Corp' },
    });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: first.body.id, name: 'Acme Corp', email: 'ops@acme.test' });
    expect(await countRows(app, 'clients')).toBe(1);
  });

  it('reads by id and by external_ref, searches, patches', async () => {
    const created = await app.request('POST', '/v1/clients', {
      key: app.keys.write,
      body: { external_ref: 'crm-2', name: 'شركة الأمل' },
    });
    const byRef = await app.request('GET', '/v1/clients/crm-2', { key: app.keys.read });
    const byId = await app.request('GET', `/v1/clients/${created.body.id}`, { key: app.keys.read });
    expect(byRef.body).toEqual(created.body);
    expect(byId.body.name).toBe('شركة الأمل');
    const search = await app.request('GET', `/v1/clients?search=${encodeURIComponent('الأمل')}`, {
      key: app.keys.read,
    });
    expect(search.body.data.map((c: { external_ref: string }) => c.external_ref)).toEqual(['crm-2']);
    const patched = await app.request('PATCH', '/v1/clients/crm-2', {
      key: app.keys.write,
      body: { email: null, name: 'Hope Ltd' },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ name: 'Hope Ltd', email: null });
  });

  it.each([
    [{ name: 'no ref' }, 'external_ref'],
    [{ external_ref: '', name: 'x' }, 'external_ref'],
    [{ external_ref: 'x', name: 'x', email: 'not-an-email' }, 'email'],
    [{ external_ref: 'x', name: 'x', metadata: 'string' }, 'metadata'],
    [{ external_ref: 'x'.repeat(201), name: 'x' }, 'external_ref'],
  ])('refuses %j with 422 naming %s and writes nothing', async (body, field) => {
    const before = await countRows(app, 'clients');
    const res = await app.request('POST', '/v1/clients', { key: app.keys.write, body });
    expect(res.status).toBe(422);
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    expect(await countRows(app, 'clients')).toBe(before);
  });

  it('answers 404 for an unknown client', async () => {
    expect((await app.request('GET', '/v1/clients/ghost', { key: app.keys.read })).status).toBe(404);
    expect((await app.request('PATCH', '/v1/clients/ghost', { key: app.keys.write, body: { name: 'x' } })).status).toBe(
      404,
    );
  });
});
