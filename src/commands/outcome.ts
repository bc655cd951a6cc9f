import { Job, QueueEvents } from 'bullmq';
import type { AppContext } from '../app-context.js';
import { jobFailuresByIds } from '../db/repositories/job-failures.js';
import { type Failure, fail } from '../domain/result.js';
import { JOBS, type JobName, type JobResult } from '../jobs/definitions.js';
import { closeWithin } from '../queue/close-within.js';
import type { QueueName } from '../queue/names.js';
import { CONNECTION_CLOSE_MS } from '../queue/queues.js';
import { createRedis, type RedisClient } from '../queue/redis.js';
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

/**
 * How long a queue's listener stays open once its last waiter is done. While open it reads and parses
 * every event of its queue (four or five per job), waited for or not: a process that nobody waits on
 * pays nothing, one that waits keeps it open.
 */
export const LISTENER_IDLE_MS = 30_000;

/**
 * Opens the one listener per queue that every waiter of this process shares, now and for good (the
 * nightly run's command line: its first wait does not pay for it). Without it a listener opens at a
 * queue's first waiter, and closes LISTENER_IDLE_MS after its last.
 */
export async function openOutcomeListeners(app: AppContext, queues: readonly QueueName[]): Promise<void> {
  await Promise.all(queues.map((q) => hubOf(app, q).open({ pinned: true })));
}

/** The failure stored for a job that failed for good, or `internal` when it failed for another reason. */
async function failureOf(app: AppContext, jobId: string, reason: string): Promise<Failure> {
  const stored = (await jobFailuresByIds(app.db, [jobId])).get(jobId);
  if (stored && isFailureOf(stored, reason)) {
    return fail(stored.code, stored.detail, {
      ...(stored.errors ? { errors: stored.errors } : {}),
      ...(stored.extra ? { extra: stored.extra } : {}),
    });
  }
  app.log.error({ jobId, reason }, 'a job failed unexpectedly');
  return fail('internal', `job ${jobId} failed unexpectedly; the failure is logged`);
}

/**
 * Whether a stored failure is the one this run of the job ended with: a typed failure fails its job with
 * `<code>: <detail>` as the reason (CommandFailure). One stored by an earlier run under the same job id (a capture
 * the worker refused, replaced by a later one) is not this run's, which failed for a reason nobody stored.
 */
export const isFailureOf = (stored: { code: string; detail: string }, reason: string): boolean =>
  reason === `${stored.code}: ${stored.detail}`;

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
    onAbort = resolve.bind(null, STOPPED);
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

/** A listener of one queue's event stream, open. */
interface Listener {
  events: QueueEvents;
  connection: RedisClient;
}

/**
 * The waiters of this process for one queue, by job id, all served by the queue's one event stream
 * reader (QueueEvents), open while anyone waits: a waiter costs a map entry — no connection, no
 * listener, no Redis round trip of its own. Registered before its job is enqueued, a waiter cannot
 * miss the job's end.
 *
 * The reader starts after the stream's last entry as read when it opens (not at "$", whenever its
 * first XREAD happens to reach Redis): from `ready` on, every event of the queue reaches the waiters.
 * A waiter registered before that (`listening` false) reads its job's state once after `ready`: what
 * ended before the reader's start is in the state, what ends after is in the stream.
 */
class OutcomeHub {
  private readonly waiting = new Map<string, Set<(finished: Finished) => void>>();
  private opening: Promise<Listener> | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private pinned = false;
  /** The stream reader listens: an event from now on reaches the waiters (before, it could be missed). */
  listening = false;

  constructor(
    private readonly app: AppContext,
    private readonly queue: QueueName,
  ) {}

  /** Opens the reader if it is not open; resolves once every later event of the queue reaches the waiters. */
  async open(options: { pinned?: boolean } = {}): Promise<void> {
    if (options.pinned) this.pinned = true;
    this.opening ??= this.start();
    await this.opening;
  }

  private async start(): Promise<Listener> {
    const { app, queue } = this;
    try {
      const key = app.queues[queue].toKey('events');
      const [last] = await app.redis.xrevrange(key, '+', '-', 'COUNT', 1);
      // a connection of its own: QueueEvents blocks on it reading the event stream
      const connection = createRedis(app.redisTarget, 'worker');
      const events = new QueueEvents(queue, {
        connection,
        prefix: app.config.BULL_PREFIX,
        lastEventId: last?.[0] ?? '0-0',
      });
      events.on('error', (error) => app.log.warn({ err: error, queue }, 'queue events error'));
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
      const listener = { events, connection };
      app.queueEvents[queue] = listener;
      this.listening = true;
      this.idleCheck();
      return listener;
    } catch (error) {
      // Redis did not answer: the next waiter tries again
      this.opening = undefined;
      throw error;
    }
  }

  /** Closes the reader once nobody has waited for LISTENER_IDLE_MS (unless it was opened for good). */
  private idleCheck(): void {
    if (this.pinned || this.waiting.size > 0 || !this.opening || this.idleTimer) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.pinned || this.waiting.size > 0 || !this.opening || !this.listening) return;
      const closing = this.opening;
      this.opening = undefined;
      this.listening = false;
      // within a bound, as at shutdown (a close parked behind a reconnecting client never ends), and never a
      // rejection nobody catches: with no handler for one, it would stop the process
      const { app, queue } = this;
      closing
        .then(async (listener) => {
          if (app.queueEvents[queue] === listener) delete app.queueEvents[queue];
          await closeWithin(listener.events, CONNECTION_CLOSE_MS, () =>
            app.log.warn({ queue }, 'an idle queue events listener did not close in time: its connection is cut'),
          );
          listener.connection.disconnect();
        })
        .catch((error: unknown) => app.log.warn({ err: error, queue }, 'closing an idle queue events listener'));
    }, LISTENER_IDLE_MS);
    this.idleTimer.unref();
  }

  private finish(jobId: string, finished: Finished): void {
    const waiters = this.waiting.get(jobId);
    if (!waiters) return;
    this.waiting.delete(jobId);
    for (const resolve of waiters) resolve(finished);
    this.idleCheck();
  }

  watch(jobId: string): { finished: Promise<Finished>; cancel(): void } {
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
    // opened at the first waiter; a failure to open is the waiter's, when it waits (waitFor)
    if (!this.opening) void this.open().catch(() => undefined);
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
    // a bound method, not a closure: under tsx each named closure made per wait is also named by
    // Object.defineProperty (about a microsecond each)
    return { finished, cancel: this.unwatch.bind(this, jobId, set, resolver!) };
  }

  private unwatch(jobId: string, set: Set<(finished: Finished) => void>, resolver: (finished: Finished) => void): void {
    set.delete(resolver);
    if (set.size === 0 && this.waiting.get(jobId) === set) this.waiting.delete(jobId);
    this.idleCheck();
  }
}

const hubs = new WeakMap<AppContext, Map<QueueName, OutcomeHub>>();

function hubOf(app: AppContext, queue: QueueName): OutcomeHub {
  let byQueue = hubs.get(app);
  if (!byQueue) {
    byQueue = new Map();
    hubs.set(app, byQueue);
  }
  let hub = byQueue.get(queue);
  if (!hub) {
    hub = new OutcomeHub(app, queue);
    byQueue.set(queue, hub);
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
  return new OutcomeWatch<N>(app, queue, jobId, hub.watch(jobId), unheard);
}

/** A Watch (a class, not an object of closures made per wait: see OutcomeHub.watch). */
class OutcomeWatch<N extends JobName> implements Watch<N> {
  constructor(
    private readonly app: AppContext,
    private readonly queue: QueueName,
    readonly jobId: string,
    private readonly watch: { finished: Promise<Finished>; cancel(): void },
    private readonly unheard: boolean,
  ) {}

  cancel(): void {
    this.watch.cancel();
  }

  async outcome(
    options: { timeoutMs?: number; alreadyQueued?: boolean; untilAdded?: boolean } = {},
  ): Promise<Outcome<JobResult<N>>> {
    try {
      const alreadyQueued = options.alreadyQueued === true || this.unheard;
      return await waitFor<N>(this.app, this.queue, this.jobId, this.watch.finished, { ...options, alreadyQueued });
    } finally {
      this.watch.cancel();
    }
  }
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
  // the stream reader must be listening before a state read can stand for "not finished yet" (when it
  // already listens, as for nearly every wait, nothing to wait for: no promise, no abort listener)
  const hub = hubOf(app, queue);
  if (!hub.listening && (await unlessStopped(stop, hub.open())) === STOPPED) return { state: 'timeout' };
  if (stop.aborted) return { state: 'timeout' };
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
