import type { Job } from 'bullmq';
import type { ZodType } from 'zod';
import type { AppContext } from '../app-context.js';
import type { Result } from '../domain/result.js';
import { zodProblems } from '../http/problem.js';
import { permanentError } from './job-error.js';

/** What a job handler gets besides its validated data. */
export interface JobRun {
  app: AppContext;
  job: Job;
  jobId: string;
}

/**
 * Wraps a service call as a BullMQ processor: validates the data (an invalid job fails at once,
 * without retries, with `validation_failed` in its reason), turns an expected failure into a
 * permanent job failure, and lets anything else (database or Redis down) throw so BullMQ retries it.
 */
export function jobHandler<T>(schema: ZodType<T>, run: (data: T, context: JobRun) => Promise<Result<unknown>>) {
  return async (app: AppContext, job: Job): Promise<unknown> => {
    const parsed = schema.safeParse(job.data);
    if (!parsed.success) {
      const problems = zodProblems(parsed.error);
      throw permanentError({ code: 'validation_failed', detail: problems.map((p) => `${p.field}: ${p.message}`).join('; ') });
    }
    const result = await run(parsed.data, { app, job, jobId: job.id ?? '' });
    if (!result.ok) {
      // the request will never apply: stop the relay from re-enqueueing it (its failure stays in BullMQ)
      await app.db('accepted_jobs').where({ job_id: job.id ?? '' }).delete();
      throw permanentError(result);
    }
    return result.value;
  };
}

export type Processor = (app: AppContext, job: Job) => Promise<unknown>;
