import type { Executor } from '../knex.js';
import { type Page, type PageRequest, readPage } from '../pagination.js';

export type InvoiceKind = 'subscription' | 'renewal' | 'recharge';
export type InvoiceStatus = 'issued' | 'paid' | 'void';

export interface InvoiceRow {
  id: string;
  number: string;
  year: number;
  sequence: number;
  client_id: string;
  subscription_id: string | null;
  kind: InvoiceKind;
  currency: string;
  total: bigint;
  status: InvoiceStatus;
  period_start: Date | null;
  period_end: Date | null;
  issued_at: Date;
  paid_at: Date | null;
  voided_at: Date | null;
  void_reason: string | null;
  created_at: Date;
}

export interface InvoiceLineRow {
  id: string;
  invoice_id: string;
  position: number;
  description: string;
  credit_type_id: string | null;
  quantity: bigint | null;
  amount: bigint;
}

export interface InvoiceWithLines extends InvoiceRow {
  lines: InvoiceLineRow[];
}

/**
 * Takes the next number of `year`. The counter row stays locked until the transaction ends and a
 * rollback gives the number back, so numbers are gapless. Take it last: it is the one global row.
 */
export async function takeInvoiceNumber(db: Executor, year: number): Promise<number> {
  const result = await db.raw<{ rows: Array<{ last_number: number }> }>(
    `INSERT INTO invoice_counters (year, last_number) VALUES (?, 1)
     ON CONFLICT (year) DO UPDATE SET last_number = invoice_counters.last_number + 1
     RETURNING last_number`,
    [year],
  );
  return result.rows[0]!.last_number;
}

export const formatInvoiceNumber = (year: number, sequence: number): string =>
  `INV-${year}-${String(sequence).padStart(6, '0')}`;

export async function insertInvoice(
  db: Executor,
  invoice: InvoiceRow,
  lines: readonly InvoiceLineRow[],
): Promise<void> {
  await db('invoices').insert(invoice);
  if (lines.length > 0) await db('invoice_lines').insert(lines);
}

async function attachLines(db: Executor, rows: InvoiceRow[]): Promise<InvoiceWithLines[]> {
  if (rows.length === 0) return [];
  const lines = (await db('invoice_lines')
    .whereIn(
      'invoice_id',
      rows.map((r) => r.id),
    )
    .orderBy(['invoice_id', 'position'])) as InvoiceLineRow[];
  return rows.map((r) => ({ ...r, lines: lines.filter((l) => l.invoice_id === r.id) }));
}

export async function invoiceById(
  db: Executor,
  id: string,
  options: { forUpdate?: boolean } = {},
): Promise<InvoiceWithLines | undefined> {
  const query = db('invoices').where({ id });
  if (options.forUpdate) query.forUpdate();
  const row = (await query.first()) as InvoiceRow | undefined;
  if (!row) return undefined;
  return (await attachLines(db, [row]))[0];
}

export async function findInvoice(db: Executor, ref: string, isUuid: boolean): Promise<InvoiceWithLines | undefined> {
  const row = (await db('invoices')
    .where((q) => (isUuid ? q.where('id', ref).orWhere('number', ref) : q.where('number', ref)))
    .first()) as InvoiceRow | undefined;
  if (!row) return undefined;
  return (await attachLines(db, [row]))[0];
}

export async function invoicesByIds(db: Executor, ids: readonly string[]): Promise<Map<string, InvoiceWithLines>> {
  if (ids.length === 0) return new Map();
  const rows = (await db('invoices').whereIn('id', [...new Set(ids)])) as InvoiceRow[];
  return new Map((await attachLines(db, rows)).map((r) => [r.id, r]));
}

/**
 * Locks the subscription's invoices of `kind` still `issued` (unpaid, not void), by id. Take after
 * the subscription and its balances (the one lock order).
 */
export async function lockIssuedInvoices(
  db: Executor,
  subscriptionId: string,
  kind: InvoiceKind,
): Promise<InvoiceWithLines[]> {
  const rows = (await db('invoices')
    .where({ subscription_id: subscriptionId, kind, status: 'issued' })
    .orderBy('id')
    .forUpdate()) as InvoiceRow[];
  return attachLines(db, rows);
}

/** A subscription's unpaid invoices of periods that start after `at`, locked (in id order). */
export async function lockIssuedInvoicesStartingAfter(
  db: Executor,
  subscriptionId: string,
  at: Date,
): Promise<InvoiceWithLines[]> {
  const rows = (await db('invoices')
    .where({ subscription_id: subscriptionId, status: 'issued' })
    .where('period_start', '>', at)
    .orderBy('id')
    .forUpdate()) as InvoiceRow[];
  return attachLines(db, rows);
}

export async function updateInvoice(db: Executor, id: string, patch: Partial<InvoiceRow>): Promise<void> {
  await db('invoices').where({ id }).update(patch);
}

/** A line's new wording (the period a late payment moved: services/invoices.ts); its amount never changes. */
export async function describeInvoiceLine(
  db: Executor,
  line: Pick<InvoiceLineRow, 'invoice_id' | 'position' | 'description'>,
): Promise<void> {
  await db('invoice_lines')
    .where({ invoice_id: line.invoice_id, position: line.position })
    .update({ description: line.description });
}

export interface InvoiceFilter {
  clientId?: string | undefined;
  subscriptionId?: string | undefined;
  status?: InvoiceStatus | undefined;
  kind?: InvoiceKind | undefined;
}

export async function listInvoices(
  db: Executor,
  page: PageRequest,
  filter: InvoiceFilter,
): Promise<Page<InvoiceWithLines>> {
  const query = db('invoices').select('*');
  if (filter.clientId) query.where('client_id', filter.clientId);
  if (filter.subscriptionId) query.where('subscription_id', filter.subscriptionId);
  if (filter.status) query.where('status', filter.status);
  if (filter.kind) query.where('kind', filter.kind);
  const result = await readPage<InvoiceRow>(query, page, 'invoices');
  return { data: await attachLines(db, result.data), nextCursor: result.nextCursor };
}
