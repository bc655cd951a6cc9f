import type { Lot, UseMode } from '../../domain/allocate.js';
import { percentOf } from '../../domain/quantity.js';
import type { Executor } from '../knex.js';
import { readPage, type Page, type PageRequest } from '../pagination.js';
import { balanceChangesJson, balanceUpdateSql, type BalanceChange } from './balances.js';
import { ledgerInsertSql, ledgerJson, type LedgerEntryDraft } from './ledger.js';
import { OUTBOX_NOTIFY_SQL, outboxInsertSql, outboxJson, type OutboxEventDraft } from './outbox.js';
import type { SqlClient } from '../sql-client.js';

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
 * locked FOR UPDATE in the one lock order: the distinct (client, credit type) pairs sorted, and for
 * each pair (one index range of balances_spending) its balances in spending order. The locks are
 * taken inside the LATERAL, pair after pair, so the order holds whatever plan the rest gets, and
 * two batches touching the same balances queue instead of deadlocking.
 */
export async function lockSpendable(client: SqlClient, scope: SpendableScope): Promise<Lot[]> {
  // a named statement: parsed and planned once per connection, not once per batch
  const result = await client.query<SpendableRow>({
    name: 'credits-lock-spendable',
    text: `SELECT b.*
       FROM (SELECT DISTINCT client_id, credit_type_id
               FROM unnest($1::uuid[], $2::uuid[]) AS pair(client_id, credit_type_id)
              ORDER BY client_id, credit_type_id) AS p
      CROSS JOIN LATERAL (
             SELECT b.id, b.client_id, b.credit_type_id, b.subscription_id, b.granted, b.remaining, b.priority,
                    b.valid_from, b.expires_at, b.low_threshold,
                    s.auto_recharge_enabled, s.auto_recharge_threshold_percent
               FROM balances b
               JOIN subscriptions s ON s.id = b.subscription_id AND s.status = 'active'
              WHERE b.client_id = p.client_id
                AND b.credit_type_id = p.credit_type_id
                AND b.status = 'active'
                AND b.remaining > 0
                AND b.expires_at > $3
                AND b.valid_from <= $4
              ORDER BY b.priority, b.expires_at, b.valid_from, b.id
                FOR UPDATE OF b) AS b`,
    values: [scope.clientIds, scope.creditTypeIds, scope.from, scope.to],
  });
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

const consumptionInsertSql = (param: string): string => `INSERT INTO consumptions
       (id, client_id, credit_type_id, idempotency_key, request_hash, quantity, applied, shortfall, mode, status,
        error_code, remaining_after, occurred_at, reference, metadata, job_id, created_at)
     SELECT id, client_id, credit_type_id, idempotency_key, request_hash, quantity, applied, shortfall, mode, status,
            error_code, remaining_after, occurred_at, reference, metadata, job_id, created_at
       FROM jsonb_to_recordset(${param}::jsonb) AS x(id uuid, client_id uuid, credit_type_id uuid, idempotency_key text, request_hash text,
            quantity bigint, applied bigint, shortfall bigint, mode text, status text, error_code text, remaining_after bigint,
            occurred_at timestamptz, reference text, metadata jsonb, job_id text, created_at timestamptz)
     ON CONFLICT DO NOTHING
     RETURNING id`;

const consumptionsJson = (rows: readonly ConsumptionRow[]): string =>
  JSON.stringify(
    rows.map((r) => ({
      id: r.id,
      client_id: r.client_id,
      credit_type_id: r.credit_type_id,
      idempotency_key: r.idempotency_key,
      request_hash: r.request_hash,
      quantity: r.quantity.toString(),
      applied: r.applied.toString(),
      shortfall: r.shortfall.toString(),
      mode: r.mode,
      status: r.status,
      error_code: r.error_code,
      remaining_after: r.remaining_after.toString(),
      occurred_at: r.occurred_at,
      reference: r.reference,
      metadata: r.metadata,
      job_id: r.job_id,
      created_at: r.created_at,
    })),
  );

const allocationInsertSql = (param: string): string => `INSERT INTO consumption_allocations (consumption_id, balance_id, amount)
     SELECT consumption_id, balance_id, amount FROM jsonb_to_recordset(${param}::jsonb) AS x(consumption_id uuid, balance_id uuid, amount bigint)`;

const allocationsJson = (rows: readonly AllocationRow[]): string =>
  JSON.stringify(rows.map((r) => ({ consumption_id: r.consumption_id, balance_id: r.balance_id, amount: r.amount.toString() })));

export interface ConsumptionBatchWrite {
  consumptions: readonly ConsumptionRow[];
  allocations: readonly AllocationRow[];
  balanceChanges: readonly BalanceChange[];
  ledgerEntries: readonly LedgerEntryDraft[];
  events: readonly OutboxEventDraft[];
  /** Accepted requests this batch applies (their rows go in the same transaction). */
  acceptedJobIds: readonly string[];
  now: Date;
}

/**
 * Everything a batch of consumptions writes, as ONE statement (data-modifying CTEs, each fed one
 * JSON array): the consumptions, their allocations, the balances, the ledger entries, the outbox
 * events and the accepted requests they settle. One round trip however large the batch; the
 * foreign keys are checked at the end of the statement, when every part is written. Answers how
 * many consumptions were new: fewer than sent means another transaction applied one of them first.
 */
export async function writeConsumptionBatch(client: SqlClient, batch: ConsumptionBatchWrite): Promise<number> {
  const notify = batch.events.length > 0 ? `, ${OUTBOX_NOTIFY_SQL} AS notified` : '';
  // named statements (one with the NOTIFY, one without): parsed and planned once per connection
  const result = await client.query<{ inserted: number }>({
    name: batch.events.length > 0 ? 'credits-write-batch-notify' : 'credits-write-batch',
    text: `WITH c AS (${consumptionInsertSql('$1')}),
          a AS (${allocationInsertSql('$2')}),
          u AS (${balanceUpdateSql('$3')}),
          l AS (${ledgerInsertSql('$4')}),
          e AS (${outboxInsertSql('$5')}),
          d AS (DELETE FROM accepted_jobs WHERE job_id = ANY($6::text[]))
     SELECT (SELECT count(*) FROM c)::int AS inserted${notify}`,
    values: [
      consumptionsJson(batch.consumptions),
      allocationsJson(batch.allocations),
      balanceChangesJson(batch.balanceChanges, batch.now),
      ledgerJson(batch.ledgerEntries),
      outboxJson(batch.events, batch.now),
      batch.acceptedJobIds,
    ],
  });
  return result.rows[0]!.inserted;
}

/** Consumptions by id, inside a batch's transaction. */
export async function consumptionsIn(client: SqlClient, ids: readonly string[]): Promise<Map<string, ConsumptionRow>> {
  if (ids.length === 0) return new Map();
  const result = await client.query<ConsumptionRow>('SELECT * FROM consumptions WHERE id = ANY($1::uuid[])', [ids]);
  return new Map(result.rows.map((r) => [r.id, r]));
}

/** Their allocations, inside a batch's transaction. */
export async function allocationsIn(client: SqlClient, consumptionIds: readonly string[]): Promise<Map<string, AllocationRow[]>> {
  const out = new Map<string, AllocationRow[]>();
  if (consumptionIds.length === 0) return out;
  const result = await client.query<AllocationRow>('SELECT * FROM consumption_allocations WHERE consumption_id = ANY($1::uuid[])', [consumptionIds]);
  for (const row of result.rows) {
    const list = out.get(row.consumption_id);
    if (list) list.push(row);
    else out.set(row.consumption_id, [row]);
  }
  return out;
}

export interface ConsumptionRequest {
  jobId: string;
  consumptionId: string;
  requestHash: string;
  data: Record<string, unknown>;
}

export interface ConsumptionRequestOutcome {
  jobId: string;
  consumptionId: string;
  /** The consumption applied before, if any: its status and payload fingerprint. */
  appliedStatus: ConsumptionStatus | null;
  appliedHash: string | null;
  /** The request accepted before (not yet applied), if any: its payload fingerprint. */
  priorHash: string | null;
  /** Recorded by this call. */
  fresh: boolean;
}

/**
 * Records consumption requests the API is about to answer 202 for — in ONE statement, because it
 * runs for every POST /v1/consumptions: it reads what was applied or accepted before under the same
 * ids, and records the new requests in accepted_jobs unless any of them reuses a key with another
 * payload (then it records none, and the caller answers 409).
 */
export async function acceptConsumptionRequests(db: Executor, requests: readonly ConsumptionRequest[], job: { queue: string; name: string }): Promise<ConsumptionRequestOutcome[]> {
  if (requests.length === 0) return [];
  const result = await db.raw<{ rows: Array<{ job_id: string; subject_id: string; applied_status: ConsumptionStatus | null; applied_hash: string | null; prior_hash: string | null; fresh: boolean }> }>(
    `WITH input AS (
            SELECT * FROM jsonb_to_recordset(?::jsonb) AS x(job_id text, subject_id uuid, request_hash text, data jsonb)),
          applied AS (
            SELECT c.id, c.status, c.request_hash FROM consumptions c WHERE c.id IN (SELECT subject_id FROM input)),
          prior AS (
            SELECT a.job_id, a.request_hash FROM accepted_jobs a WHERE a.job_id IN (SELECT job_id FROM input)),
          clash AS (
            SELECT 1 FROM input i
              LEFT JOIN applied ap ON ap.id = i.subject_id
              LEFT JOIN prior pr ON pr.job_id = i.job_id
             WHERE ap.request_hash <> i.request_hash OR pr.request_hash <> i.request_hash
             LIMIT 1),
          inserted AS (
            INSERT INTO accepted_jobs (job_id, queue, name, data, request_hash, subject_id, accepted_at)
            SELECT i.job_id, ?, ?, i.data, i.request_hash, i.subject_id, clock_timestamp() FROM input i
             WHERE NOT EXISTS (SELECT 1 FROM clash)
               AND NOT EXISTS (SELECT 1 FROM applied ap WHERE ap.id = i.subject_id)
            ON CONFLICT (job_id) DO NOTHING
            RETURNING job_id)
     SELECT i.job_id, i.subject_id, ap.status AS applied_status, ap.request_hash AS applied_hash, pr.request_hash AS prior_hash,
            (ins.job_id IS NOT NULL) AS fresh
       FROM input i
       LEFT JOIN applied ap ON ap.id = i.subject_id
       LEFT JOIN prior pr ON pr.job_id = i.job_id
       LEFT JOIN inserted ins ON ins.job_id = i.job_id`,
    [
      JSON.stringify(requests.map((r) => ({ job_id: r.jobId, subject_id: r.consumptionId, request_hash: r.requestHash, data: r.data }))),
      job.queue,
      job.name,
    ],
  );
  return result.rows.map((r) => ({
    jobId: r.job_id,
    consumptionId: r.subject_id,
    appliedStatus: r.applied_status,
    appliedHash: r.applied_hash,
    priorHash: r.prior_hash,
    fresh: r.fresh,
  }));
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
