import type { MappedStatement } from '../db/reports/statement.js';

/** One value of a report row, as JSON carries it (quantities are decimal strings, money integers). */
export type RowValue = string | number | boolean | null;
export type ReportRow = Record<string, RowValue>;

/**
 * A report: the statement whose rows are streamed (Postgres does the aggregating, see
 * src/db/reports/), the columns in order (the CSV header, the keys of each JSON row), and how a
 * database row becomes a report row (scaled quantities formatted with their credit type's precision).
 */
export interface ReportQuery extends MappedStatement<ReportRow> {
  columns: readonly string[];
}
