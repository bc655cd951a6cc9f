import { z } from 'zod';
import type { BalanceRow } from '../db/repositories/balances.js';
import type { CreditTypeRow } from '../db/repositories/credit-types.js';
import { formatQuantity } from '../domain/quantity.js';

export const balanceView = z
  .object({
    id: z.uuid(),
    subscription_id: z.uuid(),
    credit_type: z.object({ id: z.uuid(), code: z.string(), unit: z.string() }),
    source: z.enum(['package', 'recharge', 'rollover', 'adjustment']),
    status: z.enum(['active', 'expired', 'void']),
    granted: z.string(),
    remaining: z.string(),
    consumed: z.string().meta({ description: 'Net of reversals.' }),
    expired: z.string(),
    priority: z.number().int(),
    valid_from: z.string(),
    expires_at: z.string(),
    created_at: z.string(),
  })
  .meta({ id: 'Balance' });
export type BalanceView = z.infer<typeof balanceView>;

export function toBalanceView(row: BalanceRow, creditType: CreditTypeRow): BalanceView {
  return {
    id: row.id,
    subscription_id: row.subscription_id,
    credit_type: { id: creditType.id, code: creditType.code, unit: creditType.unit },
    source: row.source,
    status: row.status,
    granted: formatQuantity(row.granted, creditType.decimals),
    remaining: formatQuantity(row.remaining, creditType.decimals),
    consumed: formatQuantity(row.consumed, creditType.decimals),
    expired: formatQuantity(row.expired, creditType.decimals),
    priority: row.priority,
    valid_from: row.valid_from.toISOString(),
    expires_at: row.expires_at.toISOString(),
    created_at: row.created_at.toISOString(),
  };
}
