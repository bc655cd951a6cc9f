import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Executor } from '../db/knex.js';
import { EVENT_TYPES } from '../db/repositories/outbox.js';
import { insertEndpoint, markEndpointDeleted, type WebhookEndpointRow } from '../db/repositories/webhooks.js';
import { fail, ok, type Result } from '../domain/result.js';
import { newId } from '../ids.js';

// the relay (src/workers/relay.ts) finds the endpoints to deliver to through this module

export const webhookEndpointView = z
  .object({
    id: z.uuid(),
    url: z.string(),
    events: z.array(z.string()),
    description: z.string().nullable(),
    /** Shown in full only in the answer that created it. */
    secret: z.string(),
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
): Promise<Result<WebhookEndpointRow>> {
  const row: WebhookEndpointRow = {
    id: newId(),
    url: input.url,
    events: [...new Set(input.events)],
    // a secret made here is 32 random bytes; one given must be at least 16 characters
    secret: input.secret ?? `whsec_${randomBytes(32).toString('base64url')}`,
    description: input.description ?? null,
    created_at: now,
    deleted_at: null,
  };
  await insertEndpoint(db, row);
  return ok(row);
}

/** Stops deliveries to the endpoint; its history stays. */
export async function deleteEndpoint(db: Executor, id: string, now: Date): Promise<Result<true>> {
  return (await markEndpointDeleted(db, id, now)) ? ok(true) : fail('not_found', `no webhook endpoint "${id}"`);
}
