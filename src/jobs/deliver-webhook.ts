import type { Job } from 'bullmq';
import type { AppContext } from '../app-context.js';
import { deliveryToSend, failDelivery, recordDeliveryAttempt } from '../db/repositories/webhooks.js';
import { withTransaction } from '../db/transact.js';
import { fail, ok, type Result } from '../domain/result.js';
import { webhookAttempts, webhookDeliveriesFailed } from '../metrics.js';
import type { DeliveryResult } from '../views/maintenance.js';
import { disableEndpoint } from '../webhooks/endpoints.js';
import { SHOWN_ADDRESS_REFUSAL, shownFailure } from '../webhooks/failure-reason.js';
import { vetUrl } from '../webhooks/guard.js';
import { jitterUnit, retryDelayMs } from '../webhooks/retry-schedule.js';
import { postTo } from '../webhooks/send.js';
import { signedHeaders } from '../webhooks/signature.js';
import type { DeliverData } from './definitions.js';

/** Thrown for a delivery the receiver refused: BullMQ retries it (src/webhooks/retry-schedule.ts). */
export class DeliveryFailedError extends Error {}

/**
 * Delivers one event to one endpoint: a POST of the event's JSON with the Standard Webhooks headers
 * (src/webhooks/signature.ts; `webhook-id` is the event's id, so the receiver can drop a repeat: delivery is at
 * least once) and the credits-* headers (`credits-event-seq`: the event's `seq` in GET /v1/events). The URL's host
 * is vetted again (the SSRF guard) and the request connects to the address vetted. Every attempt is recorded; a 2xx
 * marks the delivery delivered; anything else throws so the job is retried with backoff, and the last allowed
 * attempt marks it failed and disables its endpoint.
 */
export async function deliverWebhook(app: AppContext, data: DeliverData, job: Job): Promise<Result<DeliveryResult>> {
  const row = await deliveryToSend(app.db, data.delivery_id);
  if (!row) return fail('not_found', `no webhook delivery "${data.delivery_id}"`);
  if (row.status === 'delivered')
    return ok({ delivery_id: row.id, status: 'delivered', attempts: row.attempts, reason: 'delivered before' });
  if (row.deleted_at || row.disabled_at) {
    const reason = row.deleted_at ? 'endpoint deleted' : 'endpoint disabled';
    await failDelivery(app.db, row.id, reason);
    return ok({ delivery_id: row.id, status: 'skipped', attempts: row.attempts, reason });
  }

  const attempt = row.attempts + 1;
  const body = JSON.stringify(row.payload);
  // the wall clock, not app.clock: the signature's timestamp is checked by the receiver against its
  // own clock, so a service run with CLOCK=manual (a year lived in a minute) must still sign with now
  const startedAt = new Date();
  const started = performance.now();
  const secrets =
    row.previous_secret && row.previous_secret_expires_at && row.previous_secret_expires_at > startedAt
      ? [row.secret, row.previous_secret]
      : [row.secret];
  let statusCode: number | null = null;
  let error: string | null = null;
  // the failure as other receivers may read it (no address of the service's network)
  let shown: string | null = null;
  const vetted = await vetUrl(row.url, app.config.WEBHOOK_ALLOW_PRIVATE);
  if (!vetted.ok) {
    error = `refused: ${vetted.detail}`;
    shown = SHOWN_ADDRESS_REFUSAL;
  } else {
    try {
      statusCode = await postTo(
        row.url,
        vetted.value,
        {
          'content-type': 'application/json',
          'user-agent': `credits-webhooks/${app.version}`,
          ...signedHeaders(secrets, row.event_id, Math.floor(startedAt.getTime() / 1000), body),
          'credits-event-id': row.event_id,
          'credits-event-type': row.event_type,
          // what a receiver that reconciles matches this delivery by in GET /v1/events: deliveries come in no set order
          'credits-event-seq': String(row.event_seq),
          'credits-delivery-id': row.id,
          'credits-delivery-attempt': String(attempt),
        },
        body,
        app.config.WEBHOOK_TIMEOUT_MS,
      );
      if (statusCode < 200 || statusCode >= 300) shown = error = `the receiver answered ${statusCode}`;
    } catch (e) {
      error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      shown = shownFailure(e);
    }
  }
  const durationMs = Math.round(performance.now() - started);
  const delivered = error === null;
  const maxAttempts = job.opts.attempts ?? app.config.WEBHOOK_MAX_ATTEMPTS;
  const lastAttempt = job.attemptsMade + 1 >= maxAttempts;

  await withTransaction(app.db, async (tx) => {
    await recordDeliveryAttempt(
      tx,
      { deliveryId: row.id, attempt, startedAt, durationMs, statusCode, error },
      {
        status: delivered ? 'delivered' : lastAttempt ? 'failed' : 'pending',
        deliveredAt: delivered ? new Date() : null,
        nextAttemptAt:
          delivered || lastAttempt ? null : new Date(Date.now() + deliveryBackoffMs(app, row.id, job.attemptsMade + 1)),
      },
    );
    if (!delivered && lastAttempt) {
      const failed = `delivery ${row.id} failed ${attempt} attempts in a row; the last: `;
      await disableEndpoint(
        tx,
        row.endpoint_id,
        { detail: `${failed}${error}`.slice(0, 1_000), shown: `${failed}${shown}` },
        app.clock.now(),
      );
    }
  });
  webhookAttempts.inc({ outcome: delivered ? 'delivered' : 'failed' });
  if (!delivered && lastAttempt) webhookDeliveriesFailed.inc();
  if (!delivered)
    throw new DeliveryFailedError(
      `delivery ${row.id} to ${new URL(row.url).host} failed (attempt ${attempt}): ${error}`,
    );
  return ok({ delivery_id: row.id, status: 'delivered', attempts: attempt, status_code: statusCode ?? 0 });
}

/** The wait before retry `retry` of a delivery, as the workers' backoff strategy computes it. */
export const deliveryBackoffMs = (app: AppContext, deliveryId: string, retry: number): number =>
  retryDelayMs(
    retry,
    { firstDelayMs: app.config.WEBHOOK_BACKOFF_MS, maxDelayMs: app.config.WEBHOOK_BACKOFF_MAX_MS },
    jitterUnit(deliveryId, retry),
  );
