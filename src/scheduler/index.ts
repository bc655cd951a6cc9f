import cron, { type ScheduledTask, type TaskContext } from 'node-cron';
import type { AppContext } from '../app-context.js';
import { ManualClock } from '../clock.js';
import { catchUp, type EnqueuedJob, enqueueMaintenance, minuteOf, runNightly } from './nightly.js';

export interface RunningScheduler {
  tasks: ScheduledTask[];
  /** The catch-up at start (renewals due, an expiry sweep): the jobs it enqueued, none if it failed (logged). */
  caughtUp: Promise<EnqueuedJob[]>;
  stop(): Promise<void>;
}

/**
 * node-cron entries, in BUSINESS_TZ: the nightly sweep (NIGHTLY_CRON) and the expiry sweep
 * (EXPIRE_CRON, every few minutes so that rollovers land soon after a period ends), after a
 * catch-up at start for what a scheduler that was down missed (`catchUp`). Each entry only
 * enqueues jobs whose ids derive from the scheduled minute, so two scheduler processes (or a
 * restart) never make the work twice.
 */
export function startScheduler(app: AppContext): RunningScheduler {
  const options = { timezone: app.config.BUSINESS_TZ, noOverlap: true };
  // the entries fire on the wall clock; under CLOCK=manual (time moves only through PUT /v1/admin/clock) a tick works
  // as of the service's now, never as of a wall-clock minute ahead of it (holds, freezes and periods not due yet)
  const when = (context: TaskContext) =>
    minuteOf(app.clock instanceof ManualClock ? app.clock.now() : (context.date ?? context.triggeredAt));
  const guard = (name: string, work: (context: TaskContext) => Promise<unknown>) => async (context: TaskContext) => {
    try {
      await work(context);
    } catch (error) {
      app.log.error({ err: error, task: name }, 'scheduled task failed to enqueue; it runs again next time');
    }
  };
  const tasks = [
    cron.schedule(
      app.config.NIGHTLY_CRON,
      guard('nightly', (c) => runNightly(app, when(c))),
      { ...options, name: 'credits-nightly' },
    ),
    cron.schedule(
      app.config.EXPIRE_CRON,
      guard('expire', (c) => enqueueMaintenance(app, 'expire', when(c))),
      { ...options, name: 'credits-expire' },
    ),
  ];
  app.log.info(
    { nightly: app.config.NIGHTLY_CRON, expire: app.config.EXPIRE_CRON, timeZone: app.config.BUSINESS_TZ },
    'scheduler started',
  );
  const caughtUp = catchUp(app, app.clock.now()).then(
    (jobs) => {
      app.log.info({ jobs: jobs.length }, 'scheduler caught up: renewals due and an expiry sweep enqueued');
      return jobs;
    },
    (error: unknown) => {
      app.log.error({ err: error }, 'the catch-up at start failed to enqueue; the next runs do its work');
      return [];
    },
  );
  return {
    tasks,
    caughtUp,
    stop: async () => {
      await Promise.all(tasks.map((t) => t.destroy()));
      // it enqueues: let it finish before the queues close
      await caughtUp;
    },
  };
}
