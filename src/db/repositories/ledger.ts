import { newId } from '../../ids.js';
import { arrays, type Executor } from '../knex.js';

export type LedgerKind = 'grant' | 'consume' | 'reverse' | 'recharge' | 'adjust' | 'expire' | 'rollover' | 'void';

/** One change of one balance, as written. `amount` is signed; `remaining_after` is the balance right after it. */
export interface LedgerEntryDraft {
  balance_id: string;
  client_id: string;
  credit_type_id: string;
  subscription_id: string;
  kind: LedgerKind;
  amount: bigint;
  remaining_after: bigint;
  consumption_id?: string | null;
  invoice_id?: string | null;
  job_id?: string | null;
  actor?: string | null;
  reason?: string | null;
  effective_at: Date;
  created_at: Date;
}

export interface LedgerEntryRow extends Required<LedgerEntryDraft> {
  seq: bigint;
  id: string;
}

/**
 * Appends entries with one statement (arrays unnested server-side), whatever their number: the
 * consumption batches write hundreds at a time.
 */
export async function appendLedgerEntries(db: Executor, entries: readonly LedgerEntryDraft[]): Promise<void> {
  if (entries.length === 0) return;
  const col = <K extends keyof LedgerEntryDraft>(key: K) => entries.map((e) => e[key] ?? null);
  await db.raw(
    `INSERT INTO ledger_entries
       (id, balance_id, client_id, credit_type_id, subscription_id, kind, amount, remaining_after,
        consumption_id, invoice_id, job_id, actor, reason, effective_at, created_at)
     SELECT * FROM unnest(?::uuid[], ?::uuid[], ?::uuid[], ?::uuid[], ?::uuid[], ?::text[], ?::bigint[], ?::bigint[],
                          ?::uuid[], ?::uuid[], ?::text[], ?::text[], ?::text[], ?::timestamptz[], ?::timestamptz[])`,
    arrays([
      entries.map(() => newId()),
      col('balance_id'),
      col('client_id'),
      col('credit_type_id'),
      col('subscription_id'),
      col('kind'),
      entries.map((e) => e.amount.toString()),
      entries.map((e) => e.remaining_after.toString()),
      col('consumption_id'),
      col('invoice_id'),
      col('job_id'),
      col('actor'),
      col('reason'),
      col('effective_at'),
      col('created_at'),
    ]),
  );
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

export async function entriesOfConsumption(db: Executor, consumptionId: string): Promise<LedgerEntryRow[]> {
  return (await db('ledger_entries').where({ consumption_id: consumptionId }).orderBy('seq')) as LedgerEntryRow[];
}
