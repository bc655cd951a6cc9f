import { inject } from 'vitest';
import { createRedis } from '../../src/queue/redis.js';
import { removeQueueKeys } from '../../src/queue/remove-prefix.js';

/**
 * Deletes every key under a test's BULL_PREFIX, for a test that ran the service as a process of its
 * own under that prefix: Redis is left as the test found it (startTestApp does the same for its apps).
 */
export async function removeTestQueueKeys(prefix: string): Promise<void> {
  // a connection that queues commands until it is ready (the producer's fails fast instead)
  const redis = createRedis(inject('redisUrl'), 'worker');
  try {
    await removeQueueKeys(redis, prefix);
  } finally {
    redis.disconnect();
  }
}
