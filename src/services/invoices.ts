import type { Executor, Tx } from '../db/knex.js';
import { type BalanceRow, lockActiveBalancesOfSubscription, moveBalanceStarts } from '../db/repositories/balances.js';
import { clientsByIds } from '../db/repositories/clients.js';
import { creditTypesByIds } from '../db/repositories/credit-types.js';
import { extendBalances } from '../db/repositories/freezes.js';
import {
  describeInvoiceLine,
  findInvoice,
  type InvoiceWithLines,
  invoiceById,
  updateInvoice,
} from '../db/repositories/invoices.js';
import { recordEvents } from '../db/repositories/outbox.js';
import {
  lockSubscription,
  movePeriod,
  type SubscriptionRow,
  updateSubscription,
} from '../db/repositories/subscriptions.js';
import { transact } from '../db/transact.js';
import { nthPeriod, validityOf } from '../domain/period.js';
import { fail, ok, type Result } from '../domain/result.js';
import { isUuid } from '../ids.js';
import { type InvoiceView, toInvoiceView } from '../views/invoice.js';
import { describePeriod } from './invoice-lines.js';
import { invoiceEventData } from './invoice-voiding.js';
import { type OnRenewable, tellIfRenewable } from './renewable.js';
import { voidBalances } from './subscriptions.js';

export interface InvoiceActionContext {
  now: Date;
  timeZone: string;
  actor: string;
  /** Told of a subscription a payment activated, when it is renewable: its renewal ahead is asked after commit. */
  onRenewable?: OnRenewable | undefined;
}

interface Locked {
  subscription: SubscriptionRow | undefined;
  /** A pending subscription's live balances (locked): what its activation moves. */
  balances: BalanceRow[];
  invoice: InvoiceWithLines;
}

/**
 * Locks in the one order: the invoice's subscription, then (for a pending one) its balances, then the
 * invoice itself. The invoice is first read without a lock only to learn its subscription.
 */
async function lockForAction(tx: Tx, ref: string): Promise<Locked | undefined> {
  const peek = await findInvoice(tx, ref, isUuid(ref));
  if (!peek) return undefined;
  const subscription = peek.subscription_id ? await lockSubscription(tx, peek.subscription_id) : undefined;
  const balances =
    subscription?.status === 'pending' ? await lockActiveBalancesOfSubscription(tx, subscription.id) : [];
  const invoice = await invoiceById(tx, peek.id, { forUpdate: true });
  return invoice ? { subscription, balances, invoice } : undefined;
}

/**
 * Marks an invoice paid (paying it again answers the same invoice). Paying the first invoice of an
 * `activation=on_payment` subscription activates it; its period starts at the payment when that is
 * later than the planned start, so the client gets the whole period it paid for. Once that period
 * would have ended unpaid, the invoice is void (or about to be voided by the sweep): 409.
 */
export async function payInvoice(
  db: Executor,
  ref: string,
  context: InvoiceActionContext,
): Promise<Result<InvoiceWithLines>> {
  return transact(db, async (tx) => {
    const locked = await lockForAction(tx, ref);
    if (!locked) return fail('not_found', `no invoice "${ref}"`);
    const { invoice, subscription } = locked;
    if (invoice.status === 'paid') return ok(invoice);
    if (invoice.status === 'void') return fail('conflict', `invoice ${invoice.number} is void and cannot be paid`);
    if (
      subscription?.status === 'pending' &&
      invoice.kind === 'subscription' &&
      subscription.current_period_end.getTime() <= context.now.getTime()
    ) {
      // DOMAIN.md "Paying after the period passed": unpaid when its period ended, the subscription has
      // lapsed — the expiry sweep expires it and voids this invoice, whether it ran yet or not
      return fail(
        'conflict',
        `invoice ${invoice.number} was unpaid when its subscription's period ended ` +
          `(${subscription.current_period_end.toISOString()}); it is void and cannot be paid`,
      );
    }

    await updateInvoice(tx, invoice.id, { status: 'paid', paid_at: context.now });
    const events: Parameters<typeof recordEvents>[1][number][] = [
      {
        type: 'invoice.paid',
        clientId: invoice.client_id,
        subjectId: invoice.id,
        data: { ...invoiceEventData(invoice), paid_at: context.now.toISOString() },
      },
    ];
    let paid: InvoiceWithLines = { ...invoice, status: 'paid', paid_at: context.now };

    if (subscription && subscription.status === 'pending' && invoice.kind === 'subscription') {
      const validity = validityOf(subscription);
      const late = context.now.getTime() > subscription.current_period_start.getTime();
      const period = late
        ? nthPeriod(context.now, validity, context.timeZone, 0)
        : { start: subscription.current_period_start, end: subscription.current_period_end };
      const activated = await updateSubscription(tx, subscription.id, {
        status: 'active',
        activated_at: context.now,
        anchor_at: period.start,
        period_index: 0,
        current_period_start: period.start,
        current_period_end: period.end,
        updated_at: context.now,
      });
      tellIfRenewable(subscription, activated, context.onRenewable);
      if (late) {
        // the whole period from the payment: each balance's start and expiry move, with its `extend` entry (the old
        // start and expiry: balances as of an instant before the payment find them)
        await extendBalances(
          tx,
          locked.balances,
          locked.balances.map((b) => ({
            id: b.id,
            previousExpiresAt: b.expires_at,
            expiresAt: period.end,
            previousValidFrom: b.valid_from,
          })),
          {
            actor: context.actor,
            reason: `activated by the payment of ${invoice.number}, after its planned start: the whole period from it`,
            effectiveAt: context.now,
            now: context.now,
          },
        );
        await moveBalanceStarts(tx, locked.balances, period, context.now);
        await movePeriod(tx, subscription.id, subscription.current_period_start, period);
        await updateInvoice(tx, invoice.id, { period_start: period.start, period_end: period.end });
        // its line named the planned period (invoice-lines.ts): it names the one the payment sells, as the invoice's
        // own period_start/end now do; the amount stays
        const planned = describePeriod(
          { start: subscription.current_period_start, end: subscription.current_period_end },
          context.timeZone,
        );
        const lines = invoice.lines.map((line) =>
          line.description.endsWith(planned)
            ? {
                ...line,
                description: line.description.slice(0, -planned.length) + describePeriod(period, context.timeZone),
              }
            : line,
        );
        for (const [i, line] of lines.entries())
          if (line.description !== invoice.lines[i]!.description) await describeInvoiceLine(tx, line);
        paid = { ...paid, period_start: period.start, period_end: period.end, lines };
      }
      events.push({
        type: 'subscription.activated',
        clientId: subscription.client_id,
        subjectId: subscription.id,
        data: {
          subscription_id: subscription.id,
          client_id: subscription.client_id,
          period_start: period.start.toISOString(),
          period_end: period.end.toISOString(),
          invoice_id: invoice.id,
        },
      });
    }
    await recordEvents(tx, events, context.now);
    return ok(paid);
  });
}

/**
 * Voids an issued invoice (voiding it again answers the same invoice; a paid one cannot be voided).
 * Voiding the unpaid first invoice of a pending subscription cancels that subscription.
 */
export async function voidInvoice(
  db: Executor,
  ref: string,
  reason: string | undefined,
  context: InvoiceActionContext,
): Promise<Result<InvoiceWithLines>> {
  return transact(db, async (tx) => {
    const locked = await lockForAction(tx, ref);
    if (!locked) return fail('not_found', `no invoice "${ref}"`);
    const { invoice, subscription } = locked;
    if (invoice.status === 'void') return ok(invoice);
    if (invoice.status === 'paid') return fail('conflict', `invoice ${invoice.number} is paid and cannot be voided`);

    await updateInvoice(tx, invoice.id, { status: 'void', voided_at: context.now, void_reason: reason ?? null });
    const events: Parameters<typeof recordEvents>[1][number][] = [
      {
        type: 'invoice.voided',
        clientId: invoice.client_id,
        subjectId: invoice.id,
        data: { ...invoiceEventData(invoice), reason: reason ?? null },
      },
    ];
    if (subscription && subscription.status === 'pending' && invoice.kind === 'subscription') {
      await updateSubscription(tx, subscription.id, {
        status: 'cancelled',
        cancelled_at: context.now,
        auto_renew: false,
        updated_at: context.now,
      });
      await voidBalances(
        tx,
        subscription,
        context.now,
        context.actor,
        `invoice ${invoice.number} voided before payment`,
      );
      events.push({
        type: 'subscription.cancelled',
        clientId: subscription.client_id,
        subjectId: subscription.id,
        data: {
          subscription_id: subscription.id,
          client_id: subscription.client_id,
          at: 'now',
          reason: 'invoice voided before payment',
        },
      });
    }
    await recordEvents(tx, events, context.now);
    return ok({ ...invoice, status: 'void', voided_at: context.now, void_reason: reason ?? null });
  });
}

export async function invoiceViews(db: Executor, invoices: readonly InvoiceWithLines[]): Promise<InvoiceView[]> {
  const clients = await clientsByIds(
    db,
    invoices.map((i) => i.client_id),
  );
  const creditTypes = await creditTypesByIds(
    db,
    invoices.flatMap((i) => i.lines.map((l) => l.credit_type_id).filter((id): id is string => id !== null)),
  );
  return invoices.map((invoice) => {
    const client = clients.get(invoice.client_id);
    if (!client) throw new Error(`client ${invoice.client_id} of invoice ${invoice.id} is missing`);
    return toInvoiceView(invoice, client, creditTypes);
  });
}
