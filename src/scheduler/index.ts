import cron, { type ScheduledTask, type TaskContext } from 'node-cron';
import type { AppContext } from '../app-context.js';
import { ManualClock } from '../clock.js';
import type { EnqueuedJob } from '../jobs/renew.js';
import { longNightlyGap, minuteOf, nightlyGapMs } from '../jobs/renewal-lookahead.js';
import { runMissedNight } from './missed-night.js';
import { catchUp, enqueueMaintenance, type NightlyReport, runNightly } from './nightly.js';

export interface RunningScheduler {
  tasks: ScheduledTask[];
  /** The catch-up at start (renewals due, an expiry sweep): the jobs it enqueued, none if it failed (logged). */
  caughtUp: Promise<EnqueuedJob[]>;
  /**
   * After the catch-up, the nightly run of the last nightly minute, when nights have run before and none finished
   * as of it (the scheduler was down then): its report, undefined when no night was missed or it failed (logged).
   */
  missedNight: Promise<NightlyReport | undefined>;
  /** Stops the cron entries and any nightly run in progress between its phases (its jobs go on in the workers). */
  stop(): Promise<void>;
}

/**
 * node-cron entries, in BUSINESS_TZ: the nightly sweep (NIGHTLY_CRON) and the expiry sweep (EXPIRE_CRON, every few
 * minutes so that rollovers land soon after a period ends), after a catch-up at start for what a scheduler that was
 * down missed (`catchUp`, then the whole run of a nightly minute it missed: `runMissedNight`). Each entry only
 * enqueues jobs whose ids derive from the scheduled minute, so two scheduler processes (or a restart) never make the
 * work twice.
 */
export function startScheduler(app: AppContext): RunningScheduler {
  // node-cron drops a tick that comes more than a second after its minute (a busy event loop, a GC pause, a throttled
  // container): the night would be skipped while the process stays up, and no start would ever run it as missed. A
  // late tick runs, as of the minute it was due (context.date); node-cron still drops one later than the next slot.
  const options = {
    timezone: app.config.BUSINESS_TZ,
    noOverlap: true,
    missedExecutionTolerance: Number.MAX_SAFE_INTEGER,
  };
  // a nightly run waits for each phase (up to half an hour): a stop ends the wait, and the run stops between phases
  const stopping = new AbortController();
  const nights = new Set<Promise<unknown>>();
  const tracked = <T>(night: Promise<T>): Promise<T> => {
    nights.add(night);
    void night.then(
      () => nights.delete(night),
      () => nights.delete(night),
    );
    return night;
  };
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
      guard('nightly', (c) => tracked(runNightly(app, when(c), { signal: stopping.signal }))),
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
  // a nightly pattern with long gaps renews that far ahead, several periods at once: said once, at start
  const longGap = longNightlyGap(nightlyGapMs(app.config.NIGHTLY_CRON, app.config.BUSINESS_TZ));
  if (longGap)
    app.log.warn(
      { nightly: app.config.NIGHTLY_CRON, timeZone: app.config.BUSINESS_TZ, ...longGap.fields },
      longGap.message,
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
  const missedNight = tracked(
    caughtUp.then(
      () => runMissedNight(app, stopping.signal),
      () => undefined,
    ),
  ).catch((error: unknown) => {
    app.log.error({ err: error }, 'the run of a missed night failed; the next nightly run does its work');
    return undefined;
  });
  return {
    tasks,
    caughtUp,
    missedNight,
    stop: async () => {
      await Promise.all(tasks.map((t) => t.destroy()));
      stopping.abort();
      // they enqueue: let them reach a point where they stop before the queues close
      await caughtUp;
      await Promise.allSettled([...nights]);
    },
  };
}
