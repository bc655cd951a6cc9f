import { Gauge } from 'prom-client';
import type { AppContext } from './app-context.js';
import { type BacklogFigures, backlogFigures } from './db/repositories/backlog.js';
import { registry } from './metrics.js';
import { QUEUE_NAMES } from './queue/names.js';

/**
 * Gauges read when /metrics is scraped (not kept up to date in between): every queue's jobs by
 * state, from Redis, and how far behind the asynchronous parts are, from Postgres. Every role
 * serves them — an API process and a worker-only one see the same queues and tables — so any one
 * scrape target tells the backlog. A figure that cannot be read (Postgres or Redis away) keeps its
 * last value; /readyz says what is down.
 */
const QUEUE_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'failed'] as const;
const READ_TIMEOUT_MS = 2_000;

/** The contexts being observed; the latest is read (a test process may build several). */
const observed: AppContext[] = [];
const current = (): AppContext | undefined => observed[observed.length - 1];

const within = <T>(promise: Promise<T>): Promise<T> =>
  Promise.race([
    promise,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error('timed out')), READ_TIMEOUT_MS).unref()),
  ]);

new Gauge({
  name: 'credits_queue_jobs',
  help: 'Jobs in each queue by state (waiting, prioritized, active, delayed, failed), read from Redis at scrape',
  labelNames: ['queue', 'state'] as const,
  registers: [registry],
  async collect() {
    const ctx = current();
    if (!ctx) return;
    try {
      const counts = await within(
        Promise.all(QUEUE_NAMES.map(async (queue) => [queue, await ctx.queues[queue].getJobCounts(...QUEUE_STATES)])),
      );
      for (const [queue, byState] of counts as Array<[string, Record<string, number>]>)
        for (const state of QUEUE_STATES) this.set({ queue, state }, byState[state] ?? 0);
    } catch (error) {
      ctx.log.debug({ err: error }, 'queue counts for /metrics not read');
    }
  },
});

let lastBacklog: Promise<BacklogFigures | undefined> | undefined;
/** One Postgres read per scrape, shared by the gauges below. */
const backlog = (): Promise<BacklogFigures | undefined> => {
  const ctx = current();
  if (!ctx) return Promise.resolve(undefined);
  lastBacklog ??= within(backlogFigures(ctx.db))
    .catch((error: unknown) => {
      ctx.log.debug({ err: error }, 'backlog figures for /metrics not read');
      return undefined;
    })
    .finally(() => {
      // the next scrape reads again
      setImmediate(() => {
        lastBacklog = undefined;
      });
    });
  return lastBacklog;
};

/** A gauge of the backlog's read; a figure that does not exist (no nightly run yet) leaves it as it was. */
const fromBacklog = (name: string, help: string, pick: (figures: BacklogFigures) => number | undefined) =>
  new Gauge({
    name,
    help,
    registers: [registry],
    async collect() {
      const figures = await backlog();
      const value = figures ? pick(figures) : undefined;
      if (value !== undefined) this.set(value);
    },
  });

fromBacklog(
  'credits_accepted_jobs',
  'Requests answered 202 and not yet applied (accepted_jobs rows)',
  (f) => f.acceptedJobs,
);
fromBacklog(
  'credits_accepted_jobs_oldest_age_seconds',
  'Age of the oldest request answered 202 and not yet applied (0 when none)',
  (f) => f.acceptedOldestSeconds,
);
fromBacklog(
  'credits_outbox_pending_events',
  'Events written and not yet fanned out to webhook deliveries',
  (f) => f.outboxPending,
);
fromBacklog(
  'credits_outbox_lag_seconds',
  'Age of the oldest event not yet fanned out (0 when none)',
  (f) => f.outboxOldestSeconds,
);
fromBacklog(
  'credits_webhook_deliveries_pending',
  'Webhook deliveries still to be made (first attempt or a retry)',
  (f) => f.deliveriesPending,
);
fromBacklog(
  'credits_nightly_last_finished_timestamp_seconds',
  'The minute the latest finished nightly run ran as of (unix seconds): alert when it falls a day and its slack behind',
  (f) => f.nightlyAsOfSeconds,
);
fromBacklog(
  'credits_nightly_violations',
  "Invariant violations the latest finished nightly run's verify found (POST /v1/admin/verify names them)",
  (f) => f.nightlyViolations,
);

/** Makes /metrics of this process read its queues and tables; the returned function stops it. */
export function observe(ctx: AppContext): () => void {
  observed.push(ctx);
  return () => {
    const at = observed.lastIndexOf(ctx);
    if (at >= 0) observed.splice(at, 1);
  };
}
