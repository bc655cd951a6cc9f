import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';

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

/** A single Redis or a Redis Cluster: BullMQ, the rate limit and the producer take either. */
export type RedisClient = Redis | Cluster;

/** Where Redis is: a URL (its credentials and TLS apply to every node), and the nodes of a cluster if it is one. */
export interface RedisTarget {
  url: string;
  clusterNodes?: ReadonlyArray<{ host: string; port: number }> | undefined;
}

/** REDIS_CLUSTER_NODES (`host:port,host:port`): a few nodes; the client learns the rest from them. */
export function parseClusterNodes(text: string): Array<{ host: string; port: number }> {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const at = part.lastIndexOf(':');
      const host = at > 0 ? part.slice(0, at) : part;
      const port = at > 0 ? Number(part.slice(at + 1)) : 6379;
      if (!host || !Number.isInteger(port) || port <= 0 || port > 65_535) throw new Error(`"${part}" is not host:port`);
      return { host, port };
    });
}

/**
 * A cluster client with the same per-node behaviour as a single connection (retries, offline queue
 * by role). Every key of the service sits under the BULL_PREFIX hash tag, so one slot holds them all
 * and BullMQ's multi-key scripts run; a failover moves that slot to the promoted replica, and the
 * client follows it (MOVED, slot refresh) while commands wait for it (workers) or fail fast (producers).
 */
function createCluster(
  target: RedisTarget & { clusterNodes: ReadonlyArray<{ host: string; port: number }> },
  role: RedisRole,
) {
  const { host: _host, port: _port, ...perNode } = redisOptions(target.url, role);
  const options: ClusterOptions = {
    redisOptions: perNode,
    enableOfflineQueue: role === 'worker',
    enableReadyCheck: true,
    clusterRetryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 8), 5_000),
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
    retryDelayOnTryAgain: 200,
    slotsRefreshTimeout: 2_000,
    // producers fail fast; a worker waits through a failover
    maxRedirections: 16,
  };
  return new Cluster([...target.clusterNodes], options);
}

export function createRedis(target: string | RedisTarget, role: RedisRole): RedisClient {
  const resolved: RedisTarget = typeof target === 'string' ? { url: target } : target;
  const redis: RedisClient =
    resolved.clusterNodes && resolved.clusterNodes.length > 0
      ? createCluster({ ...resolved, clusterNodes: resolved.clusterNodes }, role)
      : new Redis(redisOptions(resolved.url, role));
  // errors are reported through readiness and the callers; an unhandled 'error' event would crash
  redis.on('error', () => {});
  return redis;
}

/**
 * Waits (at most `timeoutMs`) until a connection is ready. A producer connection fails its commands
 * at once while it is still connecting (no offline queue), so a process waits for it before it
 * says it is up; when Redis is away it goes on after the timeout and /readyz says so.
 */
export async function untilReady(redis: RedisClient, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return true;
  return await new Promise<boolean>((resolve) => {
    const done = (ready: boolean) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      resolve(ready);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    redis.on('ready', onReady);
  });
}

/**
 * What `checkRedisSettings` found: each setting as Redis answered it (undefined when it would not say), and the
 * warnings logged.
 */
export interface RedisSettings {
  appendonly?: string;
  maxmemoryPolicy?: string;
  warnings: string[];
}

async function configGet(redis: RedisClient, name: string): Promise<string | undefined> {
  const reply = (await redis.call('CONFIG', 'GET', name)) as unknown;
  // RESP2 answers [name, value]
  return Array.isArray(reply) && reply.length >= 2 ? String(reply[1]) : undefined;
}

/**
 * Reads the two settings the queues depend on and warns (never fails: a managed Redis may refuse
 * CONFIG) when they are not as needed:
 * - `appendonly yes`: without it, jobs a producer pushed straight into Redis are lost when Redis
 *   restarts (requests the API accepted are not: they are in Postgres, and the relay re-enqueues them);
 * - `maxmemory-policy noeviction`: under memory pressure any other policy deletes queue keys, and
 *   BullMQ breaks in ways that are hard to see.
 */
export async function checkRedisSettings(
  redis: RedisClient,
  log: { warn(obj: object, message: string): void },
  timeoutMs = 3_000,
): Promise<RedisSettings> {
  const warnings: string[] = [];
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`Redis did not answer within ${timeoutMs} ms`)), timeoutMs).unref(),
  );
  try {
    const [appendonly, maxmemoryPolicy] = await Promise.race([
      Promise.all([configGet(redis, 'appendonly'), configGet(redis, 'maxmemory-policy')]),
      timeout,
    ]);
    if (appendonly !== 'yes') {
      warnings.push(
        `Redis runs with appendonly ${appendonly ?? '(unknown)'}: a restart loses the jobs producers pushed ` +
          'directly (API requests survive through Postgres); run it with appendonly yes',
      );
    }
    if (maxmemoryPolicy !== 'noeviction') {
      warnings.push(
        `Redis runs with maxmemory-policy ${maxmemoryPolicy ?? '(unknown)'}: under memory pressure it deletes ` +
          'queue keys; BullMQ needs maxmemory-policy noeviction',
      );
    }
    for (const warning of warnings) log.warn({ appendonly, maxmemoryPolicy }, warning);
    return {
      ...(appendonly !== undefined ? { appendonly } : {}),
      ...(maxmemoryPolicy !== undefined ? { maxmemoryPolicy } : {}),
      warnings,
    };
  } catch (error) {
    const warning =
      `could not read the Redis settings (${error instanceof Error ? error.message : String(error)}); make sure ` +
      'Redis runs with appendonly yes and maxmemory-policy noeviction';
    log.warn({}, warning);
    return { warnings: [warning] };
  }
}
