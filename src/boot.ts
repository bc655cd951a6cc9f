import { type Config, loadConfig } from './config.js';
import { createDb } from './db/knex.js';
import { migrateLatest, pendingMigrations } from './db/migrate.js';
import {
  ensureDatabase,
  ensurePostgres,
  ensureRedis,
  notStartedHere,
  type PostgresHandle,
  type RedisHandle,
  withDatabase,
} from './infra/services.js';
import type { Logger } from './logger.js';
import { checkRedisSettings, createRedis, untilReady } from './queue/redis.js';

export const DEFAULT_DATABASE = 'credits';

/** The database DATABASE_URL names, or `credits` on a server found or started for it. */
export function databaseNameOf(config: Pick<Config, 'DATABASE_URL'>): string {
  return config.DATABASE_URL
    ? decodeURIComponent(new URL(config.DATABASE_URL).pathname.slice(1)) || DEFAULT_DATABASE
    : DEFAULT_DATABASE;
}

/** MIGRATE=off and the database lacks migrations this code needs: a deploy step was skipped. */
export class SchemaBehindError extends Error {
  constructor(readonly pending: string[]) {
    super(
      `refusing to start: MIGRATE=off and the database lacks ${pending.length} migration(s) this code needs ` +
        `(${pending.join(', ')}); run \`npm run migrate\` first`,
    );
  }
}

export interface Services {
  databaseUrl: string;
  redisUrl: string;
  postgres: PostgresHandle;
  redis: RedisHandle;
  stop(): Promise<void>;
  /** Asks the servers started here to stop, without waiting (the process exits at once). */
  abandon(): void;
}

/**
 * Finds or starts Postgres and Redis (see src/infra/services.ts), makes sure the database exists,
 * and migrates it. Several processes starting at once are safe: knex serialises migrations with its
 * lock table, and the losers wait for it.
 */
export async function prepareServices(
  config: Config,
  log: Logger,
  /** `leave`: neither migrate nor check the schema (the CLI's migrate commands do that themselves). */
  schema: 'as-configured' | 'leave' = 'as-configured',
): Promise<Services> {
  const logAdapter = { info: (m: string) => log.info(m), warn: (m: string) => log.warn(m) };
  // the servers started here run in process groups of their own and outlive this process: a start that fails after
  // starting one stops it (a redis-server left behind was adopted by the next start as "found", and never stopped)
  const started: Array<PostgresHandle | RedisHandle> = [];
  try {
    // the server itself (behind a pooler: DATABASE_DIRECT_URL) is where the database is made and migrated
    const server = config.DATABASE_DIRECT_URL ?? config.DATABASE_URL;
    const postgres = await ensurePostgres({ url: server, dataDir: config.DATA_DIR, log: logAdapter });
    started.push(postgres);
    const databaseName = databaseNameOf({ DATABASE_URL: server });
    await ensureDatabase(postgres.serverUrl, databaseName);
    const databaseUrl = config.DATABASE_URL ?? withDatabase(postgres.serverUrl, databaseName);
    // a Redis Cluster is used as it is (never started here); a single Redis is found or started
    const redis: RedisHandle = config.REDIS_CLUSTER_NODES
      ? { url: config.REDIS_URL ?? 'redis://127.0.0.1:6379', started: false, ...notStartedHere }
      : await ensureRedis({ url: config.REDIS_URL, dataDir: config.DATA_DIR, log: logAdapter });
    started.push(redis);
    // the settings the queues' durability depends on: a warning when they are not as needed
    const probe = createRedis({ url: redis.url, clusterNodes: config.REDIS_CLUSTER_NODES }, 'worker');
    await untilReady(probe, 5_000);
    try {
      await checkRedisSettings(probe, log);
    } finally {
      probe.disconnect();
    }

    // a session of its own (knex's migration lock, DDL): Postgres directly, not through a pooler
    const directUrl = config.DATABASE_DIRECT_URL ?? databaseUrl;
    if (schema === 'as-configured') {
      if (config.MIGRATE === 'off') await assertSchemaCurrent(directUrl);
      else await migrateDatabase(directUrl, log);
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
      abandon: () => {
        redis.abandon();
        postgres.abandon();
      },
    };
  } catch (error) {
    for (const handle of started.reverse()) await handle.stop().catch(() => undefined);
    throw error;
  }
}

export { loadConfig };

/**
 * Applies every pending migration. Several processes at once are safe: knex serialises migrations
 * with its lock table, and the losers wait for it (up to a minute) and then find nothing to do.
 */
export async function migrateDatabase(databaseUrl: string, log: Logger): Promise<string[]> {
  const db = createDb({ url: databaseUrl, poolMax: 2 });
  try {
    for (let attempt = 1; ; attempt += 1) {
      try {
        const applied = await migrateLatest(db);
        if (applied.length > 0) log.info({ applied }, 'migrations applied');
        return applied;
      } catch (error) {
        const locked = error instanceof Error && /Migration table is already locked/i.test(error.message);
        if (!locked || attempt >= 60) throw error;
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  } finally {
    await db.destroy();
  }
}

/** MIGRATE=off: the schema must already be what this code expects. */
async function assertSchemaCurrent(databaseUrl: string): Promise<void> {
  const db = createDb({ url: databaseUrl, poolMax: 1 });
  try {
    const pending = await pendingMigrations(db);
    if (pending.length > 0) throw new SchemaBehindError(pending);
  } finally {
    await db.destroy();
  }
}
