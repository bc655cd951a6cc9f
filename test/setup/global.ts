import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { createDb } from '../../src/db/knex.js';
import { migrateLatest } from '../../src/db/migrate.js';
import { ensurePostgres, ensureRedis, withDatabase } from '../../src/infra/services.js';
import { buildWhenStale } from '../helpers/build.js';
import { applyTestDatabaseSettings } from '../helpers/database.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgServerUrl: string;
    redisUrl: string;
    templateDatabase: string;
  }
}

/**
 * Runs once per `npm test`: finds or starts Postgres and Redis exactly as `npm start` does, builds the
 * service when its build is stale, and builds a migrated template database that each test file clones in
 * milliseconds.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dataDir = process.env.TEST_DATA_DIR ?? '.data/test';
  const log = {
    info: (m: string) => console.error(`[test setup] ${m}`),
    warn: (m: string) => console.error(`[test setup] ${m}`),
  };
  const postgres = await ensurePostgres({
    url: process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL,
    dataDir,
    log,
  });
  const redis = await ensureRedis({ url: process.env.TEST_REDIS_URL ?? process.env.REDIS_URL, dataDir, log });
  // the processes tests start run the compiled service (test/helpers/build.ts): built here when a source is newer
  if (await buildWhenStale()) log.info('built the service (npm run build): a source was newer than dist/');

  const template = `credits_tpl_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: postgres.serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(template)}`);
  await applyTestDatabaseSettings(admin, template);
  const db = createDb({ url: withDatabase(postgres.serverUrl, template), poolMax: 1 });
  try {
    await migrateLatest(db);
  } finally {
    await db.destroy();
  }

  project.provide('pgServerUrl', postgres.serverUrl);
  project.provide('redisUrl', redis.url);
  project.provide('templateDatabase', template);

  return async () => {
    // drop the template and any database a crashed test file left behind
    const leftovers = await admin.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $2`,
      [template, `${template}_f%`],
    );
    for (const { datname } of leftovers.rows) {
      await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(datname)} WITH (FORCE)`).catch(() => undefined);
    }
    await admin.end();
    await redis.stop();
    await postgres.stop();
  };
}
