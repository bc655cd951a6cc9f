import { z } from 'zod';
import type { AppContext } from '../app-context.js';
import { awaitOutcome, type Outcome, type Watch } from '../commands/index.js';
import { type Failure, fail } from '../domain/result.js';
import type { JobName, JobResult } from '../jobs/definitions.js';
import type { JsonReply } from './route.js';

/**
 * What a request that enqueued a job answers (API.md "?wait=true"): 202 with `queued` at once, or,
 * with `wait`, the job's result (200 by default, or what `done` makes of it), its typed failure, or
 * 202 when the wait ran out (the job goes on; the caller polls).
 */
export async function jobReply<N extends JobName>(
  app: AppContext,
  /** `fresh`: this request made the job (false: it met the same request's job already queued). */
  job: { name: N; jobId: string; watch?: Watch<N> | undefined; fresh?: boolean },
  options: { wait: boolean; queued: unknown; done?: (value: JobResult<N>) => JsonReply | Failure },
): Promise<JsonReply | Failure> {
  if (!options.wait) {
    job.watch?.cancel();
    return { status: 202, body: options.queued };
  }
  // a job watched from before it was enqueued (submit's `watch`) cannot have ended unseen: no read
  const outcome = await unlessUnreadable(
    app,
    job.jobId,
    job.watch ? job.watch.outcome({ alreadyQueued: !job.fresh }) : awaitOutcome(app, job.name, job.jobId),
  );
  if (outcome.state === 'completed') {
    const value = job.fresh === false ? asRepeat(outcome.value) : outcome.value;
    return options.done ? options.done(value) : { status: 200, body: value };
  }
  if (outcome.state === 'failed') return outcome.failure;
  return { status: 202, body: options.queued };
}

/**
 * A wait for a request that is recorded, as a wait that ran out when its reads fail (Redis or Postgres away a moment):
 * the request stands and its job goes on, so the caller is answered 202 and polls — a 503 says nothing was accepted.
 */
export async function unlessUnreadable<R>(
  app: AppContext,
  jobId: string,
  wait: Promise<Outcome<R>>,
): Promise<Outcome<R>> {
  try {
    return await wait;
  } catch (error) {
    app.log.warn({ err: error, jobId }, 'could not read the outcome of a request accepted; answered as still queued');
    return { state: 'timeout' };
  }
}

/**
 * A job's result as a repeat answers it: a request that met the same request's job still queued (its
 * admission was `pending`, not `new`) waited for that job, whose result is the first application's —
 * to this caller it repeats the first answer (API.md `replayed`), as it would once the job had run.
 */
function asRepeat<T>(value: T): T {
  return typeof value === 'object' && value !== null && 'replayed' in value ? { ...value, replayed: true } : value;
}

/** The 202 of a command accepted and not yet applied: its id, `queued` (or what it already is), its job. */
export const queuedSchema = z.object({ id: z.uuid(), status: z.string(), job_id: z.string().optional() });

/**
 * A finished use-taking job (consume, hold) as API.md answers it: 200 with its result, or 422
 * insufficient_balance carrying the same fields — its own status under `statusField`, since a problem's
 * `status` is the HTTP status (RFC 9457).
 */
export function takenOrInsufficient<
  R extends { status: string; remaining: string; quantity: string; credit_type: { code: string; unit: string } },
>(result: R, statusField: 'consumption_status' | 'hold_status'): JsonReply | Failure {
  if (result.status !== 'rejected') return { status: 200, body: result };
  const { status, ...fields } = result;
  return fail(
    'insufficient_balance',
    `the client has ${result.remaining} ${result.credit_type.unit}(s) of ${result.credit_type.code} left; ` +
      `${result.quantity} asked`,
    { extra: { ...fields, [statusField]: status } },
  );
}
