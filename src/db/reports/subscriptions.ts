import type { Executor } from '../knex.js';
import { asOfTables, liveTables } from './as-of.js';
import { scopeFilter } from './scope-filter.js';
import type { ReportStatement } from './statement.js';

export interface SubscriptionsParams {
  asOf: Date;
  packageId?: string | undefined;
  clientId?: string | undefined;
  /** Only the summary rows (the overview's counts per status). */
  summaryOnly?: boolean | undefined;
  /** `asOf` is now: read the tables as they are (as-of.ts liveTables), not back from the ledger (the pages). */
  live?: boolean | undefined;
}

/** Statuses whose period is still running (or waiting to), so that "days left" means something. */
const LIVE = `('active', 'pending', 'suspended', 'frozen')`;

/**
 * `subscriptions`, as of a moment: first one `summary` row per package and status with its count,
 * then one `subscription` row each, with its current period, the days left in it, whether it is
 * depleted (live, and no usable units left of any credit type) and whether it renews by itself. One
 * statement, so the counts and the list come from the same snapshot. As they stood at `as_of` (as-of.ts: `st` and
 * `bt` are the subscriptions and the balances then).
 */
export function subscriptionsStatement(p: SubscriptionsParams): ReportStatement {
  const scoped = scopeFilter(p, { client: 's.client_id = ?', package: 's.package_id = ?' });
  const where = ['TRUE', ...scoped.conditions];
  const filter = scoped.bindings;
  const then = p.live ? liveTables() : asOfTables(p.asOf);
  const sql = `
    WITH ${then.sql}
    SELECT * FROM (
      SELECT 'summary' AS row_type, pk.code AS package_code, pk.name AS package_name, s.status, count(*) AS count,
             NULL::uuid AS subscription_id, NULL::text AS client_ref, NULL::text AS client_name,
             NULL::timestamptz AS period_start, NULL::timestamptz AS period_end, NULL::integer AS days_left,
             NULL::boolean AS depleted, NULL::boolean AS auto_renew, NULL::integer AS renewal_count
        FROM st s JOIN packages pk ON pk.id = s.package_id
       WHERE ${where.join(' AND ')}
       GROUP BY pk.code, pk.name, s.status
      UNION ALL
      SELECT 'subscription', pk.code, pk.name, s.status, NULL,
             s.id, c.external_ref, c.name, s.current_period_start, s.current_period_end,
             CASE WHEN s.status IN ${LIVE}
                  THEN GREATEST(0, ceil(extract(epoch FROM s.current_period_end - ?::timestamptz) / 86400))::integer
                  ELSE 0 END,
             -- a frozen subscription's clock stopped: its units are not gone past their (old) date; one that ended
             -- (expired, cancelled) has nothing to spend by its status, not because it used it up
             s.status IN ${LIVE}
               AND NOT EXISTS (SELECT 1 FROM bt b
                                WHERE b.subscription_id = s.id AND b.status = 'active' AND b.remaining > 0
                                  AND b.valid_from <= ?
                                  AND (b.expires_at > ? OR (s.status = 'frozen' AND b.expires_at > s.frozen_at))),
             s.auto_renew AND NOT s.cancel_at_period_end, s.renewal_count
        FROM st s JOIN packages pk ON pk.id = s.package_id JOIN clients c ON c.id = s.client_id
       WHERE ${where.join(' AND ')}
    ) x${p.summaryOnly ? ` WHERE row_type = 'summary'` : ''}
    ORDER BY (row_type = 'subscription'), package_code, status, period_end, client_ref, subscription_id`;
  return { sql, bindings: [...then.bindings, ...filter, p.asOf, p.asOf, p.asOf, ...filter] };
}

/**
 * A package's subscriptions now, counted: all of them, and the active ones depleted as the `subscriptions` report
 * flags them (no usable units left of any credit type) — for a page that lists only the first of them, without
 * reading every row.
 */
export async function subscriptionCountsOfPackage(
  db: Executor,
  packageId: string,
  now: Date,
): Promise<{ total: number; depleted: number }> {
  const result = await db.raw<{ rows: Array<{ total: number; depleted: number }> }>(
    `SELECT count(*)::integer AS total,
            count(*) FILTER (WHERE s.status = 'active'
                               AND NOT EXISTS (SELECT 1 FROM balances b
                                                WHERE b.subscription_id = s.id AND b.status = 'active'
                                                  AND b.remaining > 0 AND b.valid_from <= ?
                                                  AND b.expires_at > ?))::integer AS depleted
       FROM subscriptions s
      WHERE s.package_id = ?`,
    [now, now, packageId],
  );
  return result.rows[0] ?? { total: 0, depleted: 0 };
}
