import type { Knex } from 'knex';

/**
 * Waits until GET /v1/events can list what has committed so far. The list shows an event only once every writing
 * transaction of the database that began before it has ended (src/db/repositories/outbox.ts listEvents: commit
 * order), so a read right after a change may find its events held back by another writer still running — the relay
 * marking earlier events dispatched, a worker's batch — for as long as that writer takes (longer on a loaded host).
 * This waits on that condition itself, not on time: no writer of this database older than now is still running.
 * Bounded by `tries` round trips; answers whether it settled.
 */
export async function eventsSettled(db: Knex, tries = 5_000): Promise<boolean> {
  // the same widening of pg_stat_activity's 32-bit backend_xid as listEvents', against the snapshot taken now
  const [{ horizon }] = (
    await db.raw<{ rows: Array<{ horizon: string }> }>(
      'SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS horizon',
    )
  ).rows as [{ horizon: string }];
  for (let i = 0; i < tries; i += 1) {
    const { rows } = await db.raw<{ rows: Array<{ older: number }> }>(
      `SELECT count(*)::integer AS older
         FROM pg_stat_activity a,
              (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::numeric AS xmax) x
        WHERE a.datname = current_database() AND a.backend_xid IS NOT NULL AND a.pid <> pg_backend_pid()
          AND x.xmax + mod(a.backend_xid::text::numeric - mod(x.xmax, 4294967296) + 6442450944, 4294967296)
                - 2147483648 < ?::numeric`,
      [horizon],
    );
    if (rows[0]?.older === 0) return true;
  }
  return false;
}
