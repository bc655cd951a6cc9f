import { z } from 'zod';
import type { AllocationRow, ConsumptionRow } from '../db/repositories/consumptions.js';
import { formatQuantity } from '../domain/quantity.js';
import type { ResolvedClient, ResolvedCreditType } from '../services/ref-resolver.js';

export const consumptionView = z
  .object({
    id: z.uuid(),
    status: z.enum(['queued', 'applied', 'partial', 'rejected', 'reversed']),
    code: z.literal('insufficient_balance').optional(),
    client: z.object({ id: z.uuid(), external_ref: z.string() }).optional(),
    credit_type: z.object({ id: z.uuid(), code: z.string(), unit: z.string() }).optional(),
    quantity: z.string().optional(),
    applied: z.string().optional(),
    shortfall: z.string().optional(),
    mode: z.enum(['reject', 'partial']).optional(),
    allocations: z.array(z.object({ balance_id: z.uuid(), amount: z.string() })).optional(),
    remaining: z.string().optional().meta({ description: "The client's usable total of the credit type right after it." }),
    idempotency_key: z.string().optional(),
    occurred_at: z.string().optional(),
    reference: z.string().nullable().optional(),
    metadata: z.record(z.string(), z.unknown()).nullable().optional(),
    reversal: z.object({ reversed_at: z.string(), returned: z.string(), expired: z.string() }).nullable().optional(),
    created_at: z.string().optional(),
  })
  .meta({ id: 'Consumption' });
export type ConsumptionView = z.infer<typeof consumptionView>;

export function toConsumptionView(row: ConsumptionRow, allocations: readonly AllocationRow[], client: ResolvedClient, creditType: ResolvedCreditType): ConsumptionView {
  const q = (v: bigint) => formatQuantity(v, creditType.decimals);
  return {
    id: row.id,
    status: row.status,
    ...(row.status === 'rejected' ? { code: 'insufficient_balance' as const } : {}),
    client: { id: client.id, external_ref: client.externalRef },
    credit_type: { id: creditType.id, code: creditType.code, unit: creditType.unit },
    quantity: q(row.quantity),
    applied: q(row.applied),
    shortfall: q(row.shortfall),
    mode: row.mode,
    allocations: allocations.map((a) => ({ balance_id: a.balance_id, amount: q(a.amount) })),
    remaining: q(row.remaining_after),
    idempotency_key: row.idempotency_key,
    occurred_at: row.occurred_at.toISOString(),
    reference: row.reference,
    metadata: row.metadata,
    reversal: row.reversed_at ? { reversed_at: row.reversed_at.toISOString(), returned: q(row.reversal_returned ?? 0n), expired: q(row.reversal_expired ?? 0n) } : null,
    created_at: row.created_at.toISOString(),
  };
}
