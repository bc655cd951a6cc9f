import type { Redis } from 'ioredis';

/**
 * Deletes every key under a queue prefix — all queues, jobs and meta of one BULL_PREFIX. For the
 * bench, the load test and the test harness, which run under a prefix of their own and leave
 * Redis as they found it; never for a prefix a running service uses.
 */
export async function removeQueueKeys(redis: Redis, prefix: string): Promise<number> {
  let removed = 0;
  for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 1_000 }) as AsyncIterable<string[]>) {
    if (keys.length > 0) removed += await redis.unlink(...keys);
  }
  return removed;
}
