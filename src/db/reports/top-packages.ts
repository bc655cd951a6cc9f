import type { Knex } from 'knex';
import { localBucket } from '../calendar-bucket.js';
import type { ReportStatement } from './statement.js';

export interface TopPackagesParams {
  from: Date;
  to: Date;
  clientId?: string | undefined;
}

/**
 * The periods granted that stood at an instant, the one binding (`?`): the periods of `subscription_periods`, and those
 * taken back after it (a renewal made ahead, undone before its period began: subscription_periods_undone). What
 * `top_packages` and the package page's requests per day count, so that they cannot disagree.
 */
const STANDING_PERIODS_SQL = `(SELECT subscription_id, kind, invoice_id, created_at FROM subscription_periods
                    UNION ALL
                    -- a period taken back after the range's end still stood at its end: it counts
                    SELECT subscription_id, kind, invoice_id, created_at FROM subscription_periods_undone
                     WHERE undone_at > ?)`;

/**
 * `top_packages`: the packages most requested in the range — new subscriptions plus renewals, one
 * per period granted — ranked, with the revenue of those periods' invoices, less those voided by the range's end:
 * an invoice voided after `to` still counts, so that a range of the past keeps its figure whenever it is asked (a
 * nightly run and a run asked again next month agree), and a range up to now leaves out every void made so far. A
 * period taken back (a renewal made ahead, undone before its period began: subscription_periods_undone) follows the
 * same rule: taken back after `to`, it counts (it stood at the range's end, and so did its invoice: the undo voids it
 * then); taken back by `to`, neither it nor its revenue does.
 */
export function topPackagesStatement(p: TopPackagesParams): ReportStatement {
  const bindings: Knex.RawBinding[] = [p.to, p.to, p.from, p.to];
  let clientFilter = '';
  if (p.clientId) {
    clientFilter = ' AND s.client_id = ?';
    bindings.push(p.clientId);
  }
  const sql = `
    SELECT row_number() OVER (ORDER BY a.requests DESC, a.revenue DESC, pk.code, a.currency) AS rank,
           pk.id AS package_id, pk.code AS package_code, pk.name AS package_name, a.currency,
           a.new_subscriptions, a.renewals, a.requests, a.revenue
      FROM (SELECT s.package_id, s.currency,
                   count(*) FILTER (WHERE sp.kind = 'initial') AS new_subscriptions,
                   count(*) FILTER (WHERE sp.kind = 'renewal') AS renewals,
                   count(*) AS requests,
                   COALESCE(sum(i.total) FILTER (WHERE i.voided_at IS NULL OR i.voided_at > ?), 0)::bigint AS revenue
              FROM ${STANDING_PERIODS_SQL} sp
              JOIN subscriptions s ON s.id = sp.subscription_id
              LEFT JOIN invoices i ON i.id = sp.invoice_id
             WHERE sp.created_at >= ? AND sp.created_at <= ?${clientFilter}
             GROUP BY s.package_id, s.currency) a
      JOIN packages pk ON pk.id = a.package_id
     ORDER BY rank`;
  return { sql, bindings };
}

export interface PackageRequestsParams {
  from: Date;
  to: Date;
  packageId: string;
  timeZone: string;
}

/**
 * A package's requests per day of the business zone (the package page's chart): what `top_packages` counts for it over
 * the same range — new subscriptions plus renewals, one per period granted, in the day it was granted — by day. A
 * renewal taken back by `to` is no request (it is left out, as `top_packages` leaves it out); the `renewals` report
 * counts it in `renewals` when it was made and in `renewals_undone` when it was taken back.
 */
export function packageRequestsStatement(p: PackageRequestsParams): ReportStatement {
  const bucket = localBucket('sp.created_at', 'day', p.timeZone);
  const sql = `
    SELECT to_char(bucket, 'YYYY-MM-DD') AS period_start,
           count(*) FILTER (WHERE kind = 'initial') AS new_subscriptions,
           count(*) FILTER (WHERE kind = 'renewal') AS renewals,
           count(*) AS requests
      FROM (SELECT ${bucket.sql} AS bucket, sp.kind
              FROM ${STANDING_PERIODS_SQL} sp
              JOIN subscriptions s ON s.id = sp.subscription_id
             WHERE sp.created_at >= ? AND sp.created_at <= ? AND s.package_id = ?) b
     GROUP BY bucket
     ORDER BY bucket`;
  return { sql, bindings: [...bucket.bindings, p.to, p.from, p.to, p.packageId] };
}
