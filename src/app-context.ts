import type { Redis } from 'ioredis';
import type { Clock } from './clock.js';
import type { Config } from './config.js';
import type { Db } from './db/knex.js';
import type { ApiKeyVerifier } from './http/auth.js';
import type { Logger } from './logger.js';
import type { QueueEventsSet, QueueSet } from './queue/queues.js';

/** What every part of the running service shares: built once in main.ts, or by a test. */
export interface AppContext {
  config: Config;
  db: Db;
  /** Producer-side Redis connection shared by the queues. */
  redis: Redis;
  queues: QueueSet;
  /** Listeners for `?wait=true`; created by the API role. */
  queueEvents: QueueEventsSet;
  clock: Clock;
  log: Logger;
  keys: ApiKeyVerifier;
  /** Package version, shown in /openapi.json and /healthz. */
  version: string;
}
