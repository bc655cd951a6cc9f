import type { Executor } from '../knex.js';

/** A subscription that lapsed: its period ended without renewal and the expiry sweep expired it. */
export interface SubscriptionLapseRow {
  subscription_id: string;
  /** The end of the period that lapsed. */
  period_end: Date;
  client_id: string;
  package_id: string;
  /**
   * When it expired: the end of the period (the renewals report buckets expirations by this), whenever the sweep
   * recorded it — the subscription's `expired_at` says the same (migration 0031).
   */
  expired_at: Date;
}

/**
 * Records a lapse, in the transaction that expires the subscription. A period lapses once: recording
 * it again changes nothing.
 */
export async function recordLapse(db: Executor, lapse: SubscriptionLapseRow): Promise<void> {
  await db('subscription_lapses').insert(lapse).onConflict(['subscription_id', 'period_end']).ignore();
}
