import type { AppContext } from '../app-context.js';
import { maintenanceJob, renewJob, type MaintenanceJobName, type RenewData } from '../jobs/definitions.js';
import type { QueueName } from '../queue/names.js';
import { waitForJob } from '../http/wait.js';
import { enqueueAccepted, recordAccepted, type JobToAccept } from '../services/accept.js';
import { renewalFingerprint } from '../services/job-requests.js';
import { nightlyReportsHook } from '../reports/nightly.js';
import { renewalLookaheadMs } from './renewal-lookahead.js';

export interface EnqueuedJob {
  queue: QueueName;
  jobId: string;
}

/** Scheduled times are truncated to the minute, so every scheduler process names the same run the same way. */
export const minuteOf = (at: Date): Date => new Date(Math.floor(at.getTime() / 60_000) * 60_000);

/**
 * Enqueues a renewal for every auto-renewing subscription whose period ends before the next run.
 * Job ids are `renewal|<subscription>|<period end>`: any number of schedulers, and any number of
 * runs over the same night, make one renewal per period.
 */
export async function enqueueDueRenewals(app: AppContext, asOf: Date): Promise<EnqueuedJob[]> {
  // due before the next run: the longest gap between two runs of NIGHTLY_CRON, plus slack
  const horizon = new Date(asOf.getTime() + renewalLookaheadMs(app.config.NIGHTLY_CRON, app.config.BUSINESS_TZ));
  const enqueued: EnqueuedJob[] = [];
  let after = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const due = (await app.db('subscriptions')
      .where({ status: 'active', auto_renew: true, cancel_at_period_end: false })
      .andWhere('current_period_end', '<', horizon)
      .andWhere('id', '>', after)
      .orderBy('id')
      .limit(1_000)
      .select('id', 'current_period_end')) as Array<{ id: string; current_period_end: Date }>;
    if (due.length === 0) break;
    const jobs: JobToAccept[] = due.map((s) => {
      const data: RenewData = { subscription_id: s.id, period_end: s.current_period_end.toISOString(), accepted_at: asOf.toISOString() };
      return { queue: 'renewal', name: renewJob.name, jobId: renewJob.jobId(data), data: data as Record<string, unknown>, requestHash: renewalFingerprint(data), subjectId: s.id };
    });
    // recorded first, like an API request: if Redis loses them, the relay enqueues them again
    const recorded = await recordAccepted(app.db, jobs);
    if (!recorded.ok) app.log.warn({ detail: recorded.detail }, 'a nightly renewal clashed with one accepted before');
    await enqueueAccepted(app, jobs);
    enqueued.push(...jobs.map((j) => ({ queue: 'renewal' as const, jobId: j.jobId })));
    after = due[due.length - 1]!.id;
  }
  return enqueued;
}

export async function enqueueMaintenance(app: AppContext, name: MaintenanceJobName, asOf: Date): Promise<EnqueuedJob> {
  const definition = maintenanceJob(name);
  const data = { as_of: asOf.toISOString() };
  const jobId = definition.jobId(data);
  await app.queues.maintenance.add(name, data, { jobId });
  return { queue: 'maintenance', jobId };
}

export interface PhaseReport {
  phase: 'renewals' | 'expiry' | 'events' | 'verify';
  jobs: number;
  completed: number;
  failed: Array<{ jobId: string; reason: string }>;
  /** Jobs still running when the wait ran out (they go on; nothing is lost). */
  pending: number;
}

export interface NightlyReport {
  as_of: string;
  phases: PhaseReport[];
  /** The verify job's result, when it finished in time. */
  verify?: unknown;
}

async function settle(app: AppContext, phase: PhaseReport['phase'], jobs: EnqueuedJob[], timeoutMs: number): Promise<PhaseReport & { results: unknown[] }> {
  const outcomes = await Promise.all(jobs.map((j) => waitForJob(app, j.queue, j.jobId, timeoutMs)));
  const report = { phase, jobs: jobs.length, completed: 0, failed: [] as Array<{ jobId: string; reason: string }>, pending: 0, results: [] as unknown[] };
  outcomes.forEach((o, i) => {
    if (o.state === 'completed') {
      report.completed += 1;
      report.results.push(o.value);
    } else if (o.state === 'failed') report.failed.push({ jobId: jobs[i]!.jobId, reason: o.reason });
    else report.pending += 1;
  });
  return report;
}

/**
 * The nightly sweep (NIGHTLY_CRON, `npm run cli -- run-nightly --as-of`, POST /v1/admin/nightly-runs),
 * in phases that wait for each other, because order matters: renewals due before the next run
 * first (so an auto-renewed period exists before its predecessor expires and can receive rollovers),
 * then expiry, then low-balance and expiring-soon events, housekeeping and nightly reports, then the
 * invariant check. It only enqueues, with job ids derived from `asOf`; the workers do the work.
 */
export async function runNightly(app: AppContext, asOf: Date, options: { phaseTimeoutMs?: number; reports?: boolean } = {}): Promise<NightlyReport> {
  const at = minuteOf(asOf);
  const timeoutMs = options.phaseTimeoutMs ?? 30 * 60_000;
  const phases: PhaseReport[] = [];
  const run = async (phase: PhaseReport['phase'], jobs: EnqueuedJob[]) => {
    const { results, ...report } = await settle(app, phase, jobs, timeoutMs);
    phases.push(report);
    return results;
  };
  await run('renewals', await enqueueDueRenewals(app, at));
  await run('expiry', [await enqueueMaintenance(app, 'expire', at)]);
  const events: EnqueuedJob[] = [await enqueueMaintenance(app, 'notify', at), await enqueueMaintenance(app, 'cleanup', at)];
  if (options.reports !== false) events.push(...(await nightlyReportsHook(app, at)));
  await run('events', events);
  const [verify] = await run('verify', [await enqueueMaintenance(app, 'verify', at)]);
  const report: NightlyReport = { as_of: at.toISOString(), phases, ...(verify !== undefined ? { verify } : {}) };
  app.log.info({ asOf: report.as_of, phases: phases.map((p) => `${p.phase}:${p.completed}/${p.jobs}`) }, 'nightly sweep done');
  return report;
}
