import { z } from 'zod';
import type { AllocationRow, ConsumptionRow } from '../db/repositories/consumptions.js';
import type {
  UseClient as ResolvedClient,
  UseCreditType as ResolvedCreditType,
} from '../domain/consumption-request.js';
import { toCreditTypeBrief } from '../domain/credit-type-brief.js';
import { formatQuantity } from '../domain/quantity.js';
import { jsonTime } from '../json-time.js';
import { creditTypeBrief } from './credit-type.js';

const allocationView = z.object({ balance_id: z.uuid(), amount: z.string() });

/**
 * What a `consume` job answers, and the `?wait=true` body (or, for a rejection, the fields of the 422
 * problem).
 */
export const consumptionResultSchema = z
  .object({
    id: z.uuid(),
    status: z.enum(['applied', 'partial', 'rejected', 'reversed']),
    code: z.literal('insufficient_balance').optional(),
    client: z.object({ id: z.uuid(), external_ref: z.string() }),
    credit_type: creditTypeBrief,
    quantity: z.string(),
    applied: z.string(),
    shortfall: z.string(),
    allocations: z.array(allocationView),
    remaining: z.string().meta({ description: "The client's usable total of the credit type right after it." }),
    idempotency_key: z.string(),
    occurred_at: z.string(),
    replayed: z.boolean().meta({ description: 'True when this repeats the first answer for the same key.' }),
  })
  .meta({ id: 'ConsumptionResult' });
export type ConsumptionResult = z.infer<typeof consumptionResultSchema>;

/**
 * What a `consume-batch` job answers: counts by outcome, and the uses that failed (each use's own
 * result is its consumption, readable by id — a thousand full answers would only weigh on Redis); in
 * full, only the uses the job's `waited` names, whose callers wait for them.
 */
export const consumeBatchResultSchema = z
  .object({
    batch_key: z.string(),
    uses: z.number().int(),
    applied: z.number().int(),
    partial: z.number().int(),
    rejected: z.number().int().meta({ description: 'Refused for insufficient balance (recorded as rejected).' }),
    replayed: z.number().int().meta({ description: 'Applied before under the same key: answered, not applied again.' }),
    failed: z.array(
      z.object({
        index: z.number().int(),
        idempotency_key: z.string(),
        code: z.string(),
        detail: z.string(),
        errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
        extra: z.record(z.string(), z.unknown()).optional(),
      }),
    ),
    answers: z
      .array(z.object({ index: z.number().int(), result: consumptionResultSchema }))
      .optional()
      .meta({ description: 'The whole result of each use the job names in `waited` that did not fail.' }),
  })
  .meta({ id: 'ConsumeBatchResult' });
export type ConsumeBatchResult = z.infer<typeof consumeBatchResultSchema>;

/**
 * A consumption as GET /v1/consumptions/{id} answers it: the result's figures and what was stored
 * with it — or `{id, status: "queued"}` alone while its request waits for a worker.
 */
export const consumptionView = consumptionResultSchema
  .omit({ replayed: true })
  .partial()
  .extend({
    id: z.uuid(),
    status: z.enum(['queued', 'applied', 'partial', 'rejected', 'reversed']),
    mode: z.enum(['reject', 'partial']).optional(),
    reference: z.string().nullable().optional(),
    metadata: z.record(z.string(), z.unknown()).nullable().optional(),
    dimensions: z.record(z.string(), z.string()).nullable().optional().meta({
      description: "Its values for the credit type's dimensions, taken from metadata when it was applied.",
    }),
    reversal: z.object({ reversed_at: z.string(), returned: z.string(), expired: z.string() }).nullable().optional(),
    created_at: z.string().optional(),
  })
  .meta({ id: 'Consumption' });
export type ConsumptionView = z.infer<typeof consumptionView>;

/**
 * A use that failed alone, without becoming a consumption (nothing deducted, its key left free): refused at the door in
 * a batch, or for good by the worker (a client or credit type that does not exist, a quantity its credit type
 * refuses, a time in the future), readable by id either way. `code` is the contract's (`not_found`,
 * `validation_failed`, …), `detail` says why.
 */
export const failedUseSchema = z
  .object({
    id: z.uuid(),
    status: z.literal('failed'),
    idempotency_key: z.string(),
    code: z.string(),
    detail: z.string(),
  })
  .meta({ id: 'FailedUse' });
export type FailedUse = z.infer<typeof failedUseSchema>;

/**
 * The figures both shapes share, formatted once. Built with `replayed` in place (this runs for every
 * consumption on the hot path); the view drops it.
 */
function figures(
  row: ConsumptionRow,
  allocations: readonly AllocationRow[],
  client: ResolvedClient,
  creditType: ResolvedCreditType,
  replayed: boolean,
): ConsumptionResult {
  const decimals = creditType.decimals;
  return {
    id: row.id,
    status: row.status,
    ...(row.status === 'rejected' ? { code: 'insufficient_balance' as const } : {}),
    client: { id: client.id, external_ref: client.externalRef },
    credit_type: toCreditTypeBrief(creditType),
    quantity: formatQuantity(row.quantity, decimals),
    applied: formatQuantity(row.applied, decimals),
    shortfall: formatQuantity(row.shortfall, decimals),
    allocations: allocations.map((a) => ({ balance_id: a.balance_id, amount: formatQuantity(a.amount, decimals) })),
    remaining: formatQuantity(row.remaining_after, decimals),
    idempotency_key: row.idempotency_key,
    occurred_at: jsonTime(row.occurred_at),
    replayed,
  };
}

export function toConsumptionView(
  row: ConsumptionRow,
  allocations: readonly AllocationRow[],
  client: ResolvedClient,
  creditType: ResolvedCreditType,
): ConsumptionView {
  const q = (v: bigint) => formatQuantity(v, creditType.decimals);
  const { replayed: _, ...shared } = figures(row, allocations, client, creditType, false);
  return {
    ...shared,
    mode: row.mode,
    reference: row.reference,
    metadata: row.metadata,
    dimensions: row.dimensions ?? null,
    reversal: row.reversed_at
      ? {
          reversed_at: row.reversed_at.toISOString(),
          returned: q(row.reversal_returned ?? 0n),
          expired: q(row.reversal_expired ?? 0n),
        }
      : null,
    created_at: row.created_at.toISOString(),
  };
}

export function toConsumptionResult(
  row: ConsumptionRow,
  allocations: readonly AllocationRow[],
  client: ResolvedClient,
  creditType: ResolvedCreditType,
  replayed: boolean,
): ConsumptionResult {
  return figures(row, allocations, client, creditType, replayed);
}
