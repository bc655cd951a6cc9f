import type { Executor } from '../knex.js';
import type { MappedStatement, ReportStatement, StatementRow } from './statement.js';

/** Appends `LIMIT n` to a report's statement (it ends with its ORDER BY), for pages that show the top rows. */
const limited = (statement: ReportStatement, limit: number | undefined): ReportStatement =>
  limit === undefined ? statement : { ...statement, sql: `${statement.sql}\nLIMIT ${Math.max(1, Math.floor(limit))}` };

/**
 * The first rows of a report, read at once: for pages that show a report's top lines (the
 * overview, a package page). Whole reports are streamed by the generate job instead (stream.ts).
 */
export async function reportRows<T>(db: Executor, query: MappedStatement<T>, limit?: number): Promise<T[]> {
  const statement = limited(query.statement, limit);
  const result = await db.raw<{ rows: StatementRow[] }>(statement.sql, statement.bindings);
  return result.rows.map((row) => query.toRow(row));
}
