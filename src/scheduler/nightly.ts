import type { AppContext } from '../app-context.js';
import { awaitOutcome, enqueue, route } from '../commands/index.js';
import { recordNightlyFinished, recordNightlyStarted } from '../db/repositories/nightly-runs.js';
import { dueForRenewal } from '../db/repositories/subscriptions.js';
import type { MaintenanceJobName } from '../jobs/definitions.js';
import { askRenewals, type EnqueuedJob } from '../jobs/renew.js';
import { minuteOf, renewalLookaheadMs } from '../jobs/renewal-lookahead.js';
import { nightlyReportsHook } from '../reports/nightly.js';
import { unfreezeDue } from '../services/freeze.js';
import type { VerifyResult } from '../views/maintenance.js';

/**
 * Enqueues a renewal for every auto-renewing subscription whose period ends before the next run (askRenewals).
 * Job ids are `renewal|<subscription>|<period end>`: any number of schedulers, and any number of
 * runs over the same night, make one renewal per period.
 */
export async function enqueueDueRenewals(app: AppContext, asOf: Date): Promise<EnqueuedJob[]> {
  // due before the next run: the longest gap between two runs of NIGHTLY_CRON, plus slack
  const horizon = new Date(asOf.getTime() + renewalLookaheadMs(app.config.NIGHTLY_CRON, app.config.BUSINESS_TZ));
  const enqueued: EnqueuedJob[] = [];
  for (let after: string | undefined; ; ) {
    const due = await dueForRenewal(app.db, { before: horizon, after, limit: 1_000 });
    if (due.length === 0) break;
    enqueued.push(...(await askRenewals(app, due, asOf)));
    after = due[due.length - 1]!.id;
  }
  return enqueued;
}

export async function enqueueMaintenance(app: AppContext, name: MaintenanceJobName, asOf: Date): Promise<EnqueuedJob> {
  const job = route({ name, data: { as_of: asOf.toISOString() } });
  // derived from the scheduled minute, not accepted first: a lost one is made again by the next run
  await enqueue(app, [job], { accepted: false });
  return { name, jobId: job.jobId };
}

/**
 * What a scheduler does when it starts. node-cron runs nothing it missed, so a scheduler that was
 * down (a deploy, a crash) at the nightly minute would leave the night's renewals undone: it
 * enqueues the renewal phase and an expiry sweep for now (which renews, before it expires, whatever
 * ended unrenewed). It does not wait for them. Job ids derive from the minute, as every run's do:
 * a restart, or a second scheduler, makes the same jobs again, which BullMQ keeps once.
 */
export async function catchUp(app: AppContext, asOf: Date): Promise<EnqueuedJob[]> {
  const at = minuteOf(asOf);
  const renewals = await enqueueDueRenewals(app, at);
  return [...renewals, await enqueueMaintenance(app, 'expire', at)];
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
  verify?: VerifyResult;
}

/** `work`, or 'aborted' as soon as the signal aborts (its listener removed either way: the signal outlives runs). */
async function unlessAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T | 'aborted'> {
  if (!signal) return work;
  if (signal.aborted) return 'aborted';
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<'aborted'>((resolve) => {
    onAbort = () => resolve('aborted');
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

async function settle(
  app: AppContext,
  phase: PhaseReport['phase'],
  jobs: EnqueuedJob[],
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<PhaseReport & { results: unknown[] }> {
  // a stop (the scheduler's shutdown) ends the wait: the jobs go on in the workers, counted as pending
  const waited = await unlessAborted(
    Promise.all(jobs.map((j) => awaitOutcome(app, j.name, j.jobId, { timeoutMs }))),
    signal,
  );
  const outcomes = waited === 'aborted' ? jobs.map(() => ({ state: 'timeout' as const })) : waited;
  const report = {
    phase,
    jobs: jobs.length,
    completed: 0,
    failed: [] as Array<{ jobId: string; reason: string }>,
    pending: 0,
    results: [] as unknown[],
  };
  outcomes.forEach((o, i) => {
    if (o.state === 'completed') {
      report.completed += 1;
      report.results.push(o.value);
    } else if (o.state === 'failed') report.failed.push({ jobId: jobs[i]!.jobId, reason: o.reason });
    else report.pending += 1;
  });
  return report;
}

/** A bound on the passes of the renewal phase (a period a day under a look-ahead of a few days needs a few). */
const MAX_RENEWAL_PASSES = 50;

/**
 * The renewal phase: every period that ends before the next run, renewed. A period this run renewed ahead may itself
 * end before the next run (a daily period under the 49-hour look-ahead of a zone whose clocks skip 02:00, or one
 * ending an hour after the run under 26 hours): it is renewed by this run too, pass after pass (each waits for the
 * one before), until nothing ends before the horizon. One pass used to renew one period, so the same run again — a
 * second scheduler, or an operator's POST /v1/admin/nightly-runs for the same minute — renewed one more period
 * ahead each time (another invoice), where a run for the same minute must do the work once.
 */
async function renewUntilBeyondTheNextRun(
  app: AppContext,
  at: Date,
  timeoutMs: number,
  phases: PhaseReport[],
  signal?: AbortSignal,
): Promise<void> {
  const report: PhaseReport = { phase: 'renewals', jobs: 0, completed: 0, failed: [], pending: 0 };
  const seen = new Set<string>();
  for (let pass = 0; pass < MAX_RENEWAL_PASSES; pass += 1) {
    // a renewal that failed (or is still running) is asked for again under its period's job id: not a new one
    const fresh = (await enqueueDueRenewals(app, at)).filter((job) => !seen.has(job.jobId));
    if (fresh.length === 0) break;
    for (const job of fresh) seen.add(job.jobId);
    const { results: _results, ...settled } = await settle(app, 'renewals', fresh, timeoutMs, signal);
    report.jobs += settled.jobs;
    report.completed += settled.completed;
    report.failed.push(...settled.failed);
    report.pending += settled.pending;
    if (settled.pending > 0) break;
  }
  phases.push(report);
}

/**
 * The nightly sweep (NIGHTLY_CRON, `npm run cli -- run-nightly --as-of`, POST /v1/admin/nightly-runs),
 * in phases that wait for each other, because order matters: renewals due before the next run
 * first (so an auto-renewed period exists before its predecessor expires and can receive rollovers),
 * then expiry, then low-balance and expiring-soon events, housekeeping and nightly reports, then the
 * invariant check. Before them it ends the freezes due by `asOf` (unfreezeDue, as the expiry sweep's first step
 * does, and as a read does), so that a subscription unfrozen with its end before the next run is among the renewals;
 * otherwise it only enqueues, with job ids derived from `asOf`, and the workers do the work.
 */
export async function runNightly(
  app: AppContext,
  asOf: Date,
  options: { phaseTimeoutMs?: number; reports?: boolean; signal?: AbortSignal } = {},
): Promise<NightlyReport> {
  const at = minuteOf(asOf);
  const timeoutMs = options.phaseTimeoutMs ?? 30 * 60_000;
  const { signal } = options;
  const phases: PhaseReport[] = [];
  const run = async (phase: PhaseReport['phase'], jobs: EnqueuedJob[]) => {
    const { results, ...report } = await settle(app, phase, jobs, timeoutMs, signal);
    phases.push(report);
    return results;
  };
  // stopped between phases (a shutdown): what it did is reported, and the run is not recorded as finished, so that
  // the next scheduler to start runs the night again (its jobs' ids are the minute's: done work is not done twice)
  const stopped = (): NightlyReport => {
    app.log.warn(
      { asOf: at.toISOString(), phases: phases.map((p) => p.phase) },
      'nightly sweep stopped before its end',
    );
    return { as_of: at.toISOString(), phases };
  };
  await recordNightlyStarted(app.db, at, app.clock.now());
  // the freezes due by the run's minute end first, as its expiry sweep would end them but before the renewals: a
  // subscription whose clock starts again with its end moved before the next run is renewed ahead by this run's
  // renewal phase, which asks for it and waits for it (so it is not asked for as the unfreeze commits, where it would
  // be renewed or not by the time the phase looks, and counted by the phase or not)
  const unfrozen = await unfreezeDue(app, at);
  if (unfrozen > 0) app.log.info({ asOf: at.toISOString(), unfrozen }, 'nightly run: freezes due ended first');
  await renewUntilBeyondTheNextRun(app, at, timeoutMs, phases, signal);
  if (signal?.aborted) return stopped();
  await run('expiry', [await enqueueMaintenance(app, 'expire', at)]);
  if (signal?.aborted) return stopped();
  const events: EnqueuedJob[] = [
    await enqueueMaintenance(app, 'notify', at),
    await enqueueMaintenance(app, 'cleanup', at),
  ];
  if (options.reports !== false) events.push(...(await nightlyReportsHook(app, at)));
  await run('events', events);
  if (signal?.aborted) return stopped();
  const [verify] = await run('verify', [await enqueueMaintenance(app, 'verify', at)]);
  if (signal?.aborted) return stopped();
  // the verify job's return value (src/jobs/verify.ts)
  const report: NightlyReport = {
    as_of: at.toISOString(),
    phases,
    ...(verify !== undefined ? { verify: verify as VerifyResult } : {}),
  };
  await recordNightlyFinished(app.db, at, app.clock.now(), report);
  app.log.info(
    { asOf: report.as_of, phases: phases.map((p) => `${p.phase}:${p.completed}/${p.jobs}`) },
    'nightly sweep done',
  );
  return report;
}
