import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { expect, inject } from 'vitest';
import { createDb, type Db } from '../../src/db/knex.js';
import { withDatabase } from '../../src/infra/services.js';

export interface TestDatabase {
  url: string;
  name: string;
  db: Db;
  drop(): Promise<void>;
}

/**
 * What every test database runs with. `synchronous_commit = off`: a commit returns before its WAL reaches the
 * disk, which changes nothing a test can see (visibility, locks and constraints are the same; only a crash of the
 * server could lose the last commits, and the tests that crash Postgres start servers of their own). It spares
 * each of the suite's many thousand commits its flush, 2–5 ms each on this kind of host. `TEST_SYNCHRONOUS_COMMIT=on`
 * keeps the server's default, to compare.
 */
export async function applyTestDatabaseSettings(admin: pg.Client, name: string): Promise<void> {
  const setting = process.env.TEST_SYNCHRONOUS_COMMIT === 'on' ? 'on' : 'off';
  await admin.query(`ALTER DATABASE ${pg.escapeIdentifier(name)} SET synchronous_commit = ${setting}`);
}

/** SUITE_CPU_LOG (test/setup/cpu-log.ts): the time Postgres spent running this file's statements. */
async function logPostgresTime(client: pg.Client, name: string): Promise<void> {
  const log = process.env.SUITE_CPU_LOG;
  if (!log) return;
  const { rows } = await client.query<{ ms: number }>(
    'SELECT active_time AS ms FROM pg_stat_database WHERE datname = $1',
    [name],
  );
  const file = path.relative(process.cwd(), expect.getState().testPath ?? 'unknown');
  appendFileSync(log, `${JSON.stringify({ file, pg_active_ms: Math.round(Number(rows[0]?.ms ?? 0)) })}\n`);
}

/** A database of this test file's own, cloned from the migrated template. */
export async function createTestDatabase(poolMax = 10): Promise<TestDatabase> {
  const serverUrl = inject('pgServerUrl');
  const template = inject('templateDatabase');
  const name = `${template}_f${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE ${pg.escapeIdentifier(template)}`);
    await applyTestDatabaseSettings(admin, name);
  } finally {
    await admin.end();
  }
  const url = withDatabase(serverUrl, name);
  const db = createDb({ url, poolMax });
  return {
    url,
    name,
    db,
    drop: async () => {
      await db.destroy();
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      await logPostgresTime(client, name);
      try {
        await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** An empty database (no migrations), for the migration tests. */
export async function createEmptyDatabase(): Promise<TestDatabase> {
  const serverUrl = inject('pgServerUrl');
  const name = `${inject('templateDatabase')}_f${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    await applyTestDatabaseSettings(admin, name);
  } finally {
    await admin.end();
  }
  const url = withDatabase(serverUrl, name);
  const db = createDb({ url, poolMax: 2 });
  return {
    url,
    name,
    db,
    drop: async () => {
      await db.destroy();
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      await client
        .query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`)
        .finally(() => client.end());
    },
  };
}

/**
 * One database for a file whose tests each start a service of their own (`startTestApp({ database })`): each
 * `next()` hands it out emptied — every row gone, every sequence restarted — and the service's `close()` leaves it
 * standing. Cloning a database and dropping it costs 1–2 s a test on this kind of host; emptying one costs
 * milliseconds. Emptied when handed out, not at close: a test that failed before its close leaves nothing to the
 * next. `drop()` (in afterAll) drops it for good.
 *
 * Emptied with the triggers off (`session_replication_role = replica`): the append-only tables refuse a
 * DELETE, and the foreign keys (triggers too) need no order. A partition a test created stays, empty.
 */
export function recyclingDatabase(): { next(): Promise<TestDatabase>; drop(): Promise<void> } {
  let database: TestDatabase | undefined;
  let emptying: string | undefined;
  return {
    next: async () => {
      if (database) {
        const { db } = database;
        emptying ??= await emptyingSql(db);
        const sql = emptying;
        await db.transaction(async (trx) => {
          await trx.raw('SET LOCAL session_replication_role = replica');
          await trx.raw(sql);
        });
      } else {
        database = await createTestDatabase();
      }
      const { url, name, db } = database;
      return { url, name, db, drop: async () => undefined };
    },
    drop: async () => {
      await database?.drop();
      database = undefined;
    },
  };
}

/** DELETE of every table the migrations made (not knex's own), and a restart of every sequence. */
async function emptyingSql(db: Db): Promise<string> {
  const { rows } = await db.raw<{ rows: Array<{ statement: string }> }>(
    `SELECT format('DELETE FROM %I.%I;', n.nspname, c.relname) AS statement
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
        AND c.relname NOT LIKE 'knex\\_%'
     UNION ALL
     SELECT format('ALTER SEQUENCE %I.%I RESTART;', n.nspname, c.relname)
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind = 'S' AND c.relname NOT LIKE 'knex\\_%'`,
  );
  return rows.map((r) => r.statement).join('\n');
}
