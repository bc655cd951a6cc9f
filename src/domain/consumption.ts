import type { UseMode } from './allocate.js';

export type ConsumptionStatus = 'applied' | 'partial' | 'rejected' | 'reversed';

/** DOMAIN.md "consumption": one report of use, as stored. */
export interface ConsumptionRecord {
  id: string;
  client_id: string;
  credit_type_id: string;
  idempotency_key: string;
  /** The payload's fingerprint: the same key with another payload is `idempotency_conflict`. */
  request_hash: string;
  quantity: bigint;
  applied: bigint;
  shortfall: bigint;
  mode: UseMode;
  status: ConsumptionStatus;
  error_code: string | null;
  /** The client's usable total of the credit type right after it. */
  remaining_after: bigint;
  occurred_at: Date;
  reference: string | null;
  metadata: Record<string, unknown> | null;
  /**
   * DOMAIN.md "Dimensions": the values of its credit type's declared keys, as the write took them from the
   * metadata (null: none). Set by the statement that stores it, so absent from a row not read back.
   */
  dimensions?: Record<string, string> | null;
  job_id: string | null;
  reversed_at: Date | null;
  reversal_returned: bigint | null;
  reversal_expired: bigint | null;
  created_at: Date;
}

/** What one balance gave to one consumption. */
export interface AllocationRecord {
  consumption_id: string;
  balance_id: string;
  amount: bigint;
}

/**
 * What one balance gave to one consumption of a batch, and what it had left right after: the consumption's
 * allocation and the balance's `consume` ledger entry are both made of it (with the balance's and the
 * consumption's own columns) by the statement that writes the batch.
 */
export interface ConsumptionMovement extends AllocationRecord {
  remaining_after: bigint;
}
