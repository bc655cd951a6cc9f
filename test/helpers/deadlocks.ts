import pg from 'pg';

/**
 * `pg_stat_database.deadlocks` of one database: how many deadlocks Postgres detected in it. A test
 * that says "no deadlock" must read this, not its own results: the workers retry a batch that lost
 * a deadlock, so the totals come out exact either way.
 *
 * The counter is cumulative statistics, and each backend flushes its own counts to shared memory
 * asynchronously — at a transaction's end at most about once a second, after a while idle, and when
 * it exits (Postgres 15). A deadlock is counted by the backend that detected it. So read the counter
 * before the work, and again only once every connection that did the work has ended (its pools
 * closed, or its process stopped) or flushed itself (`flushStatistics`, on a connection of your own).
 */
export async function deadlockCount(databaseUrl: string): Promise<number> {
  return (await databaseStatistics(databaseUrl)).deadlocks;
}

export interface DatabaseStatistics {
  deadlocks: number;
  /**
   * Transactions committed, as flushed so far: it only grows, so a value lower than an earlier
   * reading says the statistics were reset (a crash recovery discards them) and a delta over that
   * span proves nothing.
   */
  xactCommit: number;
}

/** The cumulative statistics of the database `databaseUrl` names (see above for when they are complete). */
export async function databaseStatistics(databaseUrl: string): Promise<DatabaseStatistics> {
  const client = new pg.Client({
    connectionString: databaseUrl,
    application_name: 'deadlock-count',
    connectionTimeoutMillis: 5_000,
  });
  client.on('error', () => {});
  await client.connect();
  try {
    // a new connection, hence a new statistics snapshot (stats_fetch_consistency caches one per transaction)
    const { rows } = await client.query<{ deadlocks: string; xact_commit: string }>(
      'SELECT deadlocks::text, xact_commit::text FROM pg_stat_database WHERE datname = current_database()',
    );
    return { deadlocks: Number(rows[0]?.deadlocks ?? 0), xactCommit: Number(rows[0]?.xact_commit ?? 0) };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Makes this connection's backend flush its pending statistics now rather than at its next chance
 * (Postgres 15+): the flush happens as the statement's transaction ends, before its answer arrives.
 */
export async function flushStatistics(client: Pick<pg.ClientBase, 'query'>): Promise<void> {
  await client.query('SELECT pg_stat_force_next_flush()');
}

/**
 * Reads the counter now; `delta()` reads it again and answers how many deadlocks happened since.
 * Call `delta()` only after the connections that did the work have ended or flushed (see above).
 */
export async function watchDeadlocks(databaseUrl: string): Promise<{ delta(): Promise<number> }> {
  const before = await deadlockCount(databaseUrl);
  return { delta: async () => (await deadlockCount(databaseUrl)) - before };
}
