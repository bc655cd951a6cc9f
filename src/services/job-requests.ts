import type { AppContext } from '../app-context.js';
import { fingerprint } from '../canonical-json.js';
import type { Tx } from '../db/knex.js';
import { subscriptionById } from '../db/repositories/subscriptions.js';
import { transact } from '../db/transact.js';
import { fail, ok, type Result } from '../domain/result.js';
import { rechargeJob, renewJob, type RechargeData, type RenewData } from '../jobs/definitions.js';
import { waitForJob } from '../http/wait.js';
import { rechargeFingerprint } from '../jobs/recharge.js';
import { enqueueAccepted, recordAccepted, redisReady, type JobToAccept } from './accept.js';

/** The fingerprint of a renewal request as accepted: the same period is the same request. */
export const renewalFingerprint = (data: Pick<RenewData, 'subscription_id' | 'period_end'>): string => fingerprint({ subscription_id: data.subscription_id, period_end: data.period_end });

/** What a request that enqueues a job answers: 202 while queued, 200 with the job's result, or a failure. */
export type JobRequestReply = { status: 200 | 202; body: unknown };

export interface RequestOptions {
  wait: boolean;
  /** The caller's Idempotency-Key, and who the caller is (keys are scoped per API key). */
  idempotencyKey?: string | undefined;
  apiKeyId?: string | undefined;
  path?: string;
}

async function acceptAndMaybeWait(app: AppContext, job: JobToAccept, wait: boolean, alsoRecord?: (tx: Tx) => Promise<void>): Promise<Result<JobRequestReply>> {
  if (!redisReady(app)) return fail('unavailable', 'the queue (Redis) cannot be reached; nothing was accepted, retry later');
  // the accepted job and what else marks the request as taken (its Idempotency-Key) commit together
  const recorded = await transact(app.db, async (tx) => {
    const result = await recordAccepted(tx, [job]);
    if (result.ok && alsoRecord) await alsoRecord(tx);
    return result;
  });
  if (!recorded.ok) return recorded;
  try {
    await enqueueAccepted(app, [job]);
  } catch (error) {
    app.log.warn({ err: error, jobId: job.jobId }, 'enqueue failed after accepting; the relay will retry');
  }
  return answerFor(app, job.queue as 'renewal' | 'recharge', job.jobId, wait);
}

async function answerFor(app: AppContext, queue: 'renewal' | 'recharge', jobId: string, wait: boolean): Promise<Result<JobRequestReply>> {
  const queued = { job_id: jobId, status: 'queued' };
  if (!wait) return ok({ status: 202, body: queued });
  const outcome = await waitForJob(app, queue, jobId);
  if (outcome.state === 'completed') return ok({ status: 200, body: outcome.value });
  if (outcome.state === 'failed') return outcome.code ? fail(outcome.code.code, outcome.code.detail) : fail('conflict', outcome.reason);
  return ok({ status: 202, body: queued });
}

/**
 * POST /v1/subscriptions/{id}/renew: a renewal job for the subscription's current period. The job id
 * names the period, so renewing it twice (two clicks, two schedulers) makes one job and one period.
 * An Idempotency-Key remembers which job it asked for, so its repeat waits on that same job even
 * after the period has moved on.
 */
export async function requestRenewal(app: AppContext, subscriptionId: string, body: { apply_package_changes?: boolean | undefined }, options: RequestOptions): Promise<Result<JobRequestReply>> {
  const now = app.clock.now();
  const requestHash = fingerprint({ subscription_id: subscriptionId, ...body });
  if (options.idempotencyKey && options.apiKeyId) {
    const stored = (await app.db('idempotency_records')
      .where({ api_key_id: options.apiKeyId, method: 'POST', path: options.path ?? '', key: options.idempotencyKey })
      .first('request_hash', 'response_body')) as { request_hash: string; response_body: { job_id: string } } | undefined;
    if (stored) {
      if (stored.request_hash !== requestHash) return fail('idempotency_conflict', 'this Idempotency-Key was used with another request body');
      return answerFor(app, 'renewal', stored.response_body.job_id, options.wait);
    }
  }
  const subscription = await subscriptionById(app.db, subscriptionId);
  if (!subscription) return fail('not_found', `no subscription "${subscriptionId}"`);
  if (subscription.status === 'cancelled') return fail('conflict', 'a cancelled subscription cannot be renewed');
  if (subscription.status === 'pending') return fail('conflict', 'the subscription is pending payment of its first invoice');
  if (subscription.status === 'suspended') return fail('conflict', 'a suspended subscription cannot be renewed');
  if (subscription.status === 'active' && subscription.cancel_at_period_end) return fail('conflict', 'the subscription is set to cancel at the end of its period');

  const data: RenewData = {
    subscription_id: subscription.id,
    period_end: subscription.current_period_end.toISOString(),
    ...(body.apply_package_changes !== undefined ? { apply_package_changes: body.apply_package_changes } : {}),
    accepted_at: now.toISOString(),
  };
  const jobId = renewJob.jobId(data);
  // The Idempotency-Key is remembered only together with the accepted job (one transaction): a
  // request refused with 503 leaves nothing behind, so its retry is accepted for real.
  const { idempotencyKey, apiKeyId } = options;
  const rememberKey =
    idempotencyKey && apiKeyId
      ? async (tx: Tx) => {
          await tx('idempotency_records')
            .insert({ api_key_id: apiKeyId, method: 'POST', path: options.path ?? '', key: idempotencyKey, request_hash: requestHash, status_code: 202, response_body: JSON.stringify({ job_id: jobId }), created_at: now })
            .onConflict(['api_key_id', 'method', 'path', 'key'])
            .ignore();
        }
      : undefined;
  return acceptAndMaybeWait(
    app,
    { queue: renewJob.queue, name: renewJob.name, jobId, data: data as Record<string, unknown>, requestHash: renewalFingerprint(data), subjectId: subscription.id },
    options.wait,
    rememberKey,
  );
}

export interface RechargeRequestBody {
  items?: Array<{ credit_type: string; units: number | string }> | undefined;
  price?: number | string | undefined;
}

/**
 * POST /v1/subscriptions/{id}/recharge: a recharge job. Its idempotency key is the request's
 * Idempotency-Key (or a fresh one): the same key makes one recharge and one invoice.
 */
export async function requestRecharge(app: AppContext, subscriptionId: string, body: RechargeRequestBody, options: RequestOptions & { idempotencyKey: string }): Promise<Result<JobRequestReply>> {
  const subscription = await subscriptionById(app.db, subscriptionId);
  if (!subscription) return fail('not_found', `no subscription "${subscriptionId}"`);
  if (subscription.status !== 'active') return fail('conflict', `a ${subscription.status} subscription cannot be recharged`);
  const data: RechargeData = {
    subscription_id: subscription.id,
    ...(body.items ? { items: body.items } : {}),
    ...(body.price !== undefined ? { price: body.price } : {}),
    idempotency_key: options.idempotencyKey,
    accepted_at: app.clock.now().toISOString(),
  };
  const requestHash = rechargeFingerprint(data);
  return acceptAndMaybeWait(
    app,
    { queue: rechargeJob.queue, name: rechargeJob.name, jobId: rechargeJob.jobId(data), data: data as Record<string, unknown>, requestHash, subjectId: subscription.id },
    options.wait,
  );
}
