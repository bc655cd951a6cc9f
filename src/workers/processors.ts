import type { Job } from 'bullmq';
import type { AppContext } from '../app-context.js';
import type { QueueName } from '../queue/names.js';
import { permanentError } from '../jobs/job-error.js';
import type { Processor } from '../jobs/handler.js';

/**
 * The job registry of every queue but `consumption` (which batches): queue → job name → handler.
 * Each handler lives in src/jobs, one module per job.
 */
export const PROCESSORS: Partial<Record<Exclude<QueueName, 'consumption'>, Record<string, Processor>>> = {};

export function otherProcessors(app: AppContext): Partial<Record<Exclude<QueueName, 'consumption'>, (job: Job) => Promise<unknown>>> {
  const out: Partial<Record<Exclude<QueueName, 'consumption'>, (job: Job) => Promise<unknown>>> = {};
  for (const [queue, handlers] of Object.entries(PROCESSORS) as Array<[Exclude<QueueName, 'consumption'>, Record<string, Processor>]>) {
    out[queue] = async (job: Job) => {
      const handler = handlers[job.name];
      if (!handler) throw permanentError({ code: 'validation_failed', detail: `unknown job name "${job.name}" on the ${queue} queue` });
      return handler(app, job);
    };
  }
  return out;
}
