import type { Knex } from 'knex';
import type { WeekStart } from '../../domain/week.js';
import { localBucket } from '../calendar-bucket.js';
import { scopeFilter } from './scope-filter.js';
import type { Grouping, ReportStatement } from './statement.js';

export interface RenewalsParams {
  from: Date;
  to: Date;
  groupBy: Grouping;
  timeZone: string;
  /** The first day of a `week` bucket (WEEK_START); Monday when not given. */
  weekStart?: WeekStart | undefined;
  packageId?: string | undefined;
  clientId?: string | undefined;
}

/**
 * `renewals`: per day/week/month and currency, how many subscriptions were started (their initial
 * period), renewed (a renewal period), recharged, and expired, and the revenue of each kind. Every part counts a
 * record that is never rewritten, at an instant that never moves, so that a bucket of the past keeps its figures
 * whatever happens later (a nightly run and a run asked again next month agree):
 * - expirations come from `subscription_lapses`, not from the subscriptions' status today (a lapsed subscription
 *   renewed later), and count when the period ended (the lapse's `expired_at`), not when the sweep recorded it;
 * - an invoice counts in the bucket of its `issued_at`, whatever its status now, and its void counts against the
 *   same kind's revenue in the bucket of its `voided_at` (a negative there): a void decided today changes today's
 *   figures, never those of the day it was issued. `voided_revenue` is what the voids of the bucket took off (the
 *   revenue columns are net of it; a bucket with only a void has a negative revenue);
 * - a renewal made ahead and taken back before its period began (src/services/renewal-undo.ts: a cancel at period end
 *   or a freeze) still counts in `renewals` in the bucket of its `created_at` — it was made, and its invoice issued,
 *   then — and `renewals_undone` (last, after `voided_revenue`) counts it in the bucket of its `undone_at`: its row
 *   moved from `subscription_periods` to `subscription_periods_undone`, where both instants are kept. Renewals that
 *   stand over a range are `renewals − renewals_undone` for the renewals made and undone within it.
 */
export function renewalsStatement(p: RenewalsParams): ReportStatement {
  // the same subscription filter on every part of the union
  const { conditions: subFilter, bindings: subBindings } = scopeFilter(p, {
    client: 's.client_id = ?',
    package: 's.package_id = ?',
  });
  const and = subFilter.map((f) => ` AND ${f}`).join('');
  const part = (): Knex.RawBinding[] => [p.from, p.to, ...subBindings];
  const bucket = localBucket('at', p.groupBy, p.timeZone, p.weekStart);
  const sql = `
    WITH events AS (
      SELECT sp.created_at AS at, s.currency, CASE WHEN sp.kind = 'initial' THEN 'new' ELSE 'renewal' END AS what,
             0::bigint AS amount
        FROM subscription_periods sp JOIN subscriptions s ON s.id = sp.subscription_id
       WHERE sp.created_at >= ? AND sp.created_at <= ?${and}
      UNION ALL
      -- a period taken back since (a renewal made ahead, undone) was granted all the same: counted when it was made
      SELECT u.created_at, s.currency, CASE WHEN u.kind = 'initial' THEN 'new' ELSE 'renewal' END, 0
        FROM subscription_periods_undone u JOIN subscriptions s ON s.id = u.subscription_id
       WHERE u.created_at >= ? AND u.created_at <= ?${and}
      UNION ALL
      -- and its undo when it was undone (only a renewal is ever taken back)
      SELECT u.undone_at, s.currency, 'renewal_undone', 0
        FROM subscription_periods_undone u JOIN subscriptions s ON s.id = u.subscription_id
       WHERE u.kind = 'renewal' AND u.undone_at >= ? AND u.undone_at <= ?${and}
      UNION ALL
      SELECT r.created_at, s.currency, 'recharge', 0
        FROM recharges r JOIN subscriptions s ON s.id = r.subscription_id
       WHERE r.created_at >= ? AND r.created_at <= ?${and}
      UNION ALL
      SELECT l.expired_at, s.currency, 'expiration', 0
        FROM subscription_lapses l JOIN subscriptions s ON s.id = l.subscription_id
       WHERE l.expired_at >= ? AND l.expired_at <= ?${and}
      UNION ALL
      SELECT i.issued_at, i.currency, 'revenue_' || i.kind, i.total
        FROM invoices i JOIN subscriptions s ON s.id = i.subscription_id
       WHERE i.issued_at >= ? AND i.issued_at <= ?${and}
      UNION ALL
      -- a void takes its invoice back when it was made: only an invoice voided has a voided_at
      SELECT i.voided_at, i.currency, 'void_' || i.kind, -i.total
        FROM invoices i JOIN subscriptions s ON s.id = i.subscription_id
       WHERE i.voided_at >= ? AND i.voided_at <= ?${and}
    ),
    bucketed AS (SELECT ${bucket.sql} AS bucket, currency, what, amount FROM events)
    SELECT to_char(bucket, 'YYYY-MM-DD') AS period_start, currency,
           count(*) FILTER (WHERE what = 'new') AS new_subscriptions,
           count(*) FILTER (WHERE what = 'renewal') AS renewals,
           count(*) FILTER (WHERE what = 'recharge') AS recharges,
           count(*) FILTER (WHERE what = 'expiration') AS expirations,
           COALESCE(sum(amount) FILTER (WHERE what IN ('revenue_subscription', 'void_subscription')), 0)::bigint
             AS new_revenue,
           COALESCE(sum(amount) FILTER (WHERE what IN ('revenue_renewal', 'void_renewal')), 0)::bigint
             AS renewal_revenue,
           COALESCE(sum(amount) FILTER (WHERE what IN ('revenue_recharge', 'void_recharge')), 0)::bigint
             AS recharge_revenue,
           COALESCE(sum(amount) FILTER (WHERE what LIKE 'revenue_%' OR what LIKE 'void_%'), 0)::bigint AS revenue,
           COALESCE(-sum(amount) FILTER (WHERE what LIKE 'void_%'), 0)::bigint AS voided_revenue,
           count(*) FILTER (WHERE what = 'renewal_undone') AS renewals_undone
      FROM bucketed
     GROUP BY bucket, currency
     ORDER BY bucket, currency`;
  const parts = Array.from({ length: 7 }, part).flat();
  return { sql, bindings: [...parts, ...bucket.bindings] };
}
