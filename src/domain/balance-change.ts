export type BalanceStatus = 'active' | 'expired' | 'void';

/**
 * One balance's change: its new `remaining` and how much of the move each running total takes
 * (deltas, default 0). The database checks the identity on every row it writes.
 */
export interface BalanceChange {
  id: string;
  remaining: bigint;
  status?: BalanceStatus;
  consumed?: bigint;
  adjusted?: bigint;
  expired?: bigint;
  voided?: bigint;
  rolledOver?: bigint;
  /** Units a hold reserved (positive) or gave up (negative, at its capture, release or expiry). */
  held?: bigint;
  /** Set when this change sent `balance.low`. */
  lowNotifiedAt?: Date;
}
