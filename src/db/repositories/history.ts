import {
  type HistoryMonth,
  type HistoryTable,
  inCalendarOrder,
  monthOfPartition,
  partitionOf,
} from '../../domain/history.js';
import type { Executor, Tx } from '../knex.js';
import { type Aggregate, CHAIN_PREVIOUS } from './verify.js';

/** The month's first day as a date literal (a Date would be sent in the process's time zone). */
const firstDay = (month: HistoryMonth): string => `${month.label}-01`;

// The monthly partitions of ledger_entries and consumption_allocations (migration 0018) and their archiving.

/** Makes the month partitions from `since`'s month to `until`'s that are missing (archived ones excepted). */
export async function ensureHistoryPartitions(db: Executor, range: { since: Date; until: Date }): Promise<number> {
  const result = await db.raw<{ rows: Array<{ made: number }> }>('SELECT ensure_history_partitions(?, ?) AS made', [
    range.until,
    range.since,
  ]);
  return result.rows[0]!.made;
}

/** The partitions attached now (each month's and the DEFAULT one), in calendar order (inCalendarOrder). */
export async function livePartitions(db: Executor): Promise<Array<{ table: HistoryTable; partition: string }>> {
  const result = await db.raw<{ rows: Array<{ table: HistoryTable; partition: string }> }>(
    `SELECT p.relname AS "table", c.relname AS "partition"
       FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
      WHERE p.relname IN ('ledger_entries', 'consumption_allocations') AND p.relnamespace = 'public'::regnamespace`,
  );
  return inCalendarOrder(result.rows);
}

/** The start of the oldest month whose partition is still attached (empty or not), before `before`; null if none. */
export async function oldestLiveMonthBefore(db: Executor, before: Date): Promise<Date | null> {
  const months = (await livePartitions(db))
    .map((p) => monthOfPartition(p.partition))
    .filter((m): m is HistoryMonth => m !== null && m.start.getTime() < before.getTime());
  return months[0]?.start ?? null;
}

export interface ArchivedMonthRow {
  month: Date;
  ledger_table: string;
  allocations_table: string;
  ledger_entries: bigint;
  allocations: bigint;
  archived_at: Date;
}

export async function archivedMonths(db: Executor): Promise<ArchivedMonthRow[]> {
  const rows = await db.raw<{ rows: Array<Omit<ArchivedMonthRow, 'month'> & { month: string }> }>(
    `SELECT to_char(month, 'YYYY-MM-DD') AS month, ledger_table, allocations_table, ledger_entries, allocations,
            archived_at
       FROM archived_months ORDER BY month`,
  );
  return rows.rows.map((r) => ({ ...r, month: new Date(`${r.month}T00:00:00.000Z`) }));
}

/**
 * Where the live history starts: the end of the latest archived month (everything written before it is archived,
 * months being archived oldest first), or null when nothing was archived.
 */
export async function archivedThrough(db: Executor): Promise<Date | null> {
  const result = await db.raw<{ rows: Array<{ through: string | null }> }>(
    `SELECT to_char(max(month) + interval '1 month', 'YYYY-MM-DD') AS through FROM archived_months`,
  );
  const through = result.rows[0]?.through ?? null;
  return through === null ? null : new Date(`${through}T00:00:00.000Z`);
}

/** The oldest row still live (attached) in either history table from before `before`, if any. */
export async function oldestLiveRowBefore(db: Executor, before: Date): Promise<Date | null> {
  const result = await db.raw<{ rows: Array<{ at: Date | null }> }>(
    `SELECT least((SELECT min(created_at) FROM ledger_entries WHERE created_at < ?),
                  (SELECT min(created_at) FROM consumption_allocations WHERE created_at < ?)) AS at`,
    [before, before],
  );
  return result.rows[0]?.at ?? null;
}

/**
 * The first statement of a check that reads the history in one snapshot (verify): taken before the snapshot (a
 * LOCK needs none), it waits for an archiving under way to commit, or makes the archiving wait for the check. So
 * the snapshot never sees a month's partitions already detached without its checkpoints, or the reverse.
 */
export async function holdHistory(tx: Tx): Promise<void> {
  await tx.raw('LOCK TABLE ledger_entries, consumption_allocations IN ACCESS SHARE MODE');
}

/**
 * How long the archiving waits for a lock before it gives up: its DETACH queues every writer behind it while it
 * waits (behind a long report or verify, say), so it fails fast instead, and can be run again.
 */
export async function limitLockWait(tx: Tx, ms: number): Promise<void> {
  await tx.raw(`SELECT set_config('lock_timeout', ?, true)`, [`${ms}ms`]);
}

/**
 * Blocks writes into the month's two partitions until the transaction ends, and waits for those in flight:
 * what the checkpoint sums is then what is detached.
 */
export async function lockMonth(tx: Tx, month: HistoryMonth): Promise<void> {
  await tx.raw('LOCK TABLE ??, ?? IN SHARE MODE', [
    partitionOf('ledger_entries', month),
    partitionOf('consumption_allocations', month),
  ]);
}

/** A consumption of the month whose allocations or ledger entries do not add up (verify's checkConsumption). */
export interface ArchivedConsumptionFacts {
  id: string;
  status: 'applied' | 'partial' | 'rejected' | 'reversed';
  applied: bigint;
  reversal_returned: bigint | null;
  reversal_expired: bigint | null;
  allocation_sum: Aggregate;
  consumed: Aggregate;
  reversed: Aggregate;
  expired: Aggregate;
}

/**
 * The consumptions written in `month` whose allocations or ledger entries do not match them (the same
 * conditions as verify's checkConsumption): verify no longer checks them once their month is archived, so the
 * archiving checks them last, and refuses when any is off.
 */
export async function mismatchedConsumptionsOf(tx: Tx, month: HistoryMonth): Promise<ArchivedConsumptionFacts[]> {
  const result = await tx.raw<{ rows: ArchivedConsumptionFacts[] }>(
    `SELECT c.id, c.status, c.applied, c.reversal_returned, c.reversal_expired, x.allocation_sum, y.consumed,
            y.reversed, y.expired
       FROM consumptions c
       CROSS JOIN LATERAL (SELECT COALESCE(SUM(a.amount), 0) AS allocation_sum
                             FROM consumption_allocations a WHERE a.consumption_id = c.id) x
       CROSS JOIN LATERAL (SELECT COALESCE(-SUM(l.amount) FILTER (WHERE l.kind = 'consume'), 0) AS consumed,
                                  COALESCE(SUM(l.amount) FILTER (WHERE l.kind = 'reverse'), 0) AS reversed,
                                  COALESCE(-SUM(l.amount) FILTER (WHERE l.kind = 'expire'), 0) AS expired
                             FROM ledger_entries l WHERE l.consumption_id = c.id) y
      WHERE c.created_at >= ? AND c.created_at < ?
        AND (x.allocation_sum <> c.applied OR y.consumed <> c.applied
             OR y.reversed - y.expired <> COALESCE(c.reversal_returned, 0)
             OR (y.expired <> 0 AND y.expired <> COALESCE(c.reversal_expired, 0))
             OR (c.status = 'rejected' AND c.applied <> 0)
             OR (c.status <> 'reversed' AND y.reversed <> 0))`,
    [month.start, month.end],
  );
  return result.rows;
}

/**
 * Each balance with entries in the month: its checkpoint up to the month's end, its previous checkpoint (if any)
 * plus the month's entries, summed as verify sums them (balanceLedgerFacts: the chain of remaining_after followed by
 * seq across the boundary). The chain is followed over the balance's whole live ledger, not the month's alone: a
 * write dated just before the month's end can take the balance after one dated just after it (its clock taken before
 * it waited for the lock), and the month's entry then follows from the next month's. Answers how many were written.
 */
export async function writeCheckpoints(tx: Tx, month: HistoryMonth): Promise<number> {
  const result = await tx.raw<{ rowCount: number }>(
    `INSERT INTO balance_checkpoints
       (balance_id, month, entries, first_amount, last_seq, last_remaining, ledger_sum, consume_sum, reverse_sum,
        adjust_sum, expire_sum, void_sum, rollover_out, hold_sum, release_sum, broken_chain, later)
     WITH prev AS (SELECT DISTINCT ON (balance_id) * FROM balance_checkpoints
                    WHERE month < ?::date ORDER BY balance_id, month DESC),
          e0 AS (SELECT l.balance_id, l.seq, l.amount, l.kind, l.remaining_after, l.created_at,
                        lag(l.seq) OVER w AS lag_seq, lag(l.remaining_after) OVER w AS lag_remaining
                   FROM ledger_entries l
                  WHERE l.balance_id IN (SELECT balance_id FROM ??)
                 WINDOW w AS (PARTITION BY l.balance_id ORDER BY l.seq)),
          e AS (SELECT e0.balance_id, e0.seq, e0.amount, e0.kind, e0.remaining_after,
                       -- the balance's first entry in the month when it has no checkpoint (the grant, which ledgerUpTo
                       -- and verify take as the first of a checkpoint)
                       (p.balance_id IS NULL
                        AND row_number() OVER (PARTITION BY e0.balance_id ORDER BY e0.seq) = 1) AS first,
                       ${CHAIN_PREVIOUS} AS previous
                  FROM e0 LEFT JOIN prev p ON p.balance_id = e0.balance_id
                 WHERE e0.created_at >= ? AND e0.created_at < ?),
          m AS (SELECT balance_id, count(*) AS n,
                       (array_agg(amount ORDER BY seq))[1] AS first_amount,
                       max(seq) AS last_seq,
                       (array_agg(remaining_after ORDER BY seq DESC))[1] AS last_remaining,
                       SUM(amount) AS ledger_sum,
                       COALESCE(SUM(amount) FILTER (WHERE kind = 'consume'), 0) AS consume_sum,
                       COALESCE(SUM(amount) FILTER (WHERE kind = 'reverse'), 0) AS reverse_sum,
                       COALESCE(SUM(amount) FILTER (WHERE kind = 'adjust' AND NOT first), 0) AS adjust_sum,
                       COALESCE(SUM(amount) FILTER (WHERE kind = 'expire'), 0) AS expire_sum,
                       COALESCE(SUM(amount) FILTER (WHERE kind = 'void'), 0) AS void_sum,
                       COALESCE(SUM(amount) FILTER (WHERE kind = 'rollover' AND amount < 0), 0) AS rollover_out,
                       COALESCE(SUM(amount) FILTER (WHERE kind = 'hold'), 0) AS hold_sum,
                       COALESCE(SUM(amount) FILTER (WHERE kind = 'release'), 0) AS release_sum,
                       count(*) FILTER (WHERE previous IS NOT NULL
                                          AND remaining_after <> previous + amount) AS broken_chain
                  FROM e GROUP BY balance_id),
          -- Σ and count per kind of the entries after the first, the previous checkpoint's included
          k AS (SELECT balance_id, jsonb_object_agg(kind, jsonb_build_object('amount', amount::text, 'n', n)) AS later
                  FROM (SELECT balance_id, kind, SUM(amount) AS amount, SUM(n) AS n
                          FROM (SELECT balance_id, kind, amount, 1 AS n FROM e WHERE NOT first
                                UNION ALL
                                SELECT p.balance_id, x.key, (x.value ->> 'amount')::numeric, (x.value ->> 'n')::bigint
                                  FROM prev p CROSS JOIN jsonb_each(p.later) x) u
                         GROUP BY balance_id, kind) v
                 GROUP BY balance_id)
     SELECT m.balance_id, ?::date, COALESCE(p.entries, 0) + m.n, COALESCE(p.first_amount, m.first_amount),
            GREATEST(p.last_seq, m.last_seq),
            CASE WHEN p.last_seq > m.last_seq THEN p.last_remaining ELSE m.last_remaining END,
            COALESCE(p.ledger_sum, 0) + m.ledger_sum,
            COALESCE(p.consume_sum, 0) + m.consume_sum, COALESCE(p.reverse_sum, 0) + m.reverse_sum,
            COALESCE(p.adjust_sum, 0) + m.adjust_sum, COALESCE(p.expire_sum, 0) + m.expire_sum,
            COALESCE(p.void_sum, 0) + m.void_sum, COALESCE(p.rollover_out, 0) + m.rollover_out,
            COALESCE(p.hold_sum, 0) + m.hold_sum, COALESCE(p.release_sum, 0) + m.release_sum,
            COALESCE(p.broken_chain, 0) + m.broken_chain, COALESCE(k.later, '{}')
       FROM m LEFT JOIN prev p ON p.balance_id = m.balance_id LEFT JOIN k ON k.balance_id = m.balance_id`,
    [firstDay(month), partitionOf('ledger_entries', month), month.start, month.end, firstDay(month)],
  );
  return result.rowCount;
}

/** Records the month as archived, with how many rows its two partitions hold. */
export async function recordArchivedMonth(tx: Tx, month: HistoryMonth, at: Date): Promise<ArchivedMonthRow> {
  const ledger = partitionOf('ledger_entries', month);
  const allocations = partitionOf('consumption_allocations', month);
  const counted = await tx.raw<{ rows: Array<{ ledger: bigint; allocations: bigint }> }>(
    'SELECT (SELECT count(*) FROM ??) AS ledger, (SELECT count(*) FROM ??) AS allocations',
    [ledger, allocations],
  );
  const counts = counted.rows[0]!;
  await tx.raw(
    `INSERT INTO archived_months (month, ledger_table, allocations_table, ledger_entries, allocations, archived_at)
     VALUES (?::date, ?, ?, ?, ?, ?)`,
    [firstDay(month), ledger, allocations, counts.ledger.toString(), counts.allocations.toString(), at],
  );
  return {
    month: month.start,
    ledger_table: ledger,
    allocations_table: allocations,
    ledger_entries: counts.ledger,
    allocations: counts.allocations,
    archived_at: at,
  };
}

/**
 * Detaches the month's two partitions (ACCESS EXCLUSIVE on the parents until the transaction ends: writers wait
 * that long). The detached tables keep their rows, and are no longer covered by the append-only trigger, which
 * belongs to the parent.
 */
export async function detachMonth(tx: Tx, month: HistoryMonth): Promise<void> {
  await tx.raw('ALTER TABLE ledger_entries DETACH PARTITION ??', [partitionOf('ledger_entries', month)]);
  await tx.raw('ALTER TABLE consumption_allocations DETACH PARTITION ??', [
    partitionOf('consumption_allocations', month),
  ]);
}
