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
