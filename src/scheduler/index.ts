import cron, { type ScheduledTask, type TaskContext } from 'node-cron';
import type { AppContext } from '../app-context.js';
import { enqueueMaintenance, minuteOf, runNightly } from './nightly.js';

export interface RunningScheduler {
  tasks: ScheduledTask[];
  stop(): Promise<void>;
}

/**
 * node-cron entries, in BUSINESS_TZ: the nightly sweep (NIGHTLY_CRON) and the expiry sweep
 * (EXPIRE_CRON, every few minutes so that rollovers land soon after a period ends). Each entry
 * only enqueues jobs whose ids derive from the scheduled minute, so two scheduler processes (or a
 * restart) never make the work twice.
 */
export function startScheduler(app: AppContext): RunningScheduler {
  const options = { timezone: app.config.BUSINESS_TZ, noOverlap: true };
  const when = (context: TaskContext) => minuteOf(context.date ?? context.triggeredAt);
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
  return {
    tasks,
    stop: async () => {
      await Promise.all(tasks.map((t) => t.destroy()));
    },
  };
}
