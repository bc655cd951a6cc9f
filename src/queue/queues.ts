import { DEFAULT_JOB_OPTIONS } from '@credits/producer/job-options';
import { Queue, type QueueEvents, type Telemetry } from 'bullmq';
import { QUEUE_NAMES, type QueueName } from './names.js';
import type { RedisClient } from './redis.js';

export type QueueSet = Record<QueueName, Queue>;
/** `?wait=true` listeners, each on a connection of its own (BullMQ leaves a connection it was given open). */
export type QueueEventsSet = Partial<Record<QueueName, { events: QueueEvents; connection: RedisClient }>>;

// the options every job gets are the producer's too (packages/producer)
export { DEFAULT_JOB_ATTEMPTS, DEFAULT_JOB_OPTIONS, jobOptions } from '@credits/producer/job-options';

export function createQueues(
  connection: RedisClient,
  prefix: string,
  defaultJobOptions = DEFAULT_JOB_OPTIONS,
  telemetry?: Telemetry,
): QueueSet {
  return Object.fromEntries(
    QUEUE_NAMES.map((name) => {
      const queue = new Queue(name, { connection, prefix, defaultJobOptions, ...(telemetry ? { telemetry } : {}) });
      // every `?wait=true` request listens for the queue closing while it waits
      queue.setMaxListeners(0);
      // connection errors reach the callers as rejected calls (the API answers 503); without a
      // listener BullMQ prints each one to the console, outside the JSON log, during an outage
      queue.on('error', () => {});
      return [name, queue];
    }),
  ) as QueueSet;
}

export async function closeQueues(queues: QueueSet): Promise<void> {
  await Promise.all(Object.values(queues).map((q) => q.close()));
}
