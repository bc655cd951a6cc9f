/**
 * API.md: every event that changes a subscription, a balance or an invoice, and a report's readiness.
 * Webhook endpoints subscribe by these names (README "Webhook events").
 */
export const EVENT_TYPES = [
  'subscription.created',
  'subscription.renewed',
  'subscription.recharged',
  'subscription.expired',
  'subscription.cancelled',
  'subscription.cancel_scheduled',
  'subscription.updated',
  'subscription.activated',
  'subscription.suspended',
  'subscription.resumed',
  'subscription.frozen',
  'subscription.unfrozen',
  'balance.low',
  'balance.depleted',
  'balance.expired',
  'balance.expiring_soon',
  'balance.adjusted',
  'consumption.rejected',
  'consumption.reversed',
  'hold.expired',
  'invoice.created',
  'invoice.paid',
  'invoice.voided',
  'report.ready',
  'report.failed',
  'webhook_endpoint.disabled',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** The events about the webhook endpoints themselves: an administrator's, as the endpoints are (GET /v1/events). */
export const ADMIN_EVENT_TYPES: readonly EventType[] = EVENT_TYPES.filter((t) => t.startsWith('webhook_endpoint.'));

/**
 * Commands for the service itself, carried by the outbox so that they are enqueued only once the
 * transaction that asked for them has committed. Never delivered to webhooks.
 */
export const COMMAND_TYPES = ['command.auto_recharge'] as const;
export type CommandType = (typeof COMMAND_TYPES)[number];

/** An event a plan records, written to the outbox in the transaction that caused it. */
export interface EventDraft {
  type: EventType | CommandType;
  clientId?: string | null;
  subjectId?: string | null;
  data: Record<string, unknown>;
}
