import type { Executor } from '../knex.js';
import type { BalanceRow } from './balances.js';
import type { ConsumptionRow } from './consumptions.js';

// What the invariant check (src/services/verify.ts) reads: rows a chunk at a time by id, and for
// each chunk the sums of what refers to it, so that memory stays flat whatever the size.

/** A SUM or COUNT as Postgres sends it: numeric as text, int8 as bigint, and null when nothing was summed. */
export type Aggregate = bigint | string | null;

/** The ids of a chunk: after `after` (exclusive), up to `last` (inclusive). */
export interface IdRange {
  after: string;
  last: string;
}

/** Up to `limit` balances with an id above `afterId`, by id. */
export async function balancesAfterId(db: Executor, afterId: string, limit: number): Promise<BalanceRow[]> {
  return (await db('balances').where('id', '>', afterId).orderBy('id').limit(limit)) as BalanceRow[];
}

/** What the ledger says of one balance. */
export interface BalanceLedgerFacts {
  id: string;
  ledger_sum: Aggregate;
  first_amount: Aggregate;
  last_remaining: Aggregate;
  consume_sum: Aggregate;
  reverse_sum: Aggregate;
  adjust_sum: Aggregate;
  expire_sum: Aggregate;
  void_sum: Aggregate;
  rollover_out: Aggregate;
  hold_sum: Aggregate;
  release_sum: Aggregate;
  /** Entries whose remaining_after is not the previous one's plus their amount. */
  broken_chain: Aggregate;
}

/**
 * The remaining_after an entry follows from (the chain of remaining_after, by seq), over `e0` — a balance's live
 * entries with the seq and remaining_after of the live one before it (`lag_seq`, `lag_remaining`) — and `p`, the
 * balance's latest checkpoint (null columns when it has none): the later of the two by seq. NULL for its first entry
 * (no checkpoint, no entry before it), and for a live entry with a seq below the checkpoint's last: written after the
 * month's end, it took the balance before the month's last write did (one dated just before the end that waited for
 * the lock, or ran on a clock a little behind), and the entry it follows from may be archived. A constant fragment.
 */
export const CHAIN_PREVIOUS = `CASE WHEN p.last_seq > e0.seq THEN NULL
            WHEN p.balance_id IS NULL OR e0.lag_seq > p.last_seq THEN e0.lag_remaining
            ELSE p.last_remaining END`;

/**
 * The ledger facts of the balances in `range` that have entries. A balance's first entry is its grant
 * (counted in `granted`, whatever its kind): an operator's grant of its own balance is an `adjust`
 * entry, so the sum that must match `adjusted` leaves the first entry out.
 *
 * A balance whose early months were archived (migration 0018) starts from its latest checkpoint — its ledger
 * summed the same way up to that month's end — and adds the live partitions; the chain of remaining_after goes
 * on from the checkpoint's last entry (CHAIN_PREVIOUS), and the last remaining_after is the later one by seq.
 */
export async function balanceLedgerFacts(db: Executor, range: IdRange): Promise<BalanceLedgerFacts[]> {
  const result = await db.raw<{ rows: BalanceLedgerFacts[] }>(
    `WITH cp AS (SELECT DISTINCT ON (balance_id) * FROM balance_checkpoints
                  WHERE balance_id > ? AND balance_id <= ? ORDER BY balance_id, month DESC),
          live AS (
            SELECT e.balance_id,
                   SUM(e.amount) AS ledger_sum,
                   (array_agg(e.amount ORDER BY e.seq))[1] AS first_amount,
                   max(e.seq) AS last_seq,
                   (array_agg(e.remaining_after ORDER BY e.seq DESC))[1] AS last_remaining,
                   SUM(e.amount) FILTER (WHERE e.kind = 'consume') AS consume_sum,
                   SUM(e.amount) FILTER (WHERE e.kind = 'reverse') AS reverse_sum,
                   SUM(e.amount) FILTER (WHERE e.kind = 'adjust' AND NOT e.first) AS adjust_sum,
                   SUM(e.amount) FILTER (WHERE e.kind = 'expire') AS expire_sum,
                   SUM(e.amount) FILTER (WHERE e.kind = 'void') AS void_sum,
                   SUM(e.amount) FILTER (WHERE e.kind = 'rollover' AND e.amount < 0) AS rollover_out,
                   SUM(e.amount) FILTER (WHERE e.kind = 'hold') AS hold_sum,
                   SUM(e.amount) FILTER (WHERE e.kind = 'release') AS release_sum,
                   COUNT(*) FILTER (WHERE e.previous IS NOT NULL
                                      AND e.remaining_after <> e.previous + e.amount) AS broken_chain
              FROM (SELECT e0.balance_id, e0.seq, e0.amount, e0.kind, e0.remaining_after,
                           (p.balance_id IS NULL AND e0.lag_seq IS NULL) AS first,
                           ${CHAIN_PREVIOUS} AS previous
                      FROM (SELECT l.balance_id, l.seq, l.amount, l.kind, l.remaining_after,
                                   lag(l.seq) OVER w AS lag_seq, lag(l.remaining_after) OVER w AS lag_remaining
                              FROM ledger_entries l
                             WHERE l.balance_id > ? AND l.balance_id <= ?
                            WINDOW w AS (PARTITION BY l.balance_id ORDER BY l.seq)) e0
                      LEFT JOIN cp p ON p.balance_id = e0.balance_id) e
             GROUP BY e.balance_id)
     SELECT COALESCE(live.balance_id, cp.balance_id) AS id,
            COALESCE(cp.ledger_sum, 0) + COALESCE(live.ledger_sum, 0) AS ledger_sum,
            COALESCE(cp.first_amount, live.first_amount) AS first_amount,
            CASE WHEN cp.last_seq > live.last_seq THEN cp.last_remaining
                 ELSE COALESCE(live.last_remaining, cp.last_remaining) END AS last_remaining,
            COALESCE(cp.consume_sum, 0) + COALESCE(live.consume_sum, 0) AS consume_sum,
            COALESCE(cp.reverse_sum, 0) + COALESCE(live.reverse_sum, 0) AS reverse_sum,
            COALESCE(cp.adjust_sum, 0) + COALESCE(live.adjust_sum, 0) AS adjust_sum,
            COALESCE(cp.expire_sum, 0) + COALESCE(live.expire_sum, 0) AS expire_sum,
            COALESCE(cp.void_sum, 0) + COALESCE(live.void_sum, 0) AS void_sum,
            COALESCE(cp.rollover_out, 0) + COALESCE(live.rollover_out, 0) AS rollover_out,
            COALESCE(cp.hold_sum, 0) + COALESCE(live.hold_sum, 0) AS hold_sum,
            COALESCE(cp.release_sum, 0) + COALESCE(live.release_sum, 0) AS release_sum,
            COALESCE(cp.broken_chain, 0) + COALESCE(live.broken_chain, 0) AS broken_chain
       FROM live FULL JOIN cp ON cp.balance_id = live.balance_id`,
    [range.after, range.last, range.after, range.last],
  );
  return result.rows;
}

/** What the open holds of the balances in `range` reserve of each (Σ allocations of holds still `held`). */
export async function openHoldTotals(db: Executor, range: IdRange): Promise<Array<{ id: string; total: Aggregate }>> {
  const result = await db.raw<{ rows: Array<{ id: string; total: Aggregate }> }>(
    `SELECT a.balance_id AS id, SUM(a.amount) AS total
       FROM hold_allocations a JOIN holds h ON h.id = a.hold_id
      WHERE h.status = 'held' AND a.balance_id > ? AND a.balance_id <= ?
      GROUP BY a.balance_id`,
    [range.after, range.last],
  );
  return result.rows;
}

export type ConsumptionFacts = Pick<
  ConsumptionRow,
  'id' | 'status' | 'applied' | 'reversal_returned' | 'reversal_expired'
>;

/**
 * Up to `limit` consumptions with an id above `afterId`, by id; only those written at or after `since` when given
 * (the end of the archived months: older ones lost their allocations and `consume` entries to the archive), and
 * those written late into an archived month's range (a clock behind): their rows stay live in the DEFAULT
 * partitions, the only live rows dated before `since`, and no archiving checks them.
 */
export async function consumptionsAfterId(
  db: Executor,
  afterId: string,
  limit: number,
  since: Date | null = null,
): Promise<ConsumptionFacts[]> {
  const query = db('consumptions').where('id', '>', afterId);
  if (since)
    query.andWhere((q) =>
      q
        .where('created_at', '>=', since)
        .orWhereIn('id', db('consumption_allocations').where('created_at', '<', since).select('consumption_id'))
        .orWhereIn(
          'id',
          db('ledger_entries').where('created_at', '<', since).whereNotNull('consumption_id').select('consumption_id'),
        ),
    );
  return (await query
    .orderBy('id')
    .limit(limit)
    .select('id', 'status', 'applied', 'reversal_returned', 'reversal_expired')) as ConsumptionFacts[];
}

/** The sum of the allocations of each consumption in `range` that has any. */
export async function allocationTotals(db: Executor, range: IdRange): Promise<Array<{ id: string; total: Aggregate }>> {
  const result = await db.raw<{ rows: Array<{ id: string; total: Aggregate }> }>(
    `SELECT consumption_id AS id, SUM(amount) AS total
       FROM consumption_allocations WHERE consumption_id > ? AND consumption_id <= ? GROUP BY consumption_id`,
    [range.after, range.last],
  );
  return result.rows;
}

/**
 * What the ledger took (consume entries, positive), gave back (reverse entries) and, of that, expired at once on a
 * balance no longer usable (a reversal's expire entries, positive) for each consumption in `range`.
 */
export async function consumptionLedgerTotals(
  db: Executor,
  range: IdRange,
): Promise<Array<{ id: string; consumed: Aggregate; reversed: Aggregate; expired: Aggregate }>> {
  const result = await db.raw<{
    rows: Array<{ id: string; consumed: Aggregate; reversed: Aggregate; expired: Aggregate }>;
  }>(
    `SELECT consumption_id AS id,
            -SUM(amount) FILTER (WHERE kind = 'consume') AS consumed,
            SUM(amount) FILTER (WHERE kind = 'reverse') AS reversed,
            -SUM(amount) FILTER (WHERE kind = 'expire') AS expired
       FROM ledger_entries WHERE consumption_id > ? AND consumption_id <= ? GROUP BY consumption_id`,
    [range.after, range.last],
  );
  return result.rows;
}

/**
 * The next `limit` captured holds by id after `afterId`, each with whether its consumption exists
 * (`holds.consumption_id` has no foreign key): a range of the primary key at a time, as the balances' and
 * consumptions' reads, so that no statement of a verify grows with the store.
 */
export async function capturedHoldsAfterId(
  db: Executor,
  afterId: string,
  limit: number,
): Promise<Array<{ id: string; consumption_id: string | null; consumption_exists: boolean }>> {
  const result = await db.raw<{
    rows: Array<{ id: string; consumption_id: string | null; consumption_exists: boolean }>;
  }>(
    `SELECT h.id, h.consumption_id, EXISTS (SELECT 1 FROM consumptions c WHERE c.id = h.consumption_id)
              AS consumption_exists
       FROM holds h
      WHERE h.status = 'captured' AND h.id > ?
      ORDER BY h.id LIMIT ?`,
    [afterId, limit],
  );
  return result.rows;
}

/** How a year's invoice numbers look: gapless and unique means n = distinct = top and bottom = 1. */
export interface InvoiceNumbering {
  year: number;
  n: Aggregate;
  distinct: Aggregate;
  top: number;
  bottom: number;
}

export async function invoiceNumberingByYear(db: Executor): Promise<InvoiceNumbering[]> {
  return (await db('invoices')
    .select('year')
    .count({ n: '*' })
    .countDistinct({ distinct: 'sequence' })
    .max({ top: 'sequence' })
    .min({ bottom: 'sequence' })
    .groupBy('year')) as InvoiceNumbering[];
}

/** Every sequence number given out in `year`. */
export async function invoiceSequencesOfYear(db: Executor, year: number): Promise<number[]> {
  return (await db('invoices').where({ year }).pluck('sequence')) as number[];
}

/** Invoices whose total is not the sum of their lines. */
export async function invoicesNotMatchingLines(
  db: Executor,
): Promise<Array<{ id: string; number: string; total: bigint; lines_total: Aggregate }>> {
  const result = await db.raw<{ rows: Array<{ id: string; number: string; total: bigint; lines_total: Aggregate }> }>(
    `SELECT i.id, i.number, i.total, COALESCE(SUM(l.amount), 0) AS lines_total
       FROM invoices i LEFT JOIN invoice_lines l ON l.invoice_id = i.id
      GROUP BY i.id HAVING i.total <> COALESCE(SUM(l.amount), 0)`,
  );
  return result.rows;
}
