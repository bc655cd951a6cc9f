import { type JobsOptions, Queue, type QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { QUEUE_NAMES, type QueueName } from './names.js';

export type QueueSet = Record<QueueName, Queue>;
/** `?wait=true` listeners, each on a connection of its own (BullMQ leaves a connection it was given open). */
export type QueueEventsSet = Partial<Record<QueueName, { events: QueueEvents; connection: Redis }>>;

/**
 * Defaults for every job: a few attempts with exponential backoff for transient failures (a
 * permanent one is thrown as UnrecoverableError and not retried), and bounded history in Redis.
 */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 500 },
  removeOnComplete: { age: 3_600, count: 5_000 },
  removeOnFail: { age: 7 * 86_400, count: 10_000 },
};

export function createQueues(connection: Redis, prefix: string): QueueSet {
  return Object.fromEntries(
    QUEUE_NAMES.map((name) => {
      const queue = new Queue(name, { connection, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
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
