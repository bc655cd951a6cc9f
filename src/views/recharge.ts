import type { GrantedBalanceView } from './granted-balance.js';

/** What a `recharge` job answers, and POST /v1/subscriptions/{id}/recharge with `?wait=true`. */
export interface RechargeResult {
  recharge_id: string | null;
  subscription_id: string;
  /** `recharged`, or `skipped` when an automatic recharge is off or has reached max_per_period. */
  status: 'recharged' | 'skipped';
  reason?: string;
  auto: boolean;
  invoice_id: string | null;
  price: number;
  currency: string;
  balances: GrantedBalanceView[];
  replayed: boolean;
}
