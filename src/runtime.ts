import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import type { AppContext } from './app-context.js';
import { type Clock, systemClock } from './clock.js';
import type { Config } from './config.js';
import { createDb } from './db/knex.js';
import { createSqlPool } from './db/sql-client.js';
import { ApiKeyVerifier } from './http/auth.js';
import type { Logger } from './logger.js';
import { closeQueues, createQueues, jobOptions } from './queue/queues.js';
import { createRedis } from './queue/redis.js';
import { RefResolver } from './services/ref-resolver.js';

export interface RuntimeOptions {
  config: Config;
  databaseUrl: string;
  redisUrl: string;
  log: Logger;
  clock?: Clock;
  /**
   * Milliseconds of the in-process caches (API keys) and of the rate limit's windows; `Date.now` by
   * default. Tests move it to expire a cache without waiting.
   */
  ticks?: () => number;
  /** Pool size; defaults to DB_POOL_MAX. */
  poolMax?: number;
}

export interface Runtime {
  ctx: AppContext;
  /** Closes queues, listeners, Redis and the pool, in that order. */
  close(): Promise<void>;
}

export const PACKAGE_VERSION: string = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
      .version;
  } catch {
    return '0.0.0';
  }
})();

/** Builds what every role shares. Nothing here listens or consumes yet: the roles start that. */
export function createRuntime(options: RuntimeOptions): Runtime {
  const db = createDb({
    url: options.databaseUrl,
    poolMax: options.poolMax ?? options.config.DB_POOL_MAX,
    applicationName: `credits-${options.config.ROLES.join('+')}`,
    log: options.log,
  });
  // the hot path's own small pool: one connection per batch in flight, and one for the rest; its
  // connections carry the process id, so pg_stat_activity tells which process holds a batch open
  const sql = createSqlPool(
    options.databaseUrl,
    options.config.CONSUMPTION_LANES * options.config.CONSUMPTION_BATCHES_IN_FLIGHT + 1,
    `credits-consumption:${process.pid}`,
  );
  const redis = createRedis(options.redisUrl, 'producer');
  const queues = createQueues(redis, options.config.BULL_PREFIX, jobOptions(options.config.JOB_ATTEMPTS));
  const ticks = options.ticks ?? Date.now;
  const stopWaiting = new AbortController();
  // every `?wait=true` request in flight listens on it
  setMaxListeners(0, stopWaiting.signal);
  const ctx: AppContext = {
    config: options.config,
    db,
    sql,
    databaseUrl: options.databaseUrl,
    redis,
    redisUrl: options.redisUrl,
    queues,
    queueEvents: {},
    stopWaiting,
    clock: options.clock ?? systemClock,
    log: options.log,
    ticks,
    keys: new ApiKeyVerifier(db, { ttlMs: options.config.API_KEY_CACHE_MS, now: ticks }),
    refs: new RefResolver(),
    version: PACKAGE_VERSION,
  };
  return {
    ctx,
    close: async () => {
      // nobody may go on waiting on the listeners closed below
      stopWaiting.abort();
      await Promise.all(
        Object.values(ctx.queueEvents).map(async (listener) => {
          if (!listener) return;
          await listener.events.close();
          listener.connection.disconnect();
        }),
      );
      await closeQueues(queues);
      redis.disconnect();
      await sql.end();
      await db.destroy();
    },
  };
}
