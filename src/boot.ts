import { type Config, loadConfig } from './config.js';
import { createDb } from './db/knex.js';
import { migrateLatest } from './db/migrate.js';
import {
  ensureDatabase,
  ensurePostgres,
  ensureRedis,
  type PostgresHandle,
  type RedisHandle,
  withDatabase,
} from './infra/services.js';
import type { Logger } from './logger.js';
import { checkRedisSettings, createRedis } from './queue/redis.js';

export const DEFAULT_DATABASE = 'credits';

export interface Services {
  databaseUrl: string;
  redisUrl: string;
  postgres: PostgresHandle;
  redis: RedisHandle;
  stop(): Promise<void>;
}

/**
 * Finds or starts Postgres and Redis (see src/infra/services.ts), makes sure the database exists,
 * and migrates it. Several processes starting at once are safe: knex serialises migrations with its
 * lock table, and the losers wait for it.
 */
export async function prepareServices(config: Config, log: Logger): Promise<Services> {
  const logAdapter = { info: (m: string) => log.info(m), warn: (m: string) => log.warn(m) };
  const postgres = await ensurePostgres({ url: config.DATABASE_URL, dataDir: config.DATA_DIR, log: logAdapter });
  const databaseName = config.DATABASE_URL
    ? decodeURIComponent(new URL(config.DATABASE_URL).pathname.slice(1)) || DEFAULT_DATABASE
    : DEFAULT_DATABASE;
  await ensureDatabase(postgres.serverUrl, databaseName);
  const databaseUrl = config.DATABASE_URL ?? withDatabase(postgres.serverUrl, databaseName);
  const redis = await ensureRedis({ url: config.REDIS_URL, dataDir: config.DATA_DIR, log: logAdapter });
  // the settings the queues' durability depends on: a warning when they are not as needed
  const probe = createRedis(redis.url, 'worker');
  try {
    await checkRedisSettings(probe, log);
  } finally {
    probe.disconnect();
  }

  const db = createDb({ url: databaseUrl, poolMax: 2 });
  try {
    for (let attempt = 1; ; attempt += 1) {
      try {
        const applied = await migrateLatest(db);
        if (applied.length > 0) log.info({ applied }, 'migrations applied');
        break;
      } catch (error) {
        const locked = error instanceof Error && /Migration table is already locked/i.test(error.message);
        if (!locked || attempt >= 60) throw error;
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  } finally {
    await db.destroy();
  }
  return {
    databaseUrl,
    redisUrl: redis.url,
    postgres,
    redis,
    stop: async () => {
      await redis.stop();
      await postgres.stop();
    },
  };
}

export { loadConfig };
