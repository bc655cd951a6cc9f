import pg from 'pg';

/**
 * The consumption hot path talks to Postgres through node-postgres directly: one parameterised
 * statement per round trip ($1, $2, …), no query builder in between. Everything else uses knex.
 */
export type SqlClient = Pick<pg.ClientBase, 'query'>;

export function createSqlPool(
  url: string,
  max: number,
  applicationName: string,
  options: { statementTimeout?: boolean } = {},
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
  // an idle client losing its connection is replaced on the next checkout
  pool.on('error', () => {});
  return pool;
}

/** BEGIN … COMMIT on one pooled connection; a throw rolls back (and a broken connection is discarded). */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // A checked-out client has no 'error' listener of the pool's: if the connection dies between two
  // statements (Postgres restarting), node-postgres emits 'error' on it, and unheard that would
  // crash the process. Heard here, it marks the connection broken; the next statement then fails
  // and the batch is retried.
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
