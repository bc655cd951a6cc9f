import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/http/app.js';
import { type AnyRoute, defineRoute, expressPath } from '../../src/http/route.js';
import { createHttpApp, standardMounts } from '../../src/http/server.js';
import { httpDuration } from '../../src/metrics.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { logCapture } from '../helpers/log-capture.js';

/**
 * Routes anyone may call. Adding a public route means adding it here, on purpose; any other route
 * must answer 401 without a key.
 */
const PUBLIC = new Set(['GET /healthz', 'GET /readyz', 'GET /openapi.json', 'GET /docs', 'GET /docs/init.js']);
/** Middleware that runs before every route (logging, metrics, headers, body parsing, 404, errors). */
const GLOBAL_MIDDLEWARE = [
  'requestId' /* request-log.ts: X-Request-Id and the one log line */,
  'recordHttpMetrics',
  'drainGate' /* refuses new requests while the process drains (src/http/drain.ts) */,
  'precomputedHeaders' /* helmet's headers, computed once (request-log.ts) */,
  'jsonParser',
  'exactNumbers' /* json-body.ts: the second, exact reading of a body with a long number */,
  'exactRoute' /* app.ts: a route without parameters by its method and path, with the same steps (auth first) */,
  'notFound',
  'problemForError',
];

const log = logCapture();

let app: TestApp;
beforeAll(async () => {
  // the rate limit counts fixed minutes of `ticks`: a frozen instant keeps the 41 requests of its test in one
  // minute however slowly a loaded host answers them (on the wall clock they crossed a minute now and then)
  const frozen = Date.parse('2026-01-15T10:00:30.000Z');
  app = await startTestApp({
    env: { LOG_LEVEL: 'debug', RATE_LIMIT_PER_MINUTE: '40' },
    logTo: log.stream,
    ticks: () => frozen,
  });
});
afterAll(async () => {
  await app.close();
});

const sample = (openApiPath: string) => openApiPath.replace(/\{\w+\}/g, '00000000-0000-4000-8000-000000000000');

describe('every route is behind a key with a scope', () => {
  it('the express stack holds only the route table, the declared mounts and the known global middleware', () => {
    const { app: express, routes } = createHttpApp(app.ctx);
    const table = new Set(routes.map((r: AnyRoute) => `${r.method.toUpperCase()} ${expressPath(r.path)}`));
    const mounts = new Set(standardMounts(app.ctx).map((m) => m.path));
    const stack = (
      express as unknown as {
        router: {
          stack: Array<{
            name: string;
            route?: { path: string; methods: Record<string, boolean> };
            slash: boolean;
            rawPath?: string;
            handle: { steps?: string[] };
          }>;
        };
      }
    ).router.stack;
    const unknown: string[] = [];
    for (const layer of stack) {
      if (layer.route) {
        for (const method of Object.keys(layer.route.methods)) {
          if (!table.has(`${method.toUpperCase()} ${layer.route.path}`))
            unknown.push(`${method.toUpperCase()} ${layer.route.path} (not in the route table)`);
        }
      } else if (!layer.slash) {
        if (!mounts.has(String(layer.rawPath)))
          unknown.push(`${layer.name} at ${layer.rawPath} (not a declared mount)`);
      } else if (layer.name === 'frontSteps') {
        // app.ts runs the steps of every request as one layer: each of them is known
        for (const step of layer.handle.steps ?? ['(none listed)'])
          if (!GLOBAL_MIDDLEWARE.includes(step)) unknown.push(`global middleware ${step} (in frontSteps)`);
      } else if (!GLOBAL_MIDDLEWARE.includes(layer.name)) {
        unknown.push(`global middleware ${layer.name}`);
      }
    }
    expect(unknown).toEqual([]);
  });

  it('each route declares its access; only the listed ones are public', () => {
    const { routes } = createHttpApp(app.ctx);
    for (const route of routes as AnyRoute[]) {
      expect(['public', 'read', 'write', 'admin'], `${route.method} ${route.path}`).toContain(route.access);
      const name = `${route.method.toUpperCase()} ${route.path}`;
      if (route.access === 'public') expect(PUBLIC, `${name} is public but not listed`).toContain(name);
      else expect(PUBLIC.has(name), `${name} is listed public but is ${route.access}`).toBe(false);
    }
  });

  it('changes of the catalogue and its prices, keys, webhook endpoints and the clock need an admin key', () => {
    // the audit trail records these from the API (run-route.ts): a `write` one would slip past it
    const { routes } = createHttpApp(app.ctx);
    const admin = /^\/v1\/(credit-types|packages|api-keys|audit-events|webhook-endpoints|webhook-deliveries|admin\/)/;
    const changes = (routes as AnyRoute[]).filter(
      (r) => admin.test(r.path) && (r.method !== 'get' || /key|audit/.test(r.path)),
    );
    expect(changes.length).toBeGreaterThanOrEqual(15);
    for (const route of changes) expect(route.access, `${route.method} ${route.path}`).toBe('admin');
  });

  it('answers 401 without a key and 403 with too small a scope, on every route, before reading the body', async () => {
    const { routes } = createHttpApp(app.ctx);
    const weaker = { write: app.keys.read, admin: app.keys.write } as const;
    for (const route of routes as AnyRoute[]) {
      if (route.access === 'public') continue;
      const url = sample(route.path);
      const body = route.method === 'get' || route.method === 'delete' ? undefined : {};
      const none = await app.request(route.method.toUpperCase(), url, { key: null, body });
      expect(none.status, `${route.method} ${route.path} without a key`).toBe(401);
      expect(none.body.code).toBe('unauthorized');
      const bad = await app.request(route.method.toUpperCase(), url, {
        key: 'crd_forged0000000000000000000000000000',
        body,
      });
      expect(bad.status, `${route.method} ${route.path} with a forged key`).toBe(401);
      if (route.access === 'write' || route.access === 'admin') {
        const small = await app.request(route.method.toUpperCase(), url, { key: weaker[route.access], body });
        expect(
          small.status,
          `${route.method} ${route.path} with a ${route.access === 'write' ? 'read' : 'write'} key`,
        ).toBe(403);
        expect(small.body.code).toBe('forbidden');
      }
    }
  });

  it('Bull Board and the pages need an admin key', async () => {
    for (const mount of standardMounts(app.ctx).filter((m) => m.access === 'admin')) {
      const none = await fetch(`${app.baseUrl}${mount.path}`, {
        headers: { accept: 'application/json' },
        redirect: 'manual',
      });
      expect(none.status, `${mount.path} without a key`).toBe(401);
      const basicWrite = `Basic ${Buffer.from(`x:${app.keys.write}`).toString('base64')}`;
      const write = await fetch(`${app.baseUrl}${mount.path}`, {
        headers: { accept: 'application/json', authorization: basicWrite },
        redirect: 'manual',
      });
      expect(write.status, `${mount.path} with a write key`).toBe(403);
      const basicAdmin = `Basic ${Buffer.from(`x:${app.keys.admin}`).toString('base64')}`;
      const admin = await fetch(`${app.baseUrl}${mount.path}`, {
        headers: { authorization: basicAdmin },
        redirect: 'manual',
      });
      expect(admin.status, `${mount.path} with an admin key`).toBeLessThan(400);
    }
  });
});

describe('a route without parameters is found by its method and path (app.ts exactRoutes)', () => {
  it('answers by the route the router would choose, names it in the metrics, and hands its errors on', async () => {
    const named = (method: 'get' | 'post', routePath: string, name: string, fail = false): AnyRoute =>
      defineRoute({
        method,
        path: routePath,
        access: 'public',
        tag: 'test',
        summary: name,
        responses: { 200: { description: 'ok' } },
        handler: async () => {
          if (fail) throw new Error('a bug');
          return { status: 200, body: { name } };
        },
      });
    const { app: express } = buildApp(app.ctx, [
      named('get', '/v1/things/{id}', 'one thing'),
      // never reached through the router, whose earlier route takes the path: nor through the table
      named('get', '/v1/things/all', 'shadowed'),
      named('post', '/v1/things/all', 'posted'),
      named('get', '/v1/other', 'other'),
      named('get', '/v1/broken', 'broken', true),
    ]);
    const server = express.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const nameOf = async (route: string, method = 'GET') => {
        const answer = await fetch(base + route, { method });
        return answer.status === 200 ? ((await answer.json()) as { name: string }).name : answer.status;
      };
      expect(await nameOf('/v1/things/all')).toBe('one thing');
      expect(await nameOf('/v1/things/all', 'POST')).toBe('posted');
      expect(await nameOf('/v1/other')).toBe('other');
      // what the table does not hold exactly, the router still finds: another case, a trailing slash
      expect(await nameOf('/V1/Other')).toBe('other');
      expect(await nameOf('/v1/other/')).toBe('other');
      expect(await nameOf('/v1/broken')).toBe(500);
      expect(await nameOf('/v1/missing')).toBe(404);
      const observed = (await httpDuration.get()).values.filter((v) => v.metricName?.endsWith('_count'));
      expect(observed.some((v) => v.labels.route === '/v1/other' && v.labels.status === '200')).toBe(true);
      expect(observed.some((v) => v.labels.route === '/v1/broken' && v.labels.status === '500')).toBe(true);
    } finally {
      server.close();
    }
  });
});

describe('keys are stored hashed', () => {
  it('the database holds no key, only a lookup prefix and a SHA-256', async () => {
    const rows = await app.database.db('api_keys').select('*');
    const dump = JSON.stringify(rows, (_k, v: unknown) =>
      Buffer.isBuffer(v) ? v.toString('hex') : typeof v === 'bigint' ? v.toString() : v,
    );
    for (const key of Object.values(app.keys)) {
      expect(dump).not.toContain(key);
      expect(dump).toContain(key.slice(0, 12));
    }
    expect(rows.every((r) => Buffer.isBuffer(r.hash) && r.hash.length === 32)).toBe(true);
  });
});

describe('rate limit per key', () => {
  it('answers 429 rate_limited once a key spends its minute, without touching another key', async () => {
    const spent = await app.request('GET', '/v1/credit-types', { key: app.keys.read });
    const budget = Number(spent.headers.get('ratelimit')?.match(/limit=(\d+)/)?.[1] ?? 40);
    expect(budget).toBe(40);
    let last = spent;
    for (let i = 0; i < 45 && last.status !== 429; i += 1)
      last = await app.request('GET', '/v1/credit-types', { key: app.keys.read });
    expect(last.status).toBe(429);
    expect(last.body).toMatchObject({ code: 'rate_limited', status: 429 });
    expect(Number(last.headers.get('retry-after'))).toBeGreaterThan(0);
    const other = await app.request('GET', '/v1/credit-types', { key: app.keys.write });
    expect(other.status).toBe(200);
  });
});

describe('headers', () => {
  it('sets security headers on API answers', async () => {
    const res = await app.request('GET', '/healthz', { key: null });
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(res.headers.get('x-powered-by')).toBeNull();
  });
});

describe('secrets never reach the logs', () => {
  it('neither API keys nor webhook secrets appear in any log line', async () => {
    const secret = `whsec_${Buffer.from('never log me, 24 bytes+++').toString('base64')}`;
    const created = await app.request('POST', '/v1/webhook-endpoints', {
      body: { url: 'https://example.test/hook', events: ['*'], secret },
    });
    expect(created.status, created.text).toBe(201);
    await app.request('GET', '/v1/nothing', { key: app.keys.admin });
    await app.request('POST', '/v1/credit-types', { key: app.keys.admin, body: { code: 'Bad Code' } });
    const all = log.chunks.join('');
    expect(log.chunks.length).toBeGreaterThan(0);
    expect(all).not.toContain(secret);
    for (const key of Object.values(app.keys)) expect(all).not.toContain(key);
  });
});

describe('no SQL is built by pasting values into it', () => {
  /**
   * Interpolations allowed inside SQL text: fragments assembled from string literals and `?`/`$n`
   * placeholders, never from input (values are always bound). A new one fails this test until it is
   * reviewed and listed here.
   */
  const ALLOWED = [
    /^(consumptionInsertSql|allocationInsertSql|balanceUpdateSql)\('\$\d+'\)$/,
    // the consumption batch's insert, failing on a consumption applied before (a constant choice of two texts)
    /^consumptionInsertSql\('\$\d+', '(skip|fail)'\)$/,
    /^(ledgerInsertSql|outboxInsertSql|settleAcceptedSql)\('\$\d+'\)$/,
    /^(ledgerInsertSql|outboxInsertSql|balanceUpdateSql)\('\?'\)$/,
    /^OUTBOX_NOTIFY_SQL$/,
    /^notify$/,
    /^param$/,
    /^pg\.escapeIdentifier\(/,
    // the lock order's ORDER BY, made from the domain's key list (src/db/lock-order.ts)
    /^(spendingOrder|balanceLockOrder)\('b'\)$/,
    // a hold's expiry owed by an instant, constant with ? placeholders (src/db/repositories/ledger.ts)
    /^HOLD_EXPIRED_BY$/,
    // the entry a ledger entry follows from across a checkpoint, a constant CASE (src/db/repositories/verify.ts)
    /^CHAIN_PREVIOUS$/,
    // the holds table's constant column list and its recordset types (src/db/repositories/holds.ts)
    /^(HOLD_COLUMNS|HOLD_TYPES)$/,
    // migration 0014's constant lists of ledger kinds
    /^(ALL_KINDS|OLD_KINDS)$/,
    // the lock of the spendable balances, or none for a quote (src/db/repositories/consumptions.ts)
    /^lock \? '\\n\s*FOR UPDATE OF b' : ''$/,
    // the usage endpoint's grouping key: constant expressions with ? placeholders (src/db/repositories/usage.ts)
    /^groupKeySql$/,
    // a calendar bucket: a constant column and ? placeholders (src/db/calendar-bucket.ts)
    /^bucket\.sql$/,
    // report filters: constant conditions with ? placeholders (src/reports)
    /^(SELECT|JOINS|agg\.sql|creditTypeFilter|andSub|andBalance|and|LIVE|clientFilter|where\.join\(' AND '\))$/,
    // the expiring report's "its period holds the credit type": constant text with a ? placeholder
    /^holdsCreditType$/,
    // a report's tables as of its instant, or now: constant text with ? placeholders (src/db/reports/as-of.ts)
    /^then\.sql$/,
    // the periods that stood at a range's end, constant text with a ? placeholder (src/db/reports/top-packages.ts)
    /^STANDING_PERIODS_SQL$/,
  ];
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
    );

  // biome-ignore lint/suspicious/noTemplateCurlyInString: the test's name quotes the syntax it checks
  it('every ${…} in a SQL template is a known fragment', () => {
    const offenders: string[] = [];
    for (const file of [...files('src'), ...files('migrations')]) {
      const text = readFileSync(file, 'utf8');
      // template literals that read as SQL
      for (const match of text.matchAll(/`([^`]*\b(?:SELECT|INSERT|UPDATE|DELETE|WITH|CREATE|DROP|ALTER)\b[^`]*)`/g)) {
        for (const expression of match[1]!.matchAll(/\$\{([^}]*)\}/g)) {
          const inner = expression[1]!.trim();
          if (!ALLOWED.some((re) => re.test(inner))) offenders.push(`${file}: \${${inner}}`);
        }
      }
    }
    expect(offenders).toEqual([]);
  });
});
