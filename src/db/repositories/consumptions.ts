import type { Lot } from '../../domain/allocate.js';
import type {
  AllocationRecord,
  ConsumptionMovement,
  ConsumptionRecord,
  ConsumptionStatus,
} from '../../domain/consumption.js';
import { groupBy } from '../../domain/group-by.js';
import { percentOf } from '../../domain/quantity.js';
import { jsonTime } from '../../json-time.js';
import { type Executor, pooledQuery } from '../knex.js';
import { spendingOrder } from '../lock-order.js';
import { type Page, type PageRequest, readPage } from '../pagination.js';
import type { SqlClient } from '../sql-client.js';
import { statementName } from '../statement-names.js';
import { type Settlement, settleAcceptedSql } from './accepted-jobs.js';
import { type BalanceChange, balanceChangesJson, balanceUpdateSql } from './balances.js';
import { OUTBOX_NOTIFY_SQL, type OutboxEventDraft, outboxInsertSql, outboxJson } from './outbox.js';

/** A consumption as stored, and what each balance gave to it (DOMAIN.md's records). */
export type ConsumptionRow = ConsumptionRecord;
export type AllocationRow = AllocationRecord;
export type { ConsumptionStatus };

interface SpendableRow {
  id: string;
  client_id: string;
  credit_type_id: string;
  subscription_id: string | null;
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

/** The statement of lockSpendable (FOR UPDATE) and readSpendable (no lock): one text, so they cannot disagree. */
const spendableSql = (lock: boolean): string => `SELECT b.*
       FROM (SELECT DISTINCT client_id, credit_type_id
               FROM unnest($1::uuid[], $2::uuid[]) AS pair(client_id, credit_type_id)
              ORDER BY client_id, credit_type_id) AS p
      CROSS JOIN LATERAL (
             SELECT b.id, b.client_id, b.credit_type_id, b.subscription_id, b.granted, b.remaining, b.priority,
                    b.valid_from, b.expires_at, b.low_threshold,
                    COALESCE(s.auto_recharge_enabled, false) AS auto_recharge_enabled,
                    COALESCE(s.auto_recharge_threshold_percent, 0) AS auto_recharge_threshold_percent
               FROM balances b
               LEFT JOIN subscriptions s ON s.id = b.subscription_id
              WHERE b.client_id = p.client_id
                AND b.credit_type_id = p.credit_type_id
                AND (b.subscription_id IS NULL OR s.status = 'active')
                AND b.status = 'active'
                AND b.remaining > 0
                AND b.expires_at > $3
                AND b.valid_from <= $4
              ORDER BY ${spendingOrder('b')}${lock ? '\n                FOR UPDATE OF b' : ''}) AS b`;

const toLot = (row: SpendableRow): Lot => ({
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
});

const LOCK_SPENDABLE_SQL = spendableSql(true);
const READ_SPENDABLE_SQL = spendableSql(false);

/**
 * THE consumption lock (DOMAIN.md rules 1 and 2): the balances that may pay for these uses —
 * live balance of a live subscription (or of none: an operator's grant to the client, spendable
 * like any other), something left, valid at some occurred_at of the batch —
 * locked FOR UPDATE in the one lock order: the distinct (client, credit type) pairs sorted, and for
 * each pair (one index range of balances_spending) its balances in spending order. The locks are
 * taken inside the LATERAL, pair after pair, so the order holds whatever plan the rest gets, and
 * two batches touching the same balances queue instead of deadlocking.
 */
export async function lockSpendable(client: SqlClient, scope: SpendableScope): Promise<Lot[]> {
  // a named statement: parsed and planned once per connection, not once per batch (statement-names.ts)
  const result = await client.query<SpendableRow>({
    ...statementName('credits-lock-spendable'),
    text: LOCK_SPENDABLE_SQL,
    values: [scope.clientIds, scope.creditTypeIds, scope.from, scope.to],
  });
  return result.rows.map(toLot);
}

/**
 * The same balances as lockSpendable, read WITHOUT a lock (DOMAIN.md "Quote": nothing written, no lock
 * taken): a committed snapshot of what a consumption would find, for POST /v1/consumptions/quote.
 */
export async function readSpendable(client: SqlClient, scope: SpendableScope): Promise<Lot[]> {
  const result = await client.query<SpendableRow>({
    ...statementName('credits-read-spendable'),
    text: READ_SPENDABLE_SQL,
    values: [scope.clientIds, scope.creditTypeIds, scope.from, scope.to],
  });
  return result.rows.map(toLot);
}

/**
 * What readSpendable would find for one client and credit type once the expiry sweep had done what it owes at
 * `now` (jobs/sweep-owed.ts settleOwed, which a use that comes up short does first): a subscription frozen past its
 * `frozen_until` unfrozen — active, its live balances still valid when the clock stopped expiring later by
 * frozen_until − frozen_at (domain/freeze.ts extendExpiries) — and the units of open holds past their
 * `expires_at` back in each balance that was live and unexpired at that instant (domain/hold.ts planClosings).
 * Read without a lock, for the quote's rare answer while the sweep owes a closing.
 */
export async function readSpendableAsSwept(
  client: SqlClient,
  scope: { clientId: string; creditTypeId: string; from: Date; to: Date; now: Date },
): Promise<Lot[]> {
  const result = await client.query<SpendableRow>({
    ...statementName('credits-read-spendable-as-swept'),
    text: `WITH back AS (
             SELECT a.balance_id, a.amount, h.expires_at AS ended_at
               FROM holds h JOIN hold_allocations a ON a.hold_id = h.id
              WHERE h.status = 'held' AND h.expires_at <= $5 AND h.client_id = $1 AND h.credit_type_id = $2
                AND NOT EXISTS (SELECT 1 FROM accepted_jobs a
                                 WHERE a.job_id IN ('capture|' || h.id, 'release|' || h.id)
                                   AND (a.data ->> 'accepted_at')::timestamptz < h.expires_at))
           SELECT b.id, b.client_id, b.credit_type_id, b.subscription_id, b.granted,
                  b.remaining + r.back AS remaining, b.priority, b.valid_from, x.expires_at, b.low_threshold,
                  COALESCE(s.auto_recharge_enabled, false) AS auto_recharge_enabled,
                  COALESCE(s.auto_recharge_threshold_percent, 0) AS auto_recharge_threshold_percent
             FROM balances b
             LEFT JOIN subscriptions s ON s.id = b.subscription_id
            CROSS JOIN LATERAL (
                  SELECT CASE WHEN s.status = 'frozen' AND b.expires_at > s.frozen_at
                              THEN b.expires_at + (s.frozen_until - s.frozen_at)
                              ELSE b.expires_at END AS expires_at) x
            CROSS JOIN LATERAL (
                  SELECT COALESCE(sum(back.amount), 0)::bigint AS back
                    FROM back WHERE back.balance_id = b.id AND x.expires_at > back.ended_at) r
            WHERE b.client_id = $1
              AND b.credit_type_id = $2
              AND (b.subscription_id IS NULL OR s.status = 'active' OR (s.status = 'frozen' AND s.frozen_until <= $5))
              AND b.status = 'active'
              AND b.remaining + r.back > 0
              AND x.expires_at > $3
              AND b.valid_from <= $4`,
    values: [scope.clientId, scope.creditTypeId, scope.from, scope.to, scope.now],
  });
  return result.rows.map(toLot);
}

export async function consumptionsByIds(db: Executor, ids: readonly string[]): Promise<Map<string, ConsumptionRow>> {
  if (ids.length === 0) return new Map();
  const rows = (await db('consumptions').whereIn('id', [...new Set(ids)])) as ConsumptionRow[];
  return new Map(rows.map((r) => [r.id, r]));
}

export async function lockConsumption(db: Executor, id: string): Promise<ConsumptionRow | undefined> {
  return (await db('consumptions').where({ id }).forUpdate().first()) as ConsumptionRow | undefined;
}

export async function allocationsOf(
  db: Executor,
  consumptionIds: readonly string[],
): Promise<Map<string, AllocationRow[]>> {
  if (consumptionIds.length === 0) return new Map();
  const rows = (await db('consumption_allocations').whereIn('consumption_id', [
    ...new Set(consumptionIds),
  ])) as AllocationRow[];
  return groupBy(rows, (row) => row.consumption_id);
}

/**
 * Shared with the closing of holds (repositories/holds.ts), whose captures are consumptions. Answers the
 * consumptions it wrote with what their ledger entries take from them. One written before is skipped (`skip`,
 * the closing of holds counts what it wrote), or fails the statement with a unique violation (`fail`: the
 * consumption batch, which takes either as "applied concurrently" and runs again; a plain INSERT costs Postgres
 * less than a speculative one — no check of both unique indexes first, no speculative lock and confirmation
 * per row).
 */
export const consumptionInsertSql = (
  param: string,
  conflict: 'skip' | 'fail' = 'skip',
): string => `INSERT INTO consumptions
       (id, client_id, credit_type_id, idempotency_key, request_hash, quantity, applied, shortfall, mode, status,
        error_code, remaining_after, occurred_at, reference, metadata, job_id, created_at, dimensions)
     SELECT id, client_id, credit_type_id, idempotency_key, request_hash, quantity, applied, shortfall, mode, status,
            error_code, remaining_after, occurred_at, reference, metadata, job_id, created_at,
            -- DOMAIN.md "Dimensions": the values of the keys the credit type declares now, from the metadata
            -- (none without metadata: the credit type is not read for the many uses that have none)
            CASE WHEN x.metadata IS NOT NULL THEN
              (SELECT jsonb_object_agg(k.key, x.metadata ->> k.key)
                 FROM credit_types ct CROSS JOIN jsonb_array_elements_text(ct.dimensions) AS k(key)
                WHERE ct.id = x.credit_type_id
                  AND jsonb_typeof(x.metadata -> k.key) IN ('string', 'number', 'boolean'))
            END
       FROM json_to_recordset(${param}::json)
            AS x(id uuid, client_id uuid, credit_type_id uuid, idempotency_key text, request_hash text,
                 quantity bigint, applied bigint, shortfall bigint, mode text, status text, error_code text,
                 remaining_after bigint, occurred_at timestamptz, reference text, metadata jsonb, job_id text,
                 created_at timestamptz)${conflict === 'skip' ? '\n     ON CONFLICT DO NOTHING' : ''}
     RETURNING id, job_id, occurred_at, created_at`;

/**
 * Shared with the closing of holds (repositories/holds.ts), whose captures are consumptions. A field that is
 * null is left out (json_to_recordset reads a missing key as NULL): most uses carry no reference, metadata or
 * error, and every byte sent is parsed by Postgres once per row.
 */
export const consumptionsJson = (rows: readonly ConsumptionRow[]): string =>
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
      error_code: r.error_code ?? undefined,
      remaining_after: r.remaining_after.toString(),
      occurred_at: jsonTime(r.occurred_at),
      reference: r.reference ?? undefined,
      metadata: r.metadata ?? undefined,
      job_id: r.job_id ?? undefined,
      created_at: jsonTime(r.created_at),
    })),
  );

/** Shared with the closing of holds (repositories/holds.ts), whose captures are consumptions. */
export const allocationInsertSql = (
  param: string,
): string => `INSERT INTO consumption_allocations (consumption_id, balance_id, amount, created_at)
     SELECT consumption_id, balance_id, amount, created_at
       FROM json_to_recordset(${param}::json)
            AS x(consumption_id uuid, balance_id uuid, amount bigint, created_at timestamptz)`;

/**
 * Shared with the closing of holds (repositories/holds.ts), whose captures are consumptions. Each allocation
 * carries its consumption's created_at (migration 0018: the month partition it goes to, and part of its key), so
 * its consumption must be among `consumptions`, written by the same statement.
 */
export const allocationsJson = (rows: readonly AllocationRow[], consumptions: readonly ConsumptionRow[]): string => {
  const createdAt = new Map(consumptions.map((c) => [c.id, c.created_at]));
  return JSON.stringify(
    rows.map((r) => {
      const at = createdAt.get(r.consumption_id);
      if (!at) throw new Error(`allocation of consumption ${r.consumption_id}, which this write does not make`);
      return {
        consumption_id: r.consumption_id,
        balance_id: r.balance_id,
        amount: r.amount.toString(),
        created_at: jsonTime(at),
      };
    }),
  );
};

export interface ConsumptionBatchWrite {
  consumptions: readonly ConsumptionRow[];
  /** What each balance gave to each consumption, in the order taken: allocations and ledger entries. */
  movements: readonly ConsumptionMovement[];
  balanceChanges: readonly BalanceChange[];
  events: readonly OutboxEventDraft[];
  /** The accepted requests this batch applies (src/commands decides; their rows go in the same statement). */
  settlement: Settlement;
  now: Date;
}

/** The movements as the JSON writeConsumptionBatch reads (bigints as strings: exact beyond 2^53). */
const movementsJson = (movements: readonly ConsumptionMovement[]): string =>
  JSON.stringify(
    movements.map((m) => ({
      consumption_id: m.consumption_id,
      balance_id: m.balance_id,
      amount: m.amount.toString(),
      remaining_after: m.remaining_after.toString(),
    })),
  );

/**
 * Everything a batch of consumptions writes, as ONE statement (data-modifying CTEs): the consumptions, the
 * balances, the allocations and the ledger entries, the outbox events and the settling of the accepted
 * requests they apply. One round trip however large the batch; the foreign keys are checked at the end of the
 * statement, when every part is written. Answers how many consumptions it wrote; one that another transaction
 * applied first fails it with a unique violation (the caller runs the batch again, reading earlier answers).
 *
 * An allocation and a `consume` ledger entry are one movement each (what a balance gave to a consumption, and
 * what it had left): sent once, they take the rest of their columns from the rows the statement writes — the
 * balance's client, credit type and subscription (the UPDATE's RETURNING), the consumption's job, occurred_at
 * (the entry's effective_at) and created_at (the INSERT's RETURNING) — so a use of one balance sends about 720
 * bytes of JSON, not 1,180, and Postgres parses as much less. The entries take their identities in the
 * movements' order (the ORDER BY is below the identity's nextval); every movement must make its entry, which the
 * answer's count checks.
 */
export async function writeConsumptionBatch(client: SqlClient, batch: ConsumptionBatchWrite): Promise<number> {
  const notify = batch.events.length > 0 ? `, ${OUTBOX_NOTIFY_SQL} AS notified` : '';
  // named statements (one with the NOTIFY, one without): parsed and planned once per connection
  const result = await client.query<{ inserted: number; entries: number }>({
    ...statementName(batch.events.length > 0 ? 'credits-write-batch-notify' : 'credits-write-batch'),
    text: `WITH c AS (${consumptionInsertSql('$1', 'fail')}),
          m AS (SELECT *
                  FROM ROWS FROM (json_to_recordset($2::json)
                                    AS (consumption_id uuid, balance_id uuid, amount bigint, remaining_after bigint))
                       WITH ORDINALITY AS m(consumption_id, balance_id, amount, remaining_after, n)),
          u AS (${balanceUpdateSql('$3')}
                RETURNING b.id, b.client_id, b.credit_type_id, b.subscription_id),
          a AS (INSERT INTO consumption_allocations (consumption_id, balance_id, amount, created_at)
                SELECT m.consumption_id, m.balance_id, m.amount, c.created_at FROM m JOIN c ON c.id = m.consumption_id),
          l AS (INSERT INTO ledger_entries
                       (balance_id, client_id, credit_type_id, subscription_id, kind, amount, remaining_after,
                        consumption_id, job_id, effective_at, created_at)
                SELECT m.balance_id, u.client_id, u.credit_type_id, u.subscription_id, 'consume', -m.amount,
                       m.remaining_after, m.consumption_id, c.job_id, c.occurred_at, c.created_at
                  FROM m JOIN u ON u.id = m.balance_id JOIN c ON c.id = m.consumption_id
                 ORDER BY m.n
                RETURNING 1),
          e AS (${outboxInsertSql('$4')}),
          d AS (${settleAcceptedSql('$5')})
     SELECT (SELECT count(*) FROM c)::int AS inserted, (SELECT count(*) FROM l)::int AS entries${notify}`,
    values: [
      consumptionsJson(batch.consumptions),
      movementsJson(batch.movements),
      balanceChangesJson(batch.balanceChanges, batch.now),
      outboxJson(batch.events, batch.now),
      batch.settlement.jobIds,
    ],
  });
  const { inserted, entries } = result.rows[0]!;
  // a consumption applied before writes none of its entries: the caller sees fewer inserted and runs again
  if (inserted === batch.consumptions.length && entries !== batch.movements.length)
    throw new Error(`a batch wrote ${entries} ledger entries for ${batch.movements.length} movements`);
  return inserted;
}

/** Consumptions by id, inside a batch's transaction. */
export async function consumptionsIn(client: SqlClient, ids: readonly string[]): Promise<Map<string, ConsumptionRow>> {
  if (ids.length === 0) return new Map();
  const result = await client.query<ConsumptionRow>('SELECT * FROM consumptions WHERE id = ANY($1::uuid[])', [ids]);
  return new Map(result.rows.map((r) => [r.id, r]));
}

/** Their allocations, inside a batch's transaction. */
export async function allocationsIn(
  client: SqlClient,
  consumptionIds: readonly string[],
): Promise<Map<string, AllocationRow[]>> {
  if (consumptionIds.length === 0) return new Map();
  const result = await client.query<AllocationRow>(
    'SELECT * FROM consumption_allocations WHERE consumption_id = ANY($1::uuid[])',
    [consumptionIds],
  );
  return groupBy(result.rows, (row) => row.consumption_id);
}

const APPLIED_CONSUMPTIONS = 'SELECT id, status, request_hash FROM consumptions WHERE id = ANY($1::uuid[])';
const APPLIED_CONSUMPTIONS_KNEX = APPLIED_CONSUMPTIONS.replace('$1', '?');

/**
 * The fingerprint and status of consumptions applied before, by id: a request repeating one of
 * them is answered with its first result, one reusing its key with another payload is refused.
 */
export async function appliedConsumptions(
  db: Executor,
  ids: readonly string[],
): Promise<Map<string, { status: ConsumptionStatus; requestHash: string }>> {
  if (ids.length === 0) return new Map();
  const rows = await pooledQuery<{ id: string; status: ConsumptionStatus; request_hash: string }>(
    db,
    { text: APPLIED_CONSUMPTIONS, knexText: APPLIED_CONSUMPTIONS_KNEX, name: statementName('applied-consumptions') },
    [[...new Set(ids)]],
  );
  return new Map(rows.map((r) => [r.id, { status: r.status, requestHash: r.request_hash }]));
}

export interface ConsumptionFilter {
  clientId?: string | undefined;
  idempotencyKey?: string | undefined;
  creditTypeId?: string | undefined;
  status?: ConsumptionStatus | undefined;
}

export async function listConsumptions(
  db: Executor,
  page: PageRequest,
  filter: ConsumptionFilter,
): Promise<Page<ConsumptionRow>> {
  const query = db('consumptions').select('*');
  if (filter.clientId) query.where('client_id', filter.clientId);
  if (filter.idempotencyKey) query.where('idempotency_key', filter.idempotencyKey);
  if (filter.creditTypeId) query.where('credit_type_id', filter.creditTypeId);
  if (filter.status) query.where('status', filter.status);
  return readPage<ConsumptionRow>(query, page, 'consumptions');
}

/** Marks a consumption reversed, with what went back to its balances and what had expired meanwhile. */
export async function markReversed(
  db: Executor,
  id: string,
  reversal: { at: Date; returned: bigint; expired: bigint },
): Promise<ConsumptionRow> {
  const [row] = (await db('consumptions')
    .where({ id })
    .update({
      status: 'reversed',
      reversed_at: reversal.at,
      reversal_returned: reversal.returned,
      reversal_expired: reversal.expired,
      // the expired part too: given back to its balance and expired there (migration 0032)
      reversal_given_back: reversal.returned + reversal.expired,
    })
    .returning('*')) as ConsumptionRow[];
  if (!row) throw new Error(`consumption ${id} vanished while it was locked`);
  return row;
}
