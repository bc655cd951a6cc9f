import type { Knex } from 'knex';
import { HOLD_EXPIRED_BY } from '../repositories/ledger.js';

/**
 * The balances and the subscriptions as they stood at an instant, for the reports that are a picture of one
 * (`balances`, `subscriptions`, `expiring`): a nightly run made at 04:53 is labelled as of the business day's end,
 * and a run regenerated later must answer the same (reports/params.ts). Read from the running totals of now, taken
 * back by what was written after the instant — the same answer GET /v1/clients/{id}/balances?as_of= replays from
 * the ledger up to it (services/balances.ts, domain/balance-as-of.ts), but only the entries after the instant are
 * read, which for a picture of last midnight is a few hours of them, not every client's history.
 *
 * `bt` has the columns of `balances` the reports read, `st` those of `subscriptions`; a statement reads them in
 * place of the tables, so its rules (availability, depleted, days left) are the live ones applied to the past:
 * - entries after `at`: written after it (`created_at`), except a hold's closing owed by then (HOLD_EXPIRED_BY,
 *   dated at the hold's end: a read at `at` would have closed it first);
 * - a balance with entries after it and none written by then did not exist yet (a checkpoint means its early history
 *   was archived: it existed);
 * - each running total less those entries' part of it; the status from the ledger as balanceAt has it (void once
 *   its `void` entry is written; expired with nothing left once an `expire` entry is, or past its expiry of then
 *   for one the sweep emptied without an entry);
 * - the expiry (and start) it had before an `extend` that took effect later (a freeze that ended later, a late
 *   payment);
 * - a subscription's status as subscriptionStatusAt has it (ended, pending before its activation, a freeze or a
 *   suspension covering the instant); its period the last one begun by then, its end less the pushes of freezes
 *   that ended after the instant; its renewals less those made after it. A renewal made ahead by then and taken back
 *   after it (subscription_periods_undone, src/services/renewal-undo.ts) was there then: its period the current one,
 *   and counted in its renewals. A subscription made later is not there.
 * Its bindings are all `at`, one per placeholder.
 */
export function asOfTables(at: Date): { sql: string; bindings: Knex.RawBinding[] } {
  const sql = `
    after AS (
      SELECT e.balance_id, sum(e.amount)::bigint AS total,
             COALESCE(sum(e.amount) FILTER (WHERE e.kind IN ('consume', 'reverse')), 0)::bigint AS consume,
             COALESCE(sum(e.amount) FILTER (WHERE e.kind = 'adjust'), 0)::bigint AS adjust,
             COALESCE(sum(e.amount) FILTER (WHERE e.kind = 'expire'), 0)::bigint AS expire,
             COALESCE(sum(e.amount) FILTER (WHERE e.kind = 'void'), 0)::bigint AS void,
             count(*) FILTER (WHERE e.kind = 'void') AS voids,
             COALESCE(sum(e.amount) FILTER (WHERE e.kind IN ('hold', 'release')), 0)::bigint AS hold
        FROM ledger_entries e
       WHERE e.created_at > ? AND NOT COALESCE((${HOLD_EXPIRED_BY}), false)
       GROUP BY e.balance_id),
    pushed AS (
      -- an entry takes effect when (or before) it is written: created_at > the instant too, which prunes the months
      SELECT DISTINCT ON (balance_id) balance_id, previous_expires_at, previous_valid_from
        FROM ledger_entries
       WHERE kind = 'extend' AND effective_at > ? AND created_at > ?
       ORDER BY balance_id, seq),
    bt AS (
      SELECT b.id, b.client_id, b.subscription_id, b.credit_type_id, b.source, b.priority, b.granted, b.period_start,
             b.adjusted - COALESCE(a.adjust, 0) AS adjusted,
             b.consumed + COALESCE(a.consume, 0) AS consumed,
             b.remaining - COALESCE(a.total, 0) AS remaining,
             b.expired + COALESCE(a.expire, 0) AS expired,
             b.voided + COALESCE(a.void, 0) AS voided,
             b.held + COALESCE(a.hold, 0) AS held,
             -- an expire entry always takes units (the sweep writes none for an empty balance): some then, if any
             CASE WHEN b.status = 'void' AND COALESCE(a.voids, 0) = 0 THEN 'void'
                  WHEN b.remaining - COALESCE(a.total, 0) = 0
                       AND (b.expired + COALESCE(a.expire, 0) > 0
                            OR (b.status = 'expired' AND COALESCE(p.previous_expires_at, b.expires_at) <= ?))
                  THEN 'expired'
                  ELSE 'active' END AS status,
             COALESCE(p.previous_valid_from, b.valid_from) AS valid_from,
             COALESCE(p.previous_expires_at, b.expires_at) AS expires_at
        FROM balances b
        LEFT JOIN after a ON a.balance_id = b.id
        LEFT JOIN pushed p ON p.balance_id = b.id
       WHERE a.balance_id IS NULL
          OR EXISTS (SELECT 1 FROM ledger_entries f WHERE f.balance_id = b.id AND f.created_at <= ?)
          OR EXISTS (SELECT 1 FROM balance_checkpoints c WHERE c.balance_id = b.id)),
    st AS (
      SELECT s.id, s.client_id, s.package_id, s.auto_renew, s.cancel_at_period_end, s.created_at,
             s.renewal_count - (SELECT count(*) FROM subscription_periods sp
                                 WHERE sp.subscription_id = s.id AND sp.kind = 'renewal' AND sp.created_at > ?)::integer
               -- a renewal made by then and taken back since counted then (the undo took 1 off since)
               + (SELECT count(*) FROM subscription_periods_undone u
                   WHERE u.subscription_id = s.id AND u.kind = 'renewal'
                     AND u.created_at <= ? AND u.undone_at > ?)::integer
               AS renewal_count,
             CASE WHEN s.status IN ('expired', 'cancelled')
                       AND NOT COALESCE(? < CASE s.status WHEN 'expired' THEN s.expired_at ELSE s.cancelled_at END,
                                        false)
                  THEN s.status
                  -- lapsed by then and renewed late only after it (a period from the renewal on): expired then,
                  -- whatever its status now (the renewals report counts the same lapse)
                  WHEN EXISTS (SELECT 1 FROM subscription_lapses l
                                WHERE l.subscription_id = s.id AND l.expired_at <= ?
                                  AND NOT EXISTS (SELECT 1 FROM subscription_periods sp
                                                   WHERE sp.subscription_id = s.id AND sp.created_at > l.expired_at
                                                     AND sp.created_at <= ?)) THEN 'expired'
                  WHEN s.activated_at IS NULL OR ? < s.activated_at THEN 'pending'
                  WHEN EXISTS (SELECT 1 FROM subscription_freezes f
                                WHERE f.subscription_id = s.id AND f.frozen_at <= ?
                                  AND (f.unfrozen_at IS NULL OR ? < f.unfrozen_at)) THEN 'frozen'
                  WHEN EXISTS (SELECT 1 FROM subscription_suspensions u
                                WHERE u.subscription_id = s.id AND u.suspended_at <= ?
                                  AND (u.resumed_at IS NULL OR ? < u.resumed_at)) THEN 'suspended'
                  WHEN s.status = 'suspended'
                       AND NOT EXISTS (SELECT 1 FROM subscription_suspensions u WHERE u.subscription_id = s.id)
                  THEN 'suspended'
                  WHEN s.status IN ('frozen', 'expired', 'cancelled', 'suspended') THEN 'active'
                  ELSE s.status END AS status,
             -- when the freeze covering the instant began (a balance expired before it is not kept by it)
             (SELECT max(f.frozen_at) FROM subscription_freezes f
               WHERE f.subscription_id = s.id AND f.frozen_at <= ?
                 AND (f.unfrozen_at IS NULL OR ? < f.unfrozen_at)) AS frozen_at,
             COALESCE(per.starts_at, s.current_period_start) AS current_period_start,
             COALESCE(per.ends_at, s.current_period_end)
               - (SELECT COALESCE(sum(f.unfrozen_at - f.frozen_at), interval '0') FROM subscription_freezes f
                   WHERE f.subscription_id = s.id AND f.unfrozen_at > ?
                     AND f.period_start = COALESCE(per.starts_at, s.current_period_start)) AS current_period_end
        FROM subscriptions s
        -- a period begun after the instant (a renewal since), or one taken back since (a renewal made ahead, undone):
        -- the latest of those there then, as it was then
        LEFT JOIN LATERAL (SELECT p.starts_at, p.ends_at
                             FROM (SELECT sp.starts_at, sp.ends_at FROM subscription_periods sp
                                    WHERE sp.subscription_id = s.id AND sp.created_at <= ?
                                   UNION ALL
                                   SELECT u.starts_at, u.ends_at FROM subscription_periods_undone u
                                    WHERE u.subscription_id = s.id AND u.created_at <= ? AND u.undone_at > ?) p
                            WHERE EXISTS (SELECT 1 FROM subscription_periods later
                                           WHERE later.subscription_id = s.id AND later.created_at > ?)
                               OR EXISTS (SELECT 1 FROM subscription_periods_undone later
                                           WHERE later.subscription_id = s.id AND later.undone_at > ?)
                            ORDER BY p.starts_at DESC LIMIT 1) per ON true
       WHERE s.created_at <= ?)`;
  return { sql, bindings: Array.from({ length: sql.split('?').length - 1 }, () => at) };
}

/**
 * `bt` and `st` as they are now, for a picture that is always of now and is read often (the overview's counts):
 * the same statement, without reading back from the ledger.
 */
export function liveTables(): { sql: string; bindings: Knex.RawBinding[] } {
  return {
    sql: `
    bt AS NOT MATERIALIZED (SELECT * FROM balances),
    st AS NOT MATERIALIZED (SELECT * FROM subscriptions)`,
    bindings: [],
  };
}
