import { JOB_CONTRACTS, type JobContract, type JobData, type JobName } from '@credits/producer/contracts';
import type { z } from 'zod';
import type { ConsumeBatchResult, ConsumptionResult } from '../views/consumption.js';
import type { CaptureResult, HoldResult } from '../views/hold.js';
import type { CleanupResult, DeliveryResult, ExpiryResult, NotifyResult, VerifyResult } from '../views/maintenance.js';
import type { RechargeResult } from '../views/recharge.js';
import type { RenewalResult } from '../views/renewal.js';
import type { GenerateResult } from '../views/report-run.js';
import type { ReversalResult } from '../views/reversal.js';

/**
 * Every job of API.md's job table, declared once: its contract — queue, payload schema, job-id rule —
 * comes from the producer package (packages/producer, what other systems install to enqueue), and
 * here each gets (as a type) what it answers. The API, the relay, the scheduler and the workers read
 * this table, so they cannot disagree with the producer; src/jobs/registry.ts adds each job's handler.
 */
export * from '@credits/producer/contracts';

export interface JobDefinition<S extends z.ZodType = z.ZodType, R = unknown> extends JobContract<S> {
  /** Never set: carries the type of the job's result. */
  readonly result?: R;
}

/** A contract answering `R`. */
const answers =
  <R>() =>
  <S extends z.ZodType>(contract: JobContract<S>): JobDefinition<S, R> =>
    contract;

/** The job table with what each job answers. A job's name is its key here, and unique across queues. */
export const JOBS = {
  consume: answers<ConsumptionResult>()(JOB_CONTRACTS.consume),
  'consume-batch': answers<ConsumeBatchResult>()(JOB_CONTRACTS['consume-batch']),
  reverse: answers<ReversalResult>()(JOB_CONTRACTS.reverse),
  hold: answers<HoldResult>()(JOB_CONTRACTS.hold),
  capture: answers<CaptureResult>()(JOB_CONTRACTS.capture),
  release: answers<HoldResult>()(JOB_CONTRACTS.release),
  recharge: answers<RechargeResult>()(JOB_CONTRACTS.recharge),
  renew: answers<RenewalResult>()(JOB_CONTRACTS.renew),
  expire: answers<ExpiryResult>()(JOB_CONTRACTS.expire),
  notify: answers<NotifyResult>()(JOB_CONTRACTS.notify),
  verify: answers<VerifyResult>()(JOB_CONTRACTS.verify),
  cleanup: answers<CleanupResult>()(JOB_CONTRACTS.cleanup),
  generate: answers<GenerateResult>()(JOB_CONTRACTS.generate),
  deliver: answers<DeliveryResult>()(JOB_CONTRACTS.deliver),
} as const satisfies Record<JobName, JobDefinition>;

/** What job `N` answers: its BullMQ return value, and the `?wait=true` body. */
export type JobResult<N extends JobName> = (typeof JOBS)[N] extends JobDefinition<z.ZodType, infer R> ? R : never;

export type ConsumeData = JobData<'consume'>;
export type ReverseData = JobData<'reverse'>;
export type RechargeData = JobData<'recharge'>;
export type RenewData = JobData<'renew'>;
export type MaintenanceData = JobData<'expire'>;
export type GenerateReportData = JobData<'generate'>;
export type DeliverData = JobData<'deliver'>;
