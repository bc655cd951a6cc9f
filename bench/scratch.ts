import pg from 'pg';
import type { Config } from '../src/config.js';
import { createDb } from '../src/db/knex.js';
import { migrateLatest } from '../src/db/migrate.js';
import { ensureDatabase, ensurePostgres, ensureRedis, withDatabase } from '../src/infra/services.js';
import { createRedis } from '../src/queue/redis.js';
import { removeQueueKeys } from '../src/queue/remove-prefix.js';

/** A migrated database and a queue prefix of a run's own, on Postgres and Redis found or started. */
export interface Scratch {
  /** Unique to the run: names its database and prefix, and can name its data. */
  stamp: string;
  database: string;
  databaseUrl: string;
  redisUrl: string;
  /** BULL_PREFIX for the run: a Redis Cluster hash tag of its own. */
  prefix: string;
  /** Drops the database and the prefix's keys (unless kept), and stops what was started for the run. */
  finish(options: { keep: boolean }): Promise<void>;
}

/**
 * What `npm run bench` and `npm run load` stand on: they start from an empty database every time
 * and leave Postgres and Redis as they found them.
 */
export async function openScratch(kind: 'bench' | 'load' | 'profile', config: Config): Promise<Scratch> {
  const stamp = Date.now().toString(36);
  const postgres = await ensurePostgres({ url: config.DATABASE_URL, dataDir: config.DATA_DIR });
  const redis = await ensureRedis({ url: config.REDIS_URL, dataDir: config.DATA_DIR });
  const database = `credits_${kind}_${stamp}`;
  await ensureDatabase(postgres.serverUrl, database);
  const databaseUrl = withDatabase(postgres.serverUrl, database);
  const db = createDb({ url: databaseUrl, poolMax: 2 });
  try {
    await migrateLatest(db);
  } finally {
    await db.destroy();
  }
  const prefix = `{${kind}-${stamp}}`;
  return {
    stamp,
    database,
    databaseUrl,
    redisUrl: redis.url,
    prefix,
    finish: async ({ keep }) => {
      if (!keep) {
        const connection = createRedis(redis.url, 'worker');
        await removeQueueKeys(connection, prefix);
        connection.disconnect();
        const admin = new pg.Client({ connectionString: postgres.serverUrl });
        await admin.connect();
        await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`);
        await admin.end();
      }
      await redis.stop();
      await postgres.stop();
    },
  };
}
