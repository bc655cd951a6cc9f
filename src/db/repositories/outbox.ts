import { newId } from '../../ids.js';
import type { Executor } from '../knex.js';

/** API.md: every event that changes a subscription, a balance or an invoice, and a report's readiness. */
export const EVENT_TYPES = [
  'subscription.created',
  'subscription.renewed',
  'subscription.recharged',
  'subscription.expired',
  'subscription.cancelled',
  'subscription.activated',
  'subscription.suspended',
  'subscription.resumed',
  'balance.low',
  'balance.depleted',
  'balance.expired',
  'balance.expiring_soon',
  'balance.adjusted',
  'consumption.rejected',
  'consumption.reversed',
  'invoice.created',
  'invoice.paid',
  'invoice.voided',
  'report.ready',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/**
 * Commands for the service itself, carried by the outbox so that they are enqueued only once the
 * transaction that asked for them has committed. Never delivered to webhooks.
 */
export const COMMAND_TYPES = ['command.auto_recharge'] as const;
export type CommandType = (typeof COMMAND_TYPES)[number];

export interface OutboxEventDraft {
  type: EventType | CommandType;
  clientId?: string | null;
  subjectId?: string | null;
  data: Record<string, unknown>;
}

export interface OutboxEventRow {
  seq: bigint;
  id: string;
  type: EventType | CommandType;
  client_id: string | null;
  subject_id: string | null;
  payload: { id: string; type: string; created_at: string; data: Record<string, unknown> };
  created_at: Date;
  dispatched_at: Date | null;
}

/** One multi-row INSERT of outbox events from a JSON array; `param` is its placeholder. */
export const outboxInsertSql = (param: string): string => `INSERT INTO outbox_events (id, type, client_id, subject_id, payload, created_at)
     SELECT id, type, client_id, subject_id, payload, created_at
       FROM jsonb_to_recordset(${param}::jsonb) AS x(id uuid, type text, client_id uuid, subject_id uuid, payload jsonb, created_at timestamptz)`;

/** Wakes the relays; takes effect when the transaction commits. */
export const OUTBOX_NOTIFY_SQL = `pg_notify('credits_outbox', '')`;

export const outboxJson = (events: readonly OutboxEventDraft[], now: Date): string =>
  JSON.stringify(
    events.map((event) => {
      const id = newId();
      return {
        id,
        type: event.type,
        client_id: event.clientId ?? null,
        subject_id: event.subjectId ?? null,
        payload: { id, type: event.type, created_at: now.toISOString(), data: event.data },
        created_at: now,
      };
    }),
  );

/** Writes events in the caller's transaction, and wakes the relays once it commits. One round trip. */
export async function recordEvents(db: Executor, events: readonly OutboxEventDraft[], now: Date): Promise<void> {
  if (events.length === 0) return;
  await db.raw(`WITH e AS (${outboxInsertSql('?')}) SELECT ${OUTBOX_NOTIFY_SQL}`, [outboxJson(events, now)]);
}

/**
 * Deletes dispatched events created before `before` that no endpoint wanted (events with deliveries
 * stay, as their history); answers how many.
 */
export async function deleteDispatchedEventsWithoutDeliveries(db: Executor, before: Date): Promise<number> {
  const result = await db.raw<{ rowCount: number }>(
    `DELETE FROM outbox_events e
      WHERE e.dispatched_at IS NOT NULL AND e.created_at < ?
        AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id)`,
    [before],
  );
  return result.rowCount;
}
