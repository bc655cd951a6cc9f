import type { Executor } from '../db/knex.js';
import {
  checkBalance,
  checkBalanceTotals,
  checkConsumption,
  checkInvoiceSequence,
  checkInvoiceTotal,
  type Violation,
} from '../domain/invariants.js';
import type { VerifyReport } from '../views/maintenance.js';

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

  // balances against their ledger entries, a range of ids at a time (index range scans whatever
  // the planner's statistics say)
  for (let after = '00000000-0000-0000-0000-000000000000'; ; ) {
    const chunk = (await db('balances').where('id', '>', after).orderBy('id').limit(CHUNK)) as Array<BalanceFactsRow & { id: string }>;
    if (chunk.length === 0) break;
    const last = chunk[chunk.length - 1]!.id;
    const sums = await db.raw<{ rows: Array<Omit<BalanceFactsRow, 'granted' | 'remaining' | 'consumed' | 'adjusted' | 'expired' | 'voided' | 'rolled_over'>> }>(
      `SELECT e.balance_id AS id,
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
         FROM (SELECT balance_id, seq, amount, kind, remaining_after,
                      lag(remaining_after) OVER (PARTITION BY balance_id ORDER BY seq) AS previous
                 FROM ledger_entries WHERE balance_id > ? AND balance_id <= ?) e
        GROUP BY e.balance_id`,
      [after, last],
    );
    const byId = new Map(sums.rows.map((r) => [r.id, r]));
    for (const balance of chunk) {
      const row = { ...balance, ...(byId.get(balance.id) ?? { ledger_sum: null, first_amount: null, last_remaining: null, consume_sum: null, reverse_sum: null, adjust_sum: null, expire_sum: null, void_sum: null, rollover_out: null, broken_chain: null }) };
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
    checked.balances += chunk.length;
    after = last;
  }

  // consumptions against their allocations and the ledger, by id range as well
  for (let after = '00000000-0000-0000-0000-000000000000'; ; ) {
    const chunk = (await db('consumptions').where('id', '>', after).orderBy('id').limit(CHUNK).select('id', 'status', 'applied', 'reversal_returned')) as Array<
      Pick<ConsumptionFactsRow, 'id' | 'status' | 'applied' | 'reversal_returned'>
    >;
    if (chunk.length === 0) break;
    const last = chunk[chunk.length - 1]!.id;
    const allocations = await db.raw<{ rows: Array<{ id: string; total: Big }> }>(
      `SELECT consumption_id AS id, SUM(amount) AS total FROM consumption_allocations WHERE consumption_id > ? AND consumption_id <= ? GROUP BY consumption_id`,
      [after, last],
    );
    const ledger = await db.raw<{ rows: Array<{ id: string; consumed: Big; reversed: Big }> }>(
      `SELECT consumption_id AS id, -SUM(amount) FILTER (WHERE kind = 'consume') AS consumed, SUM(amount) FILTER (WHERE kind = 'reverse') AS reversed
         FROM ledger_entries WHERE consumption_id > ? AND consumption_id <= ? GROUP BY consumption_id`,
      [after, last],
    );
    const allocated = new Map(allocations.rows.map((r) => [r.id, r.total]));
    const written = new Map(ledger.rows.map((r) => [r.id, r]));
    for (const row of chunk) {
      add(
        checkConsumption({
          id: row.id,
          status: row.status,
          applied: row.applied,
          allocationSum: big(allocated.get(row.id) ?? null),
          consumedInLedger: big(written.get(row.id)?.consumed ?? null),
          reversedInLedger: big(written.get(row.id)?.reversed ?? null),
          reversalReturned: row.reversal_returned ?? 0n,
        }),
      );
    }
    checked.consumptions += chunk.length;
    after = last;
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
