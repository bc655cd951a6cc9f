import { type ConsumptionParams, consumptionStatement } from '../db/reports/consumption.js';
import type { ReportQuery } from './types.js';
import { big, quantity, text } from './values.js';

/**
 * `consumption`: per period (or per value of a dimension) and credit type (and client or package, with
 * `per`), the units consumed, reversed and net = consumed − reversed, in the credit type's decimals.
 */
export function consumptionQuery(p: ConsumptionParams): ReportQuery {
  const byDimension = p.dimension !== undefined;
  const columns = [
    // grouped by a dimension: its name and each value ("(none)" for uses without one) instead of the period
    ...(byDimension ? ['dimension', 'value'] : ['period_start']),
    'credit_type',
    'unit',
    ...(p.per === 'client' ? ['client_ref', 'client_name'] : []),
    ...(p.per === 'package' ? ['package_code', 'package_name'] : []),
    'consumed',
    'reversed',
    'net',
  ];
  return {
    columns,
    statement: consumptionStatement(p),
    toRow: (r) => ({
      ...(byDimension
        ? { dimension: p.dimension ?? '', value: text(r.value) }
        : { period_start: text(r.period_start) }),
      credit_type: text(r.credit_type),
      unit: text(r.unit),
      ...(p.per === 'client' ? { client_ref: text(r.client_ref), client_name: text(r.client_name) } : {}),
      ...(p.per === 'package' ? { package_code: text(r.package_code), package_name: text(r.package_name) } : {}),
      consumed: quantity(r.consumed, r.decimals),
      reversed: quantity(r.reversed, r.decimals),
      net: quantity(big(r.consumed) - big(r.reversed), r.decimals),
    }),
  };
}
