import { Job, QueueEvents } from 'bullmq';
import type { AppContext } from '../app-context.js';
import { jobFailuresByIds } from '../db/repositories/job-failures.js';
import { type Failure, fail } from '../domain/result.js';
import { JOBS, type JobName, type JobResult } from '../jobs/definitions.js';
import type { QueueName } from '../queue/names.js';
import { createRedis } from '../queue/redis.js';
import { stageTimes } from '../stage-times.js';

/** How a command ended, as far as a waiter can tell. */
export type Outcome<R> =
  | { state: 'completed'; value: R }
  /**
   * `failure` is the stored, typed failure; a job that failed unexpectedly is `internal`. `reason` is BullMQ's message,
   * for logs.
   */
  | { state: 'failed'; failure: Failure; reason: string }
  /** Still queued or running when the wait ran out (it goes on; nothing is lost). */
  | { state: 'timeout' };

function queueEvents(app: AppContext, queue: QueueName): QueueEvents {
  const existing = app.queueEvents[queue];
  if (existing) return existing.events;
  // a connection of its own: QueueEvents blocks on it reading the event stream
  const connection = createRedis(app.redisTarget, 'worker');
  const events = new QueueEvents(queue, { connection, prefix: app.config.BULL_PREFIX });
  events.on('error', (error) => app.log.warn({ err: error, queue }, 'queue events error'));
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

/** How a job ended, as its queue's event stream tells it. */
type Finished = { state: 'completed'; value: unknown } | { state: 'failed'; reason: string };

/**
 * The waiters of this process for one queue, by job id, all served by the queue's one event stream
 * reader (QueueEvents): a waiter costs a map entry — no connection, no listener, no Redis round trip
 * of its own. Registered before its job is enqueued, a waiter cannot miss the job's end.
 */
class OutcomeHub {
  private readonly waiting = new Map<string, Set<(finished: Finished) => void>>();
  /** The stream reader listens: an event from now on reaches the waiters (before, it could be missed). */
  listening = false;

  constructor(readonly events: QueueEvents) {
    void events.waitUntilReady().then(
      () => {
        this.listening = true;
      },
      () => undefined,
    );
    events.on('completed', (args: { jobId: string; returnvalue: unknown }, id: string) => {
      // debug: when the worker wrote the event (the stream entry's id is Redis's clock in ms) and when it came
      if (stageTimes) {
        stageTimes.mark(args.jobId, 'xadd', Number.parseInt(id, 10));
        stageTimes.mark(args.jobId, 'event');
      }
      this.finish(args.jobId, { state: 'completed', value: args.returnvalue });
    });
    events.on('failed', (args: { jobId: string; failedReason: string }) =>
      this.finish(args.jobId, { state: 'failed', reason: args.failedReason }),
    );
  }

  private finish(jobId: string, finished: Finished): void {
    const waiters = this.waiting.get(jobId);
    if (!waiters) return;
    this.waiting.delete(jobId);
    for (const resolve of waiters) resolve(finished);
  }

  watch(jobId: string): { finished: Promise<Finished>; cancel(): void } {
    let waiters = this.waiting.get(jobId);
    if (!waiters) {
      waiters = new Set();
      this.waiting.set(jobId, waiters);
    }
    const set = waiters;
    let resolver: ((finished: Finished) => void) | undefined;
    const finished = new Promise<Finished>((resolve) => {
      resolver = resolve;
      set.add(resolve);
    });
    return {
      finished,
      cancel: () => {
        if (!resolver) return;
        set.delete(resolver);
        if (set.size === 0 && this.waiting.get(jobId) === set) this.waiting.delete(jobId);
      },
    };
  }
}

const hubs = new WeakMap<QueueEvents, OutcomeHub>();

function hubOf(app: AppContext, queue: QueueName): OutcomeHub {
  const events = queueEvents(app, queue);
  let hub = hubs.get(events);
  if (!hub) {
    hub = new OutcomeHub(events);
    hubs.set(events, hub);
  }
  return hub;
}

/** A job a waiter watches from before it was enqueued (or from now): its outcome, when asked. */
export interface Watch<N extends JobName> {
  readonly jobId: string;
  /**
   * Waits at most `timeoutMs` for the job's end. `alreadyQueued`: the job may have ended before the
   * watch began (a request accepted before), so its state is read once first.
   */
  outcome(options?: {
    timeoutMs?: number;
    alreadyQueued?: boolean;
    untilAdded?: boolean;
  }): Promise<Outcome<JobResult<N>>>;
  /** Stops watching without waiting. */
  cancel(): void;
}

/** Starts watching job `name`/`jobId` now: call it before enqueueing the job and its end cannot be missed. */
export function watchOutcome<N extends JobName>(app: AppContext, name: N, jobId: string): Watch<N> {
  const queue = JOBS[name].queue;
  const hub = hubOf(app, queue);
  // watched before the stream reader listened: its end may come before it does, so read the state once
  const unheard = !hub.listening;
  const watch = hub.watch(jobId);
  return {
    jobId,
    cancel: () => watch.cancel(),
    outcome: async (options = {}) => {
      try {
        const alreadyQueued = options.alreadyQueued === true || unheard;
        return await waitFor<N>(app, queue, jobId, watch.finished, { ...options, alreadyQueued });
      } finally {
        watch.cancel();
      }
    },
  };
}

/**
 * Waits at most `timeoutMs` for the outcome of job `name` with id `jobId` (`?wait=true`, the nightly
 * phases, the pages), on the queue's event stream — never by polling. With `untilAdded` the job may
 * not exist yet (one that another part of the system, the relay, is about to add). A graceful
 * shutdown ends the wait early (`app.stopWaiting`): the answer is then `timeout`, as when the time
 * ran out — the job goes on, and the caller is told it is still queued.
 */
export async function awaitOutcome<N extends JobName>(
  app: AppContext,
  name: N,
  jobId: string,
  options: { timeoutMs?: number; untilAdded?: boolean } = {},
): Promise<Outcome<JobResult<N>>> {
  return watchOutcome(app, name, jobId).outcome({ ...options, alreadyQueued: true });
}

async function waitFor<N extends JobName>(
  app: AppContext,
  queue: QueueName,
  jobId: string,
  finished: Promise<Finished>,
  options: { timeoutMs?: number; alreadyQueued?: boolean; untilAdded?: boolean },
): Promise<Outcome<JobResult<N>>> {
  const timeoutMs = options.timeoutMs ?? app.config.WAIT_TIMEOUT_MS;
  const stop = app.stopWaiting.signal;
  const events = queueEvents(app, queue);
  // the stream reader must be listening before a state read can stand for "not finished yet"
  if ((await unlessStopped(stop, events.waitUntilReady())) === STOPPED) return { state: 'timeout' };
  if (options.alreadyQueued) {
    const state = await app.queues[queue].getJobState(jobId);
    if (state === 'completed' || state === 'failed') return endedAs<N>(app, queue, jobId);
    if (state === 'unknown' && !options.untilAdded) return { state: 'timeout' };
  }
  let timer: NodeJS.Timeout | undefined;
  const ranOut = new Promise<typeof STOPPED>((resolve) => {
    timer = setTimeout(() => resolve(STOPPED), timeoutMs);
  });
  try {
    const ended = await unlessStopped(stop, Promise.race([finished, ranOut]));
    // the wait ran out: one last read, for an end the stream reader did not pass on (a reconnection)
    if (ended === STOPPED) return lastLook<N>(app, queue, jobId);
    if (ended.state === 'completed') {
      // the worker returned exactly this job's result type (src/jobs/registry.ts)
      return { state: 'completed', value: ended.value as JobResult<N> };
    }
    return { state: 'failed', failure: await failureOf(app, jobId, ended.reason), reason: ended.reason };
  } finally {
    clearTimeout(timer);
  }
}

/** How a job that has ended ended, read from Redis (its return value, or its stored failure). */
async function endedAs<N extends JobName>(
  app: AppContext,
  queue: QueueName,
  jobId: string,
): Promise<Outcome<JobResult<N>>> {
  const job = await Job.fromId(app.queues[queue], jobId);
  if (!job) return { state: 'timeout' };
  const state = await job.getState();
  if (state === 'completed') return { state: 'completed', value: job.returnvalue as JobResult<N> };
  if (state !== 'failed') return { state: 'timeout' };
  const reason = job.failedReason ?? 'failed';
  return { state: 'failed', failure: await failureOf(app, jobId, reason), reason };
}

/** When the wait runs out: one last read, for a job that ended while nothing was listening. */
async function lastLook<N extends JobName>(
  app: AppContext,
  queue: QueueName,
  jobId: string,
): Promise<Outcome<JobResult<N>>> {
  const state = await app.queues[queue].getJobState(jobId);
  return state === 'completed' || state === 'failed' ? endedAs<N>(app, queue, jobId) : { state: 'timeout' };
}
