import { latestMigration, migrationSource } from '../../migrations/index.js';
import type { Db } from './knex.js';

export const MIGRATIONS_TABLE = 'knex_migrations';

export async function migrateLatest(db: Db): Promise<string[]> {
  const [, applied] = (await db.migrate.latest({ migrationSource, tableName: MIGRATIONS_TABLE })) as [number, string[]];
  return applied;
}

export async function migrateRollbackAll(db: Db): Promise<string[]> {
  const [, rolledBack] = (await db.migrate.rollback({ migrationSource, tableName: MIGRATIONS_TABLE }, true)) as [
    number,
    string[],
  ];
  return rolledBack;
}

/** The migrations this code has that the database has not applied (knex's own list). */
export async function pendingMigrations(db: Db): Promise<string[]> {
  const [, pending] = (await db.migrate.list({ migrationSource, tableName: MIGRATIONS_TABLE })) as [
    unknown[],
    Array<{ file?: string; name?: string } | string>,
  ];
  return pending.map((m) => (typeof m === 'string' ? m : (m.file ?? m.name ?? String(m))));
}

/** Readiness: the schema this code expects is in place. */
export async function isSchemaCurrent(db: Db): Promise<boolean> {
  const exists = await db.schema.hasTable(MIGRATIONS_TABLE);
  if (!exists) return false;
  const row = await db(MIGRATIONS_TABLE).where({ name: latestMigration }).first('id');
  return row !== undefined;
}
