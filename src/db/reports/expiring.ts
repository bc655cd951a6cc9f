import type { Knex } from 'knex';
import { asOfTables, liveTables } from './as-of.js';
import { scopeFilter } from './scope-filter.js';
import type { ReportStatement } from './statement.js';

export interface ExpiringParams {
  asOf: Date;
  daysAhead: number;
  packageId?: string | undefined;
  clientId?: string | undefined;
  creditTypeId?: string | undefined;
  /** `asOf` is now: read the tables as they are (as-of.ts liveTables), not back from the ledger (the pages). */
  live?: boolean | undefined;
}

/** One credit type of a `subscription` row's `remains` (a JSON array): what the subscription still holds of it. */
export interface Remains {
  code: string;
  unit: string;
  decimals: number;
  /** Scaled units, as text (json carries no bigint). */
  remaining: string;
}

/**
 * `expiring`: what ends in the next N days after `as_of`, soonest first. A `subscription` row for
 * each live subscription whose period ends then (does it renew by itself? what does it still
 * hold?), and a `balance` row for each balance with units left that expires then (recharges,
 * rollovers and operators' grants included — a grant belongs to no subscription, so its row has
 * none), with what remains of it. As they stood at `as_of` (as-of.ts: `st` and `bt` are the subscriptions and the
 * balances then).
 */
export function expiringStatement(p: ExpiringParams): ReportStatement {
  const until = new Date(p.asOf.getTime() + p.daysAhead * 86_400_000);
  const { conditions: subWhere, bindings: subBindings } = scopeFilter(p, {
    client: 's.client_id = ?',
    package: 's.package_id = ?',
  });
  const andSub = subWhere.map((w) => ` AND ${w}`).join('');
  // balance rows narrow by the balance's own client: a grant has no subscription to narrow by
  const { conditions: balanceWhere, bindings: balanceBindings } = scopeFilter(p, {
    client: 'b.client_id = ?',
    package: 's.package_id = ?',
  });
  const andBalance = balanceWhere.map((w) => ` AND ${w}`).join('');
  const creditTypeFilter = p.creditTypeId ? ' AND b.credit_type_id = ?' : '';
  // narrowed by credit type, a subscription row is one whose period holds some of it (granted, recharged, rolled over)
  const holdsCreditType = p.creditTypeId
    ? ` AND EXISTS (SELECT 1 FROM bt h WHERE h.subscription_id = s.id AND h.period_start = s.current_period_start
                                       AND h.status <> 'void' AND h.credit_type_id = ?)`
    : '';
  const creditTypeBinding: Knex.RawBinding[] = p.creditTypeId ? [p.creditTypeId] : [];
  const then = p.live ? liveTables() : asOfTables(p.asOf);
  const sql = `
    WITH ${then.sql}
    SELECT * FROM (
      SELECT 'subscription' AS row_type, s.current_period_end AS expires_at,
             c.external_ref AS client_ref, c.name AS client_name, pk.code AS package_code,
             s.id AS subscription_id, s.status AS subscription_status,
             s.auto_renew AND NOT s.cancel_at_period_end AS renews,
             NULL::uuid AS balance_id, NULL::text AS credit_type, NULL::text AS unit, NULL::smallint AS decimals,
             NULL::text AS source, NULL::bigint AS remaining,
             (SELECT json_agg(json_build_object('code', ct.code, 'unit', ct.unit, 'decimals', ct.decimals,
                                                'remaining', t.remaining::text) ORDER BY ct.code)
                FROM (SELECT b.credit_type_id, sum(b.remaining) AS remaining
                        FROM bt b
                       WHERE b.subscription_id = s.id AND b.status = 'active'
                         AND b.valid_from <= ? AND b.expires_at > ?${creditTypeFilter}
                       GROUP BY b.credit_type_id) t
                JOIN credit_types ct ON ct.id = t.credit_type_id) AS remains
        FROM st s JOIN clients c ON c.id = s.client_id JOIN packages pk ON pk.id = s.package_id
       WHERE s.status = 'active' AND s.current_period_end > ? AND s.current_period_end <= ?${andSub}${holdsCreditType}
      UNION ALL
      SELECT 'balance', b.expires_at, c.external_ref, c.name, pk.code,
             s.id, s.status, COALESCE(s.auto_renew AND NOT s.cancel_at_period_end, false),
             b.id, ct.code, ct.unit, ct.decimals, b.source, b.remaining, NULL
        FROM bt b
        LEFT JOIN st s ON s.id = b.subscription_id
        JOIN clients c ON c.id = b.client_id
        LEFT JOIN packages pk ON pk.id = s.package_id
        JOIN credit_types ct ON ct.id = b.credit_type_id
       WHERE b.status = 'active' AND b.remaining > 0
         -- a frozen subscription's balances do not expire when they say: their expiry moves at unfreeze
         AND s.status IS DISTINCT FROM 'frozen'
         AND b.expires_at > ? AND b.expires_at <= ?${creditTypeFilter}${andBalance}
    ) x
    ORDER BY expires_at, client_ref, subscription_id, (row_type = 'balance'), credit_type, balance_id`;
  return {
    sql,
    bindings: [
      ...then.bindings,
      p.asOf,
      p.asOf,
      ...creditTypeBinding,
      p.asOf,
      until,
      ...subBindings,
      ...creditTypeBinding,
      p.asOf,
      until,
      ...creditTypeBinding,
      ...balanceBindings,
    ],
  };
}
