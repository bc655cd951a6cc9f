import { Job, QueueEvents } from 'bullmq';
import type { AppContext } from '../app-context.js';
import { jobFailuresByIds } from '../db/repositories/job-failures.js';
import { type Failure, fail } from '../domain/result.js';
import { JOBS, type JobName, type JobResult } from '../jobs/definitions.js';
import type { QueueName } from '../queue/names.js';
import { createRedis } from '../queue/redis.js';

/** How a command ended, as far as a waiter can tell. */
export type Outcome<R> =
  | { state: 'completed'; value: R }
  /** `failure` is the stored, typed failure; a job that failed unexpectedly is `internal`. `reason` is BullMQ's message, for logs. */
  | { state: 'failed'; failure: Failure; reason: string }
  /** Still queued or running when the wait ran out (it goes on; nothing is lost). */
  | { state: 'timeout' };

function queueEvents(app: AppContext, queue: QueueName): QueueEvents {
  const existing = app.queueEvents[queue];
  if (existing) return existing.events;
  // a connection of its own: QueueEvents blocks on it reading the event stream
  const connection = createRedis(app.redisUrl, 'worker');
  const events = new QueueEvents(queue, { connection, prefix: app.config.BULL_PREFIX });
  events.on('error', (error) => app.log.warn({ err: error, queue }, 'queue events error'));
  // every request waiting with `untilAdded` listens for 'added' on it at once
  events.setMaxListeners(0);
  app.queueEvents[queue] = { events, connection };
  return events;
}

/**
 * Opens the one listener per queue that every waiter of this process shares, so that the first
 * waiting request does not pay for it.
 */
export async function openOutcomeListeners(app: AppContext, queues: readonly QueueName[]): Promise<void> {
  await Promise.all(queues.map((q) => queueEvents(app, q).waitUntilReady()));
}

/** The failure stored for a job that failed for good, or `internal` when it failed for another reason. */
async function failureOf(app: AppContext, jobId: string, reason: string): Promise<Failure> {
  const stored = (await jobFailuresByIds(app.db, [jobId])).get(jobId);
  if (stored) {
    return fail(stored.code, stored.detail, {
      ...(stored.errors ? { errors: stored.errors } : {}),
      ...(stored.extra ? { extra: stored.extra } : {}),
    });
  }
  app.log.error({ jobId, reason }, 'a job failed unexpectedly');
  return fail('internal', `job ${jobId} failed unexpectedly; the failure is logged`);
}

const STOPPED = Symbol('stopped');

/**
 * `work`, or STOPPED as soon as `signal` is aborted (the process is shutting down). The work is
 * left to settle on its own; its late failure is of no interest to anyone.
 */
async function unlessStopped<T>(signal: AbortSignal, work: Promise<T>): Promise<T | typeof STOPPED> {
  work.catch(() => undefined);
  if (signal.aborted) return STOPPED;
  let onAbort: (() => void) | undefined;
  const stopped = new Promise<typeof STOPPED>((resolve) => {
    onAbort = () => resolve(STOPPED);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, stopped]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

/**
 * Waits at most `timeoutMs` for the outcome of job `name` with id `jobId` (`?wait=true`, the nightly
 * phases, the pages), on BullMQ's completion events — never by polling. With `untilAdded` it also
 * waits for the job to be enqueued (one that another part of the system, the relay, is about to add).
 * A graceful shutdown ends the wait early (`app.stopWaiting`): the answer is then `timeout`, as when
 * the time ran out — the job goes on, and the caller is told it is still queued.
 */
export async function awaitOutcome<N extends JobName>(
  app: AppContext,
  name: N,
  jobId: string,
  options: { timeoutMs?: number; untilAdded?: boolean } = {},
): Promise<Outcome<JobResult<N>>> {
  const queue = JOBS[name].queue;
  const timeoutMs = options.timeoutMs ?? app.config.WAIT_TIMEOUT_MS;
  const stop = app.stopWaiting.signal;
  const events = queueEvents(app, queue);
  if ((await unlessStopped(stop, events.waitUntilReady())) === STOPPED) return { state: 'timeout' };
  const started = Date.now();
  const job = await unlessStopped(
    stop,
    options.untilAdded
      ? jobWhenAdded(app, events, queue, jobId, timeoutMs, stop)
      : Job.fromId(app.queues[queue], jobId),
  );
  if (job === STOPPED || !job) return { state: 'timeout' };
  const left = Math.max(1, timeoutMs - (Date.now() - started));
  try {
    // the worker returned exactly this job's result type (src/jobs/registry.ts)
    const value = await unlessStopped(stop, job.waitUntilFinished(events, left) as Promise<JobResult<N>>);
    if (value === STOPPED) return { state: 'timeout' };
    return { state: 'completed', value };
  } catch (error) {
    // the wait ran out, or the job failed: its state in Redis says which (never the error's text);
    // a job that finished while this waiter was not yet listening is read as it ended
    const now = await Job.fromId(app.queues[queue], jobId);
    const state = now ? await now.getState() : 'unknown';
    if (now && state === 'completed') return { state: 'completed', value: now.returnvalue as JobResult<N> };
    if (state !== 'failed') return { state: 'timeout' };
    const reason = now?.failedReason ?? (error instanceof Error ? error.message : String(error));
    return { state: 'failed', failure: await failureOf(app, jobId, reason), reason };
  }
}

/** The job, as soon as it exists. */
async function jobWhenAdded(
  app: AppContext,
  events: QueueEvents,
  queue: QueueName,
  jobId: string,
  timeoutMs: number,
  stop: AbortSignal,
): Promise<Job | undefined> {
  let onAdded: ((args: { jobId: string }) => void) | undefined;
  let onStop: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  const added = new Promise<void>((resolve) => {
    onAdded = (args) => {
      if (args.jobId === jobId) resolve();
    };
    events.on('added', onAdded);
    timer = setTimeout(resolve, timeoutMs);
    onStop = () => resolve();
    stop.addEventListener('abort', onStop, { once: true });
  });
  try {
    // listening first, then looking: an add between the two is not missed
    const existing = await Job.fromId(app.queues[queue], jobId);
    if (existing) return existing;
    await added;
    return await Job.fromId(app.queues[queue], jobId);
  } finally {
    if (onAdded) events.off('added', onAdded);
    if (onStop) stop.removeEventListener('abort', onStop);
    clearTimeout(timer);
  }
}
