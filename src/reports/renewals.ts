import { type RenewalsParams, renewalsStatement } from '../db/reports/renewals.js';
import type { ReportQuery } from './types.js';
import { int, text } from './values.js';

/**
 * `renewals`: per period and currency, the subscriptions started, renewed, recharged and expired, and their revenue in
 * minor units: an invoice's in the period it was issued, less the voids made in the period (`voided_revenue`), and the
 * renewals made ahead taken back in the period (`renewals_undone`; such a renewal stays in `renewals` of the period it
 * was made). Each column added goes last, so that a reader of the earlier columns by position reads them as before.
 */
export function renewalsQuery(p: RenewalsParams): ReportQuery {
  return {
    columns: [
      'period_start',
      'currency',
      'new_subscriptions',
      'renewals',
      'recharges',
      'expirations',
      'new_revenue',
      'renewal_revenue',
      'recharge_revenue',
      'revenue',
      'voided_revenue',
      'renewals_undone',
    ],
    statement: renewalsStatement(p),
    toRow: (r) => ({
      period_start: text(r.period_start),
      currency: text(r.currency)?.trim() ?? null,
      new_subscriptions: int(r.new_subscriptions),
      renewals: int(r.renewals),
      recharges: int(r.recharges),
      expirations: int(r.expirations),
      new_revenue: int(r.new_revenue),
      renewal_revenue: int(r.renewal_revenue),
      recharge_revenue: int(r.recharge_revenue),
      revenue: int(r.revenue),
      voided_revenue: int(r.voided_revenue),
      renewals_undone: int(r.renewals_undone),
    }),
  };
}
