import pg from 'pg';

/**
 * The consumption hot path talks to Postgres through node-postgres directly: one parameterised
 * statement per round trip ($1, $2, …), no query builder in between. Everything else uses knex.
 */
export type SqlClient = Pick<pg.ClientBase, 'query'>;

/** Where the pool reports a lost connection (the service's logger). */
export interface SqlPoolLog {
  warn(obj: object, message: string): void;
}

export function createSqlPool(
  url: string,
  max: number,
  applicationName: string,
  options: { statementTimeout?: boolean; log?: SqlPoolLog } = {},
): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    application_name: applicationName,
    connectionTimeoutMillis: 5_000,
    // a startup parameter PgBouncer refuses: behind it the role's own setting applies
    ...(options.statementTimeout === false ? {} : { statement_timeout: 60_000 }),
    keepAlive: true,
  });
  // pg-pool hears a client's 'error' only while the client sits idle in the pool; a client handed
  // out is heard by nobody until its borrower listens. A new connection is handed out from inside
  // the socket read that brought its ReadyForQuery, and `await pool.connect()` resumes only after
  // that read is parsed: when the same read also brings a FATAL — Postgres shutting down, or
  // pg_terminate_backend, right as the connection was made — node-postgres emits 'error' with no
  // listener and the process exits (node-postgres#2762; the chaos run's worker dying at the
  // Postgres restart). So every client is heard for its whole life, from 'connect' (emitted before
  // the hand-off) on: the connection is then marked unqueryable, its borrower's first statement
  // fails as an outage does, and the batch is retried on a fresh connection.
  pool.on('connect', (client) => {
    let reported = false;
    client.on('error', (error) => {
      // one line per connection: after a FATAL the socket's end reports the same loss again
      if (reported) return;
      reported = true;
      options.log?.warn(
        { err: error, pool: applicationName },
        'a Postgres connection of the hot path was lost; the pool replaces it',
      );
    });
  });
  // the pool repeats an idle client's error (already reported above); it removes that client itself
  pool.on('error', () => {});
  return pool;
}

/** BEGIN … COMMIT on one pooled connection; a throw rolls back (and a broken connection is discarded). */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // A connection that dies between two statements (Postgres restarting) emits 'error' (heard for
  // the process by the pool's own listener, createSqlPool): heard here too, it marks the
  // connection broken, so that it goes back to the pool discarded; the next statement fails and the
  // batch is retried.
  const onError = (error: Error) => {
    broken = error;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: unknown) => {
      broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
    });
    throw error;
  } finally {
    client.removeListener('error', onError);
    client.release(broken);
  }
}
