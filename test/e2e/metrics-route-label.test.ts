import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient } from '../helpers/fixtures.js';

/**
 * `credits_http_request_duration_seconds{route}` named a route by its template inside the router that matched it:
 * the pages (mounted at /ui) and Bull Board (at /admin/queues) lost their prefix, so `/ui/clients` was counted as
 * route="/clients" — read as the API's — the overview page as route="/", and Bull Board's JSON as "/api/queues".
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(async () => {
  await app.close();
});

describe('the route label of /metrics', () => {
  it('names a page or a Bull Board call with the path it is mounted under', async () => {
    const client = await createClient(app);
    const basic = `Basic ${Buffer.from(`admin:${app.keys.admin}`).toString('base64')}`;
    for (const path of ['/ui/', '/ui/clients', `/ui/clients/${client.id}`, '/admin/queues/api/queues']) {
      const res = await fetch(app.baseUrl + path, { headers: { authorization: basic } });
      await res.text();
      expect(res.status, path).toBe(200);
    }
    expect((await app.request('GET', '/v1/clients')).status).toBe(200);
    const metrics = await app.request('GET', '/metrics');
    const routes = metrics.text
      .split('\n')
      .filter((line) => line.startsWith('credits_http_request_duration_seconds_count{'))
      .map((line) => /route="([^"]*)"/.exec(line)?.[1]);
    expect(routes).toEqual(
      expect.arrayContaining(['/ui/', '/ui/clients', '/ui/clients/:ref', '/admin/queues/api/queues', '/v1/clients']),
    );
    for (const bare of ['/', '/clients', '/clients/:ref', '/api/queues']) expect(routes, bare).not.toContain(bare);
  });
});
