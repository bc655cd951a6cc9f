import { z } from 'zod';
import type { BalanceRow } from '../db/repositories/balances.js';
import { formatQuantity } from '../domain/quantity.js';

/** A balance as a renewal or a recharge answers it: what was granted, from when, until when. */
export const grantedBalanceView = z
  .object({
    id: z.uuid(),
    credit_type: z.string().meta({ description: "The credit type's code." }),
    granted: z.string(),
    valid_from: z.string(),
    expires_at: z.string(),
  })
  .meta({ id: 'GrantedBalance' });
export type GrantedBalanceView = z.infer<typeof grantedBalanceView>;

export function toGrantedBalanceViews(
  balances: readonly BalanceRow[],
  creditTypes: ReadonlyMap<string, { code: string; decimals: number }>,
): GrantedBalanceView[] {
  return balances.map((b) => {
    const creditType = creditTypes.get(b.credit_type_id);
    return {
      id: b.id,
      credit_type: creditType?.code ?? b.credit_type_id,
      granted: formatQuantity(b.granted, creditType?.decimals ?? 0),
      valid_from: b.valid_from.toISOString(),
      expires_at: b.expires_at.toISOString(),
    };
  });
}
