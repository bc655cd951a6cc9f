import { request as httpRequest } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuthContext, createApiKey, revokeApiKey } from '../../src/http/auth.js';
import { type Sibling, startSibling, startTestApp, type TestApp } from '../helpers/app.js';
import { countRows, createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';

/**
 * QA of access control and request limits over HTTP, against API.md "Conventions" and README (scopes, keys and
 * their cache, the rate limit, BODY_LIMIT, the back office, headers). Each expectation cites the line it checks:
 * `API.md L6` is line 6 of /work/shared/design/API.md, `README L652` line 652 of README.md.
 * What security.test.ts, api-key-use, audit, trust-proxy, ui, ui-admin and bull-board already check is not repeated.
 *
 * Time: the clock of the app (ManualClock) and `ticks` (the key cache's and the rate limit's milliseconds) are
 * moved by hand; nothing waits on the wall clock. Each test stands alone, in any order (vitest --sequence.shuffle):
 * `ticks` only moves forward, so a test that needs a given second of a minute moves it to that second of a minute
 * to come (tickToNextMinute), and a test that moves the app's clock sets it back to what it read at its start.
 */
const NOW = '2026-03-02T10:00:30.000Z';
let ticks = Date.parse(NOW);
const CACHE_MS = 1_000;
const BODY_LIMIT_BYTES = 4 * 1024;
const RATE_LIMIT = 5;

let app: TestApp;
/** Another API process whose key cache remembers (API_KEY_CACHE_MS as the app's). */
let cached: Sibling;
/** Another API process with API_KEY_CACHE_MS=0: it reads `api_keys` on every request. */
let uncached: Sibling;
/** Two API processes with RATE_LIMIT_PER_MINUTE=5, sharing the app's Redis prefix (the limit's keys). */
let limitedA: Sibling;
let limitedB: Sibling;

beforeAll(async () => {
  app = await startTestApp({
    roles: ['api'],
    now: NOW,
    ticks: () => ticks,
    env: { API_KEY_CACHE_MS: String(CACHE_MS), BODY_LIMIT: '4kb' },
  });
  [cached, uncached, limitedA, limitedB] = await Promise.all([
    startSibling(app, ['api']),
    startSibling(app, ['api'], { config: { API_KEY_CACHE_MS: 0 } }),
    startSibling(app, ['api'], { config: { RATE_LIMIT_PER_MINUTE: RATE_LIMIT } }),
    startSibling(app, ['api'], { config: { RATE_LIMIT_PER_MINUTE: RATE_LIMIT } }),
  ]);
});
afterAll(async () => {
  await Promise.all([cached?.stop(), uncached?.stop(), limitedA?.stop(), limitedB?.stop()]);
  await app?.close();
});

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: any;
}

interface CallOptions {
  /** A key sent as Bearer; `null` (the default) sends none. */
  key?: string | null;
  headers?: Record<string, string>;
  body?: unknown;
  raw?: string;
}

async function call(base: string, method: string, path: string, options: CallOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  const body = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  if (body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, {
    method,
    headers,
    redirect: 'manual',
    ...(body === undefined ? {} : { body }),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, text, body: parsed };
}

/** A request fetch cannot make (a body on a GET, a chunked or compressed body), over node:http. */
function rawCall(
  base: string,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; chunks?: Buffer[] },
): Promise<Answer> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers: options.headers },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => {
          const text = Buffer.concat(parts).toString('utf8');
          const headers = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (typeof value === 'string') headers.set(name, value);
            else if (Array.isArray(value)) for (const v of value) headers.append(name, v);
          }
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, headers, text, body });
        });
      },
    );
    req.on('error', reject);
    for (const chunk of options.chunks ?? []) req.write(chunk);
    req.end();
  });
}

/** API.md L9–L10: an error is application/problem+json `{type, title, status, detail, code}` with the table's code. */
function expectProblem(res: Answer, status: number, code: string, what = ''): void {
  expect(res.status, `${what} ${res.text}`).toBe(status);
  expect(res.headers.get('content-type'), what).toMatch(/^application\/problem\+json/);
  expect(res.body, what).toMatchObject({ status, code, type: expect.any(String), title: expect.any(String) });
  expect(typeof res.body.detail, what).toBe('string');
}

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
const SAMPLE_ID = '00000000-0000-4000-8000-000000000000';
const sample = (path: string) => path.replace(/\{\w+\}/g, SAMPLE_ID);

/** Rows of the tables a request could write, for "a refused request writes nothing". */
const WRITTEN = [
  'credit_types',
  'packages',
  'clients',
  'subscriptions',
  'subscription_periods',
  'balances',
  'ledger_entries',
  'invoices',
  'consumptions',
  'holds',
  'accepted_jobs',
  'idempotency_records',
  'outbox_events',
  'webhook_endpoints',
  'report_runs',
  'api_keys',
  'audit_events',
  'ui_sessions',
  'nightly_runs',
];
async function counts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of WRITTEN) out[table] = await countRows(app, table);
  return out;
}
async function queuedJobs(): Promise<number> {
  let total = 0;
  for (const queue of Object.values(app.ctx.queues)) {
    const byState = await queue.getJobCounts();
    total += Object.values(byState).reduce((a, b) => a + b, 0);
  }
  return total;
}

const keyIdOf = async (key: string): Promise<string> => ((await app.ctx.keys.verify(key)) as AuthContext).keyId;

// --------------------------------------------------------------------------------------------------------------
// 1. Every route of the OpenAPI document: 401 / 403 / through, by the scope the document states
// --------------------------------------------------------------------------------------------------------------

/** API.md L7 (and L34): the routes that need no key. `/docs/init.js` is the script of `/docs`. */
const PUBLIC = new Set(['GET /healthz', 'GET /readyz', 'GET /openapi.json', 'GET /docs', 'GET /docs/init.js']);

/** The scope README's rules give a route (each branch cites its line). */
function scopeByReadme(method: string, path: string): 'public' | 'read' | 'write' | 'admin' {
  const route = `${method} ${path}`;
  if (PUBLIC.has(route)) return 'public';
  // README L484: audit events (admin); L1183–L1185: the key routes are admin (L479–L480: "keys" among admin routes);
  // L307: webhook endpoints are an admin key's only, reads included; L480: clock moves; L1081 "the admin routes"
  if (/^\/v1\/(api-keys|audit-events|webhook-endpoints|webhook-deliveries|admin)(\/|$)/.test(path)) return 'admin';
  // README L479–L480: catalog and prices, grants and adjustments are changed through `admin` routes
  if (method !== 'GET' && /^\/v1\/(credit-types|packages)(\/|$)/.test(path)) return 'admin';
  if (method !== 'GET' && /\/(grants|adjustments)$/.test(path)) return 'admin';
  // README L111: a quote writes nothing, "a read key may ask"; L853: /metrics needs the read scope; L305: events
  if (method === 'GET' || route === 'POST /v1/consumptions/quote') return 'read';
  // API.md L5: admin ⊇ write ⊇ read; the rest changes something: write
  return 'write';
}

interface Operation {
  method: string;
  path: string;
  op: any;
}

describe('1. every route of GET /openapi.json behind its scope', () => {
  let operations: Operation[] = [];
  beforeAll(async () => {
    const doc = await call(app.baseUrl, 'GET', '/openapi.json');
    expect(doc.status).toBe(200);
    operations = Object.entries(doc.body.paths as Record<string, Record<string, unknown>>).flatMap(([path, item]) =>
      Object.entries(item).map(([method, op]) => ({ method: method.toUpperCase(), path, op })),
    );
  });

  it('states each route’s scope (x-required-scope) as README’s rules give it; 401/403/429 documented', () => {
    expect(operations.length).toBeGreaterThanOrEqual(70);
    const wrong: string[] = [];
    for (const { method, path, op } of operations) {
      const expected = scopeByReadme(method, path);
      if (expected === 'public') {
        // API.md L7: no key needed — the document says so with an empty `security`
        expect(op.security, `${method} ${path}`).toEqual([]);
        expect(op['x-required-scope'], `${method} ${path}`).toBeUndefined();
        continue;
      }
      // API.md L5: `Authorization: Bearer <api key>` — the document's bearer scheme, and the scope it needs
      expect(op.security, `${method} ${path}`).toEqual([{ bearer: [] }]);
      if (op['x-required-scope'] !== expected) wrong.push(`${method} ${path}: ${op['x-required-scope']} ≠ ${expected}`);
      // README L389–L390: behind a key every route can answer 401, 403 and 429
      for (const status of ['401', '403', '429'])
        expect(op.responses[status], `${method} ${path} ${status}`).toBeDefined();
      expect(op.responses['403'].description).toContain(`\`${op['x-required-scope']}\``);
    }
    expect(wrong).toEqual([]);
    // API.md L7 and L34: exactly these are public (every other route needs a key; /metrics too)
    const open = operations.filter((o) => o.op.security.length === 0).map((o) => `${o.method} ${o.path}`);
    expect(new Set(open)).toEqual(PUBLIC);
  });

  it('no key → 401; a malformed or unknown key → 401; a scope too small → 403; its own scope → through', async () => {
    const { admin, write, read } = app.keys;
    const smaller = { admin: write, write: read } as const;
    const own = { admin, write, read } as const;
    // what a key is not: none of these is any key's Bearer token (API.md L45: "no or bad key" → 401)
    const malformed = [
      'Bearer',
      'Bearer ',
      `Bearer crd_${'Q'.repeat(40)}`,
      `Bearer ${admin}x`,
      `Bearer ${admin.slice(0, -1)}${admin.endsWith('A') ? 'B' : 'A'}`,
      `Token ${admin}`,
      `Basic ${Buffer.from(admin).toString('base64')}`,
      'Bearer not-a-key',
      `Bearer crd_${'a'.repeat(300)}`,
      // the read key's lookup prefix with the admin key's secret
      `Bearer ${read.slice(0, 12)}${admin.slice(12)}`,
      `Bearer ${admin.toUpperCase()}`,
      // two tokens: src/http/auth.ts took the first and ignored the rest (fixed: the header must be one token)
      `Bearer ${admin} ${admin}`,
      `Bearer ${admin} trailing`,
      basic('user', ''),
    ];
    const seen: string[] = [];
    let i = 0;
    for (const { method, path, op } of operations) {
      const url = sample(path);
      const name = `${method} ${path}`;
      const body = op.requestBody ? { qa_probe: true } : undefined;
      const scope = op['x-required-scope'] as 'admin' | 'write' | 'read' | undefined;
      if (scope === undefined) {
        // API.md L7: public — answered without a key, and a forged one is not even read
        const none = await call(app.baseUrl, method, url);
        expect(none.status, name).toBe(200);
        const forged = await call(app.baseUrl, method, url, { headers: { authorization: malformed[2]! } });
        expect(forged.status, name).toBe(200);
        continue;
      }
      // API.md L6, L45: no key → 401 `unauthorized`, as problem+json (L9)
      const none = await call(app.baseUrl, method, url, { body });
      expectProblem(none, 401, 'unauthorized', `${name} without a key`);
      expect(none.headers.get('www-authenticate'), name).toMatch(/^Bearer /);
      // API.md L45: a bad key → 401 too
      const header = malformed[i++ % malformed.length]!;
      const bad = await call(app.baseUrl, method, url, { body, headers: { authorization: header } });
      expectProblem(bad, 401, 'unauthorized', `${name} with malformed key ${(i - 1) % malformed.length}`);
      // API.md L6, L45: a scope too small → 403 `forbidden` (read is the smallest scope: nothing below it)
      if (scope !== 'read') {
        const small = await call(app.baseUrl, method, url, { body, key: smaller[scope] });
        expectProblem(small, 403, 'forbidden', `${name} one scope below ${scope}`);
      }
      // API.md L5: the scope the document states is enough (sample ids: 404, probe bodies: 422 — never 401/403)
      const through = await call(app.baseUrl, method, url, { body, key: own[scope] });
      expect([401, 403, 429], `${name} with a ${scope} key: ${through.text}`).not.toContain(through.status);
      expect(through.status, `${name} with a ${scope} key: ${through.text}`).toBeLessThan(500);
      seen.push(`${name} ${through.status}`);
    }
    expect(seen.length).toBe(operations.length - PUBLIC.size);
  });

  it('admin ⊇ write ⊇ read: a larger scope passes a smaller scope’s routes (API.md L5)', async () => {
    // API.md L5 names the three scopes; src/domain/scope.ts "each scope includes the ones below it"
    for (const key of [app.keys.admin, app.keys.write]) {
      expect((await call(app.baseUrl, 'GET', '/v1/clients', { key })).status).toBe(200);
      expect((await call(app.baseUrl, 'GET', '/metrics', { key })).status).toBe(200);
    }
    const made = await call(app.baseUrl, 'POST', '/v1/clients', {
      key: app.keys.admin,
      body: { external_ref: 'qa-admin-writes', name: 'A' },
    });
    expect(made.status, made.text).toBe(201);
  });

  it('a refused request (no key, a forged key, a smaller scope, a revoked key) writes nothing', async () => {
    const ct = await createCreditType(app, { code: 'qa-sms' });
    const pkg = await createPackage(app, [{ credit_type: ct.code, units: 10 }], { code: 'qa-pack' });
    const client = await createClient(app, { external_ref: 'qa-client' });
    const sub = await subscribe(app, client.id, pkg.code);
    const revokedAdmin = await createApiKey(app.database.db, {
      name: 'qa revoked admin',
      scopes: ['admin'],
      now: app.clock.now(),
    });
    await revokeApiKey(app.database.db, revokedAdmin.id, app.clock.now());
    const adminId = await keyIdOf(app.keys.admin);
    const use = { client: client.id, credit_type: ct.code, quantity: 1, idempotency_key: 'qa-refused' };
    // valid requests, each refused for its caller; `scope` is what each needs (the document's x-required-scope)
    const requests: Array<{ method: string; path: string; scope: 'admin' | 'write' | 'read'; body?: unknown }> = [
      { method: 'POST', path: '/v1/credit-types', scope: 'admin', body: { code: 'qa-r', name: 'R', unit: 'u' } },
      { method: 'PATCH', path: `/v1/credit-types/${ct.code}`, scope: 'admin', body: { name: 'renamed' } },
      {
        method: 'POST',
        path: '/v1/packages',
        scope: 'admin',
        body: {
          code: 'qa-r',
          name: 'R',
          price: 1,
          currency: 'USD',
          validity: { count: 1, unit: 'month' },
          items: [{ credit_type: ct.code, units: 1 }],
        },
      },
      { method: 'PATCH', path: `/v1/packages/${pkg.code}`, scope: 'admin', body: { price: 1 } },
      { method: 'POST', path: '/v1/clients', scope: 'write', body: { external_ref: 'qa-r', name: 'R' } },
      { method: 'PATCH', path: `/v1/clients/${client.id}`, scope: 'write', body: { name: 'renamed' } },
      { method: 'POST', path: '/v1/subscriptions', scope: 'write', body: { client: client.id, package: pkg.code } },
      { method: 'POST', path: `/v1/invoices/${sub.invoice.id}/pay`, scope: 'write' },
      { method: 'POST', path: `/v1/subscriptions/${sub.id}/renew`, scope: 'write' },
      { method: 'POST', path: '/v1/consumptions', scope: 'write', body: use },
      { method: 'POST', path: '/v1/holds', scope: 'write', body: { ...use, idempotency_key: 'qa-refused-hold' } },
      {
        method: 'POST',
        path: `/v1/clients/${client.id}/grants`,
        scope: 'admin',
        body: { credit_type: ct.code, units: '1', expires_at: '2026-12-31T00:00:00Z', reason: 'qa' },
      },
      {
        method: 'POST',
        path: `/v1/balances/${sub.balances[0]!.id}/adjustments`,
        scope: 'admin',
        body: { delta: '1', reason: 'qa' },
      },
      {
        method: 'POST',
        path: '/v1/webhook-endpoints',
        scope: 'admin',
        body: { url: 'https://example.com/qa', events: ['*'] },
      },
      { method: 'POST', path: '/v1/api-keys', scope: 'admin', body: { name: 'qa-r', scopes: ['admin'] } },
      { method: 'POST', path: `/v1/api-keys/${adminId}/revoke`, scope: 'admin' },
      { method: 'PUT', path: '/v1/admin/clock', scope: 'admin', body: { now: '2030-01-01T00:00:00Z' } },
      { method: 'POST', path: '/v1/admin/nightly-runs', scope: 'admin', body: {} },
      { method: 'POST', path: '/v1/reports', scope: 'write', body: { type: 'balances', format: 'json' } },
      { method: 'POST', path: `/v1/subscriptions/${sub.id}/cancel`, scope: 'write', body: { at: 'now' } },
    ];
    const smaller = { admin: app.keys.write, write: app.keys.read, read: undefined } as const;
    const before = await counts();
    const jobsBefore = await queuedJobs();
    const subBefore = await app.database.db('subscriptions').where({ id: sub.id }).first();
    const clockBefore = app.clock.now().toISOString();
    for (const r of requests) {
      const name = `${r.method} ${r.path}`;
      // an Idempotency-Key too: a refused request claims no key (API.md L11)
      const headers = { 'idempotency-key': `qa-refused-${r.method}-${r.path}` };
      const bodyOf = r.body === undefined ? {} : { body: r.body };
      expectProblem(await call(app.baseUrl, r.method, r.path, { ...bodyOf, headers }), 401, 'unauthorized', name);
      const forged = { ...bodyOf, headers, key: `crd_${'Z'.repeat(44)}` };
      expectProblem(await call(app.baseUrl, r.method, r.path, forged), 401, 'unauthorized', name);
      const revoked = { ...bodyOf, headers, key: revokedAdmin.key };
      expectProblem(await call(app.baseUrl, r.method, r.path, revoked), 401, 'unauthorized', name);
      const small = smaller[r.scope];
      if (small) {
        const answer = await call(app.baseUrl, r.method, r.path, { ...bodyOf, headers, key: small });
        expectProblem(answer, 403, 'forbidden', name);
      }
    }
    // nothing written: no row in any table (README L483: the audit trail records refused 422/409 calls; a call
    // refused before its route — 401, 403 — is not recorded either), no job in Redis, no change to what exists
    expect(await counts()).toEqual(before);
    expect(await queuedJobs()).toBe(jobsBefore);
    expect(await app.database.db('subscriptions').where({ id: sub.id }).first()).toEqual(subBefore);
    expect(app.clock.now().toISOString()).toBe(clockBefore);
    expect((await app.database.db('credit_types').where({ code: ct.code }).first()).name).toBe('SMS');
    expect((await app.database.db('api_keys').where({ id: adminId }).first()).revoked_at).toBeNull();
    // the same requests were valid: with their scope each goes through (the nightly run is left out: it waits for
    // report jobs this api-only app has no worker for; the clock is set back)
    for (const r of requests) {
      if (r.path === '/v1/admin/nightly-runs' || r.path.endsWith('/revoke')) continue;
      const key = { admin: app.keys.admin, write: app.keys.write, read: app.keys.read }[r.scope];
      const res = await call(app.baseUrl, r.method, r.path, { key, ...(r.body === undefined ? {} : { body: r.body }) });
      expect(res.status, `${r.method} ${r.path} with its scope: ${res.text}`).toBeLessThan(300);
    }
    app.clock.set(clockBefore);
  });

  it('another spelling of a protected path (case, slashes, escapes) opens nothing without a key', async () => {
    // API.md L6–L8: the API, Bull Board and the pages need a key — whatever spelling the router still matches
    const spellings = [
      '/V1/API-KEYS',
      '/v1/api-keys/',
      '/v1//api-keys',
      '/v1/%61pi-keys',
      '/Admin/Queues',
      '/ADMIN/queues/api/queues',
      '//admin/queues',
      '/admin/queues/',
      '/admin/%71ueues',
      '/UI',
      '/ui/',
      '/Ui/api-keys',
      '/ui//api-keys',
      '/ui/%61pi-keys',
    ];
    for (const path of spellings) {
      for (const method of ['GET', 'HEAD']) {
        const res = await call(app.baseUrl, method, path);
        expect([401, 404], `${method} ${path}`).toContain(res.status);
      }
    }
  });

  it('HTTP Basic is not taken by the API routes: Bearer only', async () => {
    // API.md L5 names only `Authorization: Bearer <api key>` for the API; HTTP Basic is written for Bull Board and
    // /ui (API.md L8, L35). A browser sends remembered Basic credentials by itself, and a bodiless POST (revoke, pay,
    // verify) needs no preflight: refused on /v1, so no other site's request can ride on them
    const asBasic = await call(app.baseUrl, 'GET', '/v1/clients', {
      headers: { authorization: basic('anyone', app.keys.read) },
    });
    expectProblem(asBasic, 401, 'unauthorized');
    const verify = await call(app.baseUrl, 'POST', '/v1/admin/verify', {
      headers: { authorization: basic('anyone', app.keys.admin) },
    });
    expectProblem(verify, 401, 'unauthorized');
    // the same key as Bearer
    expect((await call(app.baseUrl, 'GET', '/v1/clients', { key: app.keys.read })).status).toBe(200);
    // /metrics (outside /v1) still takes it, for scrapers set up with basic_auth
    const metrics = await call(app.baseUrl, 'GET', '/metrics', {
      headers: { authorization: basic('prometheus', app.keys.read) },
    });
    expect(metrics.status).toBe(200);
  });
});

// --------------------------------------------------------------------------------------------------------------
// 2. A key from creation to revocation
// --------------------------------------------------------------------------------------------------------------

/** Moves the cache and rate-limit clock forward only (a cache entry remembers `ticks + API_KEY_CACHE_MS`). */
function tickTo(iso: string): void {
  const to = Date.parse(iso);
  expect(to, `ticks move forward only (${iso})`).toBeGreaterThanOrEqual(ticks);
  ticks = to;
}

const MINUTE_MS = 60_000;
/** The start of the minute after the one `at` is in (a rate-limit window no request has been counted in yet). */
const nextMinute = (at: number) => at - (at % MINUTE_MS) + MINUTE_MS;
/** Moves `ticks` to `seconds` into the next minute (whatever the tests before moved it to); answers it, as ISO. */
function tickToNextMinute(seconds = 0): string {
  const iso = new Date(nextMinute(ticks) + seconds * 1_000).toISOString();
  tickTo(iso);
  return iso;
}

const apiStatus = async (base: string, key: string) => (await call(base, 'GET', '/v1/clients', { key })).status;
const pageStatus = async (base: string, path: string, headers: Record<string, string>) =>
  (await call(base, 'GET', path, { headers: { accept: 'text/html', ...headers } })).status;

const cookieOf = (res: Answer, name: string): string | undefined =>
  res.headers
    .getSetCookie()
    .find((c) => c.startsWith(`${name}=`))
    ?.split(';')[0];
const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';

/** Signs in with the login form; answers the session cookie (`credits_ui=…`) and the Set-Cookie line itself. */
async function signIn(
  base: string,
  key: string,
  headers: Record<string, string> = {},
): Promise<{ cookie: string; setCookie: string; status: number }> {
  const form = await call(base, 'GET', '/ui/login', { headers: { accept: 'text/html', ...headers } });
  const login = cookieOf(form, 'credits_ui_login')!;
  const res = await call(base, 'POST', '/ui/login', {
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: login, ...headers },
    raw: new URLSearchParams({ csrf: csrfOf(form.text), key, next: '/ui' }).toString(),
  });
  const setCookie = res.headers.getSetCookie().find((c) => c.startsWith('credits_ui=')) ?? '';
  return { cookie: setCookie.split(';')[0] ?? '', setCookie, status: res.status };
}

async function auditOf(targetId: string): Promise<any[]> {
  const res = await call(app.baseUrl, 'GET', '/v1/audit-events?action=api-keys&limit=500', { key: app.keys.admin });
  expect(res.status, res.text).toBe(200);
  return res.body.data.filter((e: { target_id: string | null }) => e.target_id === targetId);
}

describe('2. an API key from creation to revocation', () => {
  it('is shown once at creation and never again; its creation is in the audit trail with the actor', async () => {
    const adminId = await keyIdOf(app.keys.admin);
    const made = await call(app.baseUrl, 'POST', '/v1/api-keys', {
      key: app.keys.admin,
      headers: { 'x-request-id': 'qa-make-key' },
      body: { name: 'qa partner', scopes: ['write'] },
    });
    // README L1183–L1184: 201 with the clear key once — and no cache on the way keeps a copy
    expect(made.status, made.text).toBe(201);
    expect(made.headers.get('cache-control')).toBe('no-store');
    const { id, key, prefix } = made.body as { id: string; key: string; prefix: string };
    expect(key.startsWith(prefix)).toBe(true);
    const secret = key.slice(prefix.length);
    expect(await apiStatus(app.baseUrl, key)).toBe(200);
    // README L1184: GET /v1/api-keys shows prefix, scopes, last_used_at, revoked_at — never the secret
    const list = await call(app.baseUrl, 'GET', '/v1/api-keys?limit=500', { key: app.keys.admin });
    const listed = list.body.data.find((k: { id: string }) => k.id === id);
    expect(Object.keys(listed).sort()).toEqual([
      'created_at',
      'id',
      'last_used_at',
      'name',
      'prefix',
      'revoked_at',
      'scopes',
    ]);
    expect(listed).toMatchObject({ prefix, scopes: ['write'], revoked_at: null });
    expect(list.text).not.toContain(secret);
    // README L481–L482: the creation's row names the key that acted (id and name), the route, what it made, the
    // status and the request id; the body is there with the secret never in it
    const rows = await auditOf(id);
    expect(rows).toEqual([
      expect.objectContaining({
        origin: 'api',
        actor_key_id: adminId,
        actor_name: 'test admin',
        action: 'POST /v1/api-keys',
        status: 201,
        request_id: 'qa-make-key',
        request: { name: 'qa partner', scopes: ['write'] },
      }),
    ]);
    // API.md L5: stored hashed — no table holds the secret (the key row, the trail, the idempotency records, events)
    for (const table of ['api_keys', 'audit_events', 'idempotency_records', 'outbox_events']) {
      const dump = JSON.stringify(await app.database.db(table).select('*'), (_k, v: unknown) =>
        typeof v === 'bigint' ? String(v) : v,
      );
      expect(dump, table).not.toContain(secret);
    }
  });

  it('revoked via the API: refused at once here (API, /ui, board, sessions), elsewhere within the cache', async () => {
    const made = await call(app.baseUrl, 'POST', '/v1/api-keys', {
      key: app.keys.admin,
      body: { name: 'qa doomed admin', scopes: ['admin'] },
    });
    expect(made.status, made.text).toBe(201);
    const { id, key } = made.body as { id: string; key: string };
    const asBasic = { authorization: basic('ops', key) };
    // in use everywhere: this process (API, pages, board, a session), another that remembers it, one that does not
    expect(await apiStatus(app.baseUrl, key)).toBe(200);
    expect(await pageStatus(app.baseUrl, '/ui', asBasic)).toBe(200);
    expect(await pageStatus(app.baseUrl, '/admin/queues', asBasic)).toBe(200);
    const session = await signIn(app.baseUrl, key);
    expect(session.status).toBe(303);
    expect(await pageStatus(app.baseUrl, '/ui', { cookie: session.cookie })).toBe(200);
    expect(await apiStatus(cached.baseUrl!, key)).toBe(200);
    expect(await pageStatus(cached.baseUrl!, '/admin/queues', asBasic)).toBe(200);
    expect(await pageStatus(cached.baseUrl!, '/ui', { cookie: session.cookie })).toBe(200);
    expect(await apiStatus(uncached.baseUrl!, key)).toBe(200);

    const revoked = await call(app.baseUrl, 'POST', `/v1/api-keys/${id}/revoke`, { key: app.keys.admin });
    expect(revoked.status, revoked.text).toBe(200);
    expect(revoked.body.revoked_at).toBe(app.clock.now().toISOString());
    // README L652: revoked in this process (the route drops it from this process's cache): refused at once — the
    // API (API.md L45: a revoked key is a bad key, 401), the pages and Bull Board (API.md L7–L8: an admin key only)
    expectProblem(await call(app.baseUrl, 'GET', '/v1/clients', { key }), 401, 'unauthorized');
    expect(await pageStatus(app.baseUrl, '/ui', asBasic)).toBe(401);
    expect(await pageStatus(app.baseUrl, '/admin/queues', asBasic)).toBe(401);
    expect((await call(app.baseUrl, 'GET', '/admin/queues/api/queues', { headers: asBasic })).status).toBe(401);
    // the session opened with it ends at once, in every process (its key is read with the session, no cache):
    // a browser is sent to the login form (README L430–L431)
    const ended = await call(app.baseUrl, 'GET', '/ui', { headers: { accept: 'text/html', cookie: session.cookie } });
    expect(ended.status).toBe(303);
    expect(ended.headers.get('location')).toBe('/ui/login?next=%2Fui');
    expect(await pageStatus(cached.baseUrl!, '/ui', { cookie: session.cookie })).toBe(303);
    // README L652: a process with API_KEY_CACHE_MS=0 reads api_keys on every request: refused at once
    expect(await apiStatus(uncached.baseUrl!, key)).toBe(401);
    // README L652, L1026–L1027: another process remembers its check for API_KEY_CACHE_MS — still taken while the
    // cache clock has not moved — and refuses it once that time has passed (no real time waited: `ticks`)
    expect(await apiStatus(cached.baseUrl!, key)).toBe(200);
    ticks += CACHE_MS;
    expect(await apiStatus(cached.baseUrl!, key)).toBe(401);
    expect(await pageStatus(cached.baseUrl!, '/admin/queues', asBasic)).toBe(401);
    // README L479–L482: the revocation is in the trail, with the key that did it
    expect(await auditOf(id)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          origin: 'api',
          actor_key_id: await keyIdOf(app.keys.admin),
          actor_name: 'test admin',
          action: 'POST /v1/api-keys/{id}/revoke',
          status: 200,
        }),
      ]),
    );
  });

  it('revoked in the database (as the CLI does): this process refuses it within API_KEY_CACHE_MS', async () => {
    const made = await createApiKey(app.database.db, {
      name: 'qa cli-revoked',
      scopes: ['admin'],
      now: app.clock.now(),
    });
    const asBasic = { authorization: basic('', made.key) };
    expect(await apiStatus(app.baseUrl, made.key)).toBe(200);
    expect(await pageStatus(app.baseUrl, '/admin/queues', asBasic)).toBe(200);
    expect(await apiStatus(uncached.baseUrl!, made.key)).toBe(200);
    // `npm run cli -- keys revoke <id>` writes revoked_at with revokeApiKey (src/cli/main.ts), no process told
    await revokeApiKey(app.database.db, made.id, app.clock.now());
    // README L652: API_KEY_CACHE_MS=0 reads api_keys on every request — refused at once
    expect(await apiStatus(uncached.baseUrl!, made.key)).toBe(401);
    // README L652: "stops working everywhere within this time" — remembered until then, refused at the bound
    expect(await apiStatus(app.baseUrl, made.key)).toBe(200);
    ticks += CACHE_MS - 1;
    expect(await pageStatus(app.baseUrl, '/admin/queues', asBasic)).toBe(200);
    ticks += 1;
    expect(await apiStatus(app.baseUrl, made.key)).toBe(401);
    expect(await pageStatus(app.baseUrl, '/admin/queues', asBasic)).toBe(401);
    expect(await pageStatus(app.baseUrl, '/ui', asBasic)).toBe(401);
  });

  it('last_used_at: the minute of the latest use, with the cache on (within API_KEY_CACHE_MS)', async () => {
    const made = await createApiKey(app.database.db, { name: 'qa used', scopes: ['read'], now: app.clock.now() });
    const lastUsed = async () =>
      (await call(app.baseUrl, 'GET', '/v1/api-keys?limit=500', { key: app.keys.admin })).body.data.find(
        (k: { id: string }) => k.id === made.id,
      ).last_used_at as string | null;
    // the service's clock and the cache's move together here, as the wall clock moves both in production
    const at = (iso: string) => {
      app.clock.set(iso);
      tickTo(iso);
    };
    // from a whole minute ahead of both clocks (`ticks` only moves forward, and other tests may have moved it)
    const clockBefore = app.clock.now();
    const start = nextMinute(Math.max(ticks, clockBefore.getTime()));
    const plus = (seconds: number) => new Date(start + seconds * 1_000).toISOString();
    try {
      at(plus(0));
      expect(await lastUsed()).toBeNull();
      expect(await apiStatus(app.baseUrl, made.key)).toBe(200);
      // README L1184: last_used_at to the minute
      expect(await lastUsed()).toBe(plus(0));
      at(plus(40));
      expect(await apiStatus(app.baseUrl, made.key)).toBe(200);
      expect(await lastUsed()).toBe(plus(0));
      at(plus(70));
      expect(await apiStatus(app.baseUrl, made.key)).toBe(200);
      expect(await lastUsed()).toBe(plus(70));
      // a use the cache answers does not read the row: later by at most API_KEY_CACHE_MS (the OpenAPI document's
      // description of last_used_at says so; README L652 the cache)
      at(plus(140));
      expect(await apiStatus(app.baseUrl, made.key)).toBe(200);
      expect(await lastUsed()).toBe(plus(140));
      app.clock.set(plus(240));
      ticks += CACHE_MS - 1;
      expect(await apiStatus(app.baseUrl, made.key)).toBe(200);
      expect(await lastUsed()).toBe(plus(140));
      // a request refused for its scope presented the key all the same: it counts as a use
      ticks += 1;
      expect((await call(app.baseUrl, 'POST', '/v1/clients', { key: made.key, body: {} })).status).toBe(403);
      expect(await lastUsed()).toBe(plus(240));
    } finally {
      app.clock.set(clockBefore);
    }
  });

  it('an admin key may revoke itself while another lives; the last live admin key is kept (409)', async () => {
    const self = await call(app.baseUrl, 'POST', '/v1/api-keys', {
      key: app.keys.admin,
      body: { name: 'qa self', scopes: ['admin'] },
    });
    const revokedSelf = await call(app.baseUrl, 'POST', `/v1/api-keys/${self.body.id}/revoke`, { key: self.body.key });
    expect(revokedSelf.status, revokedSelf.text).toBe(200);
    expect(await apiStatus(app.baseUrl, self.body.key)).toBe(401);
    // every other live admin key revoked: the test's own admin key is the last one
    const list = await call(app.baseUrl, 'GET', '/v1/api-keys?limit=500', { key: app.keys.admin });
    const adminId = await keyIdOf(app.keys.admin);
    for (const k of list.body.data as Array<{ id: string; scopes: string[]; revoked_at: string | null }>) {
      if (k.id === adminId || k.revoked_at !== null || !k.scopes.includes('admin')) continue;
      expect((await call(app.baseUrl, 'POST', `/v1/api-keys/${k.id}/revoke`, { key: app.keys.admin })).status).toBe(
        200,
      );
    }
    // README L1185: 409 for the last live admin key (README L453: never the last admin key)
    const last = await call(app.baseUrl, 'POST', `/v1/api-keys/${adminId}/revoke`, { key: app.keys.admin });
    expectProblem(last, 409, 'conflict');
    expect(await apiStatus(app.baseUrl, app.keys.admin)).toBe(200);
    // README L483: a refused call is in the trail with its status
    expect((await auditOf(adminId)).map((e) => e.status)).toContain(409);
  });
});

// --------------------------------------------------------------------------------------------------------------
// 3. The rate limit
// --------------------------------------------------------------------------------------------------------------

describe('3. the rate limit (RATE_LIMIT_PER_MINUTE=5 in two API processes; the limiter reads `ticks`)', () => {
  const fresh = async (name: string, scope: 'read' | 'write' | 'admin') =>
    (await createApiKey(app.database.db, { name, scopes: [scope], now: app.clock.now() })).key;

  it('the 6th request of a key in a minute is 429 rate_limited with Retry-After; other keys go on', async () => {
    tickToNextMinute(30);
    const key = await fresh('qa limited', 'write');
    const other = await fresh('qa other', 'write');
    const base = limitedA.baseUrl!;
    for (let n = 1; n <= RATE_LIMIT; n += 1) {
      const res = await call(base, 'GET', '/v1/clients', { key });
      expect(res.status, `request ${n}`).toBe(200);
      // README names no rate-limit header; the limiter sends IETF draft-7 RateLimit-Policy and RateLimit
      // (src/http/rate-limit.ts): the budget left and the seconds to the minute's end
      expect(res.headers.get('ratelimit-policy')).toBe('5;w=60');
      expect(res.headers.get('ratelimit')).toBe(`limit=5, remaining=${RATE_LIMIT - n}, reset=30`);
    }
    // API.md L46: too many requests → 429 `rate_limited` (README L651: RATE_LIMIT_PER_MINUTE)
    const limited = await call(base, 'GET', '/v1/clients', { key });
    expectProblem(limited, 429, 'rate_limited');
    // the minute ends in 30 s (ticks at :30): Retry-After says so
    expect(limited.headers.get('retry-after')).toBe('30');
    expect(limited.headers.get('ratelimit')).toBe('limit=5, remaining=0, reset=30');
    // a refused request writes nothing (not even with an Idempotency-Key)
    const before = await counts();
    const write = await call(base, 'POST', '/v1/clients', {
      key,
      headers: { 'idempotency-key': 'qa-limited' },
      body: { external_ref: 'qa-limited', name: 'L' },
    });
    expectProblem(write, 429, 'rate_limited');
    expect(await counts()).toEqual(before);
    // the limit is per key (README L653: "1–100 requests of a key"): another key of the same process goes on
    expect(await apiStatus(base, other)).toBe(200);
    // refused before the limit (a 403 of a write key on an admin route) spends nothing of the budget
    for (let n = 0; n < 3; n += 1) {
      expect((await call(base, 'GET', '/v1/api-keys', { key: other })).status).toBe(403);
    }
    for (let n = 2; n <= RATE_LIMIT; n += 1) expect(await apiStatus(base, other), `other's ${n}`).toBe(200);
    expect((await call(base, 'GET', '/v1/clients', { key: other })).status).toBe(429);
    // the next minute: a new budget (the window is the minute of `ticks`, so no waiting)
    tickToNextMinute();
    const next = await call(base, 'GET', '/v1/clients', { key });
    expect(next.status).toBe(200);
    expect(next.headers.get('ratelimit')).toBe('limit=5, remaining=4, reset=60');
  });

  it('the pages and Bull Board do not count against a key’s budget', async () => {
    tickToNextMinute(30);
    const key = await fresh('qa limited admin', 'admin');
    const base = limitedA.baseUrl!;
    for (let n = 1; n <= RATE_LIMIT; n += 1) expect(await apiStatus(base, key)).toBe(200);
    expectProblem(await call(base, 'GET', '/v1/clients', { key }), 429, 'rate_limited');
    // README (RATE_LIMIT_PER_MINUTE): the rate limit counts a key's requests to the API (`/v1`, and `/metrics`), not
    // to the pages nor to Bull Board (src/http/rate-limit.ts, a step of the API's routes). The same key spent on the
    // API still opens /ui and Bull Board as often as it likes, and a page's form runs its route without the limiter
    // (submitRoute); /metrics is one of the API's routes, and is refused with the rest.
    const asBasic = { authorization: basic('ops', key) };
    for (let n = 0; n <= RATE_LIMIT; n += 1) {
      expect(await pageStatus(base, '/ui/clients', asBasic)).toBe(200);
      expect((await call(base, 'GET', '/admin/queues/api/queues', { headers: asBasic })).status).toBe(200);
    }
    expectProblem(await call(base, 'GET', '/metrics', { key }), 429, 'rate_limited');
    // what needs no key counts against nobody's budget
    expect((await call(base, 'GET', '/healthz')).status).toBe(200);
  });

  it('two processes share one budget: the limit at least, limit + (P − 1) × 1 at most', async () => {
    tickToNextMinute(30);
    const key = await fresh('qa shared', 'read');
    const statuses: number[] = [];
    for (let n = 0; n < 4 * RATE_LIMIT; n += 1) {
      const base = n % 2 === 0 ? limitedA.baseUrl! : limitedB.baseUrl!;
      statuses.push(await apiStatus(base, key));
    }
    const admitted = statuses.filter((s) => s === 200).length;
    // README L653, L1025–L1026: P = 2 processes admit at most limit + (P − 1) × 1% of it (at least 1) a minute,
    // and never refuse before the shared count reaches the limit
    expect(admitted).toBeGreaterThanOrEqual(RATE_LIMIT);
    expect(admitted).toBeLessThanOrEqual(RATE_LIMIT + 1);
    expect(statuses.slice(admitted)).toEqual(statuses.slice(admitted).map(() => 429));
    // and the count starts again in the next minute, in both
    tickToNextMinute();
    expect(await apiStatus(limitedA.baseUrl!, key)).toBe(200);
    expect(await apiStatus(limitedB.baseUrl!, key)).toBe(200);
  });
});

// --------------------------------------------------------------------------------------------------------------
// 4. Body limits and content types (BODY_LIMIT=4kb)
// --------------------------------------------------------------------------------------------------------------

/** A POST /v1/clients body of exactly `bytes` bytes (valid JSON; an unknown field pads it). */
const bodyOf = (bytes: number): string => {
  const head = '{"external_ref":"qa-size","name":"S","pad":"';
  return `${head}${'x'.repeat(bytes - head.length - 2)}"}`;
};

describe('4. body limits and content types', () => {
  it('over BODY_LIMIT: 413 payload_too_large — declared, chunked or compressed — writing nothing', async () => {
    const before = await counts();
    const asWrite = { authorization: `Bearer ${app.keys.write}` };
    // at the limit: read (then refused for its unknown field, 422), not 413
    const at = await call(app.baseUrl, 'POST', '/v1/clients', { key: app.keys.write, raw: bodyOf(BODY_LIMIT_BYTES) });
    expect(at.status, at.text).toBe(422);
    // README L1096: over BODY_LIMIT → 413 `payload_too_large`
    const over = await call(app.baseUrl, 'POST', '/v1/clients', {
      key: app.keys.write,
      raw: bodyOf(BODY_LIMIT_BYTES + 1),
    });
    expectProblem(over, 413, 'payload_too_large');
    // sent in chunks, with no Content-Length
    const chunked = await rawCall(app.baseUrl, 'POST', '/v1/clients', {
      headers: { ...asWrite, 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      chunks: [Buffer.from(bodyOf(3_000)), Buffer.from(' '.repeat(3_000))],
    });
    expectProblem(chunked, 413, 'payload_too_large', 'chunked');
    // compressed to a few bytes: the limit is on what it inflates to (a small gzip bomb)
    const bomb = gzipSync(Buffer.from(bodyOf(200_000)));
    expect(bomb.length).toBeLessThan(BODY_LIMIT_BYTES);
    const gzipped = await rawCall(app.baseUrl, 'POST', '/v1/clients', {
      headers: {
        ...asWrite,
        'content-type': 'application/json',
        'content-encoding': 'gzip',
        'content-length': String(bomb.length),
      },
      chunks: [bomb],
    });
    expectProblem(gzipped, 413, 'payload_too_large', 'gzip');
    expect(await counts()).toEqual(before);
  });

  it('a body that is not JSON is 422 validation_failed naming (body)', async () => {
    const post = (headers: Record<string, string>, raw: string) =>
      call(app.baseUrl, 'POST', '/v1/clients', { key: app.keys.write, headers, raw });
    // README L1088–L1089: every 422 carries `errors`; a refusal not tied to one field names `(body)`
    const broken = await post({ 'content-type': 'application/json' }, '{"external_ref": "qa-broken",');
    expectProblem(broken, 422, 'validation_failed');
    expect(broken.body.errors).toEqual([{ field: '(body)', message: 'is not valid JSON' }]);
    // API.md L4: JSON in — JSON sent under another media type is not read as JSON (422, not 415)
    const plain = await post({ 'content-type': 'text/plain' }, JSON.stringify({ external_ref: 'qa-p', name: 'P' }));
    expectProblem(plain, 422, 'validation_failed');
    expect(plain.body.errors).toEqual([
      { field: '(body)', message: 'must be JSON, sent with Content-Type: application/json (not text/plain)' },
    ]);
    const form = await post({ 'content-type': 'application/x-www-form-urlencoded' }, 'external_ref=qa-f&name=F');
    expectProblem(form, 422, 'validation_failed');
    expect(form.body.errors[0].field).toBe('(body)');
    expect(await countRows(app, 'clients')).toBe(
      (await app.database.db('clients').whereNotIn('external_ref', ['qa-p', 'qa-f', 'qa-broken'])).length,
    );
  });

  it('a JSON body on a route that takes none is refused 422 (an empty object is let through)', async () => {
    const asRead = { authorization: `Bearer ${app.keys.read}`, 'content-type': 'application/json' };
    const withBody = (text: string) =>
      rawCall(app.baseUrl, 'GET', '/v1/clients', {
        headers: { ...asRead, 'content-length': String(Buffer.byteLength(text)) },
        chunks: [Buffer.from(text)],
      });
    // README L389–L390: 422 validation_failed is a problem every route can give; a stray body is one
    // (src/http/run-route.ts "a route that takes no body refuses one, rather than ignoring what the caller meant")
    const stray = await withBody('{"external_ref":"qa"}');
    expectProblem(stray, 422, 'validation_failed');
    expect(stray.body.errors).toEqual([{ field: '(body)', message: 'this route takes no body' }]);
    expect((await withBody('{}')).status).toBe(200);
    // a POST that takes no body, likewise
    const verify = await call(app.baseUrl, 'POST', '/v1/admin/verify', { key: app.keys.admin, body: { deep: true } });
    expectProblem(verify, 422, 'validation_failed');
  });

  it('the key is checked before the body is read: no key + a bad or large body is 401', async () => {
    // API.md L6: "No key → 401", whatever the body: the parser runs after the route's key check and rate limit
    // (src/http/app.ts), so no stranger's body is read (or inflated) before it is refused
    const broken = await call(app.baseUrl, 'POST', '/v1/clients', { raw: '{"oops"' });
    expectProblem(broken, 401, 'unauthorized');
    const large = await call(app.baseUrl, 'POST', '/v1/clients', { raw: bodyOf(BODY_LIMIT_BYTES + 1) });
    expectProblem(large, 401, 'unauthorized');
    expectProblem(await call(app.baseUrl, 'POST', '/v1/clients', { body: {} }), 401, 'unauthorized');
    // with a key, the body is read and judged as before
    expectProblem(
      await call(app.baseUrl, 'POST', '/v1/clients', { key: app.keys.write, raw: '{"oops"' }),
      422,
      'validation_failed',
    );
    expectProblem(
      await call(app.baseUrl, 'POST', '/v1/clients', { key: app.keys.write, raw: bodyOf(BODY_LIMIT_BYTES + 1) }),
      413,
      'payload_too_large',
    );
  });
});

// --------------------------------------------------------------------------------------------------------------
// 5. The back office (/ui) and Bull Board
// --------------------------------------------------------------------------------------------------------------

describe('5. /ui and Bull Board', () => {
  it('HTTP Basic with any user name and an admin key opens both; read and write keys are refused', async () => {
    // API.md L35: "HTTP Basic with any user name and an admin key as the password"
    for (const user of ['', 'anyone', 'Ünïcode user@example']) {
      const auth = { authorization: basic(user, app.keys.admin) };
      expect(await pageStatus(app.baseUrl, '/ui', auth), `/ui as "${user}"`).toBe(200);
      expect(await pageStatus(app.baseUrl, '/admin/queues', auth), `board as "${user}"`).toBe(200);
    }
    // API.md L7, L45: Bull Board and /ui need an admin key — a smaller one is a scope too small: 403 `forbidden`
    for (const key of [app.keys.write, app.keys.read]) {
      for (const path of ['/ui', '/ui/api-keys', '/admin/queues', '/admin/queues/api/queues']) {
        const res = await call(app.baseUrl, 'GET', path, { headers: { authorization: basic('ops', key) } });
        expectProblem(res, 403, 'forbidden', path);
      }
    }
    // the login form with a write key: its page again, 401 ("not an admin key"); README does not say which status
    const form = await signIn(app.baseUrl, app.keys.write);
    expect(form.status).toBe(401);
    expect(form.cookie).toBe('');
  });

  it('Bull Board takes no session cookie, and no job from what a cross-site form can send (fixed)', async () => {
    const session = await signIn(app.baseUrl, app.keys.admin);
    // API.md L7–L8: the session cookie is the pages' (Path=/ui); the board asks for HTTP Basic (src/http/admin-auth.ts)
    const board = await call(app.baseUrl, 'GET', '/admin/queues/api/queues', { headers: { cookie: session.cookie } });
    expectProblem(board, 401, 'unauthorized');
    // a browser that signed in to the board with Basic sends the credentials again by itself, to any site's form:
    // such a form can POST text/plain, urlencoded or multipart only. The board's one POST (add a job) took such a
    // body as an empty job and queued it (fixed: src/admin/bull-board.ts refuses a POST that is not JSON, 403)
    const jobs = await queuedJobs();
    const asAdmin = { authorization: basic('ops', app.keys.admin), origin: 'https://evil.example' };
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const res = await call(app.baseUrl, 'POST', '/admin/queues/api/queues/consumption/add', {
        headers: { ...asAdmin, 'content-type': type },
        raw: type === 'text/plain' ? JSON.stringify({ name: 'consume', data: {} }) : 'name=consume',
      });
      expectProblem(res, 403, 'forbidden', type);
    }
    expect(await queuedJobs()).toBe(jobs);
    // its own page posts JSON (which another site cannot send without a preflight): that still adds the job
    const own = await call(app.baseUrl, 'POST', '/admin/queues/api/queues/reports/add', {
      headers: { authorization: basic('ops', app.keys.admin) },
      body: { name: 'qa-board-job', data: {} },
    });
    expect(own.status, own.text).toBe(200);
    expect(await queuedJobs()).toBe(jobs + 1);
    await app.ctx.queues.reports.remove(own.body.job.id);
  });

  it('the session cookie: HttpOnly, SameSite=Strict, Path=/ui, a working day; Secure behind a TLS proxy', async () => {
    // README L431: "keeps a session cookie for a working day" (8 h, src/ui/session.ts)
    const plain = await signIn(app.baseUrl, app.keys.admin);
    expect(plain.setCookie).toMatch(/^credits_ui=[\w-]+; Path=\/ui; Max-Age=28800; HttpOnly; SameSite=Strict$/);
    // README L629: TRUST_PROXY (default loopback) — X-Forwarded-Proto https from it makes the cookie Secure;
    // over plain HTTP it is not (above)
    const proxied = await signIn(app.baseUrl, app.keys.admin, { 'x-forwarded-proto': 'https' });
    expect(proxied.status).toBe(303);
    expect(proxied.setCookie).toMatch(/; HttpOnly; SameSite=Strict; Secure$/);
    // the session lasts the working day on the server too: taken until its last second, then the login form
    const signedAt = app.clock.now().getTime();
    try {
      app.clock.set(new Date(signedAt + 8 * 3_600_000 - 1_000));
      expect(await pageStatus(app.baseUrl, '/ui', { cookie: plain.cookie })).toBe(200);
      app.clock.set(new Date(signedAt + 8 * 3_600_000));
      expect(await pageStatus(app.baseUrl, '/ui', { cookie: plain.cookie })).toBe(303);
    } finally {
      app.clock.set(new Date(signedAt));
    }
  });

  it('logging out needs the form’s token; it ends the session on the server, not only in the browser', async () => {
    const session = await signIn(app.baseUrl, app.keys.admin);
    const page = await call(app.baseUrl, 'GET', '/ui', { headers: { accept: 'text/html', cookie: session.cookie } });
    const csrf = /action="\/ui\/logout".*?name="csrf" value="([^"]+)"/s.exec(page.text)?.[1];
    expect(csrf, 'the sign-out form carries its token').toBeDefined();
    const form = { 'content-type': 'application/x-www-form-urlencoded', cookie: session.cookie };
    // README L432: every form carries a CSRF token tied to the session — a logout without it is refused
    const without = await call(app.baseUrl, 'POST', '/ui/logout', { headers: form, raw: '' });
    expect(without.status).toBe(403);
    expect(await pageStatus(app.baseUrl, '/ui', { cookie: session.cookie })).toBe(200);
    const sessions = await countRows(app, 'ui_sessions');
    const out = await call(app.baseUrl, 'POST', '/ui/logout', { headers: form, raw: `csrf=${csrf}` });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/ui/login');
    expect(out.headers.getSetCookie().find((c) => c.startsWith('credits_ui='))).toMatch(/^credits_ui=; .*Max-Age=0/);
    // the row is gone: the cookie kept by someone else is no session any more
    expect(await countRows(app, 'ui_sessions')).toBe(sessions - 1);
    expect(await pageStatus(app.baseUrl, '/ui', { cookie: session.cookie })).toBe(303);
  });

  it('a state-changing form without its own CSRF token is refused (403) and changes nothing', async () => {
    const made = await createApiKey(app.database.db, {
      name: 'qa form target',
      scopes: ['read'],
      now: app.clock.now(),
    });
    const session = await signIn(app.baseUrl, app.keys.admin);
    const other = await signIn(app.baseUrl, app.keys.admin);
    const asSession = { accept: 'text/html', cookie: session.cookie };
    const mine = csrfOf(
      (await call(app.baseUrl, 'GET', `/ui/api-keys/${made.id}/revoke`, { headers: asSession })).text,
    );
    const theirs = csrfOf(
      (await call(app.baseUrl, 'GET', '/ui', { headers: { accept: 'text/html', cookie: other.cookie } })).text,
    );
    const asBasic = { accept: 'text/html', authorization: basic('ops', app.keys.admin) };
    const basicToken = csrfOf((await call(app.baseUrl, 'GET', '/ui', { headers: asBasic })).text);
    expect(new Set([mine, theirs, basicToken]).size).toBe(3);
    const revoke = (headers: Record<string, string>, form: Record<string, string>) =>
      call(app.baseUrl, 'POST', `/ui/api-keys/${made.id}/revoke`, {
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        raw: new URLSearchParams(form).toString(),
      });
    const typesBefore = await countRows(app, 'credit_types');
    // README L432: every form carries a CSRF token tied to the session
    expect((await revoke(asSession, {})).status).toBe(403);
    expect((await revoke(asSession, { csrf: theirs })).status).toBe(403);
    expect((await revoke(asSession, { csrf: basicToken })).status).toBe(403);
    // HTTP Basic is sent by a browser by itself as well: its forms need their token too
    expect((await revoke(asBasic, {})).status).toBe(403);
    // README L629: a form from another origin is refused, token or not
    expect((await revoke({ ...asSession, origin: 'https://evil.example' }, { csrf: mine })).status).toBe(403);
    const create = await call(app.baseUrl, 'POST', '/ui/credit-types', {
      headers: { ...asSession, 'content-type': 'application/x-www-form-urlencoded' },
      raw: new URLSearchParams({ code: 'qa-csrf', name: 'C', unit: 'u', decimals: '0' }).toString(),
    });
    expect(create.status).toBe(403);
    expect(await countRows(app, 'credit_types')).toBe(typesBefore);
    expect((await app.database.db('api_keys').where({ id: made.id }).first()).revoked_at).toBeNull();
    expect(await apiStatus(app.baseUrl, made.key)).toBe(200);
    // with its own token the same form revokes
    const done = await revoke({ ...asSession, origin: app.baseUrl }, { csrf: mine });
    expect(done.status).toBe(303);
    expect(await apiStatus(app.baseUrl, made.key)).toBe(401);
  });
});

// --------------------------------------------------------------------------------------------------------------
// 6. Headers: security headers, request ids, CORS
// --------------------------------------------------------------------------------------------------------------

describe('6. headers', () => {
  it('helmet’s security headers on every kind of answer: success, refusals, limits, pages, the board', async () => {
    const answers: Array<[string, Answer]> = [
      ['200', await call(app.baseUrl, 'GET', '/v1/clients', { key: app.keys.read })],
      ['401', await call(app.baseUrl, 'GET', '/v1/clients')],
      ['403', await call(app.baseUrl, 'GET', '/v1/api-keys', { key: app.keys.read })],
      ['404', await call(app.baseUrl, 'GET', '/v1/nothing-here', { key: app.keys.read })],
      ['413', await call(app.baseUrl, 'POST', '/v1/clients', { key: app.keys.write, raw: bodyOf(5_000) })],
      ['422', await call(app.baseUrl, 'POST', '/v1/clients', { key: app.keys.write, raw: '{' })],
      ['/openapi.json', await call(app.baseUrl, 'GET', '/openapi.json')],
      ['/docs', await call(app.baseUrl, 'GET', '/docs')],
      ['/ui/login', await call(app.baseUrl, 'GET', '/ui/login', { headers: { accept: 'text/html' } })],
      ['/admin/queues 401', await call(app.baseUrl, 'GET', '/admin/queues')],
      [
        '/admin/queues',
        await call(app.baseUrl, 'GET', '/admin/queues', { headers: { authorization: basic('x', app.keys.admin) } }),
      ],
    ];
    for (let n = 0; n <= RATE_LIMIT; n += 1)
      await call(limitedA.baseUrl!, 'GET', '/v1/clients', { key: app.keys.read });
    answers.push(['429', await call(limitedA.baseUrl!, 'GET', '/v1/clients', { key: app.keys.read })]);
    expect(answers.at(-1)![1].status).toBe(429);
    for (const [what, res] of answers) {
      // README L781: helmet's security headers on the API and the pages
      expect(res.headers.get('x-content-type-options'), what).toBe('nosniff');
      expect(res.headers.get('x-frame-options'), what).toBe('SAMEORIGIN');
      expect(res.headers.get('strict-transport-security'), what).toBe('max-age=31536000; includeSubDomains');
      expect(res.headers.get('cross-origin-opener-policy'), what).toBe('same-origin');
      expect(res.headers.get('cross-origin-resource-policy'), what).toBe('same-origin');
      expect(res.headers.get('referrer-policy'), what).toMatch(/^(no-referrer|same-origin)$/);
      expect(res.headers.get('x-powered-by'), what).toBeNull();
    }
    // the pages: a CSP of this origin only (README L432: no script of their own)
    const login = answers.find(([what]) => what === '/ui/login')![1];
    expect(login.headers.get('content-security-policy')).toContain("script-src 'self'");
    // /docs sets its own policy (src/http/openapi.ts DOCS_CSP): scripts and styles from this origin only
    const docs = answers.find(([what]) => what === '/docs')![1];
    expect(docs.headers.get('content-security-policy')).toContain("script-src 'self'");
  });

  it('X-Request-Id: the caller’s if a sane token (≤ 100 of [A-Za-z0-9_.-]), else a new UUID, everywhere', async () => {
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    const longest = `q.${'A-z_9'.repeat(19)}xyz`;
    expect(longest).toHaveLength(100);
    const places: Array<[string, string, CallOptions]> = [
      ['GET', '/v1/clients', { key: app.keys.read }],
      ['GET', '/v1/clients', {}],
      ['GET', '/v1/api-keys', { key: app.keys.read }],
      ['POST', '/v1/clients', { key: app.keys.write, raw: bodyOf(5_000) }],
      ['GET', '/nothing', {}],
      ['GET', '/ui/login', {}],
      ['GET', '/admin/queues', {}],
    ];
    for (const [method, path, options] of places) {
      const echo = async (id: string) =>
        (await call(app.baseUrl, method, path, { ...options, headers: { 'x-request-id': id } })).headers.get(
          'x-request-id',
        );
      // README L824–L825
      expect(await echo('qa-trace.1_OK'), `${method} ${path}`).toBe('qa-trace.1_OK');
      expect(await echo(longest), `${method} ${path}`).toBe(longest);
      expect(await echo(`${longest}x`), `${method} ${path}`).toMatch(uuid);
      expect(await echo('has space'), `${method} ${path}`).toMatch(uuid);
      expect(await echo('quote"<script>'), `${method} ${path}`).toMatch(uuid);
    }
  });

  it('CORS: no answer grants another origin anything, and a preflight is not granted', async () => {
    // API.md and README say nothing of CORS: the API is for servers and the pages are same-origin; a browser on
    // another origin may not read the answers
    const origin = { origin: 'https://elsewhere.example' };
    const get = await call(app.baseUrl, 'GET', '/v1/clients', { key: app.keys.read, headers: origin });
    expect(get.status).toBe(200);
    const preflight = await call(app.baseUrl, 'OPTIONS', '/v1/clients', {
      headers: {
        ...origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(preflight.status).toBeGreaterThanOrEqual(400);
    for (const res of [get, preflight]) {
      for (const name of [
        'access-control-allow-origin',
        'access-control-allow-credentials',
        'access-control-allow-headers',
      ]) {
        expect(res.headers.get(name), name).toBeNull();
      }
    }
  });
});
