import { z } from 'zod';
import { EVENT_TYPES, type EventType } from '../domain/event.js';
import { creditTypeBrief } from '../views/credit-type.js';
import { packageRef } from '../views/package.js';
import { rechargeResultSchema } from '../views/recharge.js';
import { renewalResultSchema } from '../views/renewal.js';

/**
 * What a webhook delivers and GET /v1/events lists: the event's envelope (src/db/repositories/outbox.ts
 * `outboxJson` builds it) around its `data`, whose fields per type are written where each event is recorded
 * (the `recordEvents` calls). Those drafts type `data` loosely (a record), so these schemas are kept beside them by
 * hand: test/e2e/webhooks-standard.test.ts parses delivered events with them. Objects are open: a field added later
 * is not a breaking change. A credit type or a package named inside `data` is an object, as in every answer (API.md
 * "Shapes"): a credit type `{id, code, unit}`, a package `{id, code, name}`; a client is named by the flat pair
 * `client_id` and `client_external_ref`.
 */
export const eventEnvelope = z
  .object({
    id: z.uuid().meta({ description: 'The event id; the `webhook-id` header of its deliveries' }),
    type: z.enum(EVENT_TYPES),
    created_at: z.string().meta({ description: 'When the event happened (ISO 8601)' }),
    data: z.record(z.string(), z.unknown()).meta({ description: "The event's own fields: see the `webhooks` section" }),
  })
  .meta({ id: 'Event' });

const uuid = () => z.uuid();
const time = () => z.string().meta({ description: 'ISO 8601' });
const quantity = () => z.string().meta({ description: 'Decimal quantity, e.g. "2.5"' });
const minor = () => z.number().int().meta({ description: 'Minor units of the currency' });
const open = <T extends z.ZodRawShape>(shape: T) => z.looseObject(shape);

/**
 * The client an event is about, as every event that names one carries it: its id and the caller's own reference
 * (`external_ref`, what a receiver routes by; filled in by the outbox itself, src/db/repositories/outbox.ts).
 */
const clientRef = {
  client_id: uuid(),
  client_external_ref: z.string().nullable().meta({ description: "The client's external_ref" }),
};
const subscriptionRef = { subscription_id: uuid(), ...clientRef };
const renewalsUndone = z
  .array(z.object({ period_start: time(), period_end: time(), invoice_id: uuid().nullable() }))
  .optional();
const balanceRef = {
  balance_id: uuid(),
  subscription_id: uuid().nullable(),
  ...clientRef,
  credit_type: creditTypeBrief,
};
const invoiceData = {
  invoice_id: uuid(),
  ...clientRef,
  number: z.string(),
  kind: z.string(),
  subscription_id: uuid().nullable(),
  total: minor(),
  currency: z.string(),
};
const crossing = {
  ...balanceRef,
  remaining: quantity(),
  granted: quantity(),
  // what crossed the threshold: a use, or a hold (which lowers remaining the same way)
  consumption_id: uuid().optional(),
  hold_id: uuid().optional(),
};

/** Each event type's `data`. */
export const EVENT_DATA: Record<EventType, z.ZodType> = {
  'subscription.created': open({
    ...subscriptionRef,
    package: packageRef,
    status: z.string(),
    period_start: time(),
    period_end: time(),
    invoice_id: uuid(),
    price: minor(),
    currency: z.string(),
    items: z.array(open({ credit_type: creditTypeBrief, units: quantity() })),
  }),
  'subscription.renewed': renewalResultSchema.extend({ ...clientRef, renewal_count: z.number().int() }),
  'subscription.recharged': rechargeResultSchema.extend(clientRef),
  'subscription.expired': open({ ...subscriptionRef, at: z.literal('period_end'), period_end: time() }),
  'subscription.cancelled': open({
    ...subscriptionRef,
    at: z.string().meta({ description: '`now`, `period_end`, or the time asked for' }),
    cancelled_at: time().optional(),
    period_end: time().optional(),
    reason: z.string().optional(),
  }),
  'subscription.cancel_scheduled': open({
    ...subscriptionRef,
    status: z.string(),
    cancel_at: time(),
    // renewals made ahead and unpaid, taken back so that the period running is the one that ends
    renewals_undone: renewalsUndone,
    // recharges bought into those renewals' periods, taken back with them (their units voided, their invoices void)
    recharges_voided: z
      .array(z.object({ recharge_id: uuid().nullable(), invoice_id: uuid(), period_start: time() }))
      .optional(),
  }),
  'subscription.updated': open({
    ...subscriptionRef,
    changes: z.record(z.string(), z.unknown()),
    previous: z.record(z.string(), z.unknown()),
  }),
  'subscription.activated': open({
    ...subscriptionRef,
    period_start: time(),
    period_end: time(),
    invoice_id: uuid(),
  }),
  'subscription.suspended': open({ ...subscriptionRef, status: z.literal('suspended') }),
  'subscription.frozen': open({
    ...subscriptionRef,
    status: z.literal('frozen'),
    frozen_at: time(),
    frozen_until: time(),
    current_period_end: time(),
    // renewals made ahead and unpaid, taken back so that the period running is the one frozen
    renewals_undone: renewalsUndone,
  }),
  'subscription.unfrozen': open({
    ...subscriptionRef,
    status: z.literal('active'),
    by: z.enum(['hand', 'sweep']),
    frozen_at: time(),
    unfrozen_at: time(),
    frozen_seconds: z.number(),
    previous_period_end: time(),
    current_period_end: time(),
    balances_extended: z.number().int(),
  }),
  'subscription.resumed': open({ ...subscriptionRef, status: z.literal('active') }),
  'balance.low': z.union([
    open({ ...crossing, threshold: quantity() }),
    open({ ...balanceRef, remaining: quantity(), granted: quantity(), expires_at: time() }),
  ]),
  'balance.depleted': open(crossing),
  'balance.expired': open({ ...balanceRef, expired: quantity(), rolled_over: quantity(), expires_at: time() }),
  'balance.expiring_soon': open({ ...balanceRef, remaining: quantity(), granted: quantity(), expires_at: time() }),
  'balance.adjusted': open({
    ...balanceRef,
    delta: quantity(),
    remaining: quantity(),
    valid_from: time().optional(),
    expires_at: time().optional(),
    reason: z.string().nullable(),
    actor: z.string().nullable(),
  }),
  'consumption.rejected': open({
    consumption_id: uuid(),
    ...clientRef,
    credit_type: creditTypeBrief,
    quantity: quantity(),
    available: quantity(),
    shortfall: quantity(),
    idempotency_key: z.string(),
    reference: z.string().nullable(),
    code: z.literal('insufficient_balance'),
  }),
  'consumption.reversed': open({
    consumption_id: uuid(),
    ...clientRef,
    credit_type: creditTypeBrief,
    returned: quantity(),
    expired: quantity(),
    reason: z.string().nullable(),
  }),
  'hold.expired': open({
    hold_id: uuid(),
    ...clientRef,
    credit_type: creditTypeBrief,
    quantity: quantity(),
    released: quantity().meta({ description: 'Units given back to their balances' }),
    lapsed: quantity().meta({ description: 'Units of balances that had expired or were voided meanwhile' }),
    expires_at: time(),
    idempotency_key: z.string(),
    reference: z.string().nullable(),
  }),
  'invoice.created': open(invoiceData),
  'invoice.paid': open({ ...invoiceData, paid_at: time() }),
  'invoice.voided': open({ ...invoiceData, reason: z.string().nullable() }),
  'report.ready': open({
    report_id: uuid(),
    type: z.string(),
    format: z.string(),
    trigger: z.string(),
    row_count: z.number().int(),
    byte_size: z.number().int(),
    download_url: z.string(),
  }),
  'report.failed': open({
    report_id: uuid(),
    type: z.string(),
    format: z.string(),
    trigger: z.string(),
    error: z.string().meta({ description: 'Why the run failed for good (also in GET /v1/reports/{id})' }),
  }),
  'webhook_endpoint.disabled': open({
    endpoint_id: uuid(),
    url: z.string().meta({ description: "The endpoint's URL without its user, password or query" }),
    reason: z.string().meta({
      description: "The last failure's kind, without the addresses the endpoint's own disabled_reason names",
    }),
    disabled_at: time(),
  }),
};

/** The delivered body of one event type: the envelope with its type fixed and its `data` schema. */
export const eventSchemaOf = (type: EventType): z.ZodType =>
  z.object({
    id: z.uuid().meta({ description: 'The event id; the `webhook-id` header of its deliveries' }),
    type: z.literal(type),
    created_at: time(),
    data: EVENT_DATA[type],
  });
