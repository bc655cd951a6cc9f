import type { ErrorCode } from '../../domain/result.js';
import type { Executor } from '../knex.js';

/** A use of a batch refused at the door, alone (migration 0036): read by the id its consumption would have had. */
export interface ConsumptionFailureRow {
  id: string;
  idempotency_key: string;
  code: ErrorCode;
  detail: string;
  failed_at: Date;
}

/** Records the uses refused (one row per id: a use refused again keeps its latest failure). */
export async function upsertConsumptionFailures(db: Executor, rows: readonly ConsumptionFailureRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db('consumption_failures')
    .insert([...new Map(rows.map((r) => [r.id, r])).values()])
    .onConflict('id')
    .merge();
}

export async function consumptionFailuresByIds(
  db: Executor,
  ids: readonly string[],
): Promise<Map<string, ConsumptionFailureRow>> {
  if (ids.length === 0) return new Map();
  const rows = (await db('consumption_failures').whereIn('id', [...new Set(ids)])) as ConsumptionFailureRow[];
  return new Map(rows.map((r) => [r.id, r]));
}

/** Forgets failures recorded before `before`. Answers how many. */
export async function deleteConsumptionFailuresBefore(db: Executor, before: Date): Promise<number> {
  return db('consumption_failures').where('failed_at', '<', before).delete();
}
