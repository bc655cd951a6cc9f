import type { Redis } from 'ioredis';
import type { RedisClient } from './redis.js';

/**
 * Deletes every key under a queue prefix — all queues, jobs and meta of one BULL_PREFIX. For the
 * bench, the load test and the test harness, which run under a prefix of their own and leave
 * Redis as they found it; never for a prefix a running service uses.
 */
export async function removeQueueKeys(redis: RedisClient, prefix: string): Promise<number> {
  // a cluster is scanned master by master (the prefix's hash tag puts the keys on one of them)
  const nodes: Redis[] =
    'nodes' in redis && typeof redis.nodes === 'function' ? redis.nodes('master') : [redis as Redis];
  let removed = 0;
  for (const node of nodes) {
    for await (const keys of node.scanStream({ match: `${prefix}*`, count: 1_000 }) as AsyncIterable<string[]>) {
      if (keys.length > 0) removed += await node.unlink(...keys);
    }
  }
  return removed;
}
