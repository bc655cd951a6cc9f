import type { Failure, Result } from '../domain/result.js';
import { type Executor, isTransaction, type Tx } from './knex.js';

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

/**
 * Runs read-only `work` on one snapshot of the database: a `REPEATABLE READ, READ ONLY`
 * transaction, so that every statement of the work sees the same committed state however long it
 * takes and whatever commits meanwhile (a check that reads a balance in one statement and its
 * ledger in the next must not see a consumption land in between). It takes no lock and blocks no
 * writer. Inside a transaction already, the work runs on it: its snapshot is the caller's.
 */
export async function inSnapshot<T>(db: Executor, work: (tx: Tx) => Promise<T>): Promise<T> {
  if (isTransaction(db)) return work(db);
  return db.transaction(work, { isolationLevel: 'repeatable read', readOnly: true });
}

/** What work run by `decideInTransaction` answers: its value, and whether what it wrote stays. */
export interface Decision<T> {
  value: T;
  commit: boolean;
}

class RollbackAnswering extends Error {
  constructor(readonly value: unknown) {
    super('rolled back by its work');
  }
}

/**
 * Runs `work` in a transaction that commits or rolls back as the work decides, and answers its value
 * either way: work whose outcome is known only at its end (a request that failed must leave no
 * trace, yet its answer is still wanted). A throw rolls back and is thrown on.
 */
export async function decideInTransaction<T>(
  db: Executor,
  work: (tx: Tx) => Promise<Decision<T>>,
): Promise<{ value: T; committed: boolean }> {
  try {
    const value = await db.transaction(async (tx) => {
      const decision = await work(tx);
      if (!decision.commit) throw new RollbackAnswering(decision.value);
      return decision.value;
    });
    return { value, committed: true };
  } catch (error) {
    if (error instanceof RollbackAnswering) return { value: error.value as T, committed: false };
    throw error;
  }
}
