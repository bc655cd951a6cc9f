/**
 * Months of history (migration 0018): `ledger_entries` and `consumption_allocations` are partitioned by the UTC
 * month of `created_at`. Pure rules about those months; the SQL is in src/db/repositories/history.ts.
 */

/** How many months past the current one the nightly sweep keeps partitions ready for. */
export const PARTITION_MONTHS_AHEAD = 3;

/** One UTC month: [start, end). */
export interface HistoryMonth {
  /** YYYY-MM */
  label: string;
  start: Date;
  end: Date;
}

/** The tables partitioned by month. */
export const HISTORY_TABLES = ['ledger_entries', 'consumption_allocations'] as const;
export type HistoryTable = (typeof HISTORY_TABLES)[number];

/** `at` moved by `months` calendar months, at the start of its UTC month. */
export function monthStartPlus(at: Date, months: number): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + months, 1));
}

export function monthOf(at: Date): HistoryMonth {
  const start = monthStartPlus(at, 0);
  const label = `${start.getUTCFullYear().toString().padStart(4, '0')}-${(start.getUTCMonth() + 1)
    .toString()
    .padStart(2, '0')}`;
  return { label, start, end: monthStartPlus(at, 1) };
}

/** `YYYY-MM` as a month, or null when it is not one. */
export function parseHistoryMonth(text: string): HistoryMonth | null {
  const match = /^(\d{4})-(0[1-9]|1[0-2])$/.exec(text);
  if (!match) return null;
  return monthOf(new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, 1)));
}

/** The partition of `table` that holds `month` (the name create_history_partition() gives it). */
export function partitionOf(table: HistoryTable, month: HistoryMonth): string {
  return `${table}_y${month.label.slice(0, 4)}m${month.label.slice(5, 7)}`;
}

/** The months the nightly sweep makes sure exist as of `asOf`: its own and the next PARTITION_MONTHS_AHEAD. */
export function monthsToPrepare(asOf: Date): { since: Date; until: Date } {
  return { since: monthStartPlus(asOf, 0), until: monthStartPlus(asOf, PARTITION_MONTHS_AHEAD) };
}

/** The month a partition holds (`ledger_entries_y2026m01`), or null for one of no month (the DEFAULT one). */
export function monthOfPartition(partition: string): HistoryMonth | null {
  const match = /_y(\d{4})m(\d{2})$/.exec(partition);
  return match ? parseHistoryMonth(`${match[1]}-${match[2]}`) : null;
}

/**
 * The partitions as a calendar: by month, oldest first (the ledger's before its allocations'), those of no month
 * (the DEFAULT ones, rows whose month has no partition yet) last.
 */
export function inCalendarOrder<P extends { table: HistoryTable; partition: string }>(partitions: readonly P[]): P[] {
  const key = (p: P) => monthOfPartition(p.partition)?.start.getTime() ?? Number.POSITIVE_INFINITY;
  return [...partitions].sort(
    (a, b) => key(a) - key(b) || HISTORY_TABLES.indexOf(a.table) - HISTORY_TABLES.indexOf(b.table),
  );
}

/**
 * Why `month` cannot be archived now, or null when it can: only a month that has ended (nothing is written into
 * it any more: rows are partitioned by when they were written), and in calendar order — months go oldest first, so
 * that each balance's checkpoint sums its whole history up to the archived month's end, and the live history is
 * what follows the latest archived month. So no month before it may still be live: neither a row written before it
 * (`oldestLiveRow`, the DEFAULT partition's included) nor a month's partition still attached (`oldestLiveMonth`),
 * though it hold no row — an empty month archived after a later one would stay live behind it, and take a row
 * written late (a clock behind) into history the checkpoints have closed. Nor may it come before a month archived
 * already (`latestArchived`): a month with no partition there never held history, and has nothing to archive.
 */
export function refuseArchiving(
  month: HistoryMonth,
  facts: {
    now: Date;
    alreadyArchived: boolean;
    latestArchived: Date | null;
    oldestLiveRow: Date | null;
    oldestLiveMonth: Date | null;
    /**
     * The month's partition is live and no row is live up to its end: an empty month left behind an archived one (a
     * store archived by the release before, which only live rows held back; a sweep as of an older instant making
     * it). Archiving it moves nothing and writes no checkpoint, and until it is archived no later month can be.
     */
    liveAndEmpty?: boolean;
  },
): string | null {
  if (facts.alreadyArchived) return `${month.label} is archived already`;
  if (month.end.getTime() > facts.now.getTime()) return `${month.label} has not ended yet`;
  if (
    facts.latestArchived !== null &&
    facts.latestArchived.getTime() > month.start.getTime() &&
    facts.liveAndEmpty !== true
  ) {
    const latest = monthOf(facts.latestArchived).label;
    return `${month.label} is older than ${latest}, the latest month archived: months are archived oldest first`;
  }
  const live = [facts.oldestLiveRow, facts.oldestLiveMonth]
    .filter((at): at is Date => at !== null && at.getTime() < month.start.getTime())
    .sort((a, b) => a.getTime() - b.getTime());
  if (live[0] !== undefined) {
    const oldest = monthOf(live[0]).label;
    return `history older than ${month.label} is still live (from ${oldest}): archive it first`;
  }
  return null;
}
