import type { Knex } from 'knex';
import { asOfTables, liveTables } from './as-of.js';
import { scopeFilter } from './scope-filter.js';
import type { ReportStatement } from './statement.js';

export interface BalancesParams {
  asOf: Date;
  packageId?: string | undefined;
  clientId?: string | undefined;
  creditTypeId?: string | undefined;
  /** `asOf` is now: read the tables as they are (as-of.ts liveTables), not back from the ledger. */
  live?: boolean | undefined;
}

export interface NearlyConsumedParams {
  asOf: Date;
  /** At least this share of what they hold is used, in percent. */
  minPercent: number;
}

/**
 * Per subscription and credit type, from the balances as they stood at `as_of` (`bt`, `st`), counted
 * as the consumption rule sees them then (the same rules as GET /v1/clients/{id}/balances,
 * domain/availability.ts): granted by packages, recharges and adjustments (a rollover moves units
 * within the subscription, it adds none); consumed net of reversals; remaining usable (active
 * subscription — or none, an operator's grant — active balance, valid_from <= as_of < expires_at);
 * unavailable (held by a subscription that is not active now: suspended, frozen, pending; a frozen one's even
 * past their date, unless that date had passed before the freeze); upcoming (valid from later); expired, including
 * units past their expiry that the sweep has not reached (but not a frozen subscription's, unless it had expired
 * before the freeze); voided; held (reserved by open holds, DOMAIN.md "Holds").
 * granted − consumed − expired − voided = remaining + unavailable + upcoming + held.
 * `granted_begun` (not a column: the share used is read against it) is what was granted of balances already valid
 * at `as_of`: a period renewed ahead holds units nothing could have consumed yet. It is not granted − upcoming: the
 * units of a period not begun are `unavailable` when the subscription is suspended, and a rollover balance not yet
 * valid would be `upcoming` though a rollover grants nothing.
 */
function aggregate(p: BalancesParams): { sql: string; bindings: Knex.RawBinding[] } {
  const scoped = scopeFilter(p, {
    creditType: 'b.credit_type_id = ?',
    client: 'b.client_id = ?',
    package: 's.package_id = ?',
  });
  const where = ['TRUE', ...scoped.conditions];
  const filter = scoped.bindings;
  // a balance of no subscription (a grant: s.status is NULL) is spendable as an active subscription's is
  const sql = `
    SELECT b.client_id, b.subscription_id, b.credit_type_id,
           sum(CASE WHEN b.source = 'rollover' THEN 0 ELSE b.granted END + b.adjusted)::bigint AS granted,
           COALESCE(sum(CASE WHEN b.source = 'rollover' THEN 0 ELSE b.granted END + b.adjusted)
                      FILTER (WHERE b.valid_from <= ?), 0)::bigint AS granted_begun,
           sum(b.consumed)::bigint AS consumed,
           COALESCE(sum(b.remaining) FILTER (WHERE b.status = 'active' AND b.expires_at > ?
                                             AND COALESCE(s.status, 'active') = 'active'
                                             AND b.valid_from <= ?), 0)::bigint AS remaining,
           -- a frozen subscription's balances are not expired past their date: its clock stopped (DOMAIN.md "Freeze");
           -- one that had expired before the freeze stays expired (domain/freeze.ts movesAtUnfreeze)
           COALESCE(sum(b.remaining) FILTER (WHERE b.status = 'active'
                                             AND (b.expires_at > ?
                                                  OR (s.status = 'frozen' AND b.expires_at > s.frozen_at))
                                             AND COALESCE(s.status, 'active') <> 'active'), 0)::bigint AS unavailable,
           COALESCE(sum(b.remaining) FILTER (WHERE b.status = 'active' AND b.expires_at > ?
                                             AND COALESCE(s.status, 'active') = 'active'
                                             AND b.valid_from > ?), 0)::bigint AS upcoming,
           (sum(b.expired) + COALESCE(sum(b.remaining) FILTER (WHERE b.status = 'active'
                                                               AND b.expires_at <= ?
                                                               AND (s.status IS DISTINCT FROM 'frozen'
                                                                    OR b.expires_at <= s.frozen_at)), 0))::bigint
             AS expired,
           sum(b.voided)::bigint AS voided,
           sum(b.held)::bigint AS held
      FROM bt b LEFT JOIN st s ON s.id = b.subscription_id
     WHERE ${where.join(' AND ')}
     GROUP BY b.client_id, b.subscription_id, b.credit_type_id`;
  return { sql, bindings: [p.asOf, p.asOf, p.asOf, p.asOf, p.asOf, p.asOf, p.asOf, ...filter] };
}

const SELECT = `
    SELECT a.subscription_id, c.external_ref AS client_ref, c.name AS client_name, pk.code AS package_code,
           s.status AS subscription_status, ct.code AS credit_type, ct.unit, ct.decimals,
           a.granted, a.granted_begun, a.consumed, a.remaining, a.unavailable, a.upcoming, a.expired, a.voided, a.held`;

// A balance of no subscription (an operator's grant) has a row of its own, with no package or status.
const JOINS = `
      LEFT JOIN st s ON s.id = a.subscription_id
      JOIN clients c ON c.id = a.client_id
      LEFT JOIN packages pk ON pk.id = s.package_id
      JOIN credit_types ct ON ct.id = a.credit_type_id`;

/**
 * `balances`: one row per subscription and credit type, as they stood at `as_of` (as-of.ts: `bt` and `st` are the
 * balances and the subscriptions then).
 */
export function balancesStatement(p: BalancesParams): ReportStatement {
  const then = p.live ? liveTables() : asOfTables(p.asOf);
  const agg = aggregate(p);
  return {
    sql: `WITH ${then.sql}
    ${SELECT}
      FROM (${agg.sql}) a ${JOINS}
     ORDER BY c.external_ref, s.created_at NULLS LAST, s.id NULLS LAST, ct.code`,
    bindings: [...then.bindings, ...agg.bindings],
  };
}

/**
 * The overview's "nearly consumed": per live subscription and credit type, the balances usable at
 * `as_of` (rollovers included: they are units on hand), where at most `(100 − minPercent)`% of
 * what they hold is left; the least left first. Lifetime totals (the balances report) would hide
 * a depleted current period behind earlier ones, so this looks at the usable balances only. A
 * client's operator grants (balances of no subscription) make a row of their own, with no package.
 */
export function nearlyConsumedStatement(p: NearlyConsumedParams): ReportStatement {
  const sql = `
    SELECT a.subscription_id, c.id AS client_id, c.external_ref AS client_ref, c.name AS client_name,
           pk.code AS package_code,
           ct.code AS credit_type, ct.unit, ct.decimals, a.held, a.remaining, a.next_expiry
      FROM (SELECT b.client_id, b.subscription_id, b.credit_type_id, sum(b.granted + b.adjusted)::bigint AS held,
                   sum(b.remaining)::bigint AS remaining, min(b.expires_at) AS next_expiry
              FROM balances b
             WHERE b.status = 'active' AND b.valid_from <= ? AND b.expires_at > ?
             GROUP BY b.client_id, b.subscription_id, b.credit_type_id
            HAVING sum(b.granted + b.adjusted) > 0
                   AND sum(b.remaining) * 100 <= sum(b.granted + b.adjusted) * (100 - ?)) a
      LEFT JOIN subscriptions s ON s.id = a.subscription_id
      JOIN clients c ON c.id = a.client_id
      LEFT JOIN packages pk ON pk.id = s.package_id
      JOIN credit_types ct ON ct.id = a.credit_type_id
     WHERE a.subscription_id IS NULL OR s.status = 'active'
     ORDER BY a.remaining::numeric / a.held, c.external_ref, ct.code`;
  return { sql, bindings: [p.asOf, p.asOf, p.minPercent] };
}
