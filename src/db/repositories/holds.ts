import { groupBy } from '../../domain/group-by.js';
import {
  type HeldLot,
  type HoldAllocationRecord,
  type HoldRecord,
  type HoldStatus,
  usablePair,
} from '../../domain/hold.js';
import { jsonTime } from '../../json-time.js';
import type { Executor } from '../knex.js';
import { balanceLockOrder } from '../lock-order.js';
import { type Page, type PageRequest, readPage } from '../pagination.js';
import type { SqlClient } from '../sql-client.js';
import { statementName } from '../statement-names.js';
import { type Settlement, settleAcceptedSql } from './accepted-jobs.js';
import { type BalanceChange, balanceChangesJson, balanceUpdateSql } from './balances.js';
import {
  type AllocationRow,
  allocationInsertSql,
  allocationsJson,
  type ConsumptionRow,
  consumptionInsertSql,
  consumptionsJson,
} from './consumptions.js';
import { type LedgerEntryDraft, ledgerInsertSql, ledgerJson } from './ledger.js';
import { OUTBOX_NOTIFY_SQL, type OutboxEventDraft, outboxInsertSql, outboxJson } from './outbox.js';

export type HoldRow = HoldRecord;
export type HoldAllocationRow = HoldAllocationRecord;

const big = (v: bigint | null): string | null => (v === null ? null : v.toString());

const holdsJson = (rows: readonly HoldRow[]): string =>
  JSON.stringify(
    rows.map((r) => ({
      ...r,
      quantity: r.quantity.toString(),
      remaining_after: r.remaining_after.toString(),
      expires_at: jsonTime(r.expires_at),
      captured: big(r.captured),
      released: big(r.released),
      lapsed: big(r.lapsed),
      closed_at: jsonTime(r.closed_at),
      created_at: jsonTime(r.created_at),
      updated_at: jsonTime(r.updated_at),
    })),
  );

const HOLD_COLUMNS = `id, client_id, credit_type_id, idempotency_key, request_hash, quantity, status, error_code,
        remaining_after, expires_at, reference, metadata, captured, released, lapsed, consumption_id, job_id,
        closed_at, created_at, updated_at`;
const HOLD_TYPES = `id uuid, client_id uuid, credit_type_id uuid, idempotency_key text, request_hash text,
        quantity bigint, status text, error_code text, remaining_after bigint, expires_at timestamptz,
        reference text, metadata jsonb, captured bigint, released bigint, lapsed bigint, consumption_id uuid,
        job_id text, closed_at timestamptz, created_at timestamptz, updated_at timestamptz`;

export interface HoldBatchWrite {
  holds: readonly HoldRow[];
  allocations: readonly HoldAllocationRow[];
  balanceChanges: readonly BalanceChange[];
  ledgerEntries: readonly LedgerEntryDraft[];
  events: readonly OutboxEventDraft[];
  settlement: Settlement;
  now: Date;
}

/**
 * Everything a batch of new holds writes, as ONE statement like a batch of consumptions: the holds,
 * their allocations, the balances, the ledger entries, the events, the settling of the accepted
 * requests. Answers how many holds were new: fewer than sent means another transaction took one first.
 */
export async function writeHoldBatch(client: SqlClient, batch: HoldBatchWrite): Promise<number> {
  const notify = batch.events.length > 0 ? `, ${OUTBOX_NOTIFY_SQL} AS notified` : '';
  const result = await client.query<{ inserted: number }>({
    // named (parsed and planned once per connection), like the consumption batch's
    ...statementName(batch.events.length > 0 ? 'credits-hold-batch-notify' : 'credits-hold-batch'),
    text: `WITH h AS (INSERT INTO holds (${HOLD_COLUMNS})
                      SELECT ${HOLD_COLUMNS} FROM jsonb_to_recordset($1::jsonb) AS x(${HOLD_TYPES})
                      ON CONFLICT DO NOTHING RETURNING id),
          a AS (INSERT INTO hold_allocations (hold_id, balance_id, amount, position)
                SELECT hold_id, balance_id, amount, position
                  FROM jsonb_to_recordset($2::jsonb) AS x(hold_id uuid, balance_id uuid, amount bigint, position int)),
          u AS (${balanceUpdateSql('$3')}),
          l AS (${ledgerInsertSql('$4')}),
          e AS (${outboxInsertSql('$5')}),
          d AS (${settleAcceptedSql('$6')})
     SELECT (SELECT count(*) FROM h)::int AS inserted${notify}`,
    values: [
      holdsJson(batch.holds),
      JSON.stringify(batch.allocations.map((a) => ({ ...a, amount: a.amount.toString() }))),
      balanceChangesJson(batch.balanceChanges, batch.now),
      ledgerJson(batch.ledgerEntries),
      outboxJson(batch.events, batch.now),
      batch.settlement.jobIds,
    ],
  });
  return result.rows[0]!.inserted;
}

export interface ClosingBatchWrite {
  /** The holds as they close (status and what the closing did). */
  holds: readonly HoldRow[];
  /** The consumptions their captures make, and what each balance gave to them. */
  consumptions: readonly ConsumptionRow[];
  allocations: readonly AllocationRow[];
  balanceChanges: readonly BalanceChange[];
  ledgerEntries: readonly LedgerEntryDraft[];
  events: readonly OutboxEventDraft[];
  settlement: Settlement;
  now: Date;
}

/** What a closing changes of a hold: all the closing write sends of it (a hold row has twenty columns). */
const closedHoldsJson = (rows: readonly HoldRow[]): string =>
  JSON.stringify(
    rows.map((r) => ({
      id: r.id,
      status: r.status,
      captured: big(r.captured),
      released: big(r.released),
      lapsed: big(r.lapsed),
      consumption_id: r.consumption_id,
      job_id: r.job_id,
      closed_at: jsonTime(r.closed_at),
      updated_at: jsonTime(r.updated_at),
    })),
  );

/**
 * Everything a batch of closings writes, as ONE statement (like a batch of consumptions, whose CTEs
 * it shares): the captures' consumptions and allocations, the balances, the ledger entries, the
 * events, the settling of the accepted requests, and the holds themselves — found by their key
 * (`= ANY` of their ids: the planner, reckoning 100 rows from any JSON array, would otherwise read the
 * whole holds table once per batch) and changed only while still `held`. Answers how many consumptions were new and
 * how many holds it closed: fewer than planned means another transaction closed one first (holds are not locked,
 * see `holdsToClose`), and the caller rolls back.
 */
export async function writeClosingBatch(
  client: SqlClient,
  batch: ClosingBatchWrite,
): Promise<{ inserted: number; closed: number }> {
  const notify = batch.events.length > 0 ? `, ${OUTBOX_NOTIFY_SQL} AS notified` : '';
  const result = await client.query<{ inserted: number; closed: number }>({
    ...statementName(batch.events.length > 0 ? 'credits-closing-batch-notify' : 'credits-closing-batch'),
    text: `WITH c AS (${consumptionInsertSql('$1')}),
          a AS (${allocationInsertSql('$2')}),
          u AS (${balanceUpdateSql('$3')}),
          l AS (${ledgerInsertSql('$4')}),
          e AS (${outboxInsertSql('$5')}),
          d AS (${settleAcceptedSql('$6')}),
          h AS (UPDATE holds AS h
                   SET status = x.status, captured = x.captured, released = x.released, lapsed = x.lapsed,
                       consumption_id = x.consumption_id, job_id = x.job_id, closed_at = x.closed_at,
                       updated_at = x.updated_at
                  FROM jsonb_to_recordset($7::jsonb)
                       AS x(id uuid, status text, captured bigint, released bigint, lapsed bigint,
                            consumption_id uuid, job_id text, closed_at timestamptz, updated_at timestamptz)
                 WHERE h.id = x.id AND h.id = ANY($8::uuid[]) AND h.status = 'held'
                 RETURNING 1)
     SELECT (SELECT count(*) FROM c)::int AS inserted, (SELECT count(*) FROM h)::int AS closed${notify}`,
    values: [
      consumptionsJson(batch.consumptions),
      allocationsJson(batch.allocations, batch.consumptions),
      balanceChangesJson(batch.balanceChanges, batch.now),
      ledgerJson(batch.ledgerEntries),
      outboxJson(batch.events, batch.now),
      batch.settlement.jobIds,
      closedHoldsJson(batch.holds),
      batch.holds.map((h) => h.id),
    ],
  });
  return result.rows[0]!;
}

/** Holds by id, inside a transaction. */
export async function holdsIn(client: SqlClient, ids: readonly string[]): Promise<Map<string, HoldRow>> {
  if (ids.length === 0) return new Map();
  const result = await client.query<HoldRow>('SELECT * FROM holds WHERE id = ANY($1::uuid[])', [ids]);
  return new Map(result.rows.map((r) => [r.id, r]));
}

/**
 * Holds by id, to close, with their allocations, one row each, in each hold's order (one round trip: a closing needs
 * them all; joined rather than aggregated into JSON per hold, which cost Postgres and the worker some 3 µs each per
 * hold in bench/hold-cost.ts's data). Not locked: two closings of one hold queue on the balances it holds units of
 * (locked next, `lockHeldBalances`: a hold still held has at least one), and the closing's write changes only a hold
 * still `held` — a closing planned on a hold that another closed meanwhile writes fewer holds than it planned, and
 * runs again (`writeClosingBatch`). The row lock it took before cost a capture more than its consumption's own
 * lock read (a WAL record per hold), for what the balances' locks already give.
 */
export async function holdsToClose(
  client: SqlClient,
  ids: readonly string[],
): Promise<Map<string, { hold: HoldRow; allocations: HoldAllocationRow[] }>> {
  if (ids.length === 0) return new Map();
  const result = await client.query<
    HoldRow & { held_from: string | null; held_amount: bigint | null; held_position: number | null }
  >({
    ...statementName('credits-holds-to-close'),
    text: `SELECT h.*, a.balance_id AS held_from, a.amount AS held_amount, a.position AS held_position
       FROM holds h LEFT JOIN hold_allocations a ON a.hold_id = h.id
      WHERE h.id = ANY($1::uuid[]) ORDER BY h.id, a.position`,
    values: [[...new Set(ids)]],
  });
  const found = new Map<string, { hold: HoldRow; allocations: HoldAllocationRow[] }>();
  for (const row of result.rows) {
    let entry = found.get(row.id);
    if (!entry) {
      // the row itself (a copy without the held_ columns cost more than the rest of the loop)
      entry = { hold: row, allocations: [] };
      found.set(row.id, entry);
    }
    if (row.held_from !== null && row.held_amount !== null && row.held_position !== null)
      entry.allocations.push({
        hold_id: row.id,
        balance_id: row.held_from,
        amount: row.held_amount,
        position: row.held_position,
      });
  }
  return found;
}

/** The allocations of these holds, by hold, in each hold's spending order. */
export async function holdAllocationsIn(
  client: SqlClient,
  holdIds: readonly string[],
): Promise<Map<string, HoldAllocationRow[]>> {
  if (holdIds.length === 0) return new Map();
  const result = await client.query<HoldAllocationRow>(
    'SELECT * FROM hold_allocations WHERE hold_id = ANY($1::uuid[]) ORDER BY hold_id, position',
    [holdIds],
  );
  return groupBy(result.rows, (row) => row.hold_id);
}

/**
 * Locks the balances closing holds give back to, in the one lock order, whatever their status, and
 * reads with them the usable total of each of their (client, credit type) pairs at `at` (what a
 * capture answers as `remaining`, like a consumption): one round trip.
 */
export async function lockHeldBalances(
  client: SqlClient,
  ids: readonly string[],
  at: Date,
): Promise<{ lots: HeldLot[]; usable: Map<string, bigint> }> {
  if (ids.length === 0) return { lots: [], usable: new Map() };
  const result = await client.query<{
    id: string;
    client_id: string;
    credit_type_id: string;
    subscription_id: string | null;
    remaining: bigint;
    status: HeldLot['status'];
    expires_at: Date;
    frozen: boolean;
    spendable: boolean;
    voided_at: Date | null;
    usable: string | null;
  }>({
    ...statementName('credits-lock-held-balances'),
    text: `WITH locked AS (
       SELECT b.id, b.client_id, b.credit_type_id, b.subscription_id, b.remaining, b.status, b.expires_at,
              -- frozen with its expiry still running when the clock stopped (moved at unfreeze: extendExpiries); one
              -- that had expired before the freeze stays expired
              COALESCE(s.status = 'frozen' AND b.expires_at > s.frozen_at, false) AS frozen,
              (s.status IS NULL OR s.status = 'active') AND b.valid_from <= $2 AS spendable
         FROM balances b LEFT JOIN subscriptions s ON s.id = b.subscription_id
        WHERE b.id = ANY($1::uuid[]) ORDER BY ${balanceLockOrder('b')} FOR UPDATE OF b)
     SELECT l.*,
            -- a void balance: when it became void (its first void entry), for what a hold's expiry lapses into it
            CASE WHEN l.status = 'void' THEN (SELECT min(v.effective_at) FROM ledger_entries v
                                               WHERE v.balance_id = l.id AND v.kind = 'void') END AS voided_at,
            (SELECT SUM(u.remaining) FROM balances u LEFT JOIN subscriptions us ON us.id = u.subscription_id
              WHERE u.client_id = l.client_id AND u.credit_type_id = l.credit_type_id AND u.status = 'active'
                AND (u.subscription_id IS NULL OR us.status = 'active')
                AND u.valid_from <= $2 AND u.expires_at > $2)::text AS usable
       FROM locked l`,
    values: [[...new Set(ids)], at],
  });
  const usable = new Map<string, bigint>();
  for (const r of result.rows) usable.set(usablePair(r.client_id, r.credit_type_id), BigInt(r.usable ?? '0'));
  const lots = result.rows.map((r) => ({
    id: r.id,
    clientId: r.client_id,
    creditTypeId: r.credit_type_id,
    subscriptionId: r.subscription_id,
    remaining: r.remaining,
    status: r.status,
    expiresAt: r.expires_at,
    frozen: r.frozen,
    spendable: r.spendable,
    ...(r.voided_at ? { voidedAt: r.voided_at } : {}),
  }));
  return { lots, usable };
}

/** Holds by id (reads outside a job). */
export async function holdsByIds(db: Executor, ids: readonly string[]): Promise<Map<string, HoldRow>> {
  if (ids.length === 0) return new Map();
  const rows = (await db('holds').whereIn('id', [...new Set(ids)])) as HoldRow[];
  return new Map(rows.map((r) => [r.id, r]));
}

/** Their allocations, by hold, in each hold's order (reads outside a job). */
export async function holdAllocationsOf(
  db: Executor,
  holdIds: readonly string[],
): Promise<Map<string, HoldAllocationRow[]>> {
  if (holdIds.length === 0) return new Map();
  const rows = (await db('hold_allocations')
    .whereIn('hold_id', [...new Set(holdIds)])
    .orderBy(['hold_id', 'position'])) as HoldAllocationRow[];
  return groupBy(rows, (row) => row.hold_id);
}

/** The fingerprint and status of holds taken before, by id (what a repeated request is answered from). */
export async function takenHolds(
  db: Executor,
  ids: readonly string[],
): Promise<Map<string, { status: HoldStatus; requestHash: string }>> {
  if (ids.length === 0) return new Map();
  const rows = (await db('holds')
    .whereIn('id', [...new Set(ids)])
    .select('id', 'status', 'request_hash')) as Array<{ id: string; status: HoldStatus; request_hash: string }>;
  return new Map(rows.map((r) => [r.id, { status: r.status, requestHash: r.request_hash }]));
}

export interface HoldFilter {
  clientId?: string | undefined;
  status?: HoldStatus | undefined;
}

export async function listHolds(db: Executor, page: PageRequest, filter: HoldFilter): Promise<Page<HoldRow>> {
  const query = db('holds').select('*');
  if (filter.clientId) query.where('client_id', filter.clientId);
  if (filter.status) query.where('status', filter.status);
  return readPage<HoldRow>(query, page, 'holds');
}

/**
 * A hold (the `holds` row of the statement) whose capture or release was accepted before its `expires_at` and is not
 * applied yet (accepted_jobs keeps the request until its job is): that closing comes, dated when it was asked, and
 * succeeds (applyClosings) — a capture, or a release that gives the units back then, not an expiry with its
 * `hold.expired` — so the hold is not the sweep's to expire meanwhile: the workers may just be behind, or the relay
 * about to re-enqueue it. A closing pushed by a producer straight to the queue is not recorded, and not waited for.
 */
const CLOSING_ASKED_IN_TIME = `EXISTS (SELECT 1 FROM accepted_jobs a
   WHERE a.job_id IN ('capture|' || holds.id, 'release|' || holds.id)
     AND (a.data ->> 'accepted_at')::timestamptz < holds.expires_at)`;

/** Up to `limit` open holds past their expiry at `asOf`, oldest expiry first (the sweep's work). */
export async function dueHoldIds(db: Executor, asOf: Date, limit: number): Promise<string[]> {
  const rows = (await db('holds')
    .where({ status: 'held' })
    .andWhere('expires_at', '<=', asOf)
    .whereNot(db.raw(CLOSING_ASKED_IN_TIME))
    .orderBy([{ column: 'expires_at' }, { column: 'id' }])
    .limit(limit)
    .select('id')) as Array<{ id: string }>;
  return rows.map((r) => r.id);
}

/** The open holds of these clients past their `expires_at` at `asOf` (what the sweep would expire by then). */
export async function dueHoldIdsOf(db: Executor, clientIds: readonly string[], asOf: Date): Promise<string[]> {
  if (clientIds.length === 0) return [];
  return (await db('holds')
    .where({ status: 'held' })
    .andWhere('expires_at', '<=', asOf)
    .whereNot(db.raw(CLOSING_ASKED_IN_TIME))
    .whereIn('client_id', [...clientIds])
    .orderBy([{ column: 'expires_at' }, { column: 'id' }])
    .pluck('id')) as string[];
}

/**
 * Of these clients, those the expiry sweep owes something at `asOf`: an open hold past its `expires_at`, or a
 * subscription frozen past its `frozen_until` (both read through their partial indexes, which hold only the open
 * ones: a few rows at most). A use or a hold that comes up short asks it, inside its own transaction, so that it is
 * not refused for units that were due back already.
 */
export async function clientsOwedBySweep(
  client: SqlClient,
  clientIds: readonly string[],
  asOf: Date,
): Promise<string[]> {
  if (clientIds.length === 0) return [];
  const result = await client.query<{ client_id: string }>({
    ...statementName('credits-clients-owed-by-sweep'),
    text: `SELECT client_id FROM holds
            WHERE status = 'held' AND expires_at <= $2 AND client_id = ANY($1::uuid[])
              AND NOT EXISTS (SELECT 1 FROM accepted_jobs a
                               WHERE a.job_id IN ('capture|' || holds.id, 'release|' || holds.id)
                                 AND (a.data ->> 'accepted_at')::timestamptz < holds.expires_at)
           UNION
           SELECT client_id FROM subscriptions
            WHERE status = 'frozen' AND frozen_until <= $2 AND client_id = ANY($1::uuid[])`,
    values: [[...new Set(clientIds)], asOf],
  });
  return result.rows.map((r) => r.client_id);
}

/**
 * Up to `limit` clients the expiry sweep owes something at `asOf`, whoever they are (clientsOwedBySweep's question
 * without its clients): for a list filtered by the status an owed row moves into (holds `expired`, subscriptions
 * `active`), whose page cannot show the rows still to move. The oldest debts first, through the same partial indexes.
 */
export async function clientsOwedAnywhere(client: SqlClient, asOf: Date, limit: number): Promise<string[]> {
  const result = await client.query<{ client_id: string }>({
    ...statementName('credits-clients-owed-anywhere'),
    text: `(SELECT client_id FROM holds
             WHERE status = 'held' AND expires_at <= $1
               AND NOT EXISTS (SELECT 1 FROM accepted_jobs a
                                WHERE a.job_id IN ('capture|' || holds.id, 'release|' || holds.id)
                                  AND (a.data ->> 'accepted_at')::timestamptz < holds.expires_at)
             ORDER BY expires_at LIMIT $2)
           UNION
           (SELECT client_id FROM subscriptions
             WHERE status = 'frozen' AND frozen_until <= $1
             ORDER BY frozen_until LIMIT $2)`,
    values: [asOf, limit],
  });
  return result.rows.slice(0, limit).map((r) => r.client_id);
}
