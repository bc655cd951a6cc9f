import { type Executor, PG, pgCode } from '../db/knex.js';
import {
  archivedMonths,
  detachMonth,
  ensureHistoryPartitions,
  limitLockWait,
  livePartitions,
  lockMonth,
  mismatchedConsumptionsOf,
  oldestLiveMonthBefore,
  oldestLiveRowBefore,
  recordArchivedMonth,
  writeCheckpoints,
} from '../db/repositories/history.js';
import { transact } from '../db/transact.js';
import { type HistoryMonth, parseHistoryMonth, partitionOf, refuseArchiving } from '../domain/history.js';
import { checkConsumption } from '../domain/invariants.js';
import { fail, ok, type Result } from '../domain/result.js';

/** How long the archiving waits for a lock (see limitLockWait). */
const LOCK_WAIT_MS = 5_000;

export interface ArchiveResult {
  month: string;
  /** The detached tables: they keep the month's rows for export, and may be dropped once exported. */
  ledger_table: string;
  allocations_table: string;
  ledger_entries: bigint;
  allocations: bigint;
  /** Balances with entries in the month, whose closing sums were recorded (balance_checkpoints). */
  checkpoints: number;
}

/**
 * Archives one month of history (`YYYY-MM`, UTC), in one transaction: the month must have ended and be the oldest
 * live one, in calendar order (no older month live, not even an empty one, nor a later one archived: see
 * refuseArchiving); its consumptions must add up (verify stops checking them once their allocations are gone); each
 * balance with entries in it gets a checkpoint (its ledger summed up to the month's end, by kind, continuing its
 * previous checkpoint), then the month's partitions of ledger_entries and consumption_allocations are detached.
 * `verify` then starts each balance from its latest checkpoint and adds the live partitions.
 *
 * What an archived month no longer answers: its ledger entries in statements and "as of" reads, its
 * consumptions' allocations (GET shows none, a reversal is refused). Run by `npm run cli -- archive-month`.
 */
export async function archiveMonth(db: Executor, monthText: string, now: Date): Promise<Result<ArchiveResult>> {
  const month = parseHistoryMonth(monthText);
  if (!month) return fail('validation_failed', `month must be YYYY-MM (got "${monthText}")`);
  return archiveIn(db, month, now).catch((error: unknown) => {
    if (pgCode(error) !== PG.lockNotAvailable) throw error;
    return fail(
      'unavailable',
      `${month.label} was not archived: a lock on the history was not granted within ${LOCK_WAIT_MS} ms ` +
        '(a long report or verify reading it?); nothing changed, run it again',
    );
  });
}

async function archiveIn(db: Executor, month: HistoryMonth, now: Date): Promise<Result<ArchiveResult>> {
  return transact(db, async (tx) => {
    await limitLockWait(tx, LOCK_WAIT_MS);
    const archived = await archivedMonths(tx);
    // oldest first: the last of them
    const latestArchived = archived.at(-1)?.month ?? null;
    // a month before the latest archived one may only be an empty partition left live behind it (refuseArchiving)
    const behind = latestArchived !== null && latestArchived.getTime() > month.start.getTime();
    const liveAndEmpty =
      behind &&
      (await livePartitions(tx)).some((p) => p.partition === partitionOf('ledger_entries', month)) &&
      (await oldestLiveRowBefore(tx, month.end)) === null;
    const refused = refuseArchiving(month, {
      now,
      alreadyArchived: archived.some((a) => a.month.getTime() === month.start.getTime()),
      latestArchived,
      oldestLiveRow: await oldestLiveRowBefore(tx, month.start),
      oldestLiveMonth: await oldestLiveMonthBefore(tx, month.start),
      liveAndEmpty,
    });
    if (refused) return fail('conflict', refused);
    // a month that never got its partition (or left rows in the DEFAULT one) gets it now
    await ensureHistoryPartitions(tx, { since: month.start, until: month.start });
    await lockMonth(tx, month);
    const mismatched = await mismatchedConsumptionsOf(tx, month);
    const violations = mismatched.flatMap((c) =>
      checkConsumption({
        id: c.id,
        status: c.status,
        applied: c.applied,
        allocationSum: BigInt(c.allocation_sum ?? 0),
        consumedInLedger: BigInt(c.consumed ?? 0),
        reversedInLedger: BigInt(c.reversed ?? 0),
        expiredInLedger: BigInt(c.expired ?? 0),
        reversalReturned: c.reversal_returned ?? 0n,
        reversalExpired: c.reversal_expired ?? 0n,
      }),
    );
    if (violations.length > 0) {
      const first = violations[0]!;
      return fail(
        'conflict',
        `${violations.length} violation(s) among ${month.label}'s consumptions, nothing archived ` +
          `(first: ${first.subject}: ${first.detail})`,
      );
    }
    const detached = await recordArchivedMonth(tx, month, now);
    const checkpoints = await writeCheckpoints(tx, month);
    await detachMonth(tx, month);
    return ok({
      month: month.label,
      ledger_table: detached.ledger_table,
      allocations_table: detached.allocations_table,
      ledger_entries: detached.ledger_entries,
      allocations: detached.allocations,
      checkpoints,
    });
  });
}
