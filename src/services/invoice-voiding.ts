import type { Tx } from '../db/knex.js';
import {
  type InvoiceWithLines,
  lockIssuedInvoices,
  lockIssuedInvoicesStartingAfter,
  updateInvoice,
} from '../db/repositories/invoices.js';
import type { OutboxEventDraft } from '../db/repositories/outbox.js';
import type { SubscriptionRow } from '../db/repositories/subscriptions.js';
import { minorToJson } from '../domain/money.js';

/** What an `invoice.*` event says of its invoice. */
export const invoiceEventData = (invoice: InvoiceWithLines) => ({
  invoice_id: invoice.id,
  // whose invoice: a receiver that bills or books it needs no GET /v1/invoices/{id} to know
  client_id: invoice.client_id,
  number: invoice.number,
  kind: invoice.kind,
  subscription_id: invoice.subscription_id,
  total: minorToJson(invoice.total),
  currency: invoice.currency,
});

/**
 * Voids the still-unpaid first invoice of a subscription that will never run (DOMAIN.md "Paying after the period
 * passed": a payment never leaves a paid invoice with no units behind it), so that paying it later is 409. Call
 * after locking the subscription and its balances (the one lock order); answers the `invoice.voided` events.
 */
export async function voidUnpaidFirstInvoice(
  tx: Tx,
  subscription: Pick<SubscriptionRow, 'id'>,
  reason: string,
  now: Date,
): Promise<OutboxEventDraft[]> {
  return voidAll(tx, await lockIssuedInvoices(tx, subscription.id, 'subscription'), reason, now);
}

/**
 * Voids the unpaid invoices of periods that had not started when the subscription was cancelled at once (a renewal
 * made ahead, a recharge for that period): their units are void before they could ever be spent, and a payment
 * would buy nothing. Invoices of a period that ran stay as they are: their units could be used. Call after locking
 * the subscription and its balances; answers the `invoice.voided` events.
 */
export async function voidUnpaidInvoicesNotStarted(
  tx: Tx,
  subscription: Pick<SubscriptionRow, 'id'>,
  reason: string,
  now: Date,
): Promise<OutboxEventDraft[]> {
  return voidAll(tx, await lockIssuedInvoicesStartingAfter(tx, subscription.id, now), reason, now);
}

/**
 * Voids those of these invoices still unpaid (`issued`): a renewal made ahead and taken back before its period began,
 * and the recharges bought into it — they buy nothing now. Call after locking the subscription and its balances, with
 * the invoices locked; answers the `invoice.voided` events (none for an invoice no longer `issued`).
 */
export async function voidUnpaidInvoices(
  tx: Tx,
  invoices: readonly InvoiceWithLines[],
  reason: string,
  now: Date,
): Promise<OutboxEventDraft[]> {
  return voidAll(
    tx,
    invoices.filter((invoice) => invoice.status === 'issued'),
    reason,
    now,
  );
}

async function voidAll(
  tx: Tx,
  unpaid: readonly InvoiceWithLines[],
  reason: string,
  now: Date,
): Promise<OutboxEventDraft[]> {
  for (const invoice of unpaid)
    await updateInvoice(tx, invoice.id, { status: 'void', voided_at: now, void_reason: reason });
  return unpaid.map((invoice) => ({
    type: 'invoice.voided',
    clientId: invoice.client_id,
    subjectId: invoice.id,
    data: { ...invoiceEventData(invoice), reason },
  }));
}
