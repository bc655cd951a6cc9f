import { z } from 'zod';
import type { Executor } from '../db/knex.js';
import { EVENT_TYPES, recordEvents } from '../db/repositories/outbox.js';
import {
  insertEndpoint,
  markEndpointDeleted,
  markEndpointDisabled,
  markEndpointEnabled,
  replaceEndpointSecret,
  type WebhookEndpointRow,
} from '../db/repositories/webhooks.js';
import { fail, ok, type Result } from '../domain/result.js';
import { newId } from '../ids.js';
import { vetUrl } from './guard.js';
import { isStandardSecret, newSecret } from './signature.js';

// the relay (src/workers/relay.ts) finds the endpoints to deliver to through this module

export const webhookEndpointView = z
  .object({
    id: z.uuid(),
    url: z.string(),
    events: z.array(z.string()),
    description: z.string().nullable(),
    /** Shown in full only in the answer that created it. */
    secret: z.string(),
    /** Until then deliveries are signed with the secret a rotation replaced too; null when there is none. */
    previous_secret_expires_at: z.string().nullable(),
    /** When it was disabled (its deliveries kept failing): it gets no new deliveries until it is enabled. */
    disabled_at: z.string().nullable(),
    disabled_reason: z.string().nullable(),
    /**
     * When it was deleted (DELETE /v1/webhook-endpoints/{id}): its row and deliveries are kept, the history of what it
     * was sent, and only GET /v1/webhook-endpoints/{id} still shows it; null while it is live.
     */
    deleted_at: z.string().nullable(),
    created_at: z.string(),
  })
  .meta({ id: 'WebhookEndpoint' });
export type WebhookEndpointView = z.infer<typeof webhookEndpointView>;

export const toEndpointView = (row: WebhookEndpointRow, revealSecret = false): WebhookEndpointView => ({
  id: row.id,
  url: row.url,
  events: row.events,
  description: row.description,
  secret: revealSecret ? row.secret : `${row.secret.slice(0, 6)}…${row.secret.slice(-4)}`,
  previous_secret_expires_at: row.previous_secret_expires_at?.toISOString() ?? null,
  disabled_at: row.disabled_at?.toISOString() ?? null,
  disabled_reason: row.disabled_reason,
  deleted_at: row.deleted_at?.toISOString() ?? null,
  created_at: row.created_at.toISOString(),
});

/** Event types an endpoint may subscribe to (`*` for all). */
export const SUBSCRIBABLE = ['*', ...EVENT_TYPES] as const;

export interface CreateEndpointInput {
  url: string;
  events: string[];
  secret?: string | undefined;
  description?: string | undefined;
}

export async function createEndpoint(
  db: Executor,
  input: CreateEndpointInput,
  now: Date,
  options: { allowPrivate: boolean },
): Promise<Result<WebhookEndpointRow>> {
  if (input.secret !== undefined && !isStandardSecret(input.secret))
    return fail('validation_failed', 'secret must be "whsec_" followed by the standard base64 of 24 to 64 bytes', {
      errors: [{ field: 'secret', message: 'must be "whsec_" + standard base64 of 24 to 64 random bytes' }],
    });
  const vetted = await vetUrl(input.url, options.allowPrivate, { unresolved: 'accept' });
  if (!vetted.ok) return vetted;
  const row: WebhookEndpointRow = {
    id: newId(),
    url: input.url,
    events: [...new Set(input.events)],
    // a secret made here is whsec_ + the standard base64 of 32 random bytes
    secret: input.secret ?? newSecret(),
    description: input.description ?? null,
    created_at: now,
    deleted_at: null,
    disabled_at: null,
    disabled_reason: null,
    previous_secret: null,
    previous_secret_expires_at: null,
  };
  await insertEndpoint(db, row);
  return ok(row);
}

/**
 * How an endpoint's URL is told to others (the `webhook_endpoint.disabled` event, which every other endpoint may
 * receive): scheme, host and path, without the user, password or query a receiver may keep its own secret in.
 */
export function shownUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return '';
  }
}

/**
 * Disables the endpoint (its deliveries kept failing): it gets no new deliveries, its pending ones are given up
 * when their next attempt comes, and a `webhook_endpoint.disabled` event goes to the outbox — once, however many
 * deliveries fail. In the caller's transaction. The endpoint keeps the reason's `detail` (for its operator); the event
 * carries the reason as `shown` to other receivers (src/webhooks/failure-reason.ts).
 */
export async function disableEndpoint(
  db: Executor,
  id: string,
  reason: { detail: string; shown: string },
  now: Date,
): Promise<boolean> {
  const row = await markEndpointDisabled(db, id, reason.detail, now);
  if (!row) return false;
  await recordEvents(
    db,
    [
      {
        type: 'webhook_endpoint.disabled',
        subjectId: row.id,
        data: { endpoint_id: row.id, url: shownUrl(row.url), reason: reason.shown, disabled_at: now.toISOString() },
      },
    ],
    now,
  );
  return true;
}

/** Enables a disabled endpoint: new events are delivered to it again (failed deliveries may be retried by hand). */
export async function enableEndpoint(db: Executor, id: string): Promise<Result<WebhookEndpointRow>> {
  const row = await markEndpointEnabled(db, id);
  return row ? ok(row) : fail('not_found', `no webhook endpoint "${id}"`);
}

/**
 * Gives the endpoint a new secret. Until `graceSeconds` have passed (by the wall clock, as deliveries are signed)
 * every delivery carries the signatures of the new and the old secret; then of the new one only. A rotation during
 * a grace period drops the older secret at once.
 */
export async function rotateSecret(
  db: Executor,
  id: string,
  graceSeconds: number,
): Promise<Result<WebhookEndpointRow>> {
  const until = graceSeconds > 0 ? new Date(Date.now() + graceSeconds * 1000) : null;
  const row = await replaceEndpointSecret(db, id, newSecret(), until);
  return row ? ok(row) : fail('not_found', `no webhook endpoint "${id}"`);
}

/** Stops deliveries to the endpoint; its history stays. */
export async function deleteEndpoint(db: Executor, id: string, now: Date): Promise<Result<true>> {
  return (await markEndpointDeleted(db, id, now)) ? ok(true) : fail('not_found', `no webhook endpoint "${id}"`);
}
