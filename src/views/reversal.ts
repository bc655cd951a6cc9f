import { z } from 'zod';
import type { ConsumptionRow } from '../db/repositories/consumptions.js';
import { formatQuantity } from '../domain/quantity.js';

/** What a `reverse` job answers, and POST /v1/consumptions/{id}/reverse with `?wait=true`. */
export const reversalResultSchema = z
  .object({
    consumption_id: z.uuid(),
    status: z.literal('reversed'),
    returned: z.string().meta({ description: 'Units given back to their balances.' }),
    expired: z.string().meta({
      description: 'Units whose balance had expired or been voided: not revived — given back and expired there.',
    }),
    reversed_at: z.string(),
    replayed: z.boolean(),
  })
  .meta({ id: 'ReversalResult' });
export type ReversalResult = z.infer<typeof reversalResultSchema>;

export function toReversalResult(row: ConsumptionRow, decimals: number, replayed: boolean): ReversalResult {
  return {
    consumption_id: row.id,
    status: 'reversed',
    returned: formatQuantity(row.reversal_returned ?? 0n, decimals),
    expired: formatQuantity(row.reversal_expired ?? 0n, decimals),
    reversed_at: (row.reversed_at ?? new Date(0)).toISOString(),
    replayed,
  };
}
