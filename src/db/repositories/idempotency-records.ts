import type { Executor } from '../knex.js';

/** Forgets the stored responses recorded before `before`; answers how many. */
export async function deleteIdempotencyRecordsBefore(db: Executor, before: Date): Promise<number> {
  return await db('idempotency_records').where('created_at', '<', before).delete();
}
