import type { BalanceRow } from '../db/repositories/balances.js';
import { minorToJson } from '../domain/money.js';
import { type GrantedBalanceView, toGrantedBalanceViews } from './granted-balance.js';

/** What a `renew` job answers, and POST /v1/subscriptions/{id}/renew with `?wait=true`. */
export interface RenewalResult {
  subscription_id: string;
  /** `renewed`, or `already_renewed` when this period was renewed before (nothing was granted again). */
  status: 'renewed' | 'already_renewed';
  period_start: string;
  period_end: string;
  /** The period started now because the subscription had expired. */
  late: boolean;
  invoice_id: string | null;
  price: number;
  currency: string;
  balances: GrantedBalanceView[];
}

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
  creditTypes: ReadonlyMap<string, { code: string; decimals: number }>,
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
