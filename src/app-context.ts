import type pg from 'pg';
import type { Clock } from './clock.js';
import type { Config } from './config.js';
import type { Db } from './db/knex.js';
import type { ApiKeyVerifier } from './http/auth.js';
import type { Logger } from './logger.js';
import type { QueueEventsSet, QueueSet } from './queue/queues.js';
import type { RedisClient, RedisTarget } from './queue/redis.js';
import type { RefResolver } from './services/ref-resolver.js';

/** What every part of the running service shares: built once in main.ts, or by a test. */
export interface AppContext {
  config: Config;
  db: Db;
  /** What reports stream from: a replica (REPORTS_DATABASE_URL) or `db` itself. */
  reportsDb: Db;
  /** node-postgres pool of the consumption hot path (one statement per round trip, no query builder). */
  sql: pg.Pool;
  /** For connections outside the pool (LISTEN). */
  databaseUrl: string;
  /** Producer-side Redis connection shared by the queues. */
  redis: RedisClient;
  /** Workers open their own blocking connections to it. */
  redisUrl: string;
  /** The same with a Redis Cluster's nodes (REDIS_CLUSTER_NODES): what connections are made from. */
  redisTarget: RedisTarget;
  queues: QueueSet;
  /** Listeners for `?wait=true`; created by the API role. */
  queueEvents: QueueEventsSet;
  /**
   * Aborted when a graceful shutdown's time for requests runs out, and when the runtime closes:
   * every wait for a job's outcome (`?wait=true`, the pages, the nightly phases) then ends at once
   * as if its timeout had passed. The job itself goes on; a waiting request is answered 202.
   */
  stopWaiting: AbortController;
  clock: Clock;
  log: Logger;
  /** Milliseconds for in-process caches and the rate limit's windows (Date.now; a test may move it). */
  ticks: () => number;
  keys: ApiKeyVerifier;
  /** Client and credit type references → ids, remembered. */
  refs: RefResolver;
  /** Package version, shown in /openapi.json and /healthz. */
  version: string;
}
