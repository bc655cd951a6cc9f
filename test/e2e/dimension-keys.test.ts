import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/**
 * A credit type's dimensions are metadata keys every use fills (DOMAIN.md "Dimensions"). A use's metadata refuses the
 * keys that would poison an object (`__proto__`, `constructor`, `prototype`: 422), so a dimension of one of those
 * names could never be filled: the credit type (API, or the pages' credit-type form) took it, and then every use
 * that carried it — the consumption form offers an input for each dimension — was refused. Refused where declared.
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'], now: '2026-03-01T00:00:00.000Z' });
});
afterAll(async () => {
  await app.close();
});

describe('a dimension no use could carry is refused where it is declared', () => {
  it('constructor or prototype as a dimension: 422 on create and on edit, nothing stored', async () => {
    for (const key of ['constructor', 'prototype']) {
      const res = await app.request('POST', '/v1/credit-types', {
        body: { code: `dim-${key}`, name: 'SMS', unit: 'message', decimals: 0, dimensions: ['branch', key] },
      });
      expect(res.status, res.text).toBe(422);
      expect(res.body.errors).toEqual([{ field: 'dimensions.1', message: expect.stringContaining(key) }]);
    }
    const sms = await createCreditType(app, { dimensions: ['branch'] });
    const edit = await app.request('PATCH', `/v1/credit-types/${sms.id}`, { body: { dimensions: ['constructor'] } });
    expect(edit.status, edit.text).toBe(422);
    expect((await app.request('GET', `/v1/credit-types/${sms.id}`)).body.dimensions).toEqual(['branch']);
  });

  it('a dimension such as branch is filled by a use, as before', async () => {
    const sms = await createCreditType(app, { dimensions: ['branch'] });
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10 }]);
    const client = await createClient(app);
    await subscribe(app, client.id, pkg.code);
    const use = await app.request('POST', '/v1/consumptions?wait=true', {
      body: {
        client: client.id,
        credit_type: sms.code,
        quantity: 1,
        idempotency_key: 'u-1',
        metadata: { branch: 'x' },
      },
    });
    expect(use.status, use.text).toBe(200);
  });
});
