import type { LedgerEntryDraft } from '../../domain/ledger-entry.js';
import type { Executor } from '../knex.js';

export type { LedgerEntryDraft, LedgerKind } from '../../domain/ledger-entry.js';

export interface LedgerEntryRow extends Required<LedgerEntryDraft> {
  seq: bigint;
  id: string;
  /** An `extend` entry's old and new expiry of its balance (null on every other kind). */
  previous_expires_at: Date | null;
  expires_at: Date | null;
}

/**
 * One multi-row INSERT of ledger entries from a JSON array (jsonb_to_recordset), whatever their
 * number; `param` is the statement's placeholder for that array (`?` for knex, `$n` for pg).
 * Entries keep their order: identities are assigned in array order.
 */
export const ledgerInsertSql = (param: string): string => `INSERT INTO ledger_entries
       (balance_id, client_id, credit_type_id, subscription_id, kind, amount, remaining_after,
        consumption_id, invoice_id, job_id, actor, reason, effective_at, created_at)
     SELECT balance_id, client_id, credit_type_id, subscription_id, kind, amount, remaining_after,
            consumption_id, invoice_id, job_id, actor, reason, effective_at, created_at
       FROM jsonb_to_recordset(${param}::jsonb)
            AS x(balance_id uuid, client_id uuid, credit_type_id uuid, subscription_id uuid, kind text,
                 amount bigint, remaining_after bigint, consumption_id uuid, invoice_id uuid, job_id text, actor text,
                 reason text, effective_at timestamptz, created_at timestamptz)`;

/** The entries as the JSON ledgerInsertSql reads (bigints as strings: exact beyond 2^53). */
export const ledgerJson = (entries: readonly LedgerEntryDraft[]): string =>
  JSON.stringify(
    entries.map((e) => ({
      balance_id: e.balance_id,
      client_id: e.client_id,
      credit_type_id: e.credit_type_id,
      subscription_id: e.subscription_id,
      kind: e.kind,
      amount: e.amount.toString(),
      remaining_after: e.remaining_after.toString(),
      consumption_id: e.consumption_id ?? null,
      invoice_id: e.invoice_id ?? null,
      job_id: e.job_id ?? null,
      actor: e.actor ?? null,
      reason: e.reason ?? null,
      effective_at: e.effective_at,
      created_at: e.created_at,
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
