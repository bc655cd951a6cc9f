import type { Request, Response } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { submitRoute } from '../../src/ui/form.js';
import type { UiContext } from '../../src/ui/layout.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { runCli } from '../helpers/cli.js';
import { createCreditType, createPackage } from '../helpers/fixtures.js';

/** The audit trail (issue 18): who changed what from the pages, the admin API and the CLI — append-only. */
let app: TestApp;
let adminKeyId: string;
let creditType: string;

interface AuditEvent {
  id: string;
  at: string;
  actor_key_id: string | null;
  actor_name: string;
  origin: 'api' | 'ui' | 'cli';
  action: string;
  target_id: string | null;
  request: unknown;
  status: number;
  request_id: string | null;
}

const events = async (query = ''): Promise<AuditEvent[]> => {
  const res = await app.request<{ data: AuditEvent[] }>('GET', `/v1/audit-events${query}`);
  expect(res.status, res.text).toBe(200);
  return res.body.data;
};

/** The rows of the trail for one target, oldest first, straight from the table. */
const rowsOf = async (target: string) =>
  (await app.database.db('audit_events').where({ target_id: target }).orderBy(['at', 'id'])) as Array<
    AuditEvent & { at: Date }
  >;

/** A form of the pages, as the signed-in admin key: the same bridge (submitRoute) every page action uses. */
const asPage = (requestId: string): UiContext =>
  ({
    app: app.ctx,
    req: { id: requestId } as unknown as Request,
    res: {} as Response,
    viewer: {
      via: 'session',
      keyId: adminKeyId,
      secret: 'x',
      auth: { keyId: adminKeyId, name: 'test admin', scopes: ['admin'] },
    },
  }) as unknown as UiContext;

beforeAll(async () => {
  app = await startTestApp({
    roles: ['api'],
    now: '2026-04-01T08:00:00.000Z',
    env: { WEBHOOK_ALLOW_PRIVATE: 'true' },
  });
  const row = (await app.database.db('api_keys').where({ name: 'test admin' }).first('id')) as { id: string };
  adminKeyId = row.id;
  creditType = (await createCreditType(app)).code;
});
afterAll(async () => {
  await app.close();
});

describe('what is recorded', () => {
  it('a package price changed through the API leaves one row: the admin key, origin api, the route, 200', async () => {
    const pkg = await createPackage(app, [{ credit_type: creditType, units: 10 }]);
    app.clock.advance(1_000);
    const res = await app.request('PATCH', `/v1/packages/${pkg.code}`, {
      body: { price: 2500 },
      headers: { 'x-request-id': 'req-price-api' },
    });
    expect(res.status, res.text).toBe(200);
    const rows = await rowsOf(pkg.code);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      actor_key_id: adminKeyId,
      actor_name: 'test admin',
      origin: 'api',
      action: 'PATCH /v1/packages/{id}',
      target_id: pkg.code,
      request: { price: 2500 },
      status: 200,
    });
    expect(rows[0]!.request_id).toBe('req-price-api');
    expect(rows[0]!.at.toISOString()).toBe(app.clock.now().toISOString());
    // the creation was recorded too, with the id of what it made
    const created = await rowsOf(pkg.id);
    expect(created).toMatchObject([{ action: 'POST /v1/packages', status: 201, origin: 'api' }]);
  });

  it('the same change through the pages leaves one row with origin ui', async () => {
    const pkg = await createPackage(app, [{ credit_type: creditType, units: 10 }]);
    const outcome = await submitRoute(asPage('req-price-ui'), 'patch', '/v1/packages/{id}', {
      params: { id: pkg.id },
      body: { price: 3100 },
    });
    expect(outcome.kind).toBe('reply');
    const rows = await rowsOf(pkg.id);
    expect(rows.map((r) => [r.action, r.origin, r.status])).toEqual([
      ['POST /v1/packages', 'api', 201],
      ['PATCH /v1/packages/{id}', 'ui', 200],
    ]);
    expect(rows[1]).toMatchObject({ actor_key_id: adminKeyId, request_id: 'req-price-ui', request: { price: 3100 } });
    expect((await app.request('GET', `/v1/packages/${pkg.id}`)).body.price).toBe(3100);
  });

  it('a refused call is recorded with its status and changes nothing (who tried to change the price)', async () => {
    const pkg = await createPackage(app, [{ credit_type: creditType, units: 10 }]);
    // refused by the schema
    expect((await app.request('PATCH', `/v1/packages/${pkg.id}`, { body: { price: -5 } })).status).toBe(422);
    // refused by the domain: no such package
    expect((await app.request('PATCH', '/v1/packages/no-such', { body: { price: 5 } })).status).toBe(404);
    // refused in the pages
    const page = await submitRoute(asPage('req-refused-ui'), 'patch', '/v1/packages/{id}', {
      params: { id: pkg.id },
      body: { price: 'lots' },
    });
    expect(page.kind).toBe('invalid');
    expect((await rowsOf(pkg.id)).slice(1).map((r) => [r.origin, r.status, r.request])).toEqual([
      ['api', 422, { price: -5 }],
      ['ui', 422, { price: 'lots' }],
    ]);
    expect(await rowsOf('no-such')).toMatchObject([{ status: 404, action: 'PATCH /v1/packages/{id}' }]);
    expect((await app.request('GET', `/v1/packages/${pkg.id}`)).body.price).toBe(pkg.price);
  });

  it('a change from the API through a write route is not in the trail; the same from the pages is', async () => {
    const made = await app.request('POST', '/v1/clients', { body: { external_ref: 'aud-c1', name: 'A' } });
    expect(made.status).toBe(201);
    expect(await rowsOf(made.body.id)).toHaveLength(0);
    const outcome = await submitRoute(asPage('req-client-ui'), 'patch', '/v1/clients/{id}', {
      params: { id: made.body.id },
      body: { name: 'B' },
    });
    expect(outcome.kind).toBe('reply');
    expect(await rowsOf(made.body.id)).toMatchObject([{ action: 'PATCH /v1/clients/{id}', origin: 'ui', status: 200 }]);
    // reads are never recorded, nor a quote (a POST that reads)
    const before = (await events()).length;
    await app.request('GET', '/v1/packages');
    expect((await events()).length).toBe(before);
  });

  it('a job-accepting call from the pages is recorded once it is accepted, with what it will make', async () => {
    const client = await app.request('POST', '/v1/clients', { body: { external_ref: 'aud-job', name: 'J' } });
    const body = { client: 'aud-job', credit_type: creditType, quantity: 1, idempotency_key: 'aud-use-1' };
    const outcome = await submitRoute(asPage('req-use-ui'), 'post', '/v1/consumptions', { body });
    expect(outcome.kind).toBe('reply');
    const queued = outcome.kind === 'reply' ? (outcome.reply.body as { id: string; status: string }) : undefined;
    expect(queued?.status).toBe('queued');
    expect(await rowsOf(queued!.id)).toMatchObject([
      { action: 'POST /v1/consumptions', origin: 'ui', status: 202, request: body, request_id: 'req-use-ui' },
    ]);
    // the same from the API is a write route: not in the trail
    await app.request('POST', '/v1/consumptions', { body: { ...body, idempotency_key: 'aud-use-2' } });
    expect(await app.database.db('audit_events').where({ action: 'POST /v1/consumptions' })).toHaveLength(1);
    expect(client.status).toBe(201);
  });

  it('a creation with an Idempotency-Key is recorded once: its replay changed nothing', async () => {
    const body = { code: 'aud-idem', name: 'Idem', unit: 'u' };
    const headers = { 'idempotency-key': 'aud-idem-1' };
    const first = await app.request('POST', '/v1/credit-types', { body, headers });
    const again = await app.request('POST', '/v1/credit-types', { body, headers });
    expect([first.status, again.status]).toEqual([201, 201]);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await rowsOf(first.body.id)).toMatchObject([{ action: 'POST /v1/credit-types', status: 201 }]);
    const conflict = await app.request('POST', '/v1/credit-types', { body: { ...body, name: 'Other' }, headers });
    expect(conflict.status).toBe(409);
    const refused = await app.database.db('audit_events').where({ action: 'POST /v1/credit-types', status: 409 });
    expect(refused).toHaveLength(1);
  });

  it('the clock moved through the admin API is recorded', async () => {
    const moved = await app.request('PUT', '/v1/admin/clock', { body: { now: '2026-04-02T00:00:00Z' } });
    // the test app's clock is a ManualClock: the move is made and recorded
    expect(moved.status, moved.text).toBe(200);
    expect(await events('?action=%2Fv1%2Fadmin%2Fclock')).toMatchObject([
      { action: 'PUT /v1/admin/clock', status: 200, request: { now: '2026-04-02T00:00:00Z' } },
    ]);
  });
});

describe('the change and its row commit together', () => {
  it('when the row cannot be written the change is undone', async () => {
    const pkg = await createPackage(app, [{ credit_type: creditType, units: 10 }]);
    const db = app.database.db;
    // for this test only, the trail refuses new rows: the change that would be recorded must not stay
    await db.raw(`
      CREATE FUNCTION audit_refuse_insert() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'no audit rows now'; END $$;
      CREATE TRIGGER audit_refuse_insert BEFORE INSERT ON audit_events
        FOR EACH ROW EXECUTE FUNCTION audit_refuse_insert();
    `);
    try {
      const res = await app.request('PATCH', `/v1/packages/${pkg.id}`, { body: { price: 9999 } });
      expect(res.status).toBe(500);
      const idem = await app.request('POST', '/v1/credit-types', {
        body: { code: 'aud-never', name: 'N', unit: 'u' },
        headers: { 'idempotency-key': 'aud-never-1' },
      });
      expect(idem.status).toBe(500);
    } finally {
      await db.raw('DROP TRIGGER audit_refuse_insert ON audit_events; DROP FUNCTION audit_refuse_insert();');
    }
    expect((await app.request('GET', `/v1/packages/${pkg.id}`)).body.price).toBe(pkg.price);
    expect((await app.request('GET', '/v1/credit-types/aud-never')).status).toBe(404);
  });

  it('a change that fails in its handler leaves no success row and nothing changed', async () => {
    const pkg = await createPackage(app, [{ credit_type: creditType, units: 10 }]);
    // the package's items name a credit type that does not exist: refused after the package was looked up
    const res = await app.request('PATCH', `/v1/packages/${pkg.id}`, {
      body: { price: 7777, items: [{ credit_type: 'no-such-type', units: 1 }] },
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    const rows = (await rowsOf(pkg.id)).slice(1);
    expect(rows.map((r) => r.status)).toEqual([res.status]);
    expect((await app.request('GET', `/v1/packages/${pkg.id}`)).body.price).toBe(pkg.price);
  });
});

describe('append-only in the database', () => {
  it('refuses UPDATE, DELETE and TRUNCATE of audit_events', async () => {
    const db = app.database.db;
    const [row] = (await db('audit_events').limit(1)) as AuditEvent[];
    expect(row).toBeDefined();
    await expect(db('audit_events').where({ id: row!.id }).update({ status: 200 })).rejects.toThrow(/append-only/);
    await expect(db('audit_events').where({ id: row!.id }).delete()).rejects.toThrow(/append-only/);
    await expect(db.raw('TRUNCATE audit_events')).rejects.toThrow(/append-only/);
    expect(await db('audit_events').where({ id: row!.id }).first()).toMatchObject({ status: row!.status });
  });
});

describe('secrets are never in the trail', () => {
  it('a webhook secret, a key, a password or a token are redacted; other fields are kept', async () => {
    const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    const made = await app.request('POST', '/v1/webhook-endpoints', {
      body: { url: 'http://127.0.0.1:9/hook', events: ['*'], secret, description: 'audit' },
    });
    expect(made.status, made.text).toBe(201);
    const [row] = (await app.database
      .db('audit_events')
      .where({ action: 'POST /v1/webhook-endpoints' })) as AuditEvent[];
    expect(row, made.text).toBeDefined();
    expect(row!.request).toMatchObject({ secret: '[redacted]', url: 'http://127.0.0.1:9/hook', description: 'audit' });
    expect(JSON.stringify(row)).not.toContain(secret);

    // any field naming a secret, and any value that is a key, wherever it is in the body
    const page = await submitRoute(asPage('req-secrets'), 'patch', '/v1/packages/{id}', {
      params: { id: 'no-such-package' },
      body: {
        name: 'x',
        nested: { password: 'hunter2', api_token: 't', note: app.keys.read, link: 'https://u:p@example.com/x' },
        idempotency_key: 'kept',
      },
    });
    expect(page.kind).toBe('invalid');
    const [refused] = await rowsOf('no-such-package');
    expect(refused!.request).toEqual({
      name: 'x',
      nested: {
        password: '[redacted]',
        api_token: '[redacted]',
        note: '[redacted]',
        link: 'https://[redacted]@example.com/x',
      },
      idempotency_key: 'kept',
    });

    const key = await app.request('POST', '/v1/api-keys', { body: { name: 'aud-secret', scopes: ['read'] } });
    expect(key.status).toBe(201);
    const all = JSON.stringify(await app.database.db('audit_events'));
    expect(all).not.toContain(key.body.key);
    expect(all).not.toContain(app.keys.read);
  });
});

describe('keys made or revoked by the CLI', () => {
  it('are recorded with origin cli, in the transaction that makes or revokes the key', async () => {
    const made = await runCli(app, 'keys', 'create', '--scope', 'read', '--name', 'aud-cli');
    expect(made.code, made.stderr).toBe(0);
    const id = /created key ([0-9a-f-]{36})/.exec(made.stdout)![1]!;
    const revoked = await runCli(app, 'keys', 'revoke', id);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(await rowsOf(id)).toMatchObject([
      { origin: 'cli', action: 'keys create', actor_key_id: null, status: 201, request: { name: 'aud-cli' } },
      { origin: 'cli', action: 'keys revoke', actor_key_id: null, status: 200 },
    ]);
    expect((await rowsOf(id))[0]!.actor_name).toMatch(/^cli:/);
  }, 120_000);
});

describe('GET /v1/audit-events', () => {
  it('is newest first, filters by actor, action, origin and time, and pages with a cursor', async () => {
    const all = await events('?limit=500');
    expect(all.length).toBeGreaterThan(10);
    const times = all.map((e) => `${e.at} ${e.id}`);
    expect(times).toEqual([...times].sort().reverse());

    const byKey = await events(`?actor=${adminKeyId}&limit=500`);
    expect(byKey.length).toBeGreaterThan(0);
    expect(byKey.every((e) => e.actor_key_id === adminKeyId)).toBe(true);
    const byName = await events('?actor=CLI%3A&limit=500');
    expect(byName.length).toBe(2);
    expect(byName.every((e) => e.origin === 'cli')).toBe(true);

    const prices = await events(`?action=${encodeURIComponent('PATCH /v1/packages/{id}')}&origin=ui&limit=500`);
    expect(prices.length).toBeGreaterThanOrEqual(2);
    expect(prices.every((e) => e.action === 'PATCH /v1/packages/{id}' && e.origin === 'ui')).toBe(true);

    // a time window: nothing before the first event, everything from it
    const first = all[all.length - 1]!;
    expect(await events(`?to=${encodeURIComponent(first.at)}`)).toHaveLength(0);
    expect((await events(`?from=${encodeURIComponent(first.at)}&limit=500`)).length).toBe(all.length);

    // pages of 3, in order, each event once
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: { status: number; body: { data: AuditEvent[]; next_cursor: string | null } } = await app.request(
        'GET',
        `/v1/audit-events?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(res.status).toBe(200);
      seen.push(...res.body.data.map((e) => e.id));
      cursor = res.body.next_cursor;
    } while (cursor);
    expect(seen).toEqual(all.map((e) => e.id));

    expect((await app.request('GET', '/v1/audit-events?cursor=nonsense')).status).toBe(422);
    expect((await app.request('GET', '/v1/audit-events?origin=mail')).status).toBe(422);
    expect((await app.request('GET', '/v1/audit-events', { key: app.keys.write })).status).toBe(403);
  });
});
