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
export async function waitForJob(
  app: AppContext,
  queue: QueueName,
  jobId: string,
  timeoutMs = app.config.WAIT_TIMEOUT_MS,
  options: { untilAdded?: boolean } = {},
): Promise<WaitOutcome> {
  const events = queueEvents(app, queue);
  await events.waitUntilReady();
  const started = Date.now();
  const job = await (options.untilAdded ? jobWhenAdded(app, events, queue, jobId, timeoutMs) : Job.fromId(app.queues[queue], jobId));
  if (!job) return { state: 'timeout' };
  const left = Math.max(1, timeoutMs - (Date.now() - started));
  try {
    const value: unknown = await job.waitUntilFinished(events, left);
    return { state: 'completed', value };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (/timed out before finishing/i.test(message)) return { state: 'timeout' };
    return { state: 'failed', code: failureFromReason(message), reason: message };
  }
}

/** The job, as soon as it exists: for a job another part of the system is about to enqueue (the relay). */
async function jobWhenAdded(app: AppContext, events: QueueEvents, queue: QueueName, jobId: string, timeoutMs: number): Promise<Job | undefined> {
  let onAdded: ((args: { jobId: string }) => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  const added = new Promise<void>((resolve) => {
    onAdded = (args) => {
      if (args.jobId === jobId) resolve();
    };
    events.on('added', onAdded);
    timer = setTimeout(resolve, timeoutMs);
  });
  try {
    // listening first, then looking: an add between the two is not missed
    const existing = await Job.fromId(app.queues[queue], jobId);
    if (existing) return existing;
    await added;
    return await Job.fromId(app.queues[queue], jobId);
  } finally {
    if (onAdded) events.off('added', onAdded);
    clearTimeout(timer);
  }
}
