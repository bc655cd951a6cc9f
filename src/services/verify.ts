import type { Executor } from '../db/knex.js';
import {
  checkBalance,
  checkBalanceTotals,
  checkConsumption,
  checkInvoiceSequence,
  checkInvoiceTotal,
  type Violation,
} from '../domain/invariants.js';

export interface VerifyReport {
  checked: { balances: number; consumptions: number; invoices: number };
  /** Every violation found, up to `limit`. */
  violations: Violation[];
  /** How many there were in all (may exceed `violations.length`). */
  violationCount: number;
  ok: boolean;
}

const CHUNK = 2_000;

type Big = bigint | string | null;
const big = (v: Big): bigint => (v === null ? 0n : typeof v === 'bigint' ? v : BigInt(v));

interface BalanceFactsRow {
  id: string;
  granted: bigint;
  remaining: bigint;
  consumed: bigint;
  adjusted: bigint;
  expired: bigint;
  voided: bigint;
  rolled_over: bigint;
  ledger_sum: Big;
  first_amount: Big;
  last_remaining: Big;
  consume_sum: Big;
  reverse_sum: Big;
  adjust_sum: Big;
  expire_sum: Big;
  void_sum: Big;
  rollover_out: Big;
  broken_chain: Big;
}

interface ConsumptionFactsRow {
  id: string;
  status: 'applied' | 'partial' | 'rejected' | 'reversed';
  applied: bigint;
  reversal_returned: bigint | null;
  allocation_sum: Big;
  consumed_in_ledger: Big;
  reversed_in_ledger: Big;
}

/**
 * Checks every invariant of DOMAIN.md over the whole store, a chunk of rows at a time (memory stays
 * flat whatever the size), with the pure checks of src/domain/invariants.ts explaining each
 * violation precisely. Read-only; run by `npm run cli -- verify` and the `verify` job.
 */
export async function verifyInvariants(db: Executor, options: { limit?: number } = {}): Promise<VerifyReport> {
  const limit = options.limit ?? 1_000;
  const violations: Violation[] = [];
  let violationCount = 0;
  const add = (found: Violation[]) => {
    violationCount += found.length;
    for (const v of found) if (violations.length < limit) violations.push(v);
  };
  const checked = { balances: 0, consumptions: 0, invoices: 0 };

  // balances against their ledger entries
  for (let after = '00000000-0000-0000-0000-000000000000'; ; ) {
    const result = await db.raw<{ rows: BalanceFactsRow[] }>(
      `WITH chunk AS (SELECT * FROM balances WHERE id > ? ORDER BY id LIMIT ?),
            entries AS (
              SELECT l.balance_id, l.seq, l.amount, l.kind, l.remaining_after,
                     lag(l.remaining_after) OVER (PARTITION BY l.balance_id ORDER BY l.seq) AS previous
                FROM ledger_entries l JOIN chunk c ON c.id = l.balance_id)
       SELECT c.id, c.granted, c.remaining, c.consumed, c.adjusted, c.expired, c.voided, c.rolled_over,
              SUM(e.amount) AS ledger_sum,
              (array_agg(e.amount ORDER BY e.seq))[1] AS first_amount,
              (array_agg(e.remaining_after ORDER BY e.seq DESC))[1] AS last_remaining,
              SUM(e.amount) FILTER (WHERE e.kind = 'consume') AS consume_sum,
              SUM(e.amount) FILTER (WHERE e.kind = 'reverse') AS reverse_sum,
              SUM(e.amount) FILTER (WHERE e.kind = 'adjust') AS adjust_sum,
              SUM(e.amount) FILTER (WHERE e.kind = 'expire') AS expire_sum,
              SUM(e.amount) FILTER (WHERE e.kind = 'void') AS void_sum,
              SUM(e.amount) FILTER (WHERE e.kind = 'rollover' AND e.amount < 0) AS rollover_out,
              COUNT(*) FILTER (WHERE e.previous IS NOT NULL AND e.remaining_after <> e.previous + e.amount) AS broken_chain
         FROM chunk c LEFT JOIN entries e ON e.balance_id = c.id
        GROUP BY c.id, c.granted, c.remaining, c.consumed, c.adjusted, c.expired, c.voided, c.rolled_over
        ORDER BY c.id`,
      [after, CHUNK],
    );
    const rows = result.rows;
    if (rows.length === 0) break;
    for (const row of rows) {
      add(
        checkBalance({
          id: row.id,
          granted: row.granted,
          remaining: row.remaining,
          firstEntryAmount: row.first_amount === null ? null : big(row.first_amount),
          ledgerSum: big(row.ledger_sum),
        }),
      );
      add(
        checkBalanceTotals({
          id: row.id,
          consumed: row.consumed,
          adjusted: row.adjusted,
          expired: row.expired,
          voided: row.voided,
          rolledOver: row.rolled_over,
          ledgerConsume: big(row.consume_sum),
          ledgerReverse: big(row.reverse_sum),
          ledgerAdjust: big(row.adjust_sum),
          ledgerExpire: big(row.expire_sum),
          ledgerVoid: big(row.void_sum),
          ledgerRolloverOut: big(row.rollover_out),
          lastRemainingAfter: row.last_remaining === null ? null : big(row.last_remaining),
          remaining: row.remaining,
          brokenChainEntries: Number(big(row.broken_chain)),
        }),
      );
    }
    checked.balances += rows.length;
    after = rows[rows.length - 1]!.id;
  }

  // consumptions against their allocations and the ledger
  for (let after = '00000000-0000-0000-0000-000000000000'; ; ) {
    const result = await db.raw<{ rows: ConsumptionFactsRow[] }>(
      `WITH chunk AS (SELECT id, status, applied, reversal_returned FROM consumptions WHERE id > ? ORDER BY id LIMIT ?)
       SELECT c.id, c.status, c.applied, c.reversal_returned,
              (SELECT SUM(a.amount) FROM consumption_allocations a WHERE a.consumption_id = c.id) AS allocation_sum,
              (SELECT -SUM(l.amount) FROM ledger_entries l WHERE l.consumption_id = c.id AND l.kind = 'consume') AS consumed_in_ledger,
              (SELECT SUM(l.amount) FROM ledger_entries l WHERE l.consumption_id = c.id AND l.kind = 'reverse') AS reversed_in_ledger
         FROM chunk c ORDER BY c.id`,
      [after, CHUNK],
    );
    const rows = result.rows;
    if (rows.length === 0) break;
    for (const row of rows) {
      add(
        checkConsumption({
          id: row.id,
          status: row.status,
          applied: row.applied,
          allocationSum: big(row.allocation_sum),
          consumedInLedger: big(row.consumed_in_ledger),
          reversedInLedger: big(row.reversed_in_ledger),
          reversalReturned: row.reversal_returned ?? 0n,
        }),
      );
    }
    checked.consumptions += rows.length;
    after = rows[rows.length - 1]!.id;
  }

  // invoice numbers: gapless and unique per year; totals add up
  const years = (await db('invoices')
    .select('year')
    .count({ n: '*' })
    .countDistinct({ distinct: 'sequence' })
    .max({ top: 'sequence' })
    .min({ bottom: 'sequence' })
    .groupBy('year')) as Array<{ year: number; n: Big; distinct: Big; top: number; bottom: number }>;
  for (const year of years) {
    const n = Number(big(year.n));
    checked.invoices += n;
    if (Number(big(year.distinct)) !== n || year.top !== n || year.bottom !== 1) {
      const sequence = (await db('invoices').where({ year: year.year }).pluck('sequence')) as number[];
      add(checkInvoiceSequence(year.year, sequence));
    }
  }
  const totals = await db.raw<{ rows: Array<{ id: string; number: string; total: bigint; lines_total: Big }> }>(
    `SELECT i.id, i.number, i.total, COALESCE(SUM(l.amount), 0) AS lines_total
       FROM invoices i LEFT JOIN invoice_lines l ON l.invoice_id = i.id
      GROUP BY i.id HAVING i.total <> COALESCE(SUM(l.amount), 0)`,
  );
  for (const row of totals.rows) add(checkInvoiceTotal({ id: row.id, number: row.number, total: row.total, linesTotal: big(row.lines_total) }));

  return { checked, violations, violationCount, ok: violationCount === 0 };
}
