import type { Job } from 'bullmq';
import type { AppContext } from '../app-context.js';

/** What a job's handler gets besides its validated data. */
export interface JobRun {
  app: AppContext;
  job: Job;
  /** The job's id (API.md's rule): what its accepted request and its effects are keyed by. */
  jobId: string;
}
