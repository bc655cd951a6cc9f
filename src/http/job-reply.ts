import type { AppContext } from '../app-context.js';
import { awaitOutcome, type Watch } from '../commands/index.js';
import type { Failure } from '../domain/result.js';
import type { JobName, JobResult } from '../jobs/definitions.js';
import type { JsonReply } from './route.js';

/**
 * What a request that enqueued a job answers (API.md "?wait=true"): 202 with `queued` at once, or,
 * with `wait`, the job's result (200 by default, or what `done` makes of it), its typed failure, or
 * 202 when the wait ran out (the job goes on; the caller polls).
 */
export async function jobReply<N extends JobName>(
  app: AppContext,
  job: { name: N; jobId: string; watch?: Watch<N> | undefined; fresh?: boolean },
  options: { wait: boolean; queued: unknown; done?: (value: JobResult<N>) => JsonReply | Failure },
): Promise<JsonReply | Failure> {
  if (!options.wait) {
    job.watch?.cancel();
    return { status: 202, body: options.queued };
  }
  // a job watched from before it was enqueued (submit's `watch`) cannot have ended unseen: no read
  const outcome = job.watch
    ? await job.watch.outcome({ alreadyQueued: !job.fresh })
    : await awaitOutcome(app, job.name, job.jobId);
  if (outcome.state === 'completed')
    return options.done ? options.done(outcome.value) : { status: 200, body: outcome.value };
  if (outcome.state === 'failed') return outcome.failure;
  return { status: 202, body: options.queued };
}
