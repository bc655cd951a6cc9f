import {
  type PackageRequestsParams,
  packageRequestsStatement,
  type TopPackagesParams,
  topPackagesStatement,
} from '../db/reports/top-packages.js';
import type { ReportQuery } from './types.js';
import { int, text } from './values.js';

/**
 * `top_packages`: the packages ranked by requests (new subscriptions plus renewals), with their revenue in minor units.
 */
export function topPackagesQuery(p: TopPackagesParams): ReportQuery {
  return {
    columns: [
      'rank',
      'package_code',
      'package_name',
      'currency',
      'new_subscriptions',
      'renewals',
      'requests',
      'revenue',
    ],
    statement: topPackagesStatement(p),
    toRow: (r) => ({
      rank: int(r.rank),
      package_code: text(r.package_code),
      package_name: text(r.package_name),
      currency: text(r.currency)?.trim() ?? null,
      new_subscriptions: int(r.new_subscriptions),
      renewals: int(r.renewals),
      requests: int(r.requests),
      revenue: int(r.revenue),
    }),
  };
}

/**
 * One package's requests per day, as `top_packages` counts them (a renewal taken back by the range's end is none): the
 * package page's chart. Not a report type of its own.
 */
export function packageRequestsQuery(p: PackageRequestsParams): ReportQuery {
  return {
    columns: ['period_start', 'new_subscriptions', 'renewals', 'requests'],
    statement: packageRequestsStatement(p),
    toRow: (r) => ({
      period_start: text(r.period_start),
      new_subscriptions: int(r.new_subscriptions),
      renewals: int(r.renewals),
      requests: int(r.requests),
    }),
  };
}
