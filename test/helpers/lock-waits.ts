import type { Db } from '../../src/db/knex.js';

/**
 * Polls Postgres until `count` backends of this database wait for a lock — those whose statement mentions `about`,
 * when given (a table's name) — so that a test lets a transaction of its own go only once the work it holds back has
 * reached the lock: a fact of Postgres's, not a delay of a guessed length. Throws after `timeoutMs`.
 */
export async function untilWaitingForLocks(
  db: Db,
  count = 1,
  options: { about?: string; timeoutMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  for (;;) {
    const { rows } = await db.raw<{ rows: Array<{ n: number }> }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE ?`,
      [`%${options.about ?? ''}%`],
    );
    if ((rows[0]?.n ?? 0) >= count) return;
    if (Date.now() > deadline) {
      throw new Error(`fewer than ${count} backends waited for a lock${options.about ? ` on ${options.about}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
