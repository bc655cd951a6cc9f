import { z } from 'zod';
import type { BalanceRow } from '../db/repositories/balances.js';
import { type CreditTypeBrief, toCreditTypeBrief } from '../domain/credit-type-brief.js';
import { formatQuantity } from '../domain/quantity.js';
import { creditTypeBrief } from './credit-type.js';

/** A balance as a renewal or a recharge answers it: what was granted, from when, until when. */
export const grantedBalanceView = z
  .object({
    id: z.uuid(),
    credit_type: creditTypeBrief,
    granted: z.string(),
    valid_from: z.string(),
    expires_at: z.string(),
  })
  .meta({ id: 'GrantedBalance' });
export type GrantedBalanceView = z.infer<typeof grantedBalanceView>;

export function toGrantedBalanceViews(
  balances: readonly BalanceRow[],
  creditTypes: ReadonlyMap<string, CreditTypeBrief & { decimals: number }>,
): GrantedBalanceView[] {
  return balances.map((b) => {
    const creditType = creditTypes.get(b.credit_type_id);
    if (!creditType) throw new Error(`credit type ${b.credit_type_id} of balance ${b.id} not loaded`);
    return {
      id: b.id,
      credit_type: toCreditTypeBrief(creditType),
      granted: formatQuantity(b.granted, creditType.decimals),
      valid_from: b.valid_from.toISOString(),
      expires_at: b.expires_at.toISOString(),
    };
  });
}
