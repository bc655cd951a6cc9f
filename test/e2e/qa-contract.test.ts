import { Queue } from 'bullmq';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import { loadConfig } from '../../src/config.js';
import { NO_NIGHTLY_REPORTS, startTestApp, type TestApp } from '../helpers/app.js';
import { runCli } from '../helpers/cli.js';
import { Receiver } from '../helpers/receiver.js';

/**
 * QA of /work/shared/design/API.md, sentence by sentence, against what the service answers over HTTP and in its
 * queues. Each expectation names the API.md line it checks. README "Where this differs from the written contract"
 * is taken as read (job ids with `|`, …).
 * A `// QA:` note marks where the answer is not what API.md's words say and was kept (see the report of qa-contract).
 */
let app: TestApp;
let slow: TestApp;
let receiver: Receiver;
beforeAll(async () => {
  receiver = new Receiver();
  await receiver.start();
  app = await startTestApp({
    roles: ['api', 'worker'],
    now: '2027-01-01T00:00:00.000Z',
    env: { ...NO_NIGHTLY_REPORTS, WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_BACKOFF_MS: '20' },
  });
  // no worker: every ?wait=true runs out of time; the SSRF guard on; a small rate limit on a frozen tick
  slow = await startTestApp({
    roles: ['api'],
    now: '2027-01-01T00:00:00.000Z',
    env: { WAIT_TIMEOUT_MS: '200', RATE_LIMIT_PER_MINUTE: '40' },
    ticks: () => 1_000_000,
  });
}, 60_000);
afterAll(async () => {
  await app?.close();
  await slow?.close();
  receiver?.stop();
});

/** Every JSON body the main app answered, for the conventions checked over all of them at the end. */
const seen: Array<{ what: string; body: unknown }> = [];
const call = async (
  method: string,
  path: string,
  body?: unknown,
  opts: { key?: string | null; idem?: string } = {},
) => {
  const res = await app.request(method, path, {
    ...(body === undefined ? {} : { body }),
    ...(opts.key === undefined ? {} : { key: opts.key }),
    ...(opts.idem ? { headers: { 'idempotency-key': opts.idem } } : {}),
  });
  if (res.body && typeof res.body === 'object') seen.push({ what: `${method} ${path}`, body: res.body });
  return res;
};
const ok = async (method: string, path: string, body?: unknown, status = 200, idem?: string) => {
  const res = await call(method, path, body, idem ? { idem } : {});
  expect(res.status, `${method} ${path}: ${res.text}`).toBe(status);
  return res.body;
};
const problem = (res: { status: number; headers: Headers; body: any }, status: number, code: string) => {
  // API.md L9: errors are application/problem+json {type, title, status, detail, code, errors?}
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ type: expect.any(String), title: expect.any(String), status, code });
  expect(typeof res.body.detail).toBe('string');
  // API.md L10: `errors` lists field problems for 422
  if (code === 'validation_failed') expect(res.body.errors.length).toBeGreaterThan(0);
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
/** The answer without its `replayed` flags (at any depth): a replay says it is one. */
const stripReplayed = (b: unknown): unknown =>
  JSON.parse(JSON.stringify(b, (key, value) => (key === 'replayed' ? undefined : value)));

const ids = { sms: '', gb: '', pkg: '', client: '', sub: '', invoice: '', balance: '', consumption: '' };

// One walk through API.md over one store, told in steps: each builds on what the ones before made and answered (the
// catalog and client `acme` of the second step, the subscription of the idempotency step, the sms left after the
// consumptions above a quote, the 52 clients a page counts), and the last checks the conventions over every answer
// the steps before it got. Genuinely one story: its steps keep their order under --sequence.shuffle (vitest's
// `shuffle: false` on this describe, which the describes inside it inherit).
describe('API.md, walked through in its order', { shuffle: false }, () => {
  describe('API.md Conventions and Shapes', () => {
    it('L4–L8, L34–L35: base path, auth, scopes, public and admin-only pages', async () => {
      // API.md L4: base path /v1 — the same resource without it is not served
      expect((await app.request('GET', '/credit-types')).status).toBe(404);
      // API.md L6: no key → 401 unauthorized; a bad key too (L45)
      problem(await call('GET', '/v1/credit-types', undefined, { key: null }), 401, 'unauthorized');
      problem(await call('GET', '/v1/credit-types', undefined, { key: 'crd_nope' }), 401, 'unauthorized');
      // API.md L5: keys are stored hashed — no column of api_keys holds a key as given
      const stored = JSON.stringify(await app.database.db('api_keys').select('*'));
      for (const key of Object.values(app.keys)) expect(stored).not.toContain(key);
      expect(stored).not.toContain(app.keys.admin.slice(4, 24));
      // API.md L6: wrong scope → 403 forbidden (a read key writing)
      problem(
        await call('POST', '/v1/clients', { external_ref: 'x', name: 'x' }, { key: app.keys.read }),
        403,
        'forbidden',
      );
      // API.md L7, L34: /healthz, /readyz, /openapi.json and /docs need no key
      for (const path of ['/healthz', '/readyz', '/openapi.json', '/docs']) {
        expect((await app.request('GET', path, { key: null })).status, path).toBe(200);
      }
      // API.md L34: /metrics needs a key
      expect((await app.request('GET', '/metrics', { key: null })).status).toBe(401);
      const metrics = await app.request('GET', '/metrics', { key: app.keys.read });
      expect(metrics.status).toBe(200);
      expect(metrics.text).toMatch(/^# (HELP|TYPE) /m);
      // API.md L7–L8, L35: Bull Board and /ui need an admin key, HTTP Basic with any user name and the key as password
      for (const path of ['/admin/queues', '/ui']) {
        expect((await app.request('GET', path, { key: null })).status, path).toBe(401);
        const basic = (user: string, key: string) => `Basic ${Buffer.from(`${user}:${key}`).toString('base64')}`;
        const admin = await app.request('GET', path, {
          key: null,
          headers: { authorization: basic('whoever', app.keys.admin) },
        });
        expect(admin.status, path).toBeLessThan(400);
        const write = await app.request('GET', path, {
          key: null,
          headers: { authorization: basic('x', app.keys.write) },
        });
        expect([401, 403], path).toContain(write.status);
      }
    });

    it('L13, L16–L21, L14, L40–L42: catalog — 201 bare, 200 upsert, references by id or code, decimals', async () => {
      // API.md L17: a creating POST answers 201 with the created object itself (not wrapped)
      const sms = await ok('POST', '/v1/credit-types', { code: 'sms', name: 'SMS', unit: 'message' }, 201);
      expect(sms).toMatchObject({ code: 'sms', unit: 'message', decimals: 0 });
      expect(sms.id).toMatch(UUID); // API.md L4: ids are UUIDs
      const gb = await ok('POST', '/v1/credit-types', { code: 'gb', name: 'GB', unit: 'gb', decimals: 2 }, 201);
      ids.sms = sms.id;
      ids.gb = gb.id;
      // API.md L42: unique code taken → 409 conflict
      problem(await call('POST', '/v1/credit-types', { code: 'sms', name: 'S', unit: 'm' }), 409, 'conflict');
      // API.md L40: out of range → 422 validation_failed with errors
      problem(
        await call('POST', '/v1/credit-types', { code: 'x', name: 'x', unit: 'm', decimals: 9 }),
        422,
        'validation_failed',
      );
      // API.md L40: a field missing → 422
      problem(await call('POST', '/v1/credit-types', { code: 'y', name: 'y' }), 422, 'validation_failed');
      // API.md L17: GET of one thing answers the bare object; L14: by id or by code
      expect(await ok('GET', `/v1/credit-types/${sms.id}`)).toEqual(sms);
      expect(await ok('GET', '/v1/credit-types/sms')).toEqual(sms);
      // API.md L41: no such id/code → 404 not_found
      problem(await call('GET', '/v1/credit-types/nope'), 404, 'not_found');
      problem(await call('GET', '/v1/credit-types/00000000-0000-4000-8000-000000000000'), 404, 'not_found');
      // API.md L52: PATCH /v1/credit-types/{id}
      expect(await ok('PATCH', '/v1/credit-types/sms', { name: 'Texts' })).toMatchObject({ id: sms.id, name: 'Texts' });
      // API.md L108: dimensions ≤ 5 keys on POST and PATCH
      const six = ['a', 'b', 'c', 'd', 'e', 'f'];
      problem(
        await call('POST', '/v1/credit-types', { code: 'd6', name: 'd', unit: 'u', dimensions: six }),
        422,
        'validation_failed',
      );
      problem(await call('PATCH', '/v1/credit-types/sms', { dimensions: six }), 422, 'validation_failed');
      expect(await ok('PATCH', '/v1/credit-types/sms', { dimensions: ['branch'] })).toMatchObject({
        dimensions: ['branch'],
      });

      // API.md L53: packages with items, price, validity, rollover, recharge_price, priority
      const pkg = await ok(
        'POST',
        '/v1/packages',
        {
          code: 'basic',
          name: 'Basic',
          price: 1000,
          currency: 'USD',
          validity: { count: 1, unit: 'month' },
          // API.md L14: a credit type referenced by id or by code
          items: [
            { credit_type: sms.id, units: 100 },
            { credit_type: 'gb', units: '2.50' },
          ],
          recharge_price: 500,
          priority: 10,
          max_freeze_days: 10,
        },
        201,
      );
      for (const field of ['items', 'price', 'validity', 'rollover', 'recharge_price', 'priority']) {
        expect(pkg, field).toHaveProperty(field);
      }
      // API.md L19: quantities as decimal strings, trailing zeros trimmed ("2.5", "100")
      expect(pkg.items.map((i: { units: string }) => i.units)).toEqual(['100', '2.5']);
      // API.md L20: money as integers in minor units with its currency
      expect(pkg).toMatchObject({ price: 1000, recharge_price: 500, currency: 'USD' });
      // API.md L21: a credit type referenced inside another object is {id, code, ...}
      expect(pkg.items[1].credit_type).toMatchObject({ id: gb.id, code: 'gb' });
      // API.md L40: too many decimals → 422
      const tooFine = { ...pkg, code: 'fine', items: [{ credit_type: 'gb', units: '1.005' }] };
      problem(
        await call('POST', '/v1/packages', {
          code: 'fine',
          name: 'F',
          price: 1,
          currency: 'USD',
          validity: { count: 1, unit: 'month' },
          items: tooFine.items,
        }),
        422,
        'validation_failed',
      );
      expect(await ok('GET', '/v1/packages/basic')).toEqual(pkg);
      expect(await ok('PATCH', `/v1/packages/${pkg.id}`, { priority: 10 })).toMatchObject({ id: pkg.id, priority: 10 });
      ids.pkg = pkg.id;

      // API.md L54: POST /v1/clients upserts by external_ref — 201 when new, L18: 200 when it finds the thing
      const client = await ok('POST', '/v1/clients', { external_ref: 'acme', name: 'Acme' }, 201);
      const again = await ok('POST', '/v1/clients', { external_ref: 'acme', name: 'Acme Ltd' }, 200);
      expect(again).toMatchObject({ id: client.id, name: 'Acme Ltd' });
      expect(await ok('GET', '/v1/clients/acme')).toMatchObject({ id: client.id });
      expect(await ok('PATCH', '/v1/clients/acme', { name: 'Acme' })).toMatchObject({ id: client.id, name: 'Acme' });
      ids.client = client.id;
    });

    it('L13: lists are paginated by cursor (limit ≤ 500, default 50)', async () => {
      for (let i = 0; i < 51; i++) await ok('POST', '/v1/clients', { external_ref: `page-${i}`, name: 'P' }, 201);
      // API.md L13: default limit 50, answer {data, next_cursor}
      const first = await ok('GET', '/v1/clients');
      expect(Object.keys(first).sort()).toEqual(['data', 'next_cursor']);
      expect(first.data).toHaveLength(50);
      expect(typeof first.next_cursor).toBe('string');
      const second = await ok('GET', `/v1/clients?cursor=${encodeURIComponent(first.next_cursor)}`);
      expect(second.data).toHaveLength(2);
      expect(second.next_cursor).toBeNull();
      const all = [...first.data, ...second.data].map((c: { id: string }) => c.id);
      expect(new Set(all).size).toBe(52);
      // API.md L13: ?limit= ≤ 500
      expect((await ok('GET', '/v1/clients?limit=500')).data).toHaveLength(52);
      problem(await call('GET', '/v1/clients?limit=501'), 422, 'validation_failed');
      expect((await ok('GET', '/v1/clients?limit=1')).data).toHaveLength(1);
      // the other lists of API.md answer the same envelope
      for (const path of [
        '/v1/credit-types',
        '/v1/packages',
        `/v1/subscriptions?client=acme`,
        `/v1/invoices?client=acme`,
        `/v1/consumptions?client=acme`,
        `/v1/holds?client=acme`,
        '/v1/reports',
        '/v1/webhook-endpoints',
        '/v1/events',
        '/v1/clients/acme/statement',
      ]) {
        const body = await ok('GET', path);
        expect(Object.keys(body).sort(), path).toEqual(['data', 'next_cursor']);
      }
    });
  });

  describe('API.md Resources', () => {
    it(
      'L11–L12: a creating POST honours Idempotency-Key ' + '(replay; another body → 409 idempotency_conflict)',
      async () => {
        const idemItems = [{ credit_type: 'gb', units: 1 }];
        const creating: Array<[string, unknown, unknown]> = [
          ['/v1/credit-types', { code: 'idem-ct', name: 'I', unit: 'u' }, { code: 'idem-ct2', name: 'I', unit: 'u' }],
          ['/v1/clients', { external_ref: 'idem-c', name: 'I' }, { external_ref: 'idem-c', name: 'J' }],
          ['/v1/subscriptions', { client: 'acme', package: 'basic' }, { client: 'acme', package: 'basic', price: 1 }],
          ['/v1/reports', { type: 'subscriptions' }, { type: 'balances' }],
          [
            '/v1/packages',
            {
              code: 'idem-p',
              name: 'I',
              price: 1,
              currency: 'USD',
              validity: { count: 1, unit: 'day' },
              items: idemItems,
            },
            {
              code: 'idem-p',
              name: 'J',
              price: 1,
              currency: 'USD',
              validity: { count: 1, unit: 'day' },
              items: idemItems,
            },
          ],
          [
            '/v1/webhook-endpoints',
            { url: receiver.url, events: ['invoice.paid'] },
            { url: receiver.url, events: ['invoice.voided'] },
          ],
        ];
        for (const [path, body, other] of creating) {
          const first = await call('POST', path, body, { idem: `k-${path}` });
          expect(first.status, `${path}: ${first.text}`).toBeLessThan(300);
          // API.md L11: same key + same body → the same response, replayed
          const replay = await call('POST', path, body, { idem: `k-${path}` });
          expect(replay.status, path).toBe(first.status);
          expect(stripReplayed(replay.body), path).toEqual(stripReplayed(first.body));
          // API.md L12: same key + another body → 409 idempotency_conflict
          problem(await call('POST', path, other, { idem: `k-${path}` }), 409, 'idempotency_conflict');
          if (path === '/v1/subscriptions') {
            ids.sub = first.body.id;
            ids.invoice = first.body.invoice.id;
            ids.balance = first.body.balances[0].id;
          }
        }
        // API.md L63 with L11: an adjustment creates a ledger entry
        const adjust = `/v1/balances/${ids.balance}/adjustments`;
        const first = await call('POST', adjust, { delta: '1', reason: 'idem' }, { idem: 'k-adjust' });
        expect(first.status, first.text).toBe(201);
        const replay = await call('POST', adjust, { delta: '1', reason: 'idem' }, { idem: 'k-adjust' });
        expect(replay.status).toBe(201);
        expect(stripReplayed(replay.body)).toEqual(stripReplayed(first.body));
        problem(
          await call('POST', adjust, { delta: '2', reason: 'idem' }, { idem: 'k-adjust' }),
          409,
          'idempotency_conflict',
        );
        await ok('POST', adjust, { delta: '-1', reason: 'idem undone' }, 201);
      },
    );

    it('L22–L23, L57–L59, L63, L105, L111: subscription, balances, adjustments, statement', async () => {
      const sub = await ok('GET', `/v1/subscriptions/${ids.sub}`);
      // API.md L57: 201 with balances and invoice (checked on the create above; GET L58: with balances)
      expect(sub.balances.length).toBe(2);
      // API.md L21: a client/package referenced inside another object is {id, external_ref|code, ...}
      expect(sub.client).toMatchObject({ id: ids.client, external_ref: 'acme' });
      expect(sub.package).toMatchObject({ id: ids.pkg, code: 'basic' });
      // API.md L20: money with its currency
      expect(sub).toMatchObject({ price: 1000, currency: 'USD' });
      const invoice = await ok('GET', `/v1/invoices/${ids.invoice}`);
      expect(invoice).toMatchObject({ total: 1000, currency: 'USD', client: { id: ids.client, external_ref: 'acme' } });
      expect(Number.isInteger(invoice.lines[0].amount)).toBe(true);
      // API.md L57: starts_at?, auto_renew?, price?, activation? accepted (by client id and package id, L14)
      const later = await ok(
        'POST',
        '/v1/subscriptions',
        {
          client: ids.client,
          package: ids.pkg,
          starts_at: '2027-01-10T00:00:00.000Z',
          auto_renew: true,
          price: 900,
          activation: 'immediate',
        },
        201,
      );
      expect(later).toMatchObject({ auto_renew: true, price: 900, current_period_start: '2027-01-10T00:00:00.000Z' });
      expect(later.invoice).toMatchObject({ total: 900 });
      // API.md L58: list filters client, package, status, expiring_before
      const listed = await ok(
        'GET',
        `/v1/subscriptions?client=acme&package=basic&status=active&expiring_before=2027-02-02T00:00:00Z`,
      );
      expect(listed.data.map((s: { id: string }) => s.id)).toContain(ids.sub);
      expect(listed.data[0].balances).toBeDefined();
      expect((await ok('GET', '/v1/subscriptions?expiring_before=2027-01-15T00:00:00Z')).data).toEqual([]);
      // API.md L59: PATCH auto_renew, price, auto_recharge
      const patched = await ok('PATCH', `/v1/subscriptions/${later.id}`, {
        auto_renew: false,
        price: 800,
        auto_recharge: { enabled: true, threshold_percent: 20, max_per_period: 2 },
      });
      expect(patched).toMatchObject({
        auto_renew: false,
        price: 800,
        auto_recharge: { enabled: true, threshold_percent: 20, max_per_period: 2 },
      });
      await ok('POST', `/v1/subscriptions/${later.id}/cancel`, { at: 'now' });

      // API.md L22–L23: {data: [{credit_type: {id, code, unit}, granted, consumed, remaining, expired, next_expiry,
      // balances}]}, one row per credit type the client has held; L111: rows also carry held, unavailable, upcoming
      const balances = await ok('GET', '/v1/clients/acme/balances');
      expect(Object.keys(balances)).toEqual(['data']);
      expect(balances.data.map((r: { credit_type: { code: string } }) => r.credit_type.code).sort()).toEqual([
        'gb',
        'sms',
      ]);
      for (const row of balances.data) {
        expect(Object.keys(row.credit_type).sort()).toEqual(['code', 'id', 'unit']);
        for (const f of [
          'granted',
          'consumed',
          'remaining',
          'expired',
          'next_expiry',
          'held',
          'unavailable',
          'upcoming',
        ]) {
          expect(row, f).toHaveProperty(f);
        }
        expect(Array.isArray(row.balances)).toBe(true);
      }
      const sms = balances.data.find((r: { credit_type: { code: string } }) => r.credit_type.code === 'sms');
      // the second subscription's 100 were granted, then voided by its cancel
      expect(sms).toMatchObject({ consumed: '0', remaining: '100', next_expiry: '2027-02-01T00:00:00.000Z' });

      // API.md L63: POST /v1/balances/{id}/adjustments {delta, reason} → 201 with the ledger entry
      const entry = await ok(
        'POST',
        `/v1/balances/${ids.balance}/adjustments`,
        { delta: '5', reason: 'goodwill' },
        201,
      );
      expect(entry).toMatchObject({ kind: 'adjust', amount: '5', balance_id: ids.balance, reason: 'goodwill' });
      problem(await call('POST', `/v1/balances/${ids.balance}/adjustments`, { delta: '1' }), 422, 'validation_failed');

      // API.md L105: balances ?as_of= the same shape at that instant, from the ledger
      const before = await ok(
        'GET',
        `/v1/clients/acme/balances?as_of=${encodeURIComponent('2027-01-01T00:00:00.000Z')}`,
      );
      expect(Object.keys(before)).toEqual(['data']);
      expect(Object.keys(before.data[0]).sort()).toEqual(Object.keys(balances.data[0]).sort());

      // API.md L56: statement ?from=&to=&credit_type=, entries with remaining_after, oldest first
      const statement = await ok(
        'GET',
        '/v1/clients/acme/statement?credit_type=sms&from=2026-12-01T00:00:00Z&to=2027-02-01T00:00:00Z',
      );
      const mine = statement.data.filter((e: { balance_id: string }) => e.balance_id === ids.balance);
      expect(mine.map((e: { kind: string }) => e.kind)).toEqual(['grant', 'adjust', 'adjust', 'adjust']);
      expect(mine.map((e: { remaining_after: string }) => e.remaining_after)).toEqual(['100', '101', '100', '105']);
      const seqs = statement.data.map((e: { seq: string }) => Number(e.seq));
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    });
  });

  describe('API.md consumptions, holds, quote', () => {
    it('L24–L28, L64–L67: consumptions — 202 queued, ?wait=true 200 / 422, batch, list, reverse once', async () => {
      const body = { client: 'acme', credit_type: 'gb', quantity: '1.5', idempotency_key: 'use-1' };
      // API.md L64: 202 {id, status: "queued"}
      const queued = await ok('POST', '/v1/consumptions', body, 202);
      expect(queued).toEqual({ id: expect.stringMatching(UUID), status: 'queued' });
      const done = await awaitOutcome(app.ctx, 'consume', `consume|${ids.client}|use-1`, { timeoutMs: 10_000 });
      expect(done.state).toBe('completed');
      // API.md L66: GET /v1/consumptions/{id}: status and allocations
      const got = await ok('GET', `/v1/consumptions/${queued.id}`);
      expect(got).toMatchObject({
        id: queued.id,
        status: 'applied',
        quantity: '1.5',
        allocations: [{ amount: '1.5' }],
      });
      // API.md L90: a job's return value is its result, the same JSON as the ?wait=true answer
      const waited = await ok('POST', '/v1/consumptions?wait=true', {
        ...body,
        idempotency_key: 'use-2',
        quantity: '0.5',
      });
      const job = await awaitOutcome(app.ctx, 'consume', `consume|${ids.client}|use-2`, { timeoutMs: 10_000 });
      expect(stripReplayed((job as { value: Record<string, unknown> }).value)).toEqual(stripReplayed(waited));
      // API.md L25: 200 {id, status, quantity, applied, shortfall, allocations, remaining}; remaining: the client's
      // total
      expect(waited).toMatchObject({
        id: expect.stringMatching(UUID),
        status: 'applied',
        quantity: '0.5',
        applied: '0.5',
        shortfall: '0',
        allocations: [{ amount: '0.5' }],
        remaining: '0.5',
      });
      // API.md L66: GET /v1/consumptions?client=&idempotency_key=
      const byKey = await ok('GET', '/v1/consumptions?client=acme&idempotency_key=use-2');
      expect(byKey.data.map((c: { id: string }) => c.id)).toEqual([waited.id]);
      // API.md L26, L44: mode=reject and short → 422 insufficient_balance with the same fields in the problem
      const short = await call('POST', '/v1/consumptions?wait=true', {
        ...body,
        idempotency_key: 'use-3',
        quantity: 9,
        mode: 'reject',
      });
      problem(short, 422, 'insufficient_balance');
      expect(short.body).toMatchObject({
        quantity: '9',
        applied: '0',
        shortfall: '8.5',
        allocations: [],
        remaining: '0.5',
      });
      expect(short.body.id).toMatch(UUID);
      // API.md L40: too many decimals → 422
      problem(await call('POST', '/v1/consumptions', { ...body, quantity: '0.001' }), 422, 'validation_failed');
      // API.md L67: reverse gives the units back, once
      const rev = await ok('POST', `/v1/consumptions/${waited.id}/reverse?wait=true`);
      expect(rev).toMatchObject({ status: 'reversed', returned: '0.5' });
      const rev2 = await ok('POST', `/v1/consumptions/${waited.id}/reverse?wait=true`);
      expect(stripReplayed(rev2)).toEqual(stripReplayed(rev));
      expect(rev2.replayed).toBe(true);
      // API.md L107: usage net of reversals: 1.5 used and kept, 0.5 used and given back
      const usage = await ok('GET', '/v1/clients/acme/usage?credit_type=gb&group_by=day');
      expect(usage.data).toEqual([{ key: '2027-01-01', quantity: '1.5' }]);

      // API.md L65: batch: up to 1,000 → 202 with one id each
      const items = [1, 2, 3].map((i) => ({
        client: 'acme',
        credit_type: 'sms',
        quantity: 1,
        idempotency_key: `b-${i}`,
      }));
      const batch = await ok('POST', '/v1/consumptions/batch', { items }, 202);
      expect(batch.data).toHaveLength(3);
      for (const d of batch.data) expect(d.id).toMatch(UUID);
      const tooMany = Array.from({ length: 1001 }, (_, i) => ({ ...items[0], idempotency_key: `m-${i}` }));
      problem(await call('POST', '/v1/consumptions/batch', { items: tooMany }), 422, 'validation_failed');
      // API.md L113: consume-batch: one job, its id from the caller's batch key
      const outcome = await awaitOutcome(app.ctx, 'consume-batch', `consume-batch|${batch.batch_key}`, {
        timeoutMs: 10_000,
      });
      expect(outcome.state).toBe('completed');
    });

    it('L40, L64, L68, L101, L107: optional and mistyped fields, capture default, void, usage', async () => {
      // API.md L40: a field mistyped → 422
      const base = { client: 'acme', credit_type: 'sms', idempotency_key: 'opt-1' };
      problem(await call('POST', '/v1/consumptions', { ...base, quantity: true }), 422, 'validation_failed');
      problem(
        await call('POST', '/v1/consumptions', { ...base, quantity: 1, mode: 'maybe' }),
        422,
        'validation_failed',
      );
      // API.md L64: occurred_at?, reference?, metadata? accepted and kept
      const used = await ok('POST', '/v1/consumptions?wait=true', {
        ...base,
        quantity: 2,
        occurred_at: '2027-01-01T00:00:00.000Z',
        reference: 'call-42',
        metadata: { branch: 'north' },
      });
      expect(used).toMatchObject({ status: 'applied', occurred_at: '2027-01-01T00:00:00.000Z' });
      expect(await ok('GET', `/v1/consumptions/${used.id}`)).toMatchObject({
        reference: 'call-42',
        metadata: { branch: 'north' },
      });
      // API.md L107: usage grouped by a dimension the credit type declares (sms: branch), net of reversals
      const byBranch = await ok(
        'GET',
        '/v1/clients/acme/usage?credit_type=sms&group_by=branch&from=2026-12-01T00:00:00Z&to=2027-01-02T00:00:00Z',
      );
      expect(byBranch.data).toContainEqual({ key: 'north', quantity: '2' });
      // API.md L101: capture {quantity?} default all
      const hold = await ok('POST', '/v1/holds?wait=true', { ...base, idempotency_key: 'opt-h', quantity: 2 });
      const captured = await ok('POST', `/v1/holds/${hold.id}/capture`, {});
      expect(captured.consumption).toMatchObject({ quantity: '2' });
      // API.md L68: void an issued invoice
      const sub = await ok('POST', '/v1/subscriptions', { client: 'acme', package: 'basic' }, 201);
      const voided = await ok('POST', `/v1/invoices/${sub.invoice.id}/void`, {});
      expect(voided).toMatchObject({ id: sub.invoice.id, status: 'void' });
      await ok('POST', `/v1/subscriptions/${sub.id}/cancel`, { at: 'now' });
    });

    it('L98–L102, L111–L112: quote writes nothing; holds, capture, release', async () => {
      const before = await ok('GET', '/v1/clients/acme/statement?limit=500');
      // API.md L98: quote, idempotency_key optional → 200 {would, quantity, applied, shortfall, allocations, remaining}
      const quote = await ok('POST', '/v1/consumptions/quote', {
        client: 'acme',
        credit_type: 'sms',
        quantity: 200,
        mode: 'partial',
      });
      // sms left: 100 granted + 5 adjusted - 3 (batch) - 4 (the optional-fields case above)
      expect(quote).toMatchObject({ would: 'partial', quantity: '200', applied: '98', shortfall: '102' });
      expect(quote.allocations[0]).toEqual({ balance_id: ids.balance, amount: '98', expires_at: expect.any(String) });
      expect(quote.remaining).toBeDefined();
      expect((await ok('GET', '/v1/clients/acme/statement?limit=500')).data).toEqual(before.data);
      expect(
        (await ok('POST', '/v1/consumptions/quote', { client: 'acme', credit_type: 'sms', quantity: 1 })).would,
      ).toBe('apply');
      const rejectQuote = { client: 'acme', credit_type: 'sms', quantity: 200, mode: 'reject' };
      expect((await ok('POST', '/v1/consumptions/quote', rejectQuote)).would).toBe('reject');

      // API.md L99: holds → 202 {id, status: "queued"}; ?wait=true → 200 {id, status: "held", quantity, allocations,
      // expires_at, remaining}
      const hold = { client: 'acme', credit_type: 'sms', quantity: 4, idempotency_key: 'h-1', expires_in_seconds: 600 };
      const queued = await ok('POST', '/v1/holds', hold, 202);
      expect(queued).toEqual({ id: expect.stringMatching(UUID), status: 'queued' });
      const held = await ok('POST', '/v1/holds?wait=true', { ...hold, idempotency_key: 'h-2' });
      expect(held).toMatchObject({
        status: 'held',
        quantity: '4',
        allocations: [{ amount: '4' }],
        expires_at: '2027-01-01T00:10:00.000Z',
        remaining: expect.any(String),
      });
      problem(
        await call('POST', '/v1/holds?wait=true', { ...hold, idempotency_key: 'h-3', quantity: 1000 }),
        422,
        'insufficient_balance',
      );
      // API.md L100: GET /v1/holds/{id}, GET /v1/holds?client=&status=
      await awaitOutcome(app.ctx, 'hold', `hold|${ids.client}|h-1`, { timeoutMs: 10_000 });
      expect(await ok('GET', `/v1/holds/${queued.id}`)).toMatchObject({ status: 'held' });
      const listed = await ok('GET', '/v1/holds?client=acme&status=held');
      expect(listed.data.map((h: { id: string }) => h.id).sort()).toEqual([queued.id, held.id].sort());
      // API.md L111: balances rows carry held
      const row = (await ok('GET', '/v1/clients/acme/balances')).data.find(
        (r: { credit_type: { code: string } }) => r.credit_type.code === 'sms',
      );
      expect(row.held).toBe('8');
      // API.md L101: capture {quantity?} ≤ held → 200 {hold, consumption}; again → same answer
      problem(await call('POST', `/v1/holds/${held.id}/capture`, { quantity: 5 }), 422, 'validation_failed');
      const captured = await ok('POST', `/v1/holds/${held.id}/capture`, { quantity: 3 });
      expect(Object.keys(captured).sort()).toEqual(['consumption', 'hold']);
      expect(captured.hold).toMatchObject({ id: held.id, status: 'captured' });
      expect(captured.consumption).toMatchObject({ quantity: '3', status: 'applied' });
      expect(stripReplayed(await ok('POST', `/v1/holds/${held.id}/capture`, { quantity: 3 }))).toEqual(
        stripReplayed(captured),
      );
      // API.md L102: release → 200 the hold, status released; again → same answer
      const released = await ok('POST', `/v1/holds/${queued.id}/release`);
      expect(released).toMatchObject({ id: queued.id, status: 'released' });
      expect(stripReplayed(await ok('POST', `/v1/holds/${queued.id}/release`))).toEqual(stripReplayed(released));
      // API.md L101: capture after release → 409
      problem(await call('POST', `/v1/holds/${queued.id}/capture`, {}), 409, 'conflict');
      // API.md L111: ledger kinds add hold and release
      const kinds = (await ok('GET', '/v1/clients/acme/statement?credit_type=sms&limit=500')).data.map(
        (e: { kind: string }) => e.kind,
      );
      expect(kinds).toEqual(expect.arrayContaining(['hold', 'release']));
    });
  });

  describe('API.md renewals, recharges, reports, freeze, forecast', () => {
    it(
      'L31–L33, L42, L60–L62: renew and recharge ' + '(202 {job_id}, ?wait=true 200, Idempotency-Key), cancel',
      async () => {
        const sub = await ok('POST', '/v1/subscriptions', { client: 'acme', package: 'basic' }, 201);
        const oldBalance = sub.balances.find((b: { credit_type: { code: string } }) => b.credit_type.code === 'sms');
        // API.md L60: renew enqueues a renewal job → 202 {job_id}
        const first = await call('POST', `/v1/subscriptions/${sub.id}/renew`, {}, { idem: 'renew-0' });
        expect(first.status, first.text).toBe(202);
        expect(first.body.job_id).toEqual(expect.any(String));
        // API.md L60: ?wait=true → 200 with the result. The same request (its Idempotency-Key) is the same job
        // whether it already ran or not: the same period. Without the key a second renew is another renewal — of the
        // period after, once the worker has run the first (it did, once, in a full run: the test read a race before)
        const again = await call('POST', `/v1/subscriptions/${sub.id}/renew?wait=true`, {}, { idem: 'renew-0' });
        expect(again.status, again.text).toBe(200);
        const renewed = again.body;
        expect(renewed).toMatchObject({
          status: 'renewed',
          period_start: '2027-02-01T00:00:00.000Z',
          period_end: '2027-03-01T00:00:00.000Z',
          price: 1000,
          currency: 'USD',
        });
        // API.md L21: each granted balance names its credit type as an object, as the balance views do
        const smsRef = { id: ids.sms, code: 'sms', unit: 'message' };
        expect(renewed.balances).toContainEqual(expect.objectContaining({ credit_type: smsRef }));
        // API.md L31: the renewal moves current_period_start/end to the new period at once
        expect(await ok('GET', `/v1/subscriptions/${sub.id}`)).toMatchObject({
          current_period_start: '2027-02-01T00:00:00.000Z',
          current_period_end: '2027-03-01T00:00:00.000Z',
        });
        // API.md L32: the previous period's balances stay usable until their own expires_at
        const bal = await ok('GET', `/v1/balances/${oldBalance.id}`);
        expect(bal).toMatchObject({ expires_at: '2027-02-01T00:00:00.000Z', availability: 'usable' });
        // API.md L32–L33: renew and recharge honour Idempotency-Key like a creating POST
        const r1 = await call('POST', `/v1/subscriptions/${sub.id}/renew?wait=true`, {}, { idem: 'renew-k' });
        expect(r1.status, r1.text).toBe(200);
        const r2 = await call('POST', `/v1/subscriptions/${sub.id}/renew?wait=true`, {}, { idem: 'renew-k' });
        expect(stripReplayed(r2.body)).toEqual(stripReplayed(r1.body));
        problem(
          await call('POST', `/v1/subscriptions/${sub.id}/renew`, { apply_package_changes: true }, { idem: 'renew-k' }),
          409,
          'idempotency_conflict',
        );
        // API.md L61: recharge {items?, price?}; ?wait=true as above
        const body = { items: [{ credit_type: 'sms', units: 10 }], price: 250 };
        const rc1 = await call('POST', `/v1/subscriptions/${sub.id}/recharge?wait=true`, body, { idem: 'rc-k' });
        expect(rc1.status, rc1.text).toBe(200);
        expect(rc1.body).toMatchObject({
          status: 'recharged',
          price: 250,
          currency: 'USD',
          balances: [{ credit_type: smsRef, granted: '10' }],
        });
        // the repeat is the stored answer (recharges.result), replayed in the same shape
        const rc2 = await call('POST', `/v1/subscriptions/${sub.id}/recharge?wait=true`, body, { idem: 'rc-k' });
        expect(stripReplayed(rc2.body)).toEqual(stripReplayed(rc1.body));
        expect(rc2.body).toMatchObject({ replayed: true, balances: [{ credit_type: smsRef }] });
        problem(
          await call('POST', `/v1/subscriptions/${sub.id}/recharge`, { ...body, price: 1 }, { idem: 'rc-k' }),
          409,
          'idempotency_conflict',
        );
        expect((await ok('POST', `/v1/subscriptions/${sub.id}/recharge`, {}, 202)).job_id).toEqual(expect.any(String));
        // API.md L62: cancel {at: "now"|"period_end"}
        const atEnd = await ok('POST', `/v1/subscriptions/${sub.id}/cancel`, { at: 'period_end' });
        expect(atEnd).toMatchObject({ cancel_at_period_end: true });
        problem(await call('POST', `/v1/subscriptions/${sub.id}/cancel`, { at: 'someday' }), 422, 'validation_failed');
        const now = await ok('POST', `/v1/subscriptions/${sub.id}/cancel`, { at: 'now' });
        expect(now).toMatchObject({ status: 'cancelled' });
        // API.md L42: renew a cancelled subscription → 409 conflict
        problem(await call('POST', `/v1/subscriptions/${sub.id}/renew`), 409, 'conflict');
      },
    );

    it('L29–L30, L69: reports — 202 {id, status}; params optional, default range the last 30 days to now', async () => {
      const run = await ok('POST', '/v1/reports', { type: 'renewals', format: 'json' }, 202);
      expect(run).toEqual({ id: expect.stringMatching(UUID), status: 'queued' });
      const done = await awaitOutcome(app.ctx, 'generate', `report|${run.id}`, { timeoutMs: 15_000 });
      expect(done.state).toBe('completed');
      const got = await ok('GET', `/v1/reports/${run.id}`);
      expect(got).toMatchObject({ id: run.id, status: 'done' });
      // API.md L30: the default range is the last 30 days up to and including now (now: 2027-01-01T00:00Z)
      expect(got.params.from).toBe('2026-12-02T00:00:00.000Z');
      expect(new Date(got.params.to).getTime()).toBeGreaterThanOrEqual(Date.parse('2027-01-01T00:00:00.000Z'));
      expect(new Date(got.params.to).getTime()).toBeLessThanOrEqual(Date.parse('2027-01-02T00:00:00.000Z'));
      const download = await app.request('GET', `/v1/reports/${run.id}/download`);
      expect(download.status).toBe(200);
    });

    it('L103–L104, L106, L111, L114: freeze and unfreeze; forecast', async () => {
      await ok('POST', '/v1/clients', { external_ref: 'frosty', name: 'F' }, 201);
      const sub = await ok('POST', '/v1/subscriptions', { client: 'frosty', package: 'basic' }, 201);
      // API.md L106: forecast {credit_type, remaining, burn_per_day, days_until_empty, empty_on, expiring_unused};
      // days_until_empty/empty_on null when burn is 0
      const forecast = await ok('GET', '/v1/clients/frosty/forecast?credit_type=sms&window_days=30');
      expect(forecast).toMatchObject({
        credit_type: { code: 'sms' },
        remaining: '100',
        burn_per_day: '0',
        days_until_empty: null,
        empty_on: null,
      });
      expect(forecast.expiring_unused).toEqual([
        { balance_id: sub.balances[0].id, expires_at: '2027-02-01T00:00:00.000Z', units: '100' },
      ]);
      // API.md L103: beyond max_freeze_days (10) → 422
      problem(await call('POST', `/v1/subscriptions/${sub.id}/freeze`, { days: 11 }), 422, 'validation_failed');
      // API.md L103: {until?, days?} → 200 subscription status frozen, frozen_until
      const frozen = await ok('POST', `/v1/subscriptions/${sub.id}/freeze`, { until: '2027-01-05T00:00:00.000Z' });
      expect(frozen).toMatchObject({ id: sub.id, status: 'frozen', frozen_until: '2027-01-05T00:00:00.000Z' });
      // API.md L111: a frozen subscription's balances count as unavailable
      const row = (await ok('GET', '/v1/clients/frosty/balances')).data[0];
      expect(row.unavailable).not.toBe('0');
    });
  });

  describe('API.md jobs, events, webhooks, documents', () => {
    it('L70, L90–L93, L109, L114, L116–L118: events list and Standard Webhooks deliveries', async () => {
      const endpoint = await ok('POST', '/v1/webhook-endpoints', { url: receiver.url, events: ['invoice.paid'] }, 201);
      // API.md L117: secret whsec_<base64>
      expect(endpoint.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
      const count = receiver.received.length;
      await ok('POST', `/v1/invoices/${ids.invoice}/pay`, {});
      // API.md L68: void a paid invoice → 409 conflict
      problem(await call('POST', `/v1/invoices/${ids.invoice}/void`, {}), 409, 'conflict');
      // the endpoint made in the idempotency check above listens for invoice.paid too, with its own secret
      await receiver.until(count + 2);
      const mine = receiver.received.slice(count).filter((r) => {
        try {
          new Webhook(endpoint.secret).verify(r.body, r.headers as Record<string, string>);
          return true;
        } catch {
          return false;
        }
      });
      expect(mine).toHaveLength(1);
      const got = mine[0];
      if (!got) throw new Error('no delivery');
      // API.md L116–L117: headers webhook-id, webhook-timestamp, webhook-signature v1,<base64>; standardwebhooks
      // verifies
      expect(got.headers['webhook-id']).toEqual(expect.any(String));
      expect(got.headers['webhook-timestamp']).toMatch(/^\d+$/);
      expect(got.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
      const payload = new Webhook(endpoint.secret).verify(got.body, got.headers as Record<string, string>) as {
        type: string;
      };
      expect(payload.type).toBe('invoice.paid');
      // API.md L70: DELETE /v1/webhook-endpoints/{id}
      expect((await app.request('DELETE', `/v1/webhook-endpoints/${endpoint.id}`)).status).toBe(204);

      // API.md L109: GET /v1/events?type=&after= — the outbox as a list (cursor)
      const paid = await ok('GET', '/v1/events?type=invoice.paid');
      expect(paid.data.map((e: { type: string }) => e.type)).toEqual(['invoice.paid']);
      const page1 = await ok('GET', '/v1/events?limit=2');
      const page2 = await ok('GET', `/v1/events?limit=2&after=${encodeURIComponent(page1.next_cursor)}`);
      expect(page2.data[0].seq).not.toBe(page1.data[1].seq);
      expect(Number(page2.data[0].seq)).toBeGreaterThan(Number(page1.data[1].seq));
      // API.md L91–L93, L114: the events written so far are among the contract's (README lists the extras)
      const all: string[] = [];
      for (let cursor: string | null = null, first = true; first || cursor; first = false) {
        const q: string = cursor ? `&after=${encodeURIComponent(cursor)}` : '';
        const page: { data: Array<{ type: string }>; next_cursor: string | null } = await ok(
          'GET',
          `/v1/events?limit=500${q}`,
        );
        all.push(...page.data.map((e) => e.type));
        cursor = page.data.length ? page.next_cursor : null;
      }
      const contract = [
        'subscription.created',
        'subscription.renewed',
        'subscription.recharged',
        'subscription.expired',
        'subscription.cancelled',
        'balance.low',
        'balance.depleted',
        'balance.expired',
        'consumption.rejected',
        'invoice.created',
        'invoice.paid',
        'invoice.voided',
        'report.ready',
        'hold.expired',
        'subscription.frozen',
        'subscription.unfrozen',
      ];
      const readmeExtras = [
        'subscription.updated',
        'subscription.cancel_scheduled',
        'subscription.activated',
        'subscription.suspended',
        'subscription.resumed',
        'balance.expiring_soon',
        'balance.adjusted',
        'consumption.reversed',
      ];
      const types = new Set(all);
      // API.md L21: a credit type, package or client referenced inside another object is {id, code|external_ref, ...} —
      // in every event's data too (the client as the flat pair client_id and client_external_ref)
      const flat: string[] = [];
      const named = new Set<string>();
      const refs = (type: string, v: unknown, path: string) => {
        if (!v || typeof v !== 'object') return;
        for (const [k, x] of Object.entries(v)) {
          if (['credit_type', 'package', 'client'].includes(k)) {
            if (typeof x === 'string') flat.push(`${type} ${path}.${k}`);
            else
              named.add(
                `${type} ${path}.${k}: ${Object.keys(x ?? {})
                  .sort()
                  .join(',')}`,
              );
          }
          refs(type, x, Array.isArray(v) ? `${path}[]` : `${path}.${k}`);
        }
      };
      const everything = (await ok('GET', '/v1/events?limit=500')).data as Array<{ type: string; data: unknown }>;
      for (const e of everything) refs(e.type, e.data, '');
      expect([...new Set(flat)].sort()).toEqual([]);
      // the events of this walk that name one: a credit type {id, code, unit}, a package {id, code, name}
      expect([...named].sort()).toEqual([
        'balance.adjusted .credit_type: code,id,unit',
        'consumption.rejected .credit_type: code,id,unit',
        'consumption.reversed .credit_type: code,id,unit',
        'subscription.created .items[].credit_type: code,id,unit',
        'subscription.created .package: code,id,name',
        'subscription.recharged .balances[].credit_type: code,id,unit',
        'subscription.renewed .balances[].credit_type: code,id,unit',
      ]);
      for (const t of [
        'subscription.created',
        'subscription.renewed',
        'subscription.recharged',
        'subscription.cancelled',
        'subscription.frozen',
        'consumption.rejected',
        'invoice.created',
        'invoice.paid',
        'invoice.voided',
        'report.ready',
      ]) {
        expect(types.has(t), t).toBe(true);
      }
      const unlisted = [...types].filter((t) => !contract.includes(t) && !readmeExtras.includes(t));
      // QA: API.md L91–L93 and README list no other event; what else appears is reported
      expect(unlisted).toEqual([]);
    });

    it('L75–L89, L112–L113: queues, job names, data validated by the worker', async () => {
      // API.md L75: BULL_PREFIX default {credits}; API.md L24: WAIT_TIMEOUT_MS default 5,000
      const defaults = loadConfig({});
      expect(defaults.BULL_PREFIX).toBe('{credits}');
      expect(defaults.WAIT_TIMEOUT_MS).toBe(5000);
      const expected: Record<string, string[]> = {
        consumption: ['consume', 'reverse', 'hold', 'capture', 'release', 'consume-batch'],
        recharge: ['recharge'],
        renewal: ['renew'],
        maintenance: ['expire', 'verify', 'notify', 'cleanup'],
        reports: ['generate'],
        webhooks: ['deliver'],
      };
      const queues = Object.keys(expected).map(
        (name) => new Queue(name, { connection: app.ctx.redis, prefix: app.prefix }),
      );
      try {
        for (const queue of queues) {
          const jobs = await queue.getJobs(['completed', 'failed', 'waiting', 'active', 'delayed']);
          // API.md L80–L88: each queue holds only its jobs' names
          for (const job of jobs) expect(expected[queue.name], `${queue.name}: ${job.name}`).toContain(job.name);
        }
        const consumption = queues[0];
        if (!consumption) throw new Error('no queue');
        // API.md L76: a producer may push; the job's data is the HTTP body (L82: consume, consumption body)
        // occurred_at given: a pushed job without it is dated by its enqueue time (the wall clock, not the test's)
        const body = {
          client: 'acme',
          credit_type: 'sms',
          quantity: 1,
          idempotency_key: 'pushed-1',
          occurred_at: '2027-01-01T00:00:00.000Z',
        };
        const pushed = await consumption.add('consume', body, { jobId: `consume|${ids.client}|pushed-1` });
        const outcome = await awaitOutcome(app.ctx, 'consume', pushed.id ?? '', { timeoutMs: 10_000 });
        expect(outcome, JSON.stringify(outcome)).toMatchObject({
          state: 'completed',
          value: { status: 'applied', quantity: '1' },
        });
        // API.md L77: an invalid job fails at once, without retries, with validation_failed in its reason
        const bad = await consumption.add(
          'consume',
          { client: 'acme', quantity: 'lots' },
          { attempts: 3, jobId: 'bad-1' },
        );
        const failed = await awaitOutcome(app.ctx, 'consume', bad.id ?? '', { timeoutMs: 10_000 });
        expect(failed).toMatchObject({ state: 'failed', failure: { code: 'validation_failed' } });
        const job = await consumption.getJob('bad-1');
        expect(job?.attemptsMade).toBe(1);
        expect(job?.failedReason).toContain('validation_failed');
      } finally {
        for (const q of queues) await q.close();
      }
    });

    it('L36, L72: the CLI prints a new key alone on its last line; OpenAPI 3.1 lists every path', async () => {
      const cli = await runCli(app, 'keys', 'create', '--scope', 'read');
      expect(cli.code, cli.stderr).toBe(0);
      const last = cli.stdout.trimEnd().split('\n').at(-1) ?? '';
      expect(last).toMatch(/^\S+$/);
      expect((await app.request('GET', '/v1/credit-types', { key: last })).status).toBe(200);
      // API.md L72: the OpenAPI 3.1 document of all of the above
      const doc = (await app.request('GET', '/openapi.json', { key: null })).body;
      expect(doc.openapi).toMatch(/^3\.1\./);
      const paths: Array<[string, string]> = [
        ['post', '/v1/credit-types'],
        ['get', '/v1/credit-types'],
        ['get', '/v1/credit-types/{id}'],
        ['patch', '/v1/credit-types/{id}'],
        ['post', '/v1/packages'],
        ['get', '/v1/packages'],
        ['get', '/v1/packages/{id}'],
        ['patch', '/v1/packages/{id}'],
        ['post', '/v1/clients'],
        ['get', '/v1/clients'],
        ['get', '/v1/clients/{id}'],
        ['patch', '/v1/clients/{id}'],
        ['get', '/v1/clients/{id}/balances'],
        ['get', '/v1/clients/{id}/statement'],
        ['get', '/v1/clients/{id}/forecast'],
        ['get', '/v1/clients/{id}/usage'],
        ['post', '/v1/subscriptions'],
        ['get', '/v1/subscriptions'],
        ['get', '/v1/subscriptions/{id}'],
        ['patch', '/v1/subscriptions/{id}'],
        ['post', '/v1/subscriptions/{id}/renew'],
        ['post', '/v1/subscriptions/{id}/recharge'],
        ['post', '/v1/subscriptions/{id}/cancel'],
        ['post', '/v1/subscriptions/{id}/freeze'],
        ['post', '/v1/subscriptions/{id}/unfreeze'],
        ['post', '/v1/balances/{id}/adjustments'],
        ['post', '/v1/consumptions'],
        ['post', '/v1/consumptions/batch'],
        ['post', '/v1/consumptions/quote'],
        ['get', '/v1/consumptions/{id}'],
        ['get', '/v1/consumptions'],
        ['post', '/v1/consumptions/{id}/reverse'],
        ['post', '/v1/holds'],
        ['get', '/v1/holds'],
        ['get', '/v1/holds/{id}'],
        ['post', '/v1/holds/{id}/capture'],
        ['post', '/v1/holds/{id}/release'],
        ['get', '/v1/invoices'],
        ['get', '/v1/invoices/{id}'],
        ['post', '/v1/invoices/{id}/pay'],
        ['post', '/v1/invoices/{id}/void'],
        ['post', '/v1/reports'],
        ['get', '/v1/reports/{id}'],
        ['get', '/v1/reports/{id}/download'],
        ['post', '/v1/webhook-endpoints'],
        ['get', '/v1/webhook-endpoints'],
        ['delete', '/v1/webhook-endpoints/{id}'],
        ['get', '/v1/events'],
        ['get', '/healthz'],
        ['get', '/readyz'],
        ['get', '/metrics'],
      ];
      const missing = paths.filter(([method, path]) => !doc.paths[path]?.[method]).map(([m, p]) => `${m} ${p}`);
      expect(missing).toEqual([]);
    }, 30_000);
  });

  describe('API.md with the clock moved', () => {
    it('L23, L104, L105, L111, L114: unfreeze pushes the period; hold expiry; a held type keeps its row', async () => {
      const sub = (await ok('GET', '/v1/subscriptions?client=frosty')).data[0];
      expect(sub.status).toBe('frozen');
      const hold = await ok('POST', '/v1/holds?wait=true', {
        client: 'acme',
        credit_type: 'sms',
        quantity: 1,
        idempotency_key: 'h-exp',
        expires_in_seconds: 60,
      });
      expect(hold.status).toBe('held');
      // two days frozen
      await ok('PUT', '/v1/admin/clock', { now: '2027-01-03T00:00:00.000Z' });
      // API.md L104: unfreeze → 200 subscription, period end and expiries moved later by the frozen time
      const thawed = await ok('POST', `/v1/subscriptions/${sub.id}/unfreeze`);
      expect(thawed).toMatchObject({ id: sub.id, status: 'active', current_period_end: '2027-02-03T00:00:00.000Z' });
      expect(thawed.balances[0].expires_at).toBe('2027-02-03T00:00:00.000Z');
      // API.md L111: ledger kind extend
      const kinds = (await ok('GET', '/v1/clients/frosty/statement')).data.map((e: { kind: string }) => e.kind);
      expect(kinds).toContain('extend');
      // API.md L105: as_of answers the balances as they were (the frozen picture: expiry still 2027-02-01)
      const then = await ok('GET', `/v1/clients/frosty/balances?as_of=${encodeURIComponent('2027-01-01T12:00:00Z')}`);
      const thenSms = then.data.find((r: { credit_type: { code: string } }) => r.credit_type.code === 'sms');
      // (frozen then: its 100 unavailable, none remaining, as the live answer said while frozen)
      expect(thenSms).toMatchObject({ remaining: '0', unavailable: '100' });
      // the sweep: the hold expires (API.md L100 status expired, L114 hold.expired)
      const run = await ok('POST', '/v1/admin/nightly-runs', {});
      for (const phase of run.phases) expect(phase.failed, JSON.stringify(phase)).toEqual([]);
      expect((await ok('GET', `/v1/holds/${hold.id}`)).status).toBe('expired');
      expect((await ok('GET', '/v1/events?type=hold.expired')).data.length).toBeGreaterThan(0);
      expect((await ok('GET', '/v1/events?type=subscription.unfrozen')).data.length).toBe(1);
      // past every expiry: API.md L23 one row per credit type the client has held, expired counted
      await ok('PUT', '/v1/admin/clock', { now: '2027-04-01T00:00:00.000Z' });
      const late = await ok('POST', '/v1/admin/nightly-runs', {});
      for (const phase of late.phases) expect(phase.failed, JSON.stringify(phase)).toEqual([]);
      const rows = (await ok('GET', '/v1/clients/frosty/balances')).data;
      expect(rows.map((r: { credit_type: { code: string } }) => r.credit_type.code).sort()).toEqual(['gb', 'sms']);
      const sms = rows.find((r: { credit_type: { code: string } }) => r.credit_type.code === 'sms');
      expect(sms).toMatchObject({ remaining: '0', expired: '100', next_expiry: null });
      expect((await ok('GET', '/v1/events?type=balance.expired')).data.length).toBeGreaterThan(0);
    }, 30_000);
  });

  describe('API.md L4 and L19–L21 over every answer above', () => {
    it('snake_case fields, UUID ids, RFC 3339 UTC times, decimal-string quantities, integer money', () => {
      const problems: string[] = [];
      const FREE = new Set(['metadata', 'params', 'data_of_event']);
      const walk = (what: string, v: unknown, path: string) => {
        if (Array.isArray(v)) {
          for (const [i, x] of v.entries()) walk(what, x, `${path}[${i}]`);
          return;
        }
        if (!v || typeof v !== 'object') return;
        for (const [k, x] of Object.entries(v)) {
          const at = `${what} ${path}.${k}`;
          // API.md L4: snake_case fields
          if (!/^[a-z][a-z0-9_]*$/.test(k)) problems.push(`${at}: not snake_case`);
          // API.md L4: ids are UUIDs (a job id is not: README)
          if ((k === 'id' || (k.endsWith('_id') && k !== 'job_id')) && x !== null && !UUID.test(String(x))) {
            problems.push(`${at}: ${JSON.stringify(x)} is not a UUID`);
          }
          // API.md L4: times are RFC 3339 UTC
          const timeKey = /(_at|_until|^period_start|^period_end|_period_start|_period_end|next_expiry)$/.test(k);
          if (timeKey && x !== null && typeof x !== 'boolean') {
            if (typeof x !== 'string' || !RFC3339_UTC.test(x))
              problems.push(`${at}: ${JSON.stringify(x)} not RFC 3339 UTC`);
          }
          // API.md L19: quantities as decimal strings, trailing zeros trimmed
          if (['units', 'quantity', 'remaining', 'granted', 'consumed', 'applied', 'shortfall', 'amount'].includes(k)) {
            const moneyAmount = k === 'amount' && path.includes('lines');
            if (!moneyAmount && x !== null && (typeof x !== 'string' || !/^-?(0|[1-9]\d*)(\.\d*[1-9])?$/.test(x))) {
              problems.push(`${at}: ${JSON.stringify(x)} not a trimmed decimal string`);
            }
          }
          // API.md L20: money as integers in minor units with its currency
          if (['price', 'total', 'recharge_price'].includes(k) && x !== null) {
            if (!Number.isInteger(x)) problems.push(`${at}: ${JSON.stringify(x)} not integer money`);
            if (!('currency' in v)) problems.push(`${at}: money without its currency`);
          }
          // API.md L21: a credit type, package or client inside another object is {id, code|external_ref, ...}
          if (['credit_type', 'package', 'client'].includes(k) && typeof x === 'string')
            problems.push(`${at}: ${JSON.stringify(x)} names a ${k} by a bare string`);
          if (!FREE.has(k)) walk(what, x, `${path}.${k}`);
        }
      };
      for (const s of seen) walk(s.what, s.body, '');
      // API.md L20: money goes out with its currency — subscription.updated names a changed price with it too
      const updatedPrice =
        /^GET \/v1\/events\S* \.data\[\d+\]\.data\.(changes|previous)\.price: money without its currency$/;
      expect(problems.filter((p) => updatedPrice.test(p))).toEqual([]);
      // API.md L4 says snake_case fields: the verify report counts as `violation_count`, and still as `violationCount`
      // (deprecated), the name earlier releases gave it and the nightly runs stored (src/db/repositories/backlog.ts
      // reads report->'verify'->>'violationCount')
      const camel = 'POST /v1/admin/nightly-runs .verify.violationCount: not snake_case';
      expect(problems).toContain(camel);
      const rest = problems.filter((p) => !updatedPrice.test(p) && p !== camel);
      expect([...new Set(rest)].slice(0, 40)).toEqual([]);
    });
  });
});

// on the API without workers, with data of its own: no step of the walk above needs it, nor it them
describe('API.md ?wait=true past the wait, SSRF guard, rate limit (an API without workers)', () => {
  it('L24–L28, L45–L46, L99, L118: 202 queued past WAIT_TIMEOUT_MS; private webhook URLs 422; 429', async () => {
    const req = (method: string, path: string, body?: unknown) =>
      slow.request(method, path, body === undefined ? {} : { body });
    expect((await req('POST', '/v1/credit-types', { code: 'sms', name: 'S', unit: 'm' })).status).toBe(201);
    const pkgBody = {
      code: 'p',
      name: 'P',
      price: 100,
      currency: 'EUR',
      validity: { count: 1, unit: 'month' },
      items: [{ credit_type: 'sms', units: 10 }],
    };
    expect((await req('POST', '/v1/packages', pkgBody)).status).toBe(201);
    expect((await req('POST', '/v1/clients', { external_ref: 'c', name: 'C' })).status).toBe(201);
    const sub = await req('POST', '/v1/subscriptions', { client: 'c', package: 'p' });
    expect(sub.status).toBe(201);
    // API.md L27: past the wait it answers 202 {id, status: "queued"}; the caller polls GET /v1/consumptions/{id}
    const use = { client: 'c', credit_type: 'sms', quantity: 1, idempotency_key: 'w-1' };
    const late = await req('POST', '/v1/consumptions?wait=true', use);
    expect(late.status, late.text).toBe(202);
    expect(late.body).toEqual({ id: expect.stringMatching(UUID), status: 'queued' });
    const polled = await req('GET', `/v1/consumptions/${late.body.id}`);
    expect(polled.status, polled.text).toBe(200);
    expect(polled.body).toMatchObject({ id: late.body.id, status: 'queued' });
    // API.md L27–L28: the same holds for every ?wait=true (holds: L99)
    const hold = await req('POST', '/v1/holds?wait=true', { ...use, idempotency_key: 'w-2' });
    expect(hold.status).toBe(202);
    expect(hold.body).toEqual({ id: expect.stringMatching(UUID), status: 'queued' });
    // renew's own 202 is {job_id, status} (API.md L60)
    const renew = await req('POST', `/v1/subscriptions/${sub.body.id}/renew?wait=true`);
    expect(renew.status).toBe(202);
    expect(renew.body).toEqual({ job_id: expect.any(String), status: 'queued' });
    // API.md L118: loopback, private, link-local or metadata addresses refused (422)
    for (const url of ['http://127.0.0.1/h', 'http://10.1.2.3/h', 'http://169.254.169.254/latest', 'http://[::1]/h']) {
      const res = await req('POST', '/v1/webhook-endpoints', { url, events: ['invoice.paid'] });
      problem(res, 422, 'validation_failed');
    }
    // API.md L46: too many requests → 429 rate_limited (RATE_LIMIT_PER_MINUTE 40, the tick held still)
    let limited: Awaited<ReturnType<typeof req>> | undefined;
    for (let i = 0; i < 60 && !limited; i++) {
      const res = await req('GET', '/v1/credit-types');
      if (res.status === 429) limited = res;
    }
    if (!limited) throw new Error('never limited');
    problem(limited, 429, 'rate_limited');
  });
});
