import knexFactory, { type Knex } from 'knex';
import pg from 'pg';

export type { Knex };
export type Db = Knex;
export type Tx = Knex.Transaction;
/** A function that works inside or outside a transaction takes this. */
export type Executor = Knex | Knex.Transaction;

/** Whether `db` is a transaction (work done on it commits or rolls back with the caller's). */
export const isTransaction = (db: Executor): db is Tx => (db as Partial<Tx>).isTransaction === true;

// Postgres bigint (int8) arrives as a JavaScript bigint: balances and money stay exact end to end.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => BigInt(value));

export interface DbOptions {
  url: string;
  poolMax?: number;
  poolMin?: number;
  applicationName?: string;
  /** Fail fast when Postgres is down instead of queueing requests behind a dead pool. */
  acquireTimeoutMs?: number;
  /** Sent as a startup parameter; null sends none (PgBouncer refuses it: set it on the role instead). */
  statementTimeoutMs?: number | null;
  /** Where knex's own warnings go (a lost connection while Postgres restarts); the console otherwise. */
  log?: {
    warn(obj: object, message: string): void;
    error(obj: object, message: string): void;
    debug(obj: object, message: string): void;
  };
}

export function createDb(options: DbOptions): Db {
  return knexFactory({
    client: 'pg',
    connection: {
      connectionString: options.url,
      application_name: options.applicationName ?? 'credits',
      ...(options.statementTimeoutMs === null ? {} : { statement_timeout: options.statementTimeoutMs ?? 60_000 }),
      connectionTimeoutMillis: 5_000,
      keepAlive: true,
    },
    pool: { min: options.poolMin ?? 0, max: options.poolMax ?? 10, idleTimeoutMillis: 30_000 },
    acquireConnectionTimeout: options.acquireTimeoutMs ?? 10_000,
    ...(options.log
      ? {
          log: {
            warn: (message: unknown) => options.log!.warn({ source: 'knex' }, String(message)),
            error: (message: unknown) => options.log!.error({ source: 'knex' }, String(message)),
            deprecate: (message: unknown) => options.log!.warn({ source: 'knex' }, String(message)),
            debug: (message: unknown) => options.log!.debug({ source: 'knex' }, String(message)),
          },
        }
      : {}),
  });
}

/** Postgres error codes the code reacts to. */
export const PG = {
  uniqueViolation: '23505',
  foreignKeyViolation: '23503',
  checkViolation: '23514',
  serializationFailure: '40001',
  deadlockDetected: '40P01',
  numericOutOfRange: '22003',
  lockNotAvailable: '55P03',
  queryCanceled: '57014',
  adminShutdown: '57P01',
  cannotConnectNow: '57P03',
} as const;

export function pgCode(error: unknown): string | undefined {
  if (
    typeof error === 'object' &&
    error !== null &&
    'code' in error &&
    typeof (error as { code: unknown }).code === 'string'
  ) {
    return (error as { code: string }).code;
  }
  return undefined;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'EAI_AGAIN',
]);

/** A failure worth retrying: the database was unreachable, busy, or chose this transaction as a victim. */
export function isTransientDbError(error: unknown): boolean {
  const code = pgCode(error);
  if (code !== undefined) {
    if (NETWORK_CODES.has(code)) return true;
    if (code.startsWith('08')) return true; // connection exception class
    return (
      [
        PG.serializationFailure,
        PG.deadlockDetected,
        PG.lockNotAvailable,
        PG.adminShutdown,
        PG.cannotConnectNow,
        '57P02',
        '53300',
      ] as string[]
    ).includes(code);
  }
  const message = error instanceof Error ? error.message : String(error);
  return (
    /Knex: Timeout acquiring a connection|Connection terminated|connect ECONNREFUSED/i.test(message) ||
    /Client has encountered a connection error|timeout exceeded when trying to connect/i.test(message)
  );
}

/** Postgres class 22, data exception: a value the statement could not take (NUL in text, out of range…). */
export function isDataException(error: unknown): boolean {
  return pgCode(error)?.startsWith('22') ?? false;
}

/**
 * An error one row of a statement can cause while the others are fine: a data exception (class 22)
 * or an integrity violation (class 23). Anything else — an outage, a bug in the SQL — fails every
 * row alike.
 */
export function isRowCausedDbError(error: unknown): boolean {
  const code = pgCode(error);
  return code !== undefined && (code.startsWith('22') || code.startsWith('23'));
}

/**
 * Bindings for statements that send whole arrays (`unnest(?::uuid[], …)`): node-postgres serialises
 * arrays with NULLs and Dates correctly, which knex's binding types do not describe.
 */
export const arrays = (values: unknown[]): readonly Knex.RawBinding[] => values as Knex.RawBinding[];

/**
 * The node-postgres pool that runs a few hot statements of the front door in place of this knex
 * instance (`pooledQuery`): paired by the runtime, which makes both (an instance without a pair, or a
 * transaction, goes through knex).
 */
const pairedPools = new WeakMap<Knex, pg.Pool>();

export function pairSqlPool(db: Knex, pool: pg.Pool): void {
  pairedPools.set(db, pool);
}

/**
 * A statement of `db` run on its paired node-postgres pool when `db` is not a transaction: one
 * parameterised, named statement ($1, $2 …; prepared once per connection, unnamed behind PgBouncer:
 * `name` is statementName's), where knex builds, acquires through tarn and runs it unnamed (Postgres
 * then parses and plans it every time). `knexText` is the same statement with knex's `?` placeholders.
 * knex's `query` event is emitted for it all the same (what tests and bench/profile-api.ts count).
 */
export async function pooledQuery<R>(
  db: Executor,
  statement: { text: string; knexText: string; name: { name?: string } },
  values: unknown[],
): Promise<R[]> {
  const pool = isTransaction(db) ? undefined : pairedPools.get(db);
  if (!pool) {
    const result = await db.raw<{ rows: R[] }>(statement.knexText, values as Knex.RawBinding[]);
    return result.rows;
  }
  if (db.listenerCount('query') > 0) db.emit('query', { sql: statement.text, bindings: values, method: 'raw' });
  const result = await pool.query<R & pg.QueryResultRow>({ text: statement.text, values, ...statement.name });
  return result.rows;
}
