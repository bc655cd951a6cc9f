import type { ConsumptionRow } from '../db/repositories/consumptions.js';
import { formatQuantity } from '../domain/quantity.js';

/** What a `reverse` job answers, and POST /v1/consumptions/{id}/reverse with `?wait=true`. */
export interface ReversalResult {
  consumption_id: string;
  status: 'reversed';
  /** Units given back to their balances. */
  returned: string;
  /** Units whose balance had expired or been voided: not revived. */
  expired: string;
  reversed_at: string;
  replayed: boolean;
}

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
