import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import type { AppContext } from './app-context.js';
import { type Clock, systemClock } from './clock.js';
import { ADMITTER_GROUPS_IN_FLIGHT } from './commands/admitter.js';
import type { Config } from './config.js';
import { createDb, pairSqlPool } from './db/knex.js';
import { createSqlPool } from './db/sql-client.js';
import { useNamedStatements } from './db/statement-names.js';
import { ApiKeyVerifier } from './http/auth.js';
import type { Logger } from './logger.js';
import { observe } from './observability.js';
import { closeWithin } from './queue/close-within.js';
import { CONNECTION_CLOSE_MS, closeQueues, createQueues, jobOptions } from './queue/queues.js';
import { createRedis, type RedisTarget } from './queue/redis.js';
import { RefResolver } from './services/ref-resolver.js';
import { bullmqTelemetry } from './telemetry.js';

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

/** The package's version: package.json sits one folder up from src/, two from the compiled dist/src/. */
export const PACKAGE_VERSION: string = (() => {
  for (const relative of ['../package.json', '../../package.json']) {
    try {
      const found = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as {
        name?: string;
        version: string;
      };
      if (found.name === 'credits') return found.version;
    } catch {
      // not there: the next place
    }
  }
  return '0.0.0';
})();

/** Builds what every role shares. Nothing here listens or consumes yet: the roles start that. */
export function createRuntime(options: RuntimeOptions): Runtime {
  // behind PgBouncer (transaction pooling): no named statements, no statement_timeout startup parameter
  const pgbouncer = options.config.PGBOUNCER;
  useNamedStatements(!pgbouncer);
  const db = createDb({
    url: options.databaseUrl,
    ...(pgbouncer ? { statementTimeoutMs: null } : {}),
    poolMax: options.poolMax ?? options.config.DB_POOL_MAX,
    applicationName: `credits-${options.config.ROLES.join('+')}`,
    log: options.log,
  });
  // the hot path's own small pool: one connection per batch in flight, one for each group the API's
  // admitter writes at once (its statements run here too: pairSqlPool), and one for the rest; its
  // connections carry the process id, so pg_stat_activity tells which process holds a batch open.
  // Connections are opened when first needed: a process without the role opens none for it.
  const sql = createSqlPool(
    options.databaseUrl,
    options.config.CONSUMPTION_LANES * options.config.CONSUMPTION_BATCHES_IN_FLIGHT + ADMITTER_GROUPS_IN_FLIGHT + 1,
    `credits-consumption:${process.pid}`,
    { statementTimeout: !pgbouncer, log: options.log },
  );
  pairSqlPool(db, sql);
  const redisTarget: RedisTarget = {
    url: options.redisUrl,
    clusterNodes: options.config.REDIS_CLUSTER_NODES,
  };
  const redis = createRedis(redisTarget, 'producer');
  const queues = createQueues(
    redis,
    options.config.BULL_PREFIX,
    jobOptions(options.config.JOB_ATTEMPTS),
    bullmqTelemetry(),
  );
  const ticks = options.ticks ?? Date.now;
  const stopWaiting = new AbortController();
  // every `?wait=true` request in flight listens on it
  setMaxListeners(0, stopWaiting.signal);
  // reports stream from a replica when there is one: a few connections, read-only transactions
  const reportsDb = options.config.REPORTS_DATABASE_URL
    ? createDb({
        url: options.config.REPORTS_DATABASE_URL,
        poolMax: 4,
        applicationName: 'credits-reports',
        log: options.log,
        ...(options.config.PGBOUNCER ? { statementTimeoutMs: null } : {}),
      })
    : db;
  const ctx: AppContext = {
    config: options.config,
    db,
    reportsDb,
    sql,
    databaseUrl: options.databaseUrl,
    redis,
    redisUrl: options.redisUrl,
    redisTarget,
    queues,
    queueEvents: {},
    stopWaiting,
    clock: options.clock ?? systemClock,
    log: options.log,
    ticks,
    keys: new ApiKeyVerifier(db, {
      ttlMs: options.config.API_KEY_CACHE_MS,
      unknownKeysPerMinute: options.config.AUTH_UNKNOWN_KEYS_PER_MINUTE,
      now: ticks,
      wallClock: () => (options.clock ?? systemClock).now(),
    }),
    refs: new RefResolver(undefined, ticks),
    version: PACKAGE_VERSION,
  };
  // /metrics of this process reads its queues and tables at each scrape
  const unobserve = observe(ctx);
  return {
    ctx,
    close: async () => {
      unobserve();
      // nobody may go on waiting on the listeners closed below
      stopWaiting.abort();
      // a connection parked in `reconnecting` never ends: cut after a while rather than wait (close-within.ts)
      const cut = (queue: string, what: string) =>
        options.log.warn(
          { queue, graceMs: CONNECTION_CLOSE_MS },
          `${what} did not close in time: its connection is cut`,
        );
      await Promise.all(
        Object.entries(ctx.queueEvents).map(async ([queue, listener]) => {
          if (!listener) return;
          await closeWithin(listener.events, CONNECTION_CLOSE_MS, () => cut(queue, 'a queue events listener'));
          listener.connection.disconnect();
        }),
      );
      await closeQueues(queues, CONNECTION_CLOSE_MS, (queue) => cut(queue, 'a queue'));
      redis.disconnect();
      await sql.end();
      if (reportsDb !== db) await reportsDb.destroy();
      await db.destroy();
    },
  };
}
