import { Job, QueueEvents } from 'bullmq';
import type { AppContext } from '../app-context.js';
import { failureFromReason } from '../jobs/job-error.js';
import type { QueueName } from '../queue/names.js';
import { createRedis } from '../queue/redis.js';

export type WaitOutcome =
  | { state: 'completed'; value: unknown }
  | { state: 'failed'; code: ReturnType<typeof failureFromReason>; reason: string }
  | { state: 'timeout' };

function queueEvents(app: AppContext, queue: QueueName): QueueEvents {
  const existing = app.queueEvents[queue];
  if (existing) return existing.events;
  // a connection of its own: QueueEvents blocks on it reading the event stream
  const connection = createRedis(app.redisUrl, 'worker');
  const events = new QueueEvents(queue, { connection, prefix: app.config.BULL_PREFIX });
  events.on('error', (error) => app.log.warn({ err: error, queue }, 'queue events error'));
  app.queueEvents[queue] = { events, connection };
  return events;
}

/** Opens the listeners `?wait=true` uses, so that the first waiting request does not pay for them. */
export async function openQueueEvents(app: AppContext, queues: readonly QueueName[]): Promise<void> {
  await Promise.all(queues.map((q) => queueEvents(app, q).waitUntilReady()));
}

/**
 * Waits for a job's outcome for at most `timeoutMs` (API.md `?wait=true`). Waits on BullMQ's own
 * completion events, never by polling.
 */
export async function waitForJob(app: AppContext, queue: QueueName, jobId: string, timeoutMs = app.config.WAIT_TIMEOUT_MS): Promise<WaitOutcome> {
  const events = queueEvents(app, queue);
  await events.waitUntilReady();
  const job = await Job.fromId(app.queues[queue], jobId);
  if (!job) return { state: 'timeout' };
  try {
    const value: unknown = await job.waitUntilFinished(events, timeoutMs);
    return { state: 'completed', value };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (/timed out before finishing/i.test(message)) return { state: 'timeout' };
    return { state: 'failed', code: failureFromReason(message), reason: message };
  }
}
