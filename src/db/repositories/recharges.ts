import type { Executor } from '../knex.js';

/** One recharge of a subscription, once per idempotency key, with the answer it gave. */
export interface RechargeRow {
  id: string;
  subscription_id: string;
  idempotency_key: string;
  request_hash: string;
  auto: boolean;
  invoice_id: string | null;
  /** The period it counts against for max_per_period: the one running when it was made (see domain/period.ts). */
  period_start: Date;
  price: bigint;
  /** The answer the recharge gave (src/views/recharge.ts), replayed for a repeat of its key. */
  result: unknown;
  created_at: Date;
}

export async function rechargeByKey(
  db: Executor,
  subscriptionId: string,
  idempotencyKey: string,
): Promise<Pick<RechargeRow, 'request_hash' | 'result'> | undefined> {
  return (await db('recharges')
    .where({ subscription_id: subscriptionId, idempotency_key: idempotencyKey })
    .first('request_hash', 'result')) as Pick<RechargeRow, 'request_hash' | 'result'> | undefined;
}

/** How many automatic recharges the subscription had in the period starting at `periodStart`. */
export async function autoRechargesInPeriod(db: Executor, subscriptionId: string, periodStart: Date): Promise<number> {
  const [row] = (await db('recharges')
    .where({ subscription_id: subscriptionId, period_start: periodStart, auto: true })
    .count({ n: '*' })) as Array<{ n: bigint | string | number }>;
  return Number(row?.n ?? 0);
}

export async function insertRecharge(db: Executor, row: RechargeRow): Promise<void> {
  await db('recharges').insert({ ...row, result: JSON.stringify(row.result) });
}

/** A recharge balance and the sale that made it. */
export interface RechargeGrant {
  balance_id: string;
  invoice_id: string;
  /** Null only if the recharge row is missing (the ledger's `recharge` entry names the invoice all the same). */
  recharge_id: string | null;
}

/**
 * The recharges that granted these balances of a subscription: each recharge row names the balances it granted (its
 * result) and its invoice; each balance's `recharge` ledger entry names the invoice it was sold on too, for a balance
 * whose recharge row is missing. The ledger alone is not enough: once the entry's month is archived
 * (services/archive.ts) it is no longer live, and a paid recharge bought into a renewal made ahead went unfound.
 */
export async function rechargesGranting(
  db: Executor,
  subscriptionId: string,
  balanceIds: readonly string[],
): Promise<RechargeGrant[]> {
  if (balanceIds.length === 0) return [];
  const ids = [...new Set(balanceIds)];
  const result = await db.raw<{ rows: RechargeGrant[] }>(
    `SELECT DISTINCT ON (g.balance_id) g.balance_id, g.invoice_id, g.recharge_id
       FROM (SELECT (x.value ->> 'id')::uuid AS balance_id, r.invoice_id, r.id AS recharge_id
               FROM recharges r
              CROSS JOIN jsonb_array_elements(CASE jsonb_typeof(r.result -> 'balances')
                                                WHEN 'array' THEN r.result -> 'balances' ELSE '[]' END) x
              WHERE r.subscription_id = ? AND r.invoice_id IS NOT NULL
                AND (x.value ->> 'id')::uuid = ANY(?::uuid[])
             UNION ALL
             SELECT l.balance_id, l.invoice_id, r.id
               FROM ledger_entries l
               LEFT JOIN recharges r ON r.invoice_id = l.invoice_id AND r.subscription_id = l.subscription_id
              WHERE l.subscription_id = ? AND l.kind = 'recharge' AND l.invoice_id IS NOT NULL
                AND l.balance_id = ANY(?::uuid[])) g
      ORDER BY g.balance_id, g.recharge_id IS NULL`,
    [subscriptionId, ids, subscriptionId, ids],
  );
  return result.rows;
}
