import { arrays, type Executor } from '../knex.js';

/**
 * Creates the deliveries of events to endpoints (one per endpoint and event: a repeat is ignored)
 * and answers the ids of those created now.
 */
export async function createDeliveries(
  db: Executor,
  deliveries: ReadonlyArray<{ id: string; endpoint_id: string; event_id: string }>,
  now: Date,
): Promise<string[]> {
  if (deliveries.length === 0) return [];
  const result = await db.raw<{ rows: Array<{ id: string }> }>(
    `INSERT INTO webhook_deliveries (id, endpoint_id, event_id, status, attempts, next_attempt_at, created_at)
     SELECT d.id, d.endpoint_id, d.event_id, 'pending', 0, ?, ?
       FROM unnest(?::uuid[], ?::uuid[], ?::uuid[]) AS d(id, endpoint_id, event_id)
     ON CONFLICT (endpoint_id, event_id) DO NOTHING RETURNING id`,
    arrays([
      now,
      now,
      deliveries.map((d) => d.id),
      deliveries.map((d) => d.endpoint_id),
      deliveries.map((d) => d.event_id),
    ]),
  );
  return result.rows.map((r) => r.id);
}

/** Pending deliveries whose next attempt is older than `before`, a page at a time by id. */
export async function pendingDeliveriesDue(
  db: Executor,
  page: { before: Date; after?: string | undefined; limit: number },
): Promise<string[]> {
  const rows = (await db('webhook_deliveries')
    .where({ status: 'pending' })
    .andWhere('next_attempt_at', '<', page.before)
    .andWhere('id', '>', page.after ?? '00000000-0000-0000-0000-000000000000')
    .orderBy('id')
    .limit(page.limit)
    .select('id')) as Array<{ id: string }>;
  return rows.map((r) => r.id);
}
