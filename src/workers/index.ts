import { type Job, Worker } from 'bullmq';
import type { AppContext } from '../app-context.js';
import { jobsOfQueue } from '../jobs/definitions.js';
import { deliveryBackoffMs } from '../jobs/deliver-webhook.js';
import { consumptionsApplied, jobDuration, jobsProcessed } from '../metrics.js';
import { closeWithin } from '../queue/close-within.js';
import { QUEUE_NAMES, type QueueName } from '../queue/names.js';
import { createRedis } from '../queue/redis.js';
import { stageTimes } from '../stage-times.js';
import { bullmqTelemetry } from '../telemetry.js';
import type { ConsumeBatchResult, ConsumptionResult } from '../views/consumption.js';
import { WEBHOOK_BACKOFF_TYPE } from '../webhooks/retry-schedule.js';
import { type QueueProcessor, queueProcessor } from './queue-processor.js';
import { Relay } from './relay.js';

export interface RunningWorkers {
  workers: Worker[];
  /** Stops taking jobs, lets the jobs in flight finish, then closes the connections. */
  close(): Promise<void>;
}

/**
 * Jobs each worker process holds at once, per queue. Consumption jobs wait in the micro-batcher,
 * so that queue needs many in flight to fill a batch (PERFORMANCE.md); the others run one
 * transaction each.
 */
const concurrencyOf = (app: AppContext, queue: QueueName): number =>
  ({
    consumption: app.config.CONSUMPTION_CONCURRENCY,
    recharge: 8,
    renewal: 8,
    maintenance: 1,
    reports: 2,
    webhooks: 16,
  })[queue];

/** The delivery a job delivers (its data's delivery_id; its job id else), the seed of its jitter. */
const deliveryIdOf = (job: { data?: unknown; id?: string } | undefined): string => {
  const data = job?.data as { delivery_id?: unknown } | undefined;
  return typeof data?.delivery_id === 'string' ? data.delivery_id : (job?.id ?? '');
};

/**
 * A job's name as a metric label: one the registry knows for its queue, else `unknown`. A producer may push any name
 * (it fails, validation_failed), and each name made a series of its own in every process for as long as it ran.
 */
const KNOWN_NAMES = new Map(QUEUE_NAMES.map((queue) => [queue, new Set<string>(jobsOfQueue(queue))]));
function nameLabel(job: Job | undefined, queue: QueueName): string {
  return job && KNOWN_NAMES.get(queue)?.has(job.name) ? job.name : 'unknown';
}

/** From a worker taking the job (this attempt) to its end, as BullMQ stamped them. */
function observeDuration(job: Job, queue: QueueName): void {
  if (job.processedOn && job.finishedOn && job.finishedOn >= job.processedOn)
    jobDuration.observe({ queue, name: nameLabel(job, queue) }, (job.finishedOn - job.processedOn) / 1000);
}

/** Uses applied by a consumption job, by outcome, from its result (a replay is not counted again). */
function countUses(job: Job): void {
  if (job.name === 'consume') {
    const result = job.returnvalue as Partial<ConsumptionResult> | null;
    if (result?.status && !result.replayed) consumptionsApplied.inc({ status: result.status });
  } else if (job.name === 'consume-batch') {
    const result = job.returnvalue as Partial<ConsumeBatchResult> | null;
    if (!result) return;
    if (result.applied) consumptionsApplied.inc({ status: 'applied' }, result.applied);
    if (result.partial) consumptionsApplied.inc({ status: 'partial' }, result.partial);
    if (result.rejected) consumptionsApplied.inc({ status: 'rejected' }, result.rejected);
  }
}

/** Wires every queue that has jobs in the registry to its processor, in this process. */
export async function startWorkers(app: AppContext): Promise<RunningWorkers> {
  const connection = createRedis(app.redisTarget, 'worker');
  const prefix = app.config.BULL_PREFIX;

  const track = (worker: Worker, queue: QueueName) => {
    worker.on('completed', (job: Job) => {
      if (stageTimes && job.id) stageTimes.mark(job.id, 'completed');
      jobsProcessed.inc({ queue, name: nameLabel(job, queue), outcome: 'completed' });
      observeDuration(job, queue);
      countUses(job);
    });
    worker.on('failed', (job: Job | undefined, error: Error) => {
      jobsProcessed.inc({ queue, name: nameLabel(job, queue), outcome: 'failed' });
      if (job) observeDuration(job, queue);
      app.log.warn(
        { queue, jobId: job?.id, name: job?.name, attempts: job?.attemptsMade, reason: error.message },
        'job failed',
      );
    });
    worker.on('error', (error: Error) => app.log.error({ err: error, queue }, 'worker error'));
    return worker;
  };

  // Every handler is idempotent (the database refuses a second effect), so a job may safely run
  // again: after a worker dies its jobs are taken back soon after their lock runs out (JOB_LOCK_MS), and
  // a job that stalls a few times (a crash, then a Redis restart) is run again rather than failed.
  // After a Redis connection error BullMQ waits runRetryDelay before fetching again (15 s by
  // default); a second is enough and shortens the recovery after a Redis restart.
  const options = {
    connection,
    prefix,
    lockDuration: app.config.JOB_LOCK_MS,
    // a job without a live lock is seen twice by this check before it goes back to wait: checking
    // every half lock takes a dead worker's jobs back about one lock after its last renewal
    stalledInterval: Math.max(500, Math.round(app.config.JOB_LOCK_MS / 2)),
    maxStalledCount: 10,
    runRetryDelay: 1_000,
    // BullMQ's documented custom backoff: the `webhook` type of delivery jobs is capped exponential with jitter
    settings: {
      backoffStrategy: (attemptsMade: number, type?: string, _error?: Error, job?: { data?: unknown; id?: string }) =>
        type === WEBHOOK_BACKOFF_TYPE
          ? deliveryBackoffMs(app, deliveryIdOf(job), attemptsMade)
          : // no other custom type exists; a job naming one is retried at once rather than never
            0,
    },
    // a span per job, continuing the context the job was enqueued with (when tracing is on)
    ...(bullmqTelemetry() ? { telemetry: bullmqTelemetry() } : {}),
  };
  const processors: QueueProcessor[] = [];
  const workers: Worker[] = [];
  for (const queue of QUEUE_NAMES) {
    if (jobsOfQueue(queue).length === 0) continue;
    const processor = queueProcessor(app, queue);
    processors.push(processor);
    workers.push(
      track(
        new Worker(queue, (job) => processor.process(job), { ...options, concurrency: concurrencyOf(app, queue) }),
        queue,
      ),
    );
  }
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  const relay = new Relay(app);
  await relay.start();
  return {
    workers,
    close: async () => {
      await relay.stop();
      // half the shutdown's time (the API's requests in flight have the other half): a worker whose
      // Redis connection is lost would otherwise keep the process waiting for ever (close-within.ts)
      const graceMs = Math.floor(app.config.SHUTDOWN_TIMEOUT_MS / 2);
      await Promise.all(
        workers.map((w) =>
          closeWithin(w, graceMs, () =>
            app.log.warn({ queue: w.name, graceMs }, 'a worker did not close in time: its connections are cut'),
          ),
        ),
      );
      await Promise.all(processors.map((p) => p.drain()));
      connection.disconnect();
    },
  };
}
