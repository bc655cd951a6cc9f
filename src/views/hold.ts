import { z } from 'zod';
import type { UseClient, UseCreditType } from '../domain/consumption-request.js';
import { toCreditTypeBrief } from '../domain/credit-type-brief.js';
import { HOLD_STATUSES, type HoldAllocationRecord, type HoldRecord } from '../domain/hold.js';
import { formatQuantity, parseQuantity } from '../domain/quantity.js';
import { jsonTime } from '../json-time.js';
import { type ConsumptionResult, consumptionResultSchema } from './consumption.js';
import { creditTypeBrief } from './credit-type.js';

/** A hold as every answer shows it (POST /v1/holds?wait=true, GET /v1/holds/{id}, a release). */
export const holdResultSchema = z
  .object({
    id: z.uuid(),
    status: z.enum(HOLD_STATUSES),
    code: z.literal('insufficient_balance').optional(),
    client: z.object({ id: z.uuid(), external_ref: z.string() }),
    credit_type: creditTypeBrief,
    quantity: z.string(),
    held: z.string().meta({ description: 'Units it reserves now: its quantity while `held`, 0 once closed.' }),
    captured: z.string().nullable().meta({ description: 'Units its capture consumed.' }),
    released: z.string().nullable().meta({ description: 'Units given back to their balances when it closed.' }),
    lapsed: z
      .string()
      .nullable()
      .meta({ description: 'Units of balances that expired (or were voided) while held: not given back.' }),
    allocations: z.array(z.object({ balance_id: z.uuid(), amount: z.string() })),
    expires_at: z.string(),
    remaining: z.string().meta({ description: "The client's usable total of the credit type right after the hold." }),
    idempotency_key: z.string(),
    reference: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()).nullable(),
    consumption_id: z.uuid().nullable().meta({ description: 'The consumption its capture made.' }),
    created_at: z.string(),
    closed_at: z.string().nullable(),
    replayed: z.boolean().optional(),
  })
  .meta({ id: 'Hold' });
export type HoldResult = z.infer<typeof holdResultSchema>;

/** GET /v1/holds/{id}: the hold, or `{id, status: "queued"}` while its request waits for a worker. */
export const holdView = holdResultSchema
  .partial()
  .extend({ id: z.uuid(), status: z.enum(['queued', ...HOLD_STATUSES]) })
  .meta({ id: 'HoldOrQueued' });
export type HoldView = z.infer<typeof holdView>;

/**
 * GET /v1/holds?status=queued: a hold request accepted and not applied yet — what it asks for, as it asked it
 * (a client or credit type it names that does not exist is null: its worker will refuse it).
 */
export const queuedHoldSchema = z
  .object({
    id: z.uuid(),
    status: z.literal('queued'),
    client: z.object({ id: z.uuid(), external_ref: z.string() }).nullable(),
    credit_type: creditTypeBrief.nullable(),
    quantity: z.string(),
    idempotency_key: z.string(),
    reference: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()).nullable(),
    created_at: z.string().meta({ description: 'When the request was accepted.' }),
  })
  .meta({ id: 'QueuedHold' });
export type QueuedHold = z.infer<typeof queuedHoldSchema>;

/** A request's quantity as the hold will hold it (the credit type's decimals), or as sent when it cannot be read. */
function askedQuantity(input: unknown, creditType: UseCreditType | undefined): string {
  if (creditType) {
    const parsed = parseQuantity(input, creditType.decimals);
    if (parsed.ok) return formatQuantity(parsed.value, creditType.decimals);
  }
  return String(input);
}

export function toQueuedHold(
  request: { id: string; created_at: Date; data: Record<string, unknown> },
  client: UseClient | undefined,
  creditType: UseCreditType | undefined,
): QueuedHold {
  const { data } = request;
  const text = (value: unknown) => (typeof value === 'string' ? value : null);
  const metadata = data.metadata;
  return {
    id: request.id,
    status: 'queued',
    client: client ? { id: client.id, external_ref: client.externalRef } : null,
    credit_type: creditType ? toCreditTypeBrief(creditType) : null,
    quantity: askedQuantity(data.quantity, creditType),
    idempotency_key: String(data.idempotency_key),
    reference: text(data.reference),
    metadata:
      metadata !== null && typeof metadata === 'object' && !Array.isArray(metadata)
        ? (metadata as Record<string, unknown>)
        : null,
    // the service's clock when it accepted the request (the row's own time is the database's, for the relay)
    created_at: typeof data.accepted_at === 'string' ? data.accepted_at : jsonTime(request.created_at),
  };
}

/** What a capture answers: the hold and the consumption it made. */
export const captureResultSchema = z
  .object({ hold: holdResultSchema, consumption: consumptionResultSchema })
  .meta({ id: 'HoldCapture' });
export type CaptureResult = { hold: HoldResult; consumption: ConsumptionResult };

export function toHoldResult(
  row: HoldRecord,
  allocations: readonly HoldAllocationRecord[],
  client: UseClient,
  creditType: UseCreditType,
  replayed?: boolean,
): HoldResult {
  const q = (v: bigint) => formatQuantity(v, creditType.decimals);
  const qn = (v: bigint | null) => (v === null ? null : q(v));
  return {
    id: row.id,
    status: row.status,
    ...(row.status === 'rejected' ? { code: 'insufficient_balance' as const } : {}),
    client: { id: client.id, external_ref: client.externalRef },
    credit_type: toCreditTypeBrief(creditType),
    quantity: q(row.quantity),
    held: q(row.status === 'held' ? row.quantity : 0n),
    captured: qn(row.captured),
    released: qn(row.released),
    lapsed: qn(row.lapsed),
    allocations: [...allocations]
      .sort((a, b) => a.position - b.position)
      .map((a) => ({ balance_id: a.balance_id, amount: q(a.amount) })),
    expires_at: jsonTime(row.expires_at),
    remaining: q(row.remaining_after),
    idempotency_key: row.idempotency_key,
    reference: row.reference,
    metadata: row.metadata,
    consumption_id: row.consumption_id,
    created_at: jsonTime(row.created_at),
    closed_at: jsonTime(row.closed_at),
    ...(replayed === undefined ? {} : { replayed }),
  };
}
