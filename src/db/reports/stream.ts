import type { Db } from '../knex.js';
import type { MappedStatement, StatementRow } from './statement.js';

/** Rows fetched from Postgres per round trip; the stream holds about this many at once. */
const BATCH_ROWS = 1_000;

/** How long a report's statement may run (the pool's default is a minute, for the API). */
export const REPORT_STATEMENT_TIMEOUT_MS = 15 * 60_000;

/**
 * Streams a whole report: each row of its statement, turned by `toRow`, handed to `onRow` and
 * awaited before the next one is taken, so that memory stays bounded whatever the report's size.
 * The statement runs in a read-only transaction of its own, so that a long sort may outlast the
 * pool's statement timeout; whatever `onRow` writes goes through other connections.
 */
export async function streamReportRows<T>(
  db: Db,
  query: MappedStatement<T>,
  onRow: (row: T) => Promise<void>,
): Promise<void> {
  await db.transaction(async (trx) => {
    await trx.raw('SET TRANSACTION READ ONLY');
    await trx.raw(`SET LOCAL statement_timeout = ${REPORT_STATEMENT_TIMEOUT_MS}`);
    // no JIT: a picture as of an instant (as-of.ts) probes each ledger partition per balance, which the planner
    // prices above jit_above_cost however few rows it touches; compiling it took 0.4 s of a 0.4 s run (EXPLAIN's
    // JIT timing, a test database) — a nightly run's catch-up makes dozens of them
    await trx.raw('SET LOCAL jit = off');
    const stream = trx
      .raw(query.statement.sql, query.statement.bindings)
      .stream({ batchSize: BATCH_ROWS, highWaterMark: BATCH_ROWS });
    try {
      for await (const row of stream as AsyncIterable<StatementRow>) {
        await onRow(query.toRow(row));
      }
    } finally {
      // ends the cursor, also when the loop stopped early
      stream.destroy();
    }
  });
}
