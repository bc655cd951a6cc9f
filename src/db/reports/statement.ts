import type { Knex } from 'knex';

/*
 * The reports' SQL. Each report type has a module here that turns its typed params into its
 * statement, SQL text and bindings built together (scope-filter.ts holds the narrowing they share);
 * rows.ts reads a statement's first rows, stream.ts a whole report's. What a report shows stays in
 * src/reports/: its columns, in order, and how a database row becomes a report row (quantities
 * scaled by their credit type's decimals, percentages, days left). That is presentation, not SQL,
 * and it is split off the way the repositories' rows are split from the views that render them: the
 * two meet only at the aliases of a statement's select list (a new column changes both sides
 * together). So db/ stays the bottom layer — nothing here imports from src/reports/ — and
 * src/reports/ holds no SQL.
 */

/** A report's statement: SQL text with `?` placeholders and their bindings, in order. */
export interface ReportStatement {
  readonly sql: string;
  readonly bindings: readonly Knex.RawBinding[];
}

/** A row as node-postgres hands it over: int8 as bigint, numeric as text, json parsed. */
export type StatementRow = Record<string, unknown>;

/** A statement together with how its caller turns each of its rows into one of its own. */
export interface MappedStatement<T> {
  readonly statement: ReportStatement;
  toRow(row: StatementRow): T;
}

/** The calendar unit a ranged report's rows are grouped by: `date_trunc`'s field, in the business time zone. */
export type Grouping = 'day' | 'week' | 'month';
