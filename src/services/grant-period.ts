import type { Executor } from '../db/knex.js';
import { type BalanceRow, createBalances } from '../db/repositories/balances.js';
import type { InvoiceWithLines } from '../db/repositories/invoices.js';
import { type BalanceSource, type GrantTerms, grantsForPeriod, type ItemUnits } from '../domain/grant.js';
import type { Period } from '../domain/period.js';
import { type InvoiceLineDraft, issueInvoice } from './invoicing.js';

export interface PeriodGrant {
  clientId: string;
  subscriptionId: string;
  /** What is sold: the first period, a renewal, or a recharge within the current period. */
  sale: 'subscription' | 'renewal' | 'recharge';
  currency: string;
  lines: readonly InvoiceLineDraft[];
  /** When the new balances are valid: the period, or for a recharge from now to the period's end. */
  validity: Period;
  /** The subscription period the balances belong to (a recharge's is the current one). */
  periodStart: Date;
  items: readonly ItemUnits[];
  terms: GrantTerms;
  jobId?: string | null;
  actor: string;
  now: Date;
  timeZone: string;
}

/**
 * The step subscribing, renewing and recharging share (DOMAIN.md "Lifecycle"): the invoice that
 * charges for a grant, then one balance per item with the ledger entry that grants it, in the
 * caller's transaction. The invoice comes first because its number is taken from the year's counter,
 * the one row every sale shares; nothing the caller locks later may wait on it for long.
 */
export async function grantPeriod(
  tx: Executor,
  grant: PeriodGrant,
): Promise<{ invoice: InvoiceWithLines; balances: BalanceRow[] }> {
  const source: BalanceSource = grant.sale === 'recharge' ? 'recharge' : 'package';
  const invoice = await issueInvoice(tx, {
    clientId: grant.clientId,
    subscriptionId: grant.subscriptionId,
    kind: grant.sale,
    currency: grant.currency,
    lines: grant.lines,
    period: grant.validity,
    now: grant.now,
    timeZone: grant.timeZone,
  });
  const balances = await createBalances(tx, grantsForPeriod(grant.items, grant.validity, grant.terms, source), {
    clientId: grant.clientId,
    subscriptionId: grant.subscriptionId,
    periodStart: grant.periodStart,
    kind: grant.sale === 'recharge' ? 'recharge' : 'grant',
    invoiceId: invoice.id,
    jobId: grant.jobId ?? null,
    actor: grant.actor,
    now: grant.now,
  });
  return { invoice, balances };
}
