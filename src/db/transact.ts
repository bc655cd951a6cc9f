import type { Failure, Result } from '../domain/result.js';
import type { Executor, Tx } from './knex.js';

class RollbackWith extends Error {
  constructor(readonly failure: Failure) {
    super(failure.detail);
  }
}

/**
 * Runs `work` in a transaction (a savepoint when `db` is one already) that commits only when the
 * work succeeds: an expected failure rolls back everything it wrote, exactly like an exception.
 */
export async function transact<T>(db: Executor, work: (tx: Tx) => Promise<Result<T>>): Promise<Result<T>> {
  try {
    return await db.transaction(async (tx) => {
      const result = await work(tx);
      if (!result.ok) throw new RollbackWith(result);
      return result;
    });
  } catch (error) {
    if (error instanceof RollbackWith) return error.failure;
    throw error;
  }
}

/**
 * Runs `work` in a transaction (a savepoint when `db` is one already): it commits when the work
 * returns and rolls back when it throws. For work with no expected failure; `transact` otherwise.
 */
export async function withTransaction<T>(db: Executor, work: (tx: Tx) => Promise<T>): Promise<T> {
  return db.transaction(work);
}
