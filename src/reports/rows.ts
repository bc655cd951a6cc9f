import type { Knex } from 'knex';
import type { Executor } from '../db/knex.js';
import type { ReportQuery, ReportRow } from './types.js';
import { limited } from './values.js';

/**
 * The first rows of a report, read at once: for pages that show a report's top lines (the
 * overview, a package page). Whole reports are streamed by the generate job instead.
 */
export async function reportRows(db: Executor, query: ReportQuery, limit?: number): Promise<ReportRow[]> {
  const q = limited(query, limit);
  const result = await db.raw<{ rows: Array<Record<string, unknown>> }>(q.sql, q.bindings as Knex.RawBinding[]);
  return result.rows.map((row) => query.toRow(row));
}
