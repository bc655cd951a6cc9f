import { type SubscriptionsParams, subscriptionsStatement } from '../db/reports/subscriptions.js';
import type { ReportQuery } from './types.js';
import { bool, int, iso, text } from './values.js';

/**
 * `subscriptions`: the `summary` rows (a count per package and status) and the `subscription` rows
 * (one each, with its current period); each kind leaves the other's columns empty.
 */
export function subscriptionsQuery(p: SubscriptionsParams): ReportQuery {
  return {
    columns: [
      'row_type',
      'package_code',
      'package_name',
      'status',
      'count',
      'subscription_id',
      'client_ref',
      'client_name',
      'period_start',
      'period_end',
      'days_left',
      'depleted',
      'auto_renew',
      'renewal_count',
    ],
    statement: subscriptionsStatement(p),
    toRow: (r) => {
      const summary = r.row_type === 'summary';
      return {
        row_type: text(r.row_type),
        package_code: text(r.package_code),
        package_name: text(r.package_name),
        status: text(r.status),
        count: summary ? int(r.count) : null,
        subscription_id: text(r.subscription_id),
        client_ref: text(r.client_ref),
        client_name: text(r.client_name),
        period_start: iso(r.period_start),
        period_end: iso(r.period_end),
        days_left: summary ? null : int(r.days_left),
        depleted: bool(r.depleted),
        auto_renew: bool(r.auto_renew),
        renewal_count: summary ? null : int(r.renewal_count),
      };
    },
  };
}
