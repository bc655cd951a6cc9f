import type { Executor } from '../db/knex.js';
import {
  formatInvoiceNumber,
  type InvoiceKind,
  type InvoiceLineRow,
  type InvoiceWithLines,
  insertInvoice,
  takeInvoiceNumber,
} from '../db/repositories/invoices.js';
import { recordEvents } from '../db/repositories/outbox.js';
import { minorToJson } from '../domain/money.js';
import type { Period } from '../domain/period.js';
import { yearIn } from '../domain/period.js';
import { newId } from '../ids.js';

export interface InvoiceLineDraft {
  description: string;
  amount: bigint;
  creditTypeId?: string | null;
  quantity?: bigint | null;
}

export interface IssueInvoiceInput {
  clientId: string;
  subscriptionId: string | null;
  kind: InvoiceKind;
  currency: string;
  lines: readonly InvoiceLineDraft[];
  period: Period | null;
  now: Date;
  timeZone: string;
}

/**
 * Issues an invoice in the caller's transaction: takes the year's next number (gapless: a rollback
 * returns it), writes the lines, and records `invoice.created`. Call it after every other lock the
 * transaction needs: the counter is one row shared by every sale.
 */
export async function issueInvoice(tx: Executor, input: IssueInvoiceInput): Promise<InvoiceWithLines> {
  const year = yearIn(input.now, input.timeZone);
  const sequence = await takeInvoiceNumber(tx, year);
  const id = newId();
  const lines: InvoiceLineRow[] = input.lines.map((line, position) => ({
    id: newId(),
    invoice_id: id,
    position,
    description: line.description,
    credit_type_id: line.creditTypeId ?? null,
    quantity: line.quantity ?? null,
    amount: line.amount,
  }));
  const invoice = {
    id,
    number: formatInvoiceNumber(year, sequence),
    year,
    sequence,
    client_id: input.clientId,
    subscription_id: input.subscriptionId,
    kind: input.kind,
    currency: input.currency,
    total: lines.reduce((sum, line) => sum + line.amount, 0n),
    status: 'issued' as const,
    period_start: input.period?.start ?? null,
    period_end: input.period?.end ?? null,
    issued_at: input.now,
    paid_at: null,
    voided_at: null,
    void_reason: null,
    created_at: input.now,
  };
  await insertInvoice(tx, invoice, lines);
  await recordEvents(
    tx,
    [
      {
        type: 'invoice.created',
        clientId: input.clientId,
        subjectId: id,
        data: {
          invoice_id: id,
          client_id: input.clientId,
          number: invoice.number,
          kind: invoice.kind,
          subscription_id: invoice.subscription_id,
          total: minorToJson(invoice.total),
          currency: invoice.currency,
        },
      },
    ],
    input.now,
  );
  return { ...invoice, lines };
}
