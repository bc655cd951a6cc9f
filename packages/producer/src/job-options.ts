import type { JobsOptions } from 'bullmq';

/** Attempts of a job that fails for an unexpected reason, unless JOB_ATTEMPTS says otherwise. */
export const DEFAULT_JOB_ATTEMPTS = 8;

/**
 * Defaults for every job: `attempts` with exponential backoff for transient failures (a permanent
 * one is thrown as UnrecoverableError and not retried), and bounded history in Redis.
 */
export const jobOptions = (attempts: number = DEFAULT_JOB_ATTEMPTS): JobsOptions => ({
  attempts,
  backoff: { type: 'exponential', delay: 500 },
  removeOnComplete: { age: 3_600, count: 5_000 },
  removeOnFail: { age: 7 * 86_400, count: 10_000 },
});

export const DEFAULT_JOB_OPTIONS: JobsOptions = jobOptions();
