import { balancesQuery } from './balances.js';
import { consumptionQuery } from './consumption.js';
import { expiringQuery } from './expiring.js';
import { type Grouping, isGrouping, type ReportType, type StoredParams } from './params.js';
import { renewalsQuery } from './renewals.js';
import { subscriptionsQuery } from './subscriptions.js';
import { topPackagesQuery } from './top-packages.js';
import type { ReportQuery } from './types.js';

const date = (value: string | undefined, name: string): Date => {
  if (value === undefined) throw new Error(`report params lack ${name}`);
  return new Date(value);
};

/** A calendar grouping as stored (a dimension is not one: the consumption report takes it apart). */
const grouping = (value: string | undefined): Grouping => (value !== undefined && isGrouping(value) ? value : 'day');

/** DOMAIN.md's six reports: a run's type and stored params → the statement that produces its rows. */
export function reportQuery(type: ReportType, p: StoredParams): ReportQuery {
  switch (type) {
    case 'consumption':
      return consumptionQuery({
        from: date(p.from, 'from'),
        to: date(p.to, 'to'),
        groupBy: grouping(p.group_by),
        dimension: p.group_by !== undefined && !isGrouping(p.group_by) ? p.group_by : undefined,
        timeZone: p.time_zone ?? 'UTC',
        weekStart: p.week_start,
        creditTypeId: p.credit_type,
        packageId: p.package,
        clientId: p.client,
        per: p.per,
      });
    case 'renewals':
      return renewalsQuery({
        from: date(p.from, 'from'),
        to: date(p.to, 'to'),
        groupBy: grouping(p.group_by),
        timeZone: p.time_zone ?? 'UTC',
        weekStart: p.week_start,
        packageId: p.package,
        clientId: p.client,
      });
    case 'top_packages':
      return topPackagesQuery({ from: date(p.from, 'from'), to: date(p.to, 'to'), clientId: p.client });
    case 'subscriptions':
      return subscriptionsQuery({ asOf: date(p.as_of, 'as_of'), packageId: p.package, clientId: p.client });
    case 'balances':
      return balancesQuery({
        asOf: date(p.as_of, 'as_of'),
        packageId: p.package,
        clientId: p.client,
        creditTypeId: p.credit_type,
      });
    case 'expiring':
      return expiringQuery({
        asOf: date(p.as_of, 'as_of'),
        daysAhead: p.days_ahead ?? 7,
        packageId: p.package,
        clientId: p.client,
        creditTypeId: p.credit_type,
      });
  }
}
