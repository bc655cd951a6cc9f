import type { Knex } from 'knex';
import type { WeekStart } from '../../domain/week.js';
import { localBucket } from '../calendar-bucket.js';
import { scopeFilter } from './scope-filter.js';
import type { Grouping, ReportStatement } from './statement.js';

export interface ConsumptionParams {
  from: Date;
  to: Date;
  groupBy: Grouping;
  /** Group by this dimension's value (DOMAIN.md "Dimensions") instead of by `groupBy`'s buckets. */
  dimension?: string | undefined;
  timeZone: string;
  /** The first day of a `week` bucket (WEEK_START); Monday when not given. */
  weekStart?: WeekStart | undefined;
  creditTypeId?: string | undefined;
  packageId?: string | undefined;
  clientId?: string | undefined;
  per?: 'client' | 'package' | undefined;
}

/**
 * `consumption`: units consumed per day/week/month (of the business time zone) per credit type,
 * optionally per client or package, from the ledger. A consumption counts when it occurred
 * (`effective_at`); a reversal gives units back when it happened. consumed = −Σ consume,
 * reversed = Σ reverse. Served by the partial index `ledger_usage`. Per package, what was taken
 * from operators' grants (no subscription, so no package) has rows of its own with no package, so
 * that the split adds up to the whole.
 */
export function consumptionStatement(p: ConsumptionParams): ReportStatement {
  if (p.dimension !== undefined) return consumptionByDimensionStatement({ ...p, dimension: p.dimension });
  const where = [`l.kind IN ('consume', 'reverse')`, 'l.effective_at >= ?', 'l.effective_at <= ?'];
  const scoped = scopeFilter(p, {
    creditType: 'l.credit_type_id = ?',
    client: 'l.client_id = ?',
    package: 'l.subscription_id IN (SELECT id FROM subscriptions WHERE package_id = ?)',
  });
  where.push(...scoped.conditions);
  const filters: Knex.RawBinding[] = [p.from, p.to, ...scoped.bindings];
  const perColumn = p.per === 'client' ? 'l.client_id' : p.per === 'package' ? 's.package_id' : undefined;
  const bucket = localBucket('l.effective_at', p.groupBy, p.timeZone, p.weekStart);
  const sql = `
    SELECT to_char(a.bucket, 'YYYY-MM-DD') AS period_start,
           ct.code AS credit_type, ct.unit, ct.decimals,
           ${p.per === 'client' ? 'c.external_ref AS client_ref, c.name AS client_name,' : ''}
           ${p.per === 'package' ? 'pk.code AS package_code, pk.name AS package_name,' : ''}
           a.consumed, a.reversed
      FROM (SELECT ${bucket.sql} AS bucket,
                   l.credit_type_id${perColumn ? `, ${perColumn} AS per_id` : ''},
                   COALESCE(-sum(l.amount) FILTER (WHERE l.kind = 'consume'), 0)::bigint AS consumed,
                   COALESCE(sum(l.amount) FILTER (WHERE l.kind = 'reverse'), 0)::bigint AS reversed
              FROM ledger_entries l
              ${p.per === 'package' ? 'LEFT JOIN subscriptions s ON s.id = l.subscription_id' : ''}
             WHERE ${where.join(' AND ')}
             GROUP BY 1, 2${perColumn ? ', 3' : ''}) a
      JOIN credit_types ct ON ct.id = a.credit_type_id
      ${p.per === 'client' ? 'JOIN clients c ON c.id = a.per_id' : ''}
      ${p.per === 'package' ? 'LEFT JOIN packages pk ON pk.id = a.per_id' : ''}
     ORDER BY a.bucket,
              ct.code${p.per === 'client' ? ', c.external_ref' : p.per === 'package' ? ', pk.code NULLS LAST' : ''}`;
  return { sql, bindings: [...bucket.bindings, ...filters] };
}

/**
 * `consumption` grouped by a dimension's value instead of by period: the same ledger entries, each
 * joined to its consumption (ledger_consumption) for the value it kept; "(none)" for uses without
 * one. Rows per credit type (and client or package with `per`), so the values sum to the totals of
 * the calendar grouping over the same range.
 */
function consumptionByDimensionStatement(p: ConsumptionParams & { dimension: string }): ReportStatement {
  const where = [`l.kind IN ('consume', 'reverse')`, 'l.effective_at >= ?', 'l.effective_at <= ?'];
  const scoped = scopeFilter(p, {
    creditType: 'l.credit_type_id = ?',
    client: 'l.client_id = ?',
    package: 'l.subscription_id IN (SELECT id FROM subscriptions WHERE package_id = ?)',
  });
  where.push(...scoped.conditions);
  const perColumn = p.per === 'client' ? 'l.client_id' : p.per === 'package' ? 's.package_id' : undefined;
  const sql = `
    SELECT a.value, ct.code AS credit_type, ct.unit, ct.decimals,
           ${p.per === 'client' ? 'c.external_ref AS client_ref, c.name AS client_name,' : ''}
           ${p.per === 'package' ? 'pk.code AS package_code, pk.name AS package_name,' : ''}
           a.consumed, a.reversed
      FROM (SELECT COALESCE(u.dimensions ->> ?, '(none)') AS value,
                   l.credit_type_id${perColumn ? `, ${perColumn} AS per_id` : ''},
                   COALESCE(-sum(l.amount) FILTER (WHERE l.kind = 'consume'), 0)::bigint AS consumed,
                   COALESCE(sum(l.amount) FILTER (WHERE l.kind = 'reverse'), 0)::bigint AS reversed
              FROM ledger_entries l
              JOIN consumptions u ON u.id = l.consumption_id
              ${p.per === 'package' ? 'LEFT JOIN subscriptions s ON s.id = l.subscription_id' : ''}
             WHERE ${where.join(' AND ')}
             GROUP BY 1, 2${perColumn ? ', 3' : ''}) a
      JOIN credit_types ct ON ct.id = a.credit_type_id
      ${p.per === 'client' ? 'JOIN clients c ON c.id = a.per_id' : ''}
      ${p.per === 'package' ? 'LEFT JOIN packages pk ON pk.id = a.per_id' : ''}
     ORDER BY ct.code, (a.value = '(none)'), a.value${
       p.per === 'client' ? ', c.external_ref' : p.per === 'package' ? ', pk.code NULLS LAST' : ''
     }`;
  return { sql, bindings: [p.dimension, p.from, p.to, ...scoped.bindings] };
}
