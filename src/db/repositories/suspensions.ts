import type { Executor } from '../knex.js';

/** One suspension of a subscription (migration 0025): open while `resumed_at` is null. */
export interface SubscriptionSuspensionRow {
  id: string;
  subscription_id: string;
  suspended_at: Date;
  resumed_at: Date | null;
  actor: string | null;
}

export async function insertSuspension(db: Executor, row: SubscriptionSuspensionRow): Promise<void> {
  await db('subscription_suspensions').insert(row);
}

/** Ends the subscription's suspension in progress, if it has one. */
export async function closeSuspension(db: Executor, subscriptionId: string, resumedAt: Date): Promise<void> {
  await db('subscription_suspensions')
    .where({ subscription_id: subscriptionId })
    .whereNull('resumed_at')
    .update({ resumed_at: resumedAt });
}

/**
 * Every suspension of the client's subscriptions (a few rows: what an answer as of an instant needs, the later ones
 * included — one begun after the instant says that a subscription suspended now was not suspended then).
 */
export async function suspensionsOfClient(
  db: Executor,
  clientId: string,
): Promise<Array<Pick<SubscriptionSuspensionRow, 'subscription_id' | 'suspended_at' | 'resumed_at'>>> {
  return db('subscription_suspensions as x')
    .join('subscriptions as s', 's.id', 'x.subscription_id')
    .where('s.client_id', clientId)
    .select('x.subscription_id', 'x.suspended_at', 'x.resumed_at');
}
