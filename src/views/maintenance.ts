import { z } from 'zod';
import type { Violation } from '../domain/invariants.js';
import { describes } from '../schemas/describes.js';

/** What the `expire` job answers: what one sweep renewed, expired, rolled over, ended. */
export interface ExpiryResult {
  as_of: string;
  /** Auto-renewing subscriptions whose period had ended unrenewed, renewed before anything expired. */
  subscriptions_renewed: number;
  balances_expired: number;
  /** Expired balances that gave units to a rollover balance. */
  balances_rolled_over: number;
  subscriptions_expired: number;
  subscriptions_cancelled: number;
  /** Unpaid first invoices of pending subscriptions that lapsed. */
  invoices_voided: number;
  /** Auto-renewing subscriptions left as they are because their renewal failed (logged; the next sweep tries again). */
  subscriptions_awaiting_renewal: number;
  /** Frozen subscriptions whose `frozen_until` had come, unfrozen first (their period and expiries pushed). */
  subscriptions_unfrozen: number;
  /** Holds past their expires_at, released by the sweep (`hold.expired`). */
  holds_expired: number;
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
  /** Uses that failed alone (at a batch's door, or at the worker), readable by id until now. */
  consumption_failures: number;
  /** Stored failures of jobs (job_failures) past the 7 days BullMQ keeps a failed job. */
  job_failures: number;
}

/** `npm run cli -- verify`, POST /v1/admin/verify and the `verify` job: every invariant of DOMAIN.md. */
export interface VerifyReport {
  checked: { balances: number; consumptions: number; invoices: number };
  /** Every violation found, up to `limit`. */
  violations: Violation[];
  /** How many there were in all (may exceed `violations.length`). */
  violation_count: number;
  /** The same count, as releases before `violation_count` named it (the nightly runs stored it so). */
  violationCount: number;
  ok: boolean;
}

export type VerifyResult = VerifyReport & { as_of: string };

/** The verify report as POST /v1/admin/verify answers it (and, with `as_of`, the `verify` job). */
export const verifyReportSchema = describes<VerifyResult | VerifyReport>()(
  z
    .object({
      checked: z.object({ balances: z.number().int(), consumptions: z.number().int(), invoices: z.number().int() }),
      violations: z.array(
        z.object({
          invariant: z.string().meta({ description: 'Which invariant of DOMAIN.md, e.g. `balance_ledger_sum`.' }),
          subject: z.string(),
          detail: z.string(),
        }),
      ),
      violation_count: z
        .number()
        .int()
        .meta({ description: 'How many violations there were in all (`violations` lists the first of them).' }),
      violationCount: z.number().int().meta({ description: 'The same count, by its earlier name.', deprecated: true }),
      ok: z.boolean(),
      as_of: z.string().optional(),
    })
    .meta({ id: 'VerifyReport' }),
);

/** What the `deliver` job answers for one webhook delivery. */
export interface DeliveryResult {
  delivery_id: string;
  status: 'delivered' | 'skipped';
  attempts: number;
  status_code?: number;
  reason?: string;
}
