import type { Knex } from 'knex';

/** One value of a report row, as JSON carries it (quantities are decimal strings, money integers). */
export type RowValue = string | number | boolean | null;
export type ReportRow = Record<string, RowValue>;

/**
 * A report as SQL: the statement whose rows are streamed (Postgres does the aggregating), the
 * columns in order (the CSV header, the keys of each JSON row), and how a database row becomes a
 * report row (scaled quantities formatted with their credit type's precision).
 */
export interface ReportQuery {
  columns: readonly string[];
  sql: string;
  bindings: readonly Knex.RawBinding[];
  toRow(row: Record<string, unknown>): ReportRow;
}
