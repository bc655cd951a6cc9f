import pg from 'pg';
import type { Executor } from './knex.js';
import type { SqlClient } from './sql-client.js';

// Statements about the Postgres server itself rather than the service's tables.

/** Resolves once Postgres answers a statement; rejects with the driver's error (readiness reports its code). */
export async function pingDatabase(db: Executor): Promise<void> {
  await db.raw('SELECT 1');
}

/**
 * Creates `database` when it does not exist yet. `client` is connected to another database of the
 * server (its maintenance database, `postgres`): a database cannot create itself.
 */
export async function createDatabaseIfAbsent(client: SqlClient, database: string): Promise<void> {
  const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
  if (found.rowCount === 0) {
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`).catch((error: unknown) => {
      // another process created it between our check and our create
      if ((error as { code?: string }).code !== '42P04') throw error;
    });
  }
}

/** Where the primary's write-ahead log is now: a replica that has replayed this far has every commit before it. */
export async function currentWalLsn(db: Executor): Promise<string> {
  const result = await db.raw<{ rows: Array<{ lsn: string }> }>('SELECT pg_current_wal_lsn()::text AS lsn');
  return result.rows[0]!.lsn;
}

/**
 * Whether a replica has replayed the primary's log up to `lsn` (true on a primary, which is always
 * up to date with itself).
 */
export async function replayedUpTo(db: Executor, lsn: string): Promise<boolean> {
  const result = await db.raw<{ rows: Array<{ caught_up: boolean }> }>(
    `SELECT CASE WHEN pg_is_in_recovery() THEN coalesce(pg_last_wal_replay_lsn() >= ?::pg_lsn, false)
                 ELSE true END AS caught_up`,
    [lsn],
  );
  return result.rows[0]!.caught_up;
}
