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
