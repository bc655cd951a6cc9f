import type { Knex } from 'knex';
import { OLDEST_WRITER_HERE } from '../../src/db/repositories/outbox.js';

/**
 * Waits until GET /v1/events can list what has committed so far. The list shows an event only once every writing
 * transaction of the database that began before it has ended (src/db/repositories/outbox.ts listEvents: commit
 * order), so a read right after a change may find its events held back by another writer still running — the relay
 * marking earlier events dispatched, a worker's batch — for as long as that writer takes (longer on a loaded host).
 * This waits on that condition itself, with the list's own reading of it, not on time: the oldest writer of the
 * database still running (if any) began after now. Bounded by `tries` round trips; answers whether it settled.
 */
export async function eventsSettled(db: Knex, tries = 5_000): Promise<boolean> {
  const { rows } = await db.raw<{ rows: Array<{ horizon: string }> }>(
    'SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS horizon',
  );
  const horizon = rows[0]!.horizon;
  for (let i = 0; i < tries; i += 1) {
    const read = await db.raw<{ rows: Array<{ settled: boolean }> }>(
      `SELECT coalesce((${OLDEST_WRITER_HERE}) >= ?::numeric, true) AS settled`,
      [horizon],
    );
    if (read.rows[0]?.settled) return true;
  }
  return false;
}
