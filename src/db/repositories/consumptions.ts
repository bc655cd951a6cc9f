import type { Lot, UseMode } from '../../domain/allocate.js';
import { percentOf } from '../../domain/quantity.js';
import { arrays, type Executor } from '../knex.js';
import { readPage, type Page, type PageRequest } from '../pagination.js';
import { BALANCE_LOCK_ORDER } from './balances.js';

export type ConsumptionStatus = 'applied' | 'partial' | 'rejected' | 'reversed';

export interface ConsumptionRow {
  id: string;
  client_id: string;
  credit_type_id: string;
  idempotency_key: string;
  request_hash: string;
  quantity: bigint;
  applied: bigint;
  shortfall: bigint;
  mode: UseMode;
  status: ConsumptionStatus;
  error_code: string | null;
  remaining_after: bigint;
  occurred_at: Date;
  reference: string | null;
  metadata: Record<string, unknown> | null;
  job_id: string | null;
  reversed_at: Date | null;
  reversal_returned: bigint | null;
  reversal_expired: bigint | null;
  created_at: Date;
}

export interface AllocationRow {
  consumption_id: string;
  balance_id: string;
  amount: bigint;
}

interface SpendableRow {
  id: string;
  client_id: string;
  credit_type_id: string;
  subscription_id: string;
  granted: bigint;
  remaining: bigint;
  priority: number;
  valid_from: Date;
  expires_at: Date;
  low_threshold: bigint;
  auto_recharge_enabled: boolean;
  auto_recharge_threshold_percent: number;
}

export interface SpendableScope {
  clientIds: string[];
  creditTypeIds: string[];
  /** Earliest and latest occurred_at of the uses: balances outside [from, to] cannot pay for any of them. */
  from: Date;
  to: Date;
}

/**
 * THE consumption lock (DOMAIN.md rules 1 and 2): the balances that may pay for these uses —
 * live balance of a live subscription, something left, valid at some occurred_at of the batch —
 * locked FOR UPDATE in the one lock order (client, credit type, spending order), whatever the
 * number of (client, credit type) pairs in the batch. Postgres locks rows as the sorted scan
 * returns them, so two batches touching the same balances queue instead of deadlocking.
 */
export async function lockSpendable(tx: Executor, scope: SpendableScope): Promise<Lot[]> {
  const result = await tx.raw<{ rows: SpendableRow[] }>(
    `SELECT b.id, b.client_id, b.credit_type_id, b.subscription_id, b.granted, b.remaining, b.priority,
            b.valid_from, b.expires_at, b.low_threshold,
            s.auto_recharge_enabled, s.auto_recharge_threshold_percent
       FROM balances b
       JOIN subscriptions s ON s.id = b.subscription_id
      WHERE (b.client_id, b.credit_type_id) IN (SELECT * FROM unnest(?::uuid[], ?::uuid[]))
        AND b.status = 'active'
        AND s.status = 'active'
        AND b.remaining > 0
        AND b.expires_at > ?
        AND b.valid_from <= ?
      ORDER BY ${BALANCE_LOCK_ORDER.split(', ').map((c) => `b.${c}`).join(', ')}
        FOR UPDATE OF b`,
    arrays([scope.clientIds, scope.creditTypeIds, scope.from, scope.to]),
  );
  return result.rows.map((row) => ({
    id: row.id,
    clientId: row.client_id,
    creditTypeId: row.credit_type_id,
    subscriptionId: row.subscription_id,
    granted: row.granted,
    remaining: row.remaining,
    priority: row.priority,
    validFrom: row.valid_from,
    expiresAt: row.expires_at,
    lowThreshold: row.low_threshold,
    autoRechargeThreshold: row.auto_recharge_enabled ? percentOf(row.granted, row.auto_recharge_threshold_percent) : null,
  }));
}

export async function consumptionsByIds(db: Executor, ids: readonly string[]): Promise<Map<string, ConsumptionRow>> {
  if (ids.length === 0) return new Map();
  const rows = (await db('consumptions').whereIn('id', [...new Set(ids)])) as ConsumptionRow[];
  return new Map(rows.map((r) => [r.id, r]));
}

export async function lockConsumption(db: Executor, id: string): Promise<ConsumptionRow | undefined> {
  return (await db('consumptions').where({ id }).forUpdate().first()) as ConsumptionRow | undefined;
}

export async function allocationsOf(db: Executor, consumptionIds: readonly string[]): Promise<Map<string, AllocationRow[]>> {
  const out = new Map<string, AllocationRow[]>();
  if (consumptionIds.length === 0) return out;
  const rows = (await db('consumption_allocations').whereIn('consumption_id', [...new Set(consumptionIds)])) as AllocationRow[];
  for (const row of rows) {
    const list = out.get(row.consumption_id);
    if (list) list.push(row);
    else out.set(row.consumption_id, [row]);
  }
  return out;
}

/**
 * Inserts consumptions in one statement and answers which were new. A row that exists already was
 * written by a concurrent transaction for the same (client, idempotency key).
 */
export async function insertConsumptions(db: Executor, rows: readonly ConsumptionRow[]): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const col = <K extends keyof ConsumptionRow>(key: K, map: (v: ConsumptionRow[K]) => unknown = (v) => v) => rows.map((r) => map(r[key]));
  const big = (v: bigint | null) => (v === null ? null : v.toString());
  const result = await db.raw<{ rows: Array<{ id: string }> }>(
    `INSERT INTO consumptions
       (id, client_id, credit_type_id, idempotency_key, request_hash, quantity, applied, shortfall, mode, status,
        error_code, remaining_after, occurred_at, reference, metadata, job_id, created_at)
     SELECT * FROM unnest(?::uuid[], ?::uuid[], ?::uuid[], ?::text[], ?::text[], ?::bigint[], ?::bigint[], ?::bigint[], ?::text[], ?::text[],
                          ?::text[], ?::bigint[], ?::timestamptz[], ?::text[], ?::jsonb[], ?::text[], ?::timestamptz[])
     ON CONFLICT DO NOTHING
     RETURNING id`,
    arrays([
      col('id'),
      col('client_id'),
      col('credit_type_id'),
      col('idempotency_key'),
      col('request_hash'),
      col('quantity', big),
      col('applied', big),
      col('shortfall', big),
      col('mode'),
      col('status'),
      col('error_code'),
      col('remaining_after', big),
      col('occurred_at'),
      col('reference'),
      col('metadata', (m) => (m === null ? null : JSON.stringify(m))),
      col('job_id'),
      col('created_at'),
    ]),
  );
  return new Set(result.rows.map((r) => r.id));
}

export async function insertAllocations(db: Executor, rows: readonly AllocationRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db.raw(
    `INSERT INTO consumption_allocations (consumption_id, balance_id, amount)
     SELECT * FROM unnest(?::uuid[], ?::uuid[], ?::bigint[])`,
    arrays([rows.map((r) => r.consumption_id), rows.map((r) => r.balance_id), rows.map((r) => r.amount.toString())]),
  );
}

export interface ConsumptionFilter {
  clientId?: string | undefined;
  idempotencyKey?: string | undefined;
  creditTypeId?: string | undefined;
  status?: ConsumptionStatus | undefined;
}

export async function listConsumptions(db: Executor, page: PageRequest, filter: ConsumptionFilter): Promise<Page<ConsumptionRow>> {
  const query = db('consumptions').select('*');
  if (filter.clientId) query.where('client_id', filter.clientId);
  if (filter.idempotencyKey) query.where('idempotency_key', filter.idempotencyKey);
  if (filter.creditTypeId) query.where('credit_type_id', filter.creditTypeId);
  if (filter.status) query.where('status', filter.status);
  return readPage<ConsumptionRow>(query, page, 'consumptions');
}
