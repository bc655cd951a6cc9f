import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signInToUi, uiPage } from '../helpers/ui-session.js';

/**
 * `last_used_at` of a key (GET /v1/api-keys): when a request last presented it, to the minute — what an operator
 * reads to tell an idle key from one in use before revoking it. API_KEY_CACHE_MS=0 here: every request reads the
 * key, so the minute's granularity (not the cache) is what decides each write.
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ roles: ['api'], now: '2026-06-01T10:00:00.000Z', env: { API_KEY_CACHE_MS: '0' } });
});
afterAll(async () => {
  await app.close();
});

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const lastUsed = async (id: string): Promise<string | null> => {
  const res = await app.request('GET', '/v1/api-keys?limit=500', { key: app.keys.admin });
  expect(res.status, res.text).toBe(200);
  return res.body.data.find((k: { id: string }) => k.id === id).last_used_at;
};

describe('a key’s last_used_at', () => {
  it('is null until the key is used, then the minute of its latest use; a refused key writes nothing', async () => {
    const made = await app.request('POST', '/v1/api-keys', {
      key: app.keys.admin,
      body: { name: 'idle', scopes: ['read'] },
    });
    expect(made.status, made.text).toBe(201);
    const { id, key } = made.body as { id: string; key: string };
    expect(await lastUsed(id)).toBeNull();

    const use = async () => {
      const res = await fetch(`${app.baseUrl}/v1/clients`, { headers: bearer(key) });
      expect(res.status).toBe(200);
    };
    await use();
    expect(await lastUsed(id)).toBe('2026-06-01T10:00:00.000Z');
    // used again 30 s later: within the minute, the row is not written again
    app.clock.set('2026-06-01T10:00:30.000Z');
    await use();
    expect(await lastUsed(id)).toBe('2026-06-01T10:00:00.000Z');
    // two minutes later: written
    app.clock.set('2026-06-01T10:02:30.000Z');
    await use();
    expect(await lastUsed(id)).toBe('2026-06-01T10:02:30.000Z');

    // revoked, then presented: refused, and not noted as used
    const revoked = await app.request('POST', `/v1/api-keys/${id}/revoke`, { key: app.keys.admin });
    expect(revoked.status, revoked.text).toBe(200);
    app.clock.set('2026-06-01T11:00:00.000Z');
    expect((await fetch(`${app.baseUrl}/v1/clients`, { headers: bearer(key) })).status).toBe(401);
    expect(await lastUsed(id)).toBe('2026-06-01T10:02:30.000Z');
  });

  it('shows on the keys page: "never" for a key not used yet, the time for one in use', async () => {
    const made = await app.request('POST', '/v1/api-keys', {
      key: app.keys.admin,
      body: { name: 'new', scopes: ['read'] },
    });
    expect(made.status, made.text).toBe(201);
    const session = await signInToUi(app.baseUrl, app.keys.admin);
    const page = await uiPage(app.baseUrl, session, '/ui/api-keys');
    expect(page.status).toBe(200);
    const row = (id: string) => new RegExp(`<tr data-key="${id}">[\\s\\S]*?</tr>`).exec(page.html)?.[0] ?? '';
    expect(row(made.body.id)).toMatch(/data-last-used><span class="muted">never<\/span>/);
    // the admin key, in use (this very page): its time, not "never"
    const keys = (await app.request('GET', '/v1/api-keys?limit=500', { key: app.keys.admin })).body.data;
    const admin = keys.find(
      (k: { name: string; last_used_at: string | null }) => k.last_used_at !== null && k.name !== 'idle',
    );
    expect(row(admin.id)).toContain('data-last-used>');
    expect(row(admin.id)).not.toContain('never');
  });
});
