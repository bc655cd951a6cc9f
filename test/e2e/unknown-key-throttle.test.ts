import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnknownKeyThrottle } from '../../src/http/unknown-key-throttle.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { countRows } from '../helpers/fixtures.js';

/**
 * A flood of made-up API keys from one address (README AUTH_UNKNOWN_KEYS_PER_MINUTE): each was a read of `api_keys`
 * and an entry in the verifier's cache, for as many as the caller cared to send. Past the limit the address's key
 * checks that would read the database are 429 until its minute ends; keys the process remembers answer as before.
 * The cache's clock (`ticks`) is the test's: the minute moves when the test says.
 */
const LIMIT = 5;
const T = 1_800_000_000_000; // a minute's start: T / 60,000 is whole
let ticks = T;
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({
    roles: ['api'],
    now: '2026-06-01T10:00:00.000Z',
    ticks: () => ticks,
    env: { AUTH_UNKNOWN_KEYS_PER_MINUTE: String(LIMIT) },
  });
});
afterAll(async () => {
  await app.close();
});

/** A key shaped like one (prefix, length) that no row has: each a new read. */
const madeUp = (n: number) => `crd_fake${String(n).padStart(4, '0')}${'x'.repeat(32)}`;
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const basic = (key: string) => ({ authorization: `Basic ${Buffer.from(`x:${key}`).toString('base64')}` });
const get = (path: string, headers: Record<string, string>) => fetch(`${app.baseUrl}${path}`, { headers });

describe('unknown keys from one address', { shuffle: false }, () => {
  it('answers 401 to the first LIMIT, then 429 with Retry-After to the next, until the minute ends', async () => {
    ticks = T + 10_000;
    for (let n = 0; n < LIMIT; n += 1) expect((await get('/v1/clients', bearer(madeUp(n)))).status).toBe(401);
    const refused = await get('/v1/clients', bearer(madeUp(LIMIT)));
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toContain('application/problem+json');
    expect(((await refused.json()) as { code: string }).code).toBe('rate_limited');
    // 50 s of the minute are left
    expect(refused.headers.get('retry-after')).toBe('50');
    // the pages and Bull Board, with a key that would need a read: refused the same way
    expect((await get('/admin/queues', basic(madeUp(LIMIT + 1)))).status).toBe(429);
    const page = await get('/ui', { ...basic(madeUp(LIMIT + 2)), accept: 'text/html' });
    expect(page.status).toBe(429);
    expect(await page.text()).toContain('Too many keys that are not valid');
  });

  it('still answers without a read: an unknown key it remembers, a string not shaped like a key', async () => {
    // checked 10 s ago, remembered as unknown for API_KEY_CACHE_MS (5 s by default): 1 s later, still remembered
    ticks = T + 10_001;
    expect((await get('/v1/clients', bearer(madeUp(0)))).status).toBe(401);
    // a key that is not shaped like one never reaches the database: 401, as before
    expect((await get('/v1/clients', bearer('not-a-key'))).status).toBe(401);
  });

  it('lets the address read keys again when the minute ends; a valid key remembered then keeps working', async () => {
    ticks = T + 60_000;
    expect((await get('/v1/clients', bearer(app.keys.admin))).status).toBe(200);
    for (let n = 100; n < 100 + LIMIT; n += 1) expect((await get('/v1/clients', bearer(madeUp(n)))).status).toBe(401);
    expect((await get('/v1/clients', bearer(madeUp(200)))).status).toBe(429);
    // the admin key, remembered from this minute's first request (API_KEY_CACHE_MS 5 s): through
    expect((await get('/v1/clients', bearer(app.keys.admin))).status).toBe(200);
    // the sign-in form, with a key it would have to read: its page again, 429, saying why
    const form = await fetch(`${app.baseUrl}/ui/login`, { headers: { accept: 'text/html' } });
    const cookie = form.headers
      .getSetCookie()
      .find((c) => c.startsWith('credits_ui_login='))!
      .split(';')[0]!;
    const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())![1]!;
    const signIn = await fetch(`${app.baseUrl}/ui/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      body: new URLSearchParams({ csrf, key: madeUp(201), next: '/ui' }).toString(),
    });
    expect(signIn.status).toBe(429);
    expect(signIn.headers.get('retry-after')).toBe('60');
    expect(await signIn.text()).toContain('Too many keys that are not valid');
  });

  it('a refused check changes nothing: no key is made', async () => {
    const before = await countRows(app, 'api_keys');
    expect((await get('/v1/clients', bearer(madeUp(300)))).status).toBe(429);
    expect(await countRows(app, 'api_keys')).toBe(before);
  });
});

describe('UnknownKeyThrottle', () => {
  it('counts per address in fixed minutes; 0 counts nothing; the seconds left are whole, at least 1', () => {
    let now = 120_000;
    const throttle = new UnknownKeyThrottle(2, () => now);
    expect(throttle.retryAfterS('a')).toBeUndefined();
    throttle.unknown('a');
    throttle.unknown('a');
    throttle.unknown('b');
    expect(throttle.retryAfterS('a')).toBe(60);
    expect(throttle.retryAfterS('b')).toBeUndefined();
    now = 179_500;
    expect(throttle.retryAfterS('a')).toBe(1);
    now = 180_000;
    expect(throttle.retryAfterS('a')).toBeUndefined();
    const off = new UnknownKeyThrottle(0, () => now);
    for (let n = 0; n < 10; n += 1) off.unknown('a');
    expect(off.retryAfterS('a')).toBeUndefined();
  });
});
