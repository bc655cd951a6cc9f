import type { Violation } from '../domain/invariants.js';

/** What the `expire` job answers: what one sweep expired, rolled over, ended. */
export interface ExpiryResult {
  as_of: string;
  balances_expired: number;
  balances_rolled_over: number;
  subscriptions_expired: number;
  subscriptions_cancelled: number;
}

/** What the `notify` job answers: the events it sent. */
export interface NotifyResult {
  as_of: string;
  expiring_soon: number;
  low: number;
}

/** What the `cleanup` job answers: the rows past their retention it removed. */
export interface CleanupResult {
  idempotency_records: number;
  outbox_events: number;
  report_runs: number;
}

/** `npm run cli -- verify`, POST /v1/admin/verify and the `verify` job: every invariant of DOMAIN.md. */
export interface VerifyReport {
  checked: { balances: number; consumptions: number; invoices: number };
  /** Every violation found, up to `limit`. */
  violations: Violation[];
  /** How many there were in all (may exceed `violations.length`). */
  violationCount: number;
  ok: boolean;
}

export type VerifyResult = VerifyReport & { as_of: string };

/** What the `deliver` job answers for one webhook delivery. */
export interface DeliveryResult {
  delivery_id: string;
  status: 'delivered' | 'skipped';
  attempts: number;
  status_code?: number;
  reason?: string;
}
