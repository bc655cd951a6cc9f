import type { AppContext } from '../app-context.js';
import type { Failure, Result } from '../domain/result.js';
import { cleanup } from './cleanup.js';
import { applyConsumptions, recordFailedUse } from './consume.js';
import { batchOutcome, batchUses } from './consume-batch.js';
import { JOB_NAMES, JOBS, type JobDefinition, type JobName, type JobPayload, type JobResult } from './definitions.js';
import { deliverWebhook } from './deliver-webhook.js';
import { expireDue } from './expire.js';
import { generateReportJob } from './generate-report.js';
import { applyHolds } from './hold.js';
import { applyCaptures, applyReleases } from './hold-closing.js';
import { closingLane } from './hold-lanes.js';
import type { JobRun } from './job-run.js';
import { notifyBalances } from './notify.js';
import { rechargeSubscription } from './recharge.js';
import { renewSubscription } from './renew.js';
import { reverseConsumption } from './reverse.js';
import { verifyJob } from './verify.js';

/** A job handled one at a time: loads, decides (src/domain), writes, in one transaction, and answers its result. */
export interface SingleHandler<N extends JobName> {
  run(data: JobPayload<N>, run: JobRun): Promise<Result<JobResult<N>>>;
}

/** One job (or one part of a fan-out job) as a batch handler sees it. */
export interface BatchItem<N extends JobName> {
  /** The job that carries it (what its effects record as their job). */
  jobId: string;
  data: JobPayload<N>;
  enqueuedAt: Date;
  /** The accepted request it settles, when not `jobId` (a use carried by a `consume-batch` job). */
  settles?: string;
}

/**
 * A job applied many per transaction (the hot path): the worker hands each job to a micro-batcher
 * and awaits its own outcome (PERFORMANCE.md). `laneOf` keeps jobs that lock the same rows in one
 * lane, so that a process's own batches never wait on each other's locks.
 */
export interface BatchedHandler<N extends JobName> {
  batch: {
    apply(app: AppContext, items: ReadonlyArray<BatchItem<N>>): Promise<Array<Result<JobResult<N>>>>;
    laneOf(data: JobPayload<N>): string;
    /**
     * What the job records of an item that failed alone outside `apply` (a value Postgres refused, found once the
     * micro-batcher split its batch down to it), right after; `apply` records its own refusals.
     */
    failedAlone?(app: AppContext, item: BatchItem<N>, failure: Failure): Promise<void>;
  };
}

/**
 * A job that is many jobs of a batched kind (`consume-batch`: many `consume`): its parts go to that
 * kind's micro-batcher like any of its jobs — applied many per transaction, each on its own, one
 * bad part failing alone — and it answers once all have, with what `combine` makes of their outcomes.
 */
export interface FanOutHandler<N extends JobName, T extends JobName> {
  fanOut: {
    to: T;
    parts(data: JobPayload<N>, carrier: { jobId: string; enqueuedAt: Date }): Array<BatchItem<T>>;
    combine(data: JobPayload<N>, outcomes: ReadonlyArray<Result<JobResult<T>>>): JobResult<N>;
  };
}

export type Handler<N extends JobName> = SingleHandler<N> | BatchedHandler<N> | FanOutHandler<N, 'consume'>;

export type { JobRun };

export const isBatched = <N extends JobName>(handler: Handler<N>): handler is BatchedHandler<N> => 'batch' in handler;
export const isFanOut = <N extends JobName>(handler: Handler<N>): handler is FanOutHandler<N, 'consume'> =>
  'fanOut' in handler;

/** Each job's handler, one module per job. The compiler refuses a job without one. */
const HANDLERS: { [N in JobName]: Handler<N> } = {
  consume: { batch: { apply: applyConsumptions, laneOf: (data) => data.client, failedAlone: recordFailedUse } },
  'consume-batch': { fanOut: { to: 'consume', parts: batchUses, combine: batchOutcome } },
  hold: { batch: { apply: (app, items) => applyHolds(app, items), laneOf: (data) => data.client } },
  capture: { batch: { apply: applyCaptures, laneOf: (data) => closingLane(data.hold_id) } },
  release: { batch: { apply: applyReleases, laneOf: (data) => closingLane(data.hold_id) } },
  reverse: { run: (data, { app, jobId }) => reverseConsumption(app, data, jobId, `job:${jobId}`) },
  recharge: { run: (data, { app, jobId }) => rechargeSubscription(app, data, jobId) },
  renew: { run: (data, { app, jobId }) => renewSubscription(app, data, jobId) },
  expire: { run: (data, { app }) => expireDue(app, new Date(data.as_of)) },
  notify: { run: (data, { app }) => notifyBalances(app, new Date(data.as_of)) },
  verify: { run: (data, { app }) => verifyJob(app, new Date(data.as_of)) },
  cleanup: { run: (data, { app }) => cleanup(app, new Date(data.as_of)) },
  generate: { run: generateReportJob },
  deliver: { run: (data, { app, job }) => deliverWebhook(app, data, job) },
};

/** A job as the workers run it: its declaration (queue, schema, job-id rule) and its handler. */
export type RegisteredJob<N extends JobName> = (typeof JOBS)[N] & Handler<N> & { name: N };

/**
 * THE job registry: name → queue, payload schema, job-id rule, handler. Adding a job is one entry
 * in src/jobs/definitions.ts and its handler here; the workers, the producer, the relay and the
 * HTTP routes all follow.
 */
export const REGISTRY = Object.fromEntries(
  JOB_NAMES.map((name) => [name, { ...(JOBS[name] as JobDefinition), ...HANDLERS[name], name }]),
) as { [N in JobName]: RegisteredJob<N> };
