import { Redis, type RedisOptions } from 'ioredis';

/**
 * Redis connections as BullMQ wants them. Workers block on Redis and must retry for ever
 * (`maxRetriesPerRequest: null`); producers fail fast (`enableOfflineQueue: false`) so that the API
 * answers 503 at once when Redis is down instead of queueing requests in memory.
 */
export type RedisRole = 'producer' | 'worker';

export function redisOptions(url: string, role: RedisRole): RedisOptions {
  return {
    maxRetriesPerRequest: role === 'worker' ? null : 1,
    enableOfflineQueue: role === 'worker',
    enableReadyCheck: true,
    connectTimeout: 5_000,
    // reconnect with capped exponential backoff for ever; recovery is automatic
    retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 8), 5_000),
    lazyConnect: false,
    connectionName: `credits-${role}`,
    ...parseUrlOptions(url),
  };
}

function parseUrlOptions(url: string): RedisOptions {
  const parsed = new URL(url);
  const options: RedisOptions = {
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
  };
  if (parsed.username) options.username = decodeURIComponent(parsed.username);
  if (parsed.password) options.password = decodeURIComponent(parsed.password);
  const db = parsed.pathname.replace('/', '');
  if (db) options.db = Number(db);
  if (parsed.protocol === 'rediss:') options.tls = {};
  return options;
}

export function createRedis(url: string, role: RedisRole): Redis {
  const redis = new Redis(redisOptions(url, role));
  // errors are reported through readiness and the callers; an unhandled 'error' event would crash
  redis.on('error', () => {});
  return redis;
}
