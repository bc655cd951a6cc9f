import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(async () => {
  await app.close();
});

const basic = (password: string) => `Basic ${Buffer.from(`anyone:${password}`).toString('base64')}`;

describe('Bull Board at /admin/queues', () => {
  it('asks a browser for credentials without a key, and refuses a non-admin key', async () => {
    const none = await fetch(`${app.baseUrl}/admin/queues`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic/);
    const write = await fetch(`${app.baseUrl}/admin/queues`, { headers: { authorization: basic(app.keys.write) } });
    expect(write.status).toBe(403);
    const api = await fetch(`${app.baseUrl}/admin/queues/api/queues`, {
      headers: { authorization: basic(app.keys.read) },
    });
    expect(api.status).toBe(403);
  });

  it('shows every queue to an admin key given as the Basic password', async () => {
    const page = await fetch(`${app.baseUrl}/admin/queues`, { headers: { authorization: basic(app.keys.admin) } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<div id="root">');
    const queues = await fetch(`${app.baseUrl}/admin/queues/api/queues`, {
      headers: { authorization: basic(app.keys.admin) },
    });
    expect(queues.status).toBe(200);
    const body = (await queues.json()) as { queues: Array<{ name: string }> };
    expect(body.queues.map((q) => q.name).sort()).toEqual([
      'consumption',
      'maintenance',
      'recharge',
      'renewal',
      'reports',
      'webhooks',
    ]);
  });
});
