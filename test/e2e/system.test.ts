import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ env: { BODY_LIMIT: '10kb' } });
});
afterAll(async () => {
  await app.close();
});

describe('health and readiness', () => {
  it('answers /healthz and /readyz without a key', async () => {
    const health = await app.request('GET', '/healthz', { key: null });
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('ok');
    const ready = await app.request('GET', '/readyz', { key: null });
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ready', checks: { postgres: 'ok', redis: 'ok', migrations: 'ok' } });
  });
});

describe('the API describes itself', () => {
  it('serves an OpenAPI 3.1 document generated from the route table', async () => {
    const res = await app.request('GET', '/openapi.json', { key: null });
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    const post = res.body.paths['/v1/subscriptions'].post;
    expect(post.requestBody.content['application/json'].schema.properties).toHaveProperty('package');
    expect(post.security).toEqual([{ bearer: [] }]);
    expect(post['x-required-scope']).toBe('write');
    expect(res.body.paths['/v1/packages/{id}'].patch.parameters).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'id', in: 'path', required: true })]),
    );
    expect(res.body.components.schemas).toHaveProperty('Subscription');
    // every $ref resolves inside the document
    const refs = [...JSON.stringify(res.body).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
    for (const ref of refs) expect(res.body.components.schemas).toHaveProperty(ref);
  });

  it('serves /docs with its assets, without a CDN', async () => {
    const page = await app.request('GET', '/docs', { key: null });
    expect(page.status).toBe(200);
    expect(page.text).toContain('swagger-ui-bundle.js');
    const bundle = await fetch(`${app.baseUrl}/docs/assets/swagger-ui-bundle.js`);
    expect(bundle.status).toBe(200);
    expect((await bundle.text()).length).toBeGreaterThan(1000);
  });

  it('serves Prometheus metrics to a key holder only', async () => {
    expect((await app.request('GET', '/metrics', { key: null })).status).toBe(401);
    const metrics = await app.request('GET', '/metrics', { key: app.keys.read });
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('credits_http_request_duration_seconds');
  });
});

describe('errors are problem+json with a contract code', () => {
  it('401 without a key, 401 with a bad key, 403 with too small a scope', async () => {
    const none = await app.request('GET', '/v1/clients', { key: null });
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ code: 'unauthorized', status: 401 });
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const bad = await app.request('GET', '/v1/clients', { key: 'crd_notarealkey_000000000000000000000' });
    expect(bad.status).toBe(401);
    const small = await app.request('POST', '/v1/credit-types', {
      key: app.keys.write,
      body: { code: 'x', name: 'x', unit: 'x' },
    });
    expect(small.status).toBe(403);
    expect(small.body.code).toBe('forbidden');
    const readOnly = await app.request('POST', '/v1/clients', {
      key: app.keys.read,
      body: { external_ref: 'x', name: 'x' },
    });
    expect(readOnly.status).toBe(403);
  });

  it('422 for a body that is not JSON, 413 for one too large, 404 for an unknown route', async () => {
    const notJson = await app.request('POST', '/v1/clients', {
      raw: '{"external_ref": ',
      headers: { 'content-type': 'application/json' },
    });
    expect(notJson.status).toBe(422);
    expect(notJson.body.code).toBe('validation_failed');
    const large = await app.request('POST', '/v1/clients', {
      body: { external_ref: 'big', name: 'x', metadata: { blob: 'x'.repeat(20_000) } },
    });
    expect(large.status).toBe(413);
    expect(large.body.code).toBe('payload_too_large');
    const unknown = await app.request('GET', '/v1/nothing-here');
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toMatch(/problem\+json/);
  });

  it('echoes or assigns a request id', async () => {
    const res = await app.request('GET', '/healthz', { key: null, headers: { 'x-request-id': 'trace-123' } });
    expect(res.headers.get('x-request-id')).toBe('trace-123');
    const assigned = await app.request('GET', '/healthz', { key: null });
    expect(assigned.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});
