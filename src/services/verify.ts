import type { Executor, Tx } from '../db/knex.js';
import { archivedThrough, holdHistory } from '../db/repositories/history.js';
import {
  type Aggregate,
  allocationTotals,
  type BalanceLedgerFacts,
  balanceLedgerFacts,
  balancesAfterId,
  capturedHoldsAfterId,
  consumptionLedgerTotals,
  consumptionsAfterId,
  invoiceNumberingByYear,
  invoiceSequencesOfYear,
  invoicesNotMatchingLines,
  openHoldTotals,
} from '../db/repositories/verify.js';
import { inSnapshot } from '../db/transact.js';
import {
  checkBalance,
  checkBalanceTotals,
  checkCapturedHold,
  checkConsumption,
  checkInvoiceSequence,
  checkInvoiceTotal,
  type Violation,
} from '../domain/invariants.js';
import type { VerifyReport } from '../views/maintenance.js';

/** Rows a read takes at a time (VerifyOptions.chunk). */
const CHUNK = 2_000;

const big = (v: Aggregate): bigint => (v === null ? 0n : typeof v === 'bigint' ? v : BigInt(v));

/** A balance without ledger entries. */
const NO_ENTRIES: Omit<BalanceLedgerFacts, 'id'> = {
  ledger_sum: null,
  first_amount: null,
  last_remaining: null,
  consume_sum: null,
  reverse_sum: null,
  adjust_sum: null,
  expire_sum: null,
  void_sum: null,
  rollover_out: null,
  hold_sum: null,
  release_sum: null,
  broken_chain: null,
};

/** The reads of a check, named for the hook that runs after each one. */
export type VerifyRead =
  | 'balances'
  | 'balance_ledger'
  | 'hold_allocations'
  | 'consumptions'
  | 'allocations'
  | 'consumption_ledger'
  | 'captured_holds'
  | 'invoice_numbering'
  | 'invoice_totals';

export interface VerifyOptions {
  /** How many violations the report lists (all are counted). */
  limit?: number;
  /**
   * Called after each read, before the next: lets a test commit a write between two reads that
   * must agree, to prove the check still sees one snapshot.
   */
  between?: (after: VerifyRead) => Promise<void>;
  /** Rows per read of the chunked checks (2,000): a test sets a few to cross the chunks' edges. */
  chunk?: number;
}

/**
 * Checks every invariant of DOMAIN.md over the whole store, a chunk of rows at a time (memory stays
 * flat whatever the size), with the pure checks of src/domain/invariants.ts explaining each
 * violation precisely. Every read of the check runs in ONE `REPEATABLE READ, READ ONLY` transaction
 * (DOMAIN.md "Verify reads one snapshot"): a balance and its ledger entries, a consumption and its
 * allocations are read by separate statements, and a commit landing between them would otherwise
 * look like a broken invariant while traffic runs. Read-only; run by `npm run cli -- verify`,
 * POST /v1/admin/verify and the `verify` job.
 */
export async function verifyInvariants(db: Executor, options: VerifyOptions = {}): Promise<VerifyReport> {
  return inSnapshot(db, (tx) => verifySnapshot(tx, options));
}

async function verifySnapshot(db: Tx, options: VerifyOptions): Promise<VerifyReport> {
  // before any read: an archiving (services/archive.ts) is either wholly in this snapshot or waits for it
  await holdHistory(db);
  const limit = options.limit ?? 1_000;
  const rows = options.chunk ?? CHUNK;
  const between = options.between ?? (async () => {});
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
    const chunk = await balancesAfterId(db, after, rows);
    await between('balances');
    if (chunk.length === 0) break;
    const last = chunk[chunk.length - 1]!.id;
    const sums = await balanceLedgerFacts(db, { after, last });
    await between('balance_ledger');
    const openHolds = new Map((await openHoldTotals(db, { after, last })).map((r) => [r.id, big(r.total)]));
    await between('hold_allocations');
    const byId = new Map(sums.map((r) => [r.id, r]));
    for (const balance of chunk) {
      const row = { ...balance, ...(byId.get(balance.id) ?? NO_ENTRIES) };
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
          held: row.held,
          ledgerConsume: big(row.consume_sum),
          ledgerReverse: big(row.reverse_sum),
          ledgerAdjust: big(row.adjust_sum),
          ledgerExpire: big(row.expire_sum),
          ledgerVoid: big(row.void_sum),
          ledgerRolloverOut: big(row.rollover_out),
          ledgerHold: big(row.hold_sum),
          ledgerRelease: big(row.release_sum),
          openHolds: openHolds.get(row.id) ?? 0n,
          lastRemainingAfter: row.last_remaining === null ? null : big(row.last_remaining),
          remaining: row.remaining,
          brokenChainEntries: Number(big(row.broken_chain)),
        }),
      );
    }
    checked.balances += chunk.length;
    after = last;
  }

  // consumptions against their allocations and the ledger, by id range as well; those of archived months were
  // checked when their month was archived (services/archive.ts), and their rows are no longer here
  const liveSince = await archivedThrough(db);
  for (let after = '00000000-0000-0000-0000-000000000000'; ; ) {
    const chunk = await consumptionsAfterId(db, after, rows, liveSince);
    await between('consumptions');
    if (chunk.length === 0) break;
    const last = chunk[chunk.length - 1]!.id;
    const allocations = await allocationTotals(db, { after, last });
    await between('allocations');
    const ledger = await consumptionLedgerTotals(db, { after, last });
    await between('consumption_ledger');
    const allocated = new Map(allocations.map((r) => [r.id, r.total]));
    const written = new Map(ledger.map((r) => [r.id, r]));
    for (const row of chunk) {
      add(
        checkConsumption({
          id: row.id,
          status: row.status,
          applied: row.applied,
          allocationSum: big(allocated.get(row.id) ?? null),
          consumedInLedger: big(written.get(row.id)?.consumed ?? null),
          reversedInLedger: big(written.get(row.id)?.reversed ?? null),
          expiredInLedger: big(written.get(row.id)?.expired ?? null),
          reversalReturned: row.reversal_returned ?? 0n,
          reversalExpired: row.reversal_expired ?? 0n,
        }),
      );
    }
    checked.consumptions += chunk.length;
    after = last;
  }

  // captured holds against the consumptions their captures made, a range of ids at a time
  for (let after = '00000000-0000-0000-0000-000000000000'; ; ) {
    const chunk = await capturedHoldsAfterId(db, after, rows);
    await between('captured_holds');
    if (chunk.length === 0) break;
    after = chunk[chunk.length - 1]!.id;
    for (const hold of chunk)
      add(
        checkCapturedHold({
          id: hold.id,
          consumptionId: hold.consumption_id,
          consumptionExists: hold.consumption_exists,
        }),
      );
  }

  // invoice numbers: gapless and unique per year; totals add up
  const years = await invoiceNumberingByYear(db);
  await between('invoice_numbering');
  for (const year of years) {
    const n = Number(big(year.n));
    checked.invoices += n;
    if (Number(big(year.distinct)) !== n || year.top !== n || year.bottom !== 1) {
      add(checkInvoiceSequence(year.year, await invoiceSequencesOfYear(db, year.year)));
    }
  }
  const totals = await invoicesNotMatchingLines(db);
  await between('invoice_totals');
  for (const row of totals)
    add(checkInvoiceTotal({ id: row.id, number: row.number, total: row.total, linesTotal: big(row.lines_total) }));

  return { checked, violations, violation_count: violationCount, violationCount, ok: violationCount === 0 };
}
