import type { Job } from 'bullmq';
import type { AppContext } from '../app-context.js';
import type { Executor } from '../db/knex.js';
import { deliveryToSend, markDeliveryPending } from '../db/repositories/webhooks.js';
import { fail, ok, type Result } from '../domain/result.js';
import { jobIdOf } from '../jobs/definitions.js';
import { WEBHOOK_BACKOFF_TYPE } from './retry-schedule.js';

/**
 * Sends a delivery again after it ran out of attempts (the receiver was down longer than the retry
 * budget): back to pending, and its job retried with a fresh count of attempts. A pending delivery
 * is sent now: its job, waiting for its next attempt after a failure, is run at once (its `next_attempt_at` says
 * now, and so must the job), or enqueued again if Redis lost it. A delivered one is refused, and so is one whose
 * endpoint is disabled (enable it first) or deleted.
 *
 * The row changes on `db` (the route's transaction, with its audit row); the job is touched only
 * once that has committed (`afterCommit`), so a refused or rolled-back retry never reaches Redis.
 */
export async function redeliver(
  app: AppContext,
  db: Executor,
  deliveryId: string,
  afterCommit: (action: () => Promise<void>) => void,
): Promise<Result<{ delivery_id: string; status: 'pending' }>> {
  const delivery = await deliveryToSend(db, deliveryId);
  if (!delivery) return fail('not_found', `no webhook delivery "${deliveryId}"`);
  if (delivery.status === 'delivered') return fail('conflict', 'the delivery was delivered already');
  if (delivery.deleted_at) return fail('conflict', 'the endpoint of the delivery was deleted');
  if (delivery.disabled_at)
    return fail('conflict', 'the endpoint of the delivery is disabled: enable it first (POST …/enable)');
  await markDeliveryPending(db, deliveryId, new Date());
  afterCommit(() => requeue(app, deliveryId));
  return ok({ delivery_id: deliveryId, status: 'pending' });
}

/**
 * The delivery's job: retried when it failed, run now when it waits for its next attempt (delayed by the backoff),
 * added again when Redis lost it or it completed by giving up; left alone when it is about to run anyway.
 */
async function requeue(app: AppContext, deliveryId: string): Promise<void> {
  const jobId = jobIdOf('deliver', { delivery_id: deliveryId });
  const queue = app.queues.webhooks;
  const job = (await queue.getJob(jobId)) as Job | undefined;
  const state = job ? await job.getState() : 'unknown';
  if (job && state === 'failed') await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
  else if (job && state === 'delayed')
    await job.promote().catch(async (error: unknown) => {
      // its delay ran out (or a worker took it) between the two reads: it runs now anyway
      if ((await job.getState()) === 'delayed') throw error;
    });
  else if (!job || state === 'completed') {
    // a completed job of a delivery still to make gave it up (its endpoint was disabled then): its id
    // must be free again for the new job
    await job?.remove();
    await queue.add(
      'deliver',
      { delivery_id: deliveryId },
      {
        jobId,
        attempts: app.config.WEBHOOK_MAX_ATTEMPTS,
        backoff: { type: WEBHOOK_BACKOFF_TYPE },
      },
    );
  }
}
