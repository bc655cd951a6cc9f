import { afterEach, describe, expect, it, vi } from 'vitest';
import { createSqlPool } from '../../src/db/sql-client.js';
import { createEmptyDatabase, type TestDatabase } from '../helpers/database.js';

/**
 * The hot path's pool keeps the connections it made through a lull (src/db/sql-client.ts): pg-pool would close each
 * one idle for 10 s, and the first uses after a quiet spell would pay a new backend and the hot path's named
 * statements prepared again. The idle timers are pg-pool's own setTimeouts, run here on vitest's fake clock.
 */
let database: TestDatabase | undefined;
afterEach(async () => {
  vi.useRealTimers();
  await database?.drop();
  database = undefined;
});

describe("the hot path's pool", () => {
  it('keeps its connections open however long they sit idle', async () => {
    database = await createEmptyDatabase();
    const pool = createSqlPool(database.url, 3, 'credits-hot-pool-test');
    try {
      const clients = await Promise.all([pool.connect(), pool.connect(), pool.connect()]);
      expect(pool.totalCount).toBe(3);
      let removed = 0;
      pool.on('remove', () => {
        removed += 1;
      });
      // released under the fake clock: their idle timers are its to run
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      for (const client of clients) client.release();
      vi.advanceTimersByTime(60 * 60 * 1000);
      vi.useRealTimers();
      expect({ removed, total: pool.totalCount, idle: pool.idleCount }).toEqual({ removed: 0, total: 3, idle: 3 });
      // and they still answer
      expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      vi.useRealTimers();
      await pool.end();
    }
  });
});
