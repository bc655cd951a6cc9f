import type { LedgerEntryDraft } from '../../domain/ledger-entry.js';
import { jsonTime } from '../../json-time.js';
import type { Executor } from '../knex.js';

export type { LedgerEntryDraft, LedgerKind } from '../../domain/ledger-entry.js';

export interface LedgerEntryRow extends Required<LedgerEntryDraft> {
  seq: bigint;
  id: string;
  /** An `extend` entry's old and new expiry of its balance (null on every other kind). */
  previous_expires_at: Date | null;
  expires_at: Date | null;
  /** An activation's `extend` entry: the balance's start before it moved (null on every other entry). */
  previous_valid_from: Date | null;
}

/**
 * One multi-row INSERT of ledger entries from a JSON array (json_to_recordset), whatever their
 * number; `param` is the statement's placeholder for that array (`?` for knex, `$n` for pg).
 * Entries keep their order: identities are assigned in array order.
 */
export const ledgerInsertSql = (param: string): string => `INSERT INTO ledger_entries
       (balance_id, client_id, credit_type_id, subscription_id, kind, amount, remaining_after,
        consumption_id, invoice_id, job_id, actor, reason, effective_at, created_at)
     SELECT balance_id, client_id, credit_type_id, subscription_id, kind, amount, remaining_after,
            consumption_id, invoice_id, job_id, actor, reason, effective_at, created_at
       FROM json_to_recordset(${param}::json)
            AS x(balance_id uuid, client_id uuid, credit_type_id uuid, subscription_id uuid, kind text,
                 amount bigint, remaining_after bigint, consumption_id uuid, invoice_id uuid, job_id text, actor text,
                 reason text, effective_at timestamptz, created_at timestamptz)`;

/**
 * The entries as the JSON ledgerInsertSql reads (bigints as strings: exact beyond 2^53). A field an entry
 * leaves empty is left out (undefined is not written), which json_to_recordset reads as NULL: the hot path
 * writes up to three entries per capture, and most of them name no consumption, invoice or actor.
 */
export const ledgerJson = (entries: readonly LedgerEntryDraft[]): string =>
  JSON.stringify(
    entries.map((e) => ({
      balance_id: e.balance_id,
      client_id: e.client_id,
      credit_type_id: e.credit_type_id,
      subscription_id: e.subscription_id ?? undefined,
      kind: e.kind,
      amount: e.amount.toString(),
      remaining_after: e.remaining_after.toString(),
      consumption_id: e.consumption_id ?? undefined,
      invoice_id: e.invoice_id ?? undefined,
      job_id: e.job_id ?? undefined,
      actor: e.actor ?? undefined,
      reason: e.reason ?? undefined,
      effective_at: jsonTime(e.effective_at),
      created_at: jsonTime(e.created_at),
    })),
  );

/** Appends entries with one statement, whatever their number. */
export async function appendLedgerEntries(db: Executor, entries: readonly LedgerEntryDraft[]): Promise<void> {
  if (entries.length === 0) return;
  await db.raw(ledgerInsertSql('?'), [ledgerJson(entries)]);
}

export interface StatementFilter {
  clientId: string;
  creditTypeId?: string | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
  afterSeq?: bigint | undefined;
  limit: number;
}

/** A client's ledger, oldest first (API.md statement). */
export async function statement(db: Executor, filter: StatementFilter): Promise<LedgerEntryRow[]> {
  const query = db('ledger_entries').where('client_id', filter.clientId);
  if (filter.creditTypeId) query.andWhere('credit_type_id', filter.creditTypeId);
  if (filter.from) query.andWhere('created_at', '>=', filter.from);
  if (filter.to) query.andWhere('created_at', '<', filter.to);
  if (filter.afterSeq !== undefined) query.andWhere('seq', '>', filter.afterSeq.toString());
  return (await query.orderBy('seq').limit(filter.limit)) as LedgerEntryRow[];
}

/** The balance's last entry (the highest seq). */
export async function latestEntryOfBalance(db: Executor, balanceId: string): Promise<LedgerEntryRow | undefined> {
  const [row] = (await db('ledger_entries')
    .where({ balance_id: balanceId })
    .orderBy('seq', 'desc')
    .limit(1)) as LedgerEntryRow[];
  return row;
}

export async function entriesOfConsumption(db: Executor, consumptionId: string): Promise<LedgerEntryRow[]> {
  return (await db('ledger_entries').where({ consumption_id: consumptionId }).orderBy('seq')) as LedgerEntryRow[];
}

/** One row of ledgerUpTo: a balance's first entry (`kind` null), or the sum and count of one later kind. */
export interface LedgerSumRow {
  balance_id: string;
  kind: string | null;
  amount: bigint;
  n: number;
}

/**
 * A hold's closing that took effect before it was written — its expiry, given back (`release`) or lapsed (`expire`,
 * `void`) as of its `expires_at` by a sweep or a read that came later — and in force at `at` while the hold it closes
 * was already written: a live read at `at` would have closed it first (it does what the sweep owes). `e` is the entry;
 * its two bindings are `at`. The hold is found by the id its reason names (`hold <id>`, domain/hold.ts holdReason) in
 * `holds`, whose row is written with its `hold` entries (the same `created_at`) and, unlike them, stays when their
 * month is archived (services/archive.ts). One primary-key read per such entry: the `hold` entry looked up in the
 * ledger instead, with a fallback for an archived one, made the reports' pictures of an instant seven times slower.
 * A reason that only looks like a hold's (an operator's text) names no uuid and no hold.
 */
export const HOLD_EXPIRED_BY = `e.kind IN ('release', 'expire', 'void') AND e.reason LIKE 'hold %'
    AND e.effective_at < e.created_at AND e.effective_at <= ?
    AND EXISTS (SELECT 1 FROM holds h
                 WHERE h.id = CASE WHEN e.reason ~ '^hold [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                                   THEN substr(e.reason, 6)::uuid END
                   AND h.created_at <= ?)`;

/**
 * A client's ledger up to `at` (entries written at or before it, `created_at`, and a hold's expiry owed by then:
 * HOLD_EXPIRED_BY), summed per balance:
 * each balance's first entry, then Σ amount and count per kind of the entries after it (as of reads). A balance
 * whose early months were archived starts from its latest checkpoint (migration 0018): valid for an `at` at or
 * after the end of the archived months only, which the caller checks (services/balances.ts).
 */
export async function ledgerUpTo(db: Executor, clientId: string, at: Date): Promise<LedgerSumRow[]> {
  const result = await db.raw(
    `WITH cp AS (SELECT DISTINCT ON (c.balance_id) c.balance_id, c.first_amount, c.later
                   FROM balance_checkpoints c JOIN balances b ON b.id = c.balance_id
                  WHERE b.client_id = ? ORDER BY c.balance_id, c.month DESC),
          l AS (SELECT balance_id, seq, kind, amount FROM ledger_entries e
                 WHERE client_id = ? AND (created_at <= ? OR (${HOLD_EXPIRED_BY}))),
          f AS (SELECT DISTINCT ON (balance_id) balance_id, seq, amount FROM l
                 WHERE balance_id NOT IN (SELECT balance_id FROM cp) ORDER BY balance_id, seq)
     SELECT f.balance_id, NULL::text AS kind, f.amount, 1 AS n FROM f
     UNION ALL
     SELECT cp.balance_id, NULL::text AS kind, cp.first_amount, 1 AS n FROM cp
     UNION ALL
     SELECT balance_id, kind, sum(amount)::bigint AS amount, sum(n)::int AS n
       FROM (SELECT l.balance_id, l.kind, l.amount, 1 AS n
               FROM l JOIN f ON f.balance_id = l.balance_id AND l.seq > f.seq
             UNION ALL
             SELECT l.balance_id, l.kind, l.amount, 1 AS n FROM l JOIN cp ON cp.balance_id = l.balance_id
             UNION ALL
             SELECT cp.balance_id, x.key, (x.value ->> 'amount')::bigint, (x.value ->> 'n')::int
               FROM cp CROSS JOIN jsonb_each(cp.later) x) u
      GROUP BY balance_id, kind`,
    [clientId, clientId, at, at, at],
  );
  return (result as { rows: LedgerSumRow[] }).rows;
}

/**
 * Each balance of the client whose expiry an `extend` entry moved after `at` (a freeze that ended later, or a late
 * payment that activated its subscription later): the expiry it had at `at`, the `previous_expires_at` of the first
 * such entry. An entry takes effect at its effective_at — when the freeze ended (its unfrozen_at), when the payment
 * came — not when it was written: a freeze that had run out by `at` (its `frozen_until`) but that the sweep ended
 * later had ended for a live read at `at`, which does what the sweep owes first. An activation's entry also gives the
 * start the balance had then (`validFrom`, null for a freeze's).
 */
export async function expiriesBefore(
  db: Executor,
  clientId: string,
  at: Date,
): Promise<Map<string, { expiresAt: Date; validFrom: Date | null }>> {
  const rows = (await db('ledger_entries')
    .distinctOn('balance_id')
    .where({ client_id: clientId, kind: 'extend' })
    .andWhere('effective_at', '>', at)
    .orderBy([{ column: 'balance_id' }, { column: 'seq' }])
    .select('balance_id', 'previous_expires_at', 'previous_valid_from')) as Array<{
    balance_id: string;
    previous_expires_at: Date;
    previous_valid_from: Date | null;
  }>;
  return new Map(
    rows.map((r) => [r.balance_id, { expiresAt: r.previous_expires_at, validFrom: r.previous_valid_from }]),
  );
}
