import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';

/**
 * GET /v1/events pages through the outbox with a cursor. An event's seq is taken when it is
 * written, not when it commits: a reader must never move past an event whose transaction commits
 * after a later-numbered one — it would skip it for good.
 */
describe('GET /v1/events never skips an event that commits late', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(async () => {
    await app?.close();
  });

  const insertEvent = (client: pg.Client | TestApp, id: string) => {
    const payload = { id, type: 'subscription.created', created_at: new Date().toISOString(), data: { n: id } };
    const sql = `INSERT INTO outbox_events (id, type, payload, created_at, dispatched_at)
                 VALUES ($1, 'subscription.created', $2, now(), now()) RETURNING seq`;
    return client instanceof pg.Client
      ? client.query<{ seq: string }>(sql, [id, payload]).then((r) => r.rows[0]!.seq)
      : client.database.db
          .raw<{ rows: Array<{ seq: string }> }>(sql.replace('$1', '?').replace('$2', '?'), [id, payload])
          .then((r) => r.rows[0]!.seq);
  };
  const list = async (after?: string) => {
    const res = await app.request<{ data: Array<{ id: string; seq: string }>; next_cursor: string | null }>(
      'GET',
      `/v1/events?type=subscription.created&limit=500${after ? `&after=${after}` : ''}`,
    );
    expect(res.status, res.text).toBe(200);
    return res.body.data;
  };

  it("a long transaction of another database on the server does not hold this one's list back", async () => {
    const other = new pg.Client({ connectionString: app.database.url.replace(/\/[^/?]+(\?.*)?$/, '/postgres') });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT pg_current_xact_id()'); // it has a transaction id, and keeps it open
      const id = randomUUID();
      await insertEvent(app, id);
      expect((await list()).map((e) => e.id)).toContain(id);
    } finally {
      await other.query('ROLLBACK').catch(() => undefined);
      await other.end();
    }
  });

  it('an event written first and committed last is listed after the cursor moved on', async () => {
    const early = randomUUID();
    const late = randomUUID();
    const slow = new pg.Client({ connectionString: app.database.url });
    await slow.connect();
    try {
      await slow.query('BEGIN');
      const earlySeq = await insertEvent(slow, early);
      // another transaction takes a later seq and commits first
      const lateSeq = await insertEvent(app, late);
      expect(BigInt(lateSeq)).toBeGreaterThan(BigInt(earlySeq));

      // a reader now: the committed event waits behind the open transaction, so the cursor cannot pass it
      const first = await list();
      expect(first.map((e) => e.id)).not.toContain(late);
      const cursor = first.at(-1)?.seq;

      await slow.query('COMMIT');
      const next = await list(cursor);
      expect(next.map((e) => e.id)).toEqual([early, late]);
    } finally {
      await slow.end();
    }
  });
});

/**
 * GET /v1/events is for receivers that reconcile (API.md), and a receiver's system holds a read key: it lists the
 * events with one. The events about the webhook endpoints themselves (`webhook_endpoint.*`: an endpoint's host,
 * disabled) are an administrator's, as the endpoints are: left out for a key below admin, and 403 asked by type.
 */
describe('GET /v1/events with a read key', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(async () => {
    await app?.close();
  });

  const insert = (id: string, type: string) =>
    app.database.db.raw(
      `INSERT INTO outbox_events (id, type, payload, created_at, dispatched_at) VALUES (?, ?, ?, now(), now())`,
      [id, type, { id, type, created_at: new Date().toISOString(), data: {} }],
    );

  it('lists the events, without those about the webhook endpoints, which an admin key still sees', async () => {
    const sale = randomUUID();
    const endpoint = randomUUID();
    await insert(sale, 'subscription.created');
    await insert(endpoint, 'webhook_endpoint.disabled');
    const ids = async (key: string, query = '') => {
      const res = await app.request('GET', `/v1/events?limit=500${query}`, { key });
      expect(res.status, res.text).toBe(200);
      return (res.body.data as Array<{ id: string }>).map((e) => e.id);
    };
    for (const key of [app.keys.read, app.keys.write]) {
      expect(await ids(key)).toContain(sale);
      expect(await ids(key)).not.toContain(endpoint);
      expect(await ids(key, '&type=subscription.created')).toContain(sale);
      const asked = await app.request('GET', '/v1/events?type=webhook_endpoint.disabled', { key });
      expect(asked.status, asked.text).toBe(403);
      expect(asked.body).toMatchObject({ code: 'forbidden' });
    }
    expect(await ids(app.keys.admin)).toEqual(expect.arrayContaining([sale, endpoint]));
    expect(await ids(app.keys.admin, '&type=webhook_endpoint.disabled')).toContain(endpoint);
    expect((await app.request('GET', '/v1/events', { key: null })).status).toBe(401);
  });
});
