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

/**
 * Why `month` cannot be archived now, or null when it can: only a month that has ended (nothing is written into
 * it any more: rows are partitioned by when they were written), and no later than `oldestLive` allows — months go
 * oldest first, so that each balance's checkpoint sums its whole history up to the archived month's end.
 */
export function refuseArchiving(
  month: HistoryMonth,
  facts: { now: Date; alreadyArchived: boolean; oldestLiveRow: Date | null },
): string | null {
  if (facts.alreadyArchived) return `${month.label} is archived already`;
  if (month.end.getTime() > facts.now.getTime()) return `${month.label} has not ended yet`;
  if (facts.oldestLiveRow !== null && facts.oldestLiveRow.getTime() < month.start.getTime()) {
    const oldest = monthOf(facts.oldestLiveRow).label;
    return `history older than ${month.label} is still live (from ${oldest}): archive it first`;
  }
  return null;
}
