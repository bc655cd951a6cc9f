import { DEFAULT_JOB_OPTIONS } from '@credits/producer/job-options';
import { Queue, type QueueEvents, type Telemetry } from 'bullmq';
import { closeWithin } from './close-within.js';
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

/** How long closing a connection may take before it is cut (close-within.ts). */
export const CONNECTION_CLOSE_MS = 5_000;

/** Closes every queue, each within `graceMs` (close-within.ts); `onLate` is told of one that was cut. */
export async function closeQueues(
  queues: QueueSet,
  graceMs = CONNECTION_CLOSE_MS,
  onLate: (queue: QueueName) => void = () => {},
): Promise<void> {
  await Promise.all(QUEUE_NAMES.map((name) => closeWithin(queues[name], graceMs, () => onLate(name))));
}
