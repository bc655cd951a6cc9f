import type { Extension } from '../../domain/freeze.js';
import type { Executor } from '../knex.js';
import type { BalanceRow } from './balances.js';

/** One freeze of a subscription (migration 0015): open while `unfrozen_at` is null. */
export interface SubscriptionFreezeRow {
  id: string;
  subscription_id: string;
  period_start: Date;
  frozen_at: Date;
  frozen_until: Date;
  unfrozen_at: Date | null;
  ended_by: 'hand' | 'sweep' | null;
  actor: string | null;
  created_at: Date;
}

export async function insertFreeze(db: Executor, row: SubscriptionFreezeRow): Promise<void> {
  await db('subscription_freezes').insert(row);
}

/** The freeze in progress of a subscription, if any. */
export async function openFreeze(db: Executor, subscriptionId: string): Promise<SubscriptionFreezeRow | undefined> {
  return (await db('subscription_freezes')
    .where({ subscription_id: subscriptionId })
    .whereNull('unfrozen_at')
    .first()) as SubscriptionFreezeRow | undefined;
}

export async function closeFreeze(
  db: Executor,
  id: string,
  end: { unfrozen_at: Date; ended_by: 'hand' | 'sweep' },
): Promise<void> {
  await db('subscription_freezes').where({ id }).whereNull('unfrozen_at').update(end);
}

/** A live balance of a frozen subscription, with its subscription's freeze (what the forecast thaws). */
export interface FrozenBalanceRow {
  id: string;
  client_id: string;
  credit_type_id: string;
  remaining: bigint;
  priority: number;
  valid_from: Date;
  expires_at: Date;
  frozen_at: Date;
  frozen_until: Date;
}

/**
 * The client's balances of a credit type that pay for nothing now because their subscription is frozen, and that
 * an unfreeze will push (live, something left, still valid when the clock stopped: extendExpiries' rule).
 */
export async function frozenBalancesOf(
  db: Executor,
  clientId: string,
  creditTypeId: string,
): Promise<FrozenBalanceRow[]> {
  return (await db('balances as b')
    .join('subscriptions as s', 's.id', 'b.subscription_id')
    .where({ 'b.client_id': clientId, 'b.credit_type_id': creditTypeId, 'b.status': 'active', 's.status': 'frozen' })
    .andWhere('b.remaining', '>', 0)
    .andWhereRaw('b.expires_at > s.frozen_at')
    .select(
      'b.id',
      'b.client_id',
      'b.credit_type_id',
      'b.remaining',
      'b.priority',
      'b.valid_from',
      'b.expires_at',
      's.frozen_at',
      's.frozen_until',
    )) as FrozenBalanceRow[];
}

/** Milliseconds the subscription was frozen by the freezes it ended in the period starting at `periodStart`. */
export async function frozenMsInPeriod(db: Executor, subscriptionId: string, periodStart: Date): Promise<number> {
  const result = await db.raw<{ rows: Array<{ ms: string | null }> }>(
    `SELECT (SUM(EXTRACT(EPOCH FROM (unfrozen_at - frozen_at)) * 1000))::bigint::text AS ms
       FROM subscription_freezes
      WHERE subscription_id = ? AND period_start = ? AND unfrozen_at IS NOT NULL`,
    [subscriptionId, periodStart],
  );
  return Number(result.rows[0]?.ms ?? 0);
}

/** Up to `limit` frozen subscriptions (ids ascending, after `after`) whose `frozen_until` is at or before `asOf`. */
export async function dueFrozenSubscriptionIds(
  db: Executor,
  asOf: Date,
  page: { after?: string | undefined; limit: number },
): Promise<string[]> {
  return (await db('subscriptions')
    .where({ status: 'frozen' })
    .andWhere('frozen_until', '<=', asOf)
    .andWhere('id', '>', page.after ?? '00000000-0000-0000-0000-000000000000')
    .orderBy('id')
    .limit(page.limit)
    .pluck('id')) as string[];
}

/** The subscriptions of these clients frozen until `asOf` or before (what the sweep would unfreeze by then). */
export async function dueFrozenSubscriptionIdsOf(
  db: Executor,
  clientIds: readonly string[],
  asOf: Date,
): Promise<string[]> {
  if (clientIds.length === 0) return [];
  return (await db('subscriptions')
    .where({ status: 'frozen' })
    .andWhere('frozen_until', '<=', asOf)
    .whereIn('client_id', [...clientIds])
    .orderBy('id')
    .pluck('id')) as string[];
}

/**
 * Moves balances' expiries (later, for a freeze), each with its `extend` ledger entry (amount 0, remaining unchanged,
 * the old and the new expiry, and the old start when the move changes it too), in one statement each.
 * `balance.expiring_soon` may be sent again, for the new expiry. The balances must be locked (in the lock order) by
 * the caller.
 */
export async function extendBalances(
  db: Executor,
  balances: readonly BalanceRow[],
  extensions: readonly Extension[],
  /** `effectiveAt`: when the clock started again (the freeze's unfrozen_at), which a late sweep writes after. */
  entry: { actor: string; reason: string; effectiveAt: Date; now: Date },
): Promise<void> {
  if (extensions.length === 0) return;
  const byId = new Map(balances.map((b) => [b.id, b]));
  const rows = extensions.map((e) => {
    const balance = byId.get(e.id);
    if (!balance) throw new Error(`balance ${e.id} to extend was not loaded`);
    return { balance, extension: e };
  });
  await db.raw(
    `UPDATE balances b SET expires_at = x.expires_at, expiry_notified_at = NULL, updated_at = ?
       FROM jsonb_to_recordset(?::jsonb) AS x(id uuid, expires_at timestamptz)
      WHERE b.id = x.id`,
    [entry.now, JSON.stringify(rows.map((r) => ({ id: r.balance.id, expires_at: r.extension.expiresAt })))],
  );
  await db.raw(
    `INSERT INTO ledger_entries
       (balance_id, client_id, credit_type_id, subscription_id, kind, amount, remaining_after,
        actor, reason, effective_at, created_at, previous_expires_at, expires_at, previous_valid_from)
     SELECT balance_id, client_id, credit_type_id, subscription_id, 'extend', 0, remaining_after,
            ?, ?, ?, ?, previous_expires_at, expires_at, previous_valid_from
       FROM jsonb_to_recordset(?::jsonb)
            AS x(balance_id uuid, client_id uuid, credit_type_id uuid, subscription_id uuid, remaining_after bigint,
                 previous_expires_at timestamptz, expires_at timestamptz, previous_valid_from timestamptz)`,
    [
      entry.actor,
      entry.reason,
      entry.effectiveAt,
      entry.now,
      JSON.stringify(
        rows.map(({ balance, extension }) => ({
          balance_id: balance.id,
          client_id: balance.client_id,
          credit_type_id: balance.credit_type_id,
          subscription_id: balance.subscription_id,
          remaining_after: balance.remaining.toString(),
          previous_expires_at: extension.previousExpiresAt,
          expires_at: extension.expiresAt,
          previous_valid_from: extension.previousValidFrom ?? null,
        })),
      ),
    ],
  );
}

/** Moves the end of the subscription's period starting at `startsAt` (its row in subscription_periods). */
export async function movePeriodEnd(db: Executor, subscriptionId: string, startsAt: Date, endsAt: Date): Promise<void> {
  await db('subscription_periods').where({ subscription_id: subscriptionId, starts_at: startsAt }).update({
    ends_at: endsAt,
  });
}

/** The freezes of a client's subscriptions begun at or before `at`: when each stopped the clock and restarted it. */
export async function freezesOfClientUpTo(
  db: Executor,
  clientId: string,
  at: Date,
): Promise<Array<{ subscription_id: string; frozen_at: Date; unfrozen_at: Date | null }>> {
  return (await db('subscription_freezes as f')
    .join('subscriptions as s', 's.id', 'f.subscription_id')
    .where('s.client_id', clientId)
    .andWhere('f.frozen_at', '<=', at)
    .select('f.subscription_id', 'f.frozen_at', 'f.unfrozen_at')) as Array<{
    subscription_id: string;
    frozen_at: Date;
    unfrozen_at: Date | null;
  }>;
}

/** Which of these subscriptions are frozen now, each with when its clock stopped (`frozen_at`). */
export async function frozenSubscriptionsSince(db: Executor, ids: readonly string[]): Promise<Map<string, Date>> {
  if (ids.length === 0) return new Map();
  const rows = (await db('subscriptions')
    .whereIn('id', [...new Set(ids)])
    .andWhere({ status: 'frozen' })
    .select('id', 'frozen_at')) as Array<{ id: string; frozen_at: Date }>;
  return new Map(rows.map((r) => [r.id, r.frozen_at]));
}
