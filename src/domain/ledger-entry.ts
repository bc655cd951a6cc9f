/** DOMAIN.md "ledger entry": one change of one balance; append-only. */
export const LEDGER_KINDS = [
  'grant',
  'consume',
  'reverse',
  'recharge',
  'adjust',
  'expire',
  'rollover',
  'void',
  'hold',
  'release',
  /** A balance's expiry moved later (an unfreeze): amount 0, with the old and new expiry. */
  'extend',
] as const;

export type LedgerKind = (typeof LEDGER_KINDS)[number];

/**
 * One change of one balance, as a plan writes it. `amount` is signed; `remaining_after` is the balance right after it.
 */
export interface LedgerEntryDraft {
  balance_id: string;
  client_id: string;
  credit_type_id: string;
  /** Null for the entries of a balance that belongs to no subscription (an operator's grant). */
  subscription_id: string | null;
  kind: LedgerKind;
  amount: bigint;
  remaining_after: bigint;
  consumption_id?: string | null;
  invoice_id?: string | null;
  job_id?: string | null;
  actor?: string | null;
  reason?: string | null;
  effective_at: Date;
  created_at: Date;
}
