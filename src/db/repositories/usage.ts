import type { Knex } from 'knex';
import type { WeekStart } from '../../domain/week.js';
import { localBucket } from '../calendar-bucket.js';
import type { Executor } from '../knex.js';

/** How usage rows are keyed: a calendar bucket of the business time zone, or a dimension's value. */
export type UsageGrouping = { calendar: 'day' | 'week' | 'month' } | { dimension: string };

export interface UsageScope {
  clientId: string;
  creditTypeId: string;
  /** Both ends included, as the reports' ranges. */
  from: Date;
  to: Date;
  timeZone: string;
  /** The first day of a `week` bucket (WEEK_START). */
  weekStart: WeekStart;
  grouping: UsageGrouping;
}

/** The key a use without a value for the dimension is grouped under. */
export const NO_DIMENSION_VALUE = '(none)';

/**
 * GET /v1/clients/{id}/usage: net use of one client's credit type per key — what consumptions took
 * when they occurred, minus what reversals gave back when they happened (the same sums as the
 * ledger's `consume` and `reverse` entries, whose effective_at are occurred_at and reversed_at: a reversal gives
 * back its expired part too, which expires on its balance — `reversal_given_back`, migration 0032).
 * Read from consumptions through consumptions_usage and consumptions_reversed (migration 0016).
 * Calendar keys are the bucket's first day (YYYY-MM-DD); dimension keys the value, or "(none)" last.
 */
export async function usageRows(db: Executor, scope: UsageScope): Promise<Array<{ key: string; quantity: bigint }>> {
  const calendar = 'calendar' in scope.grouping;
  // the grouping key: a constant expression whose parts are bound (?), never pasted
  let groupKeySql = `COALESCE(m.dimensions ->> ?, '${NO_DIMENSION_VALUE}')`;
  let keyBindings: Knex.RawBinding[];
  if ('calendar' in scope.grouping) {
    const bucket = localBucket('m.at', scope.grouping.calendar, scope.timeZone, scope.weekStart);
    groupKeySql = `to_char(${bucket.sql}, 'YYYY-MM-DD')`;
    keyBindings = bucket.bindings;
  } else keyBindings = [scope.grouping.dimension];
  const part = [scope.clientId, scope.creditTypeId, scope.from, scope.to];
  const result = await db.raw(
    `WITH m AS (
       SELECT occurred_at AS at, applied AS amount, dimensions
         FROM consumptions
        WHERE client_id = ? AND credit_type_id = ? AND applied > 0 AND occurred_at >= ? AND occurred_at <= ?
       UNION ALL
       SELECT reversed_at, -COALESCE(reversal_given_back, reversal_returned), dimensions
         FROM consumptions
        WHERE client_id = ? AND credit_type_id = ? AND reversed_at IS NOT NULL
          AND reversed_at >= ? AND reversed_at <= ? AND COALESCE(reversal_given_back, reversal_returned) > 0)
     SELECT g.key, g.quantity
       FROM (SELECT ${groupKeySql} AS key, sum(m.amount)::bigint AS quantity FROM m GROUP BY 1) AS g
      ORDER BY ${calendar ? 'g.key' : `(g.key = '${NO_DIMENSION_VALUE}'), g.key`}`,
    [...part, ...part, ...keyBindings],
  );
  return (result as { rows: Array<{ key: string; quantity: bigint }> }).rows;
}

/**
 * Net use of a client's credit type over `(from, to]` (the forecast's burn), by when it happened: what its
 * consumptions took when they occurred, minus what their reversals gave back when they happened — the sums of the
 * ledger's `consume` and `reverse` entries, read from the consumptions as usageRows reads them: an archived month's
 * entries are no longer live (services/archive.ts), its consumptions are.
 */
export async function netUsed(
  db: Executor,
  scope: { clientId: string; creditTypeId: string; from: Date; to: Date },
): Promise<bigint> {
  const part = [scope.clientId, scope.creditTypeId, scope.from, scope.to];
  const result = await db.raw(
    `SELECT (COALESCE((SELECT sum(applied) FROM consumptions
                        WHERE client_id = ? AND credit_type_id = ? AND applied > 0
                          AND occurred_at > ? AND occurred_at <= ?), 0)
           - COALESCE((SELECT sum(COALESCE(reversal_given_back, reversal_returned)) FROM consumptions
                        WHERE client_id = ? AND credit_type_id = ? AND reversed_at IS NOT NULL
                          AND reversed_at > ? AND reversed_at <= ?), 0))::bigint AS net`,
    [...part, ...part],
  );
  return (result as { rows: Array<{ net: bigint }> }).rows[0]?.net ?? 0n;
}
