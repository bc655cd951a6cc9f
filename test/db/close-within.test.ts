import { randomBytes } from 'node:crypto';
import { Worker } from 'bullmq';
import { describe, expect, inject, it } from 'vitest';
import { freePort } from '../../chaos/services.js';
import { closeWithin } from '../../src/queue/close-within.js';
import { createRedis } from '../../src/queue/redis.js';
import { removeQueueKeys } from '../../src/queue/remove-prefix.js';

/**
 * A shutdown never waits for ever on a BullMQ close: a worker whose Redis went away keeps its clients
 * `reconnecting`, and BullMQ's close() waits for an `end` that never comes (taskforcesh/bullmq#4656).
 * CI once hung 60 s in the Redis Cluster test's teardown, after its failover, on a close like that.
 */
describe('closeWithin', () => {
  it('cuts a worker whose Redis is gone, and says so', async () => {
    // nothing listens on this port: the worker's clients retry for ever, as after a lost node
    const nowhere = `redis://127.0.0.1:${await freePort()}`;
    const connection = createRedis(nowhere, 'worker');
    const retrying = new Promise((resolve) => connection.once('reconnecting', resolve));
    const worker = new Worker('lost', async () => undefined, { connection });
    worker.on('error', () => {});
    // closed once its connection is parked between two attempts (closed sooner, BullMQ does not wait)
    await retrying;
    const late: string[] = [];
    const closed = await closeWithin(worker, 200, () => late.push(worker.name));
    expect(closed).toBe(false);
    expect(late).toEqual(['lost']);
    connection.disconnect();
  });

  it('closes a worker on a reachable Redis in time, and tells nobody', async () => {
    const prefix = `{close-within-${randomBytes(4).toString('hex')}}`;
    const connection = createRedis(inject('redisUrl'), 'worker');
    const worker = new Worker('reachable', async () => undefined, { connection, prefix });
    await worker.waitUntilReady();
    const late: string[] = [];
    try {
      // generous: a close on a loaded machine takes what it takes, only a hang would pass this
      expect(await closeWithin(worker, 20_000, () => late.push(worker.name))).toBe(true);
      expect(late).toEqual([]);
    } finally {
      await removeQueueKeys(connection, prefix);
      connection.disconnect();
    }
  });
});
