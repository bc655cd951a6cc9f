import { Worker, type Job } from 'bullmq';
import type { AppContext } from '../app-context.js';
import { createRedis } from '../queue/redis.js';
import type { QueueName } from '../queue/names.js';
import { jobsProcessed } from '../metrics.js';
import { consumptionProcessor } from './consumption-processor.js';
import { otherProcessors } from './processors.js';
import { Relay } from './relay.js';

export interface RunningWorkers {
  workers: Worker[];
  /** Stops taking jobs, lets the jobs in flight finish, then closes the connections. */
  close(): Promise<void>;
}

const CONCURRENCY: Record<Exclude<QueueName, 'consumption'>, number> = {
  recharge: 8,
  renewal: 8,
  maintenance: 1,
  reports: 2,
  webhooks: 16,
};

/** Wires every queue to its handlers (src/jobs), in this process. */
export async function startWorkers(app: AppContext): Promise<RunningWorkers> {
  const connection = createRedis(app.redisUrl, 'worker');
  const prefix = app.config.BULL_PREFIX;
  const consumption = consumptionProcessor(app);
  const processors = otherProcessors(app);

  const track = (worker: Worker, queue: QueueName) => {
    worker.on('completed', (job: Job) => jobsProcessed.inc({ queue, name: job.name, outcome: 'completed' }));
    worker.on('failed', (job: Job | undefined, error: Error) => {
      jobsProcessed.inc({ queue, name: job?.name ?? 'unknown', outcome: 'failed' });
      app.log.warn({ queue, jobId: job?.id, name: job?.name, attempts: job?.attemptsMade, reason: error.message }, 'job failed');
    });
    worker.on('error', (error: Error) => app.log.error({ err: error, queue }, 'worker error'));
    return worker;
  };

  // Every handler is idempotent (the database refuses a second effect), so a job may safely run
  // again: after a worker dies its jobs are taken back once their lock runs out (JOB_LOCK_MS), and
  // a job that stalls a few times (a crash, then a Redis restart) is run again rather than failed.
  // After a Redis connection error BullMQ waits runRetryDelay before fetching again (15 s by
  // default); a second is enough and shortens the recovery after a Redis restart.
  const options = {
    connection,
    prefix,
    lockDuration: app.config.JOB_LOCK_MS,
    stalledInterval: app.config.JOB_LOCK_MS,
    maxStalledCount: 10,
    runRetryDelay: 1_000,
  };
  const workers: Worker[] = [
    track(new Worker('consumption', (job) => consumption.process(job), { ...options, concurrency: app.config.CONSUMPTION_CONCURRENCY }), 'consumption'),
  ];
  for (const [queue, processor] of Object.entries(processors) as Array<[Exclude<QueueName, 'consumption'>, (job: Job) => Promise<unknown>]>) {
    workers.push(track(new Worker(queue, processor, { ...options, concurrency: CONCURRENCY[queue] }), queue));
  }
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  const relay = new Relay(app);
  await relay.start();
  return {
    workers,
    close: async () => {
      await relay.stop();
      await Promise.all(workers.map((w) => w.close()));
      await consumption.drain();
      connection.disconnect();
    },
  };
}
