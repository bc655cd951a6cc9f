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
 * The recharges that granted these balances of a subscription: each balance's `recharge` ledger entry names the
 * invoice it was sold on, and the recharge row that invoice belongs to.
 */
export async function rechargesGranting(
  db: Executor,
  subscriptionId: string,
  balanceIds: readonly string[],
): Promise<RechargeGrant[]> {
  if (balanceIds.length === 0) return [];
  return (await db('ledger_entries as l')
    .leftJoin('recharges as r', (join) => {
      join.on('r.invoice_id', '=', 'l.invoice_id').andOn('r.subscription_id', '=', 'l.subscription_id');
    })
    .where({ 'l.subscription_id': subscriptionId, 'l.kind': 'recharge' })
    .whereIn('l.balance_id', balanceIds)
    .whereNotNull('l.invoice_id')
    .orderBy('l.balance_id')
    .select('l.balance_id', 'l.invoice_id', 'r.id as recharge_id')) as RechargeGrant[];
}
