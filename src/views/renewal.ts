import { z } from 'zod';
import type { BalanceRow } from '../db/repositories/balances.js';
import type { CreditTypeBrief } from '../domain/credit-type-brief.js';
import { minorToJson } from '../domain/money.js';
import { grantedBalanceView, toGrantedBalanceViews } from './granted-balance.js';

/** What a `renew` job answers, and POST /v1/subscriptions/{id}/renew with `?wait=true`. */
export const renewalResultSchema = z
  .object({
    subscription_id: z.uuid(),
    status: z.enum(['renewed', 'already_renewed']).meta({
      description: '`already_renewed` when this period was renewed before (nothing was granted again).',
    }),
    period_start: z.string(),
    period_end: z.string(),
    late: z.boolean().meta({ description: 'The period started now because the subscription had expired.' }),
    invoice_id: z.uuid().nullable(),
    price: z.number().int().meta({ description: 'Minor units.' }),
    currency: z.string(),
    balances: z.array(grantedBalanceView),
  })
  .meta({ id: 'RenewalResult' });
export type RenewalResult = z.infer<typeof renewalResultSchema>;

export function toRenewalResult(
  renewal: {
    subscriptionId: string;
    currency: string;
    status: RenewalResult['status'];
    period: { start: Date; end: Date };
    late: boolean;
    invoiceId: string | null;
    price: bigint;
  },
  balances: readonly BalanceRow[],
  creditTypes: ReadonlyMap<string, CreditTypeBrief & { decimals: number }>,
): RenewalResult {
  return {
    subscription_id: renewal.subscriptionId,
    status: renewal.status,
    period_start: renewal.period.start.toISOString(),
    period_end: renewal.period.end.toISOString(),
    late: renewal.late,
    invoice_id: renewal.invoiceId,
    price: minorToJson(renewal.price),
    currency: renewal.currency,
    balances: toGrantedBalanceViews(balances, creditTypes),
  };
}
