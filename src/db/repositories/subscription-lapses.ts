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

/**
 * The lapses of a client's subscriptions, each with when it ended: the first period made after it (a late renewal:
 * the subscription active again from then), or null while none was. What a picture of a past instant needs to say
 * `expired` for a subscription active again now (domain/balance-as-of.ts subscriptionStatusAt).
 */
export async function lapsesOfClient(
  db: Executor,
  clientId: string,
): Promise<Array<{ subscription_id: string; expired_at: Date; renewed_at: Date | null }>> {
  const result = await db.raw<{ rows: Array<{ subscription_id: string; expired_at: Date; renewed_at: Date | null }> }>(
    `SELECT l.subscription_id, l.expired_at,
            (SELECT min(sp.created_at) FROM subscription_periods sp
              WHERE sp.subscription_id = l.subscription_id AND sp.created_at > l.expired_at) AS renewed_at
       FROM subscription_lapses l JOIN subscriptions s ON s.id = l.subscription_id
      WHERE s.client_id = ?`,
    [clientId],
  );
  return result.rows;
}
