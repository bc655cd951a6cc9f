import type { Job } from 'bullmq';
import type { AppContext } from '../app-context.js';
import { deliveryToSend, failDelivery, recordDeliveryAttempt } from '../db/repositories/webhooks.js';
import { fail, ok, type Result } from '../domain/result.js';
import { webhookAttempts, webhookDeliveriesFailed } from '../metrics.js';
import type { DeliveryResult } from '../views/maintenance.js';
import { SIGNATURE_HEADER, sign } from '../webhooks/signature.js';
import type { DeliverData } from './definitions.js';

/** Thrown for a delivery the receiver refused: BullMQ retries it with exponential backoff. */
export class DeliveryFailedError extends Error {}

/**
 * Delivers one event to one endpoint: a POST of the event's JSON, signed (src/webhooks/signature.ts),
 * with the event and delivery ids in headers so the receiver can drop a repeat (delivery is at least
 * once). Every attempt is recorded; a 2xx marks the delivery delivered; anything else throws so the
 * job is retried with backoff, and the last allowed attempt marks it failed.
 */
export async function deliverWebhook(app: AppContext, data: DeliverData, job: Job): Promise<Result<DeliveryResult>> {
  const row = await deliveryToSend(app.db, data.delivery_id);
  if (!row) return fail('not_found', `no webhook delivery "${data.delivery_id}"`);
  if (row.status === 'delivered')
    return ok({ delivery_id: row.id, status: 'delivered', attempts: row.attempts, reason: 'delivered before' });
  if (row.deleted_at) {
    await failDelivery(app.db, row.id, 'endpoint deleted');
    return ok({ delivery_id: row.id, status: 'skipped', attempts: row.attempts, reason: 'endpoint deleted' });
  }

  const attempt = row.attempts + 1;
  const body = JSON.stringify(row.payload);
  // the wall clock, not app.clock: the signature's timestamp is checked by the receiver against its
  // own clock, so a service run with CLOCK=manual (a year lived in a minute) must still sign with now
  const startedAt = new Date();
  const started = performance.now();
  let statusCode: number | null = null;
  let error: string | null = null;
  try {
    const response = await fetch(row.url, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/json',
        'user-agent': `credits-webhooks/${app.version}`,
        [SIGNATURE_HEADER]: sign(row.secret, body, Math.floor(startedAt.getTime() / 1000)),
        'credits-event-id': row.event_id,
        'credits-event-type': row.event_type,
        'credits-delivery-id': row.id,
        'credits-delivery-attempt': String(attempt),
      },
      body,
      signal: AbortSignal.timeout(app.config.WEBHOOK_TIMEOUT_MS),
    });
    statusCode = response.status;
    // read (a little of) the body so the connection is reused, never trusting its size
    await response.body?.cancel().catch(() => undefined);
    if (statusCode < 200 || statusCode >= 300) error = `the receiver answered ${statusCode}`;
  } catch (e) {
    error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  }
  const durationMs = Math.round(performance.now() - started);
  const delivered = error === null;
  const maxAttempts = job.opts.attempts ?? app.config.WEBHOOK_MAX_ATTEMPTS;
  const lastAttempt = job.attemptsMade + 1 >= maxAttempts;

  await recordDeliveryAttempt(
    app.db,
    { deliveryId: row.id, attempt, startedAt, durationMs, statusCode, error },
    {
      status: delivered ? 'delivered' : lastAttempt ? 'failed' : 'pending',
      deliveredAt: delivered ? new Date() : null,
      nextAttemptAt:
        delivered || lastAttempt
          ? null
          : new Date(Date.now() + backoffMs(app.config.WEBHOOK_BACKOFF_MS, job.attemptsMade + 1)),
    },
  );
  webhookAttempts.inc({ outcome: delivered ? 'delivered' : 'failed' });
  if (!delivered && lastAttempt) webhookDeliveriesFailed.inc();
  if (!delivered)
    throw new DeliveryFailedError(
      `delivery ${row.id} to ${new URL(row.url).host} failed (attempt ${attempt}): ${error}`,
    );
  return ok({ delivery_id: row.id, status: 'delivered', attempts: attempt, status_code: statusCode ?? 0 });
}

/** BullMQ's exponential backoff: delay × 2^(attempts made − 1). */
export const backoffMs = (delayMs: number, attemptsMade: number): number =>
  delayMs * 2 ** Math.max(0, attemptsMade - 1);
