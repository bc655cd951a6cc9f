import { findClient } from '../../db/repositories/clients.js';
import { formatQuantity, parseQuantity } from '../../domain/quantity.js';
import type { HoldResult } from '../../views/hold.js';
import type { FormFields } from '../form.js';
import { numberField, textField } from '../form.js';
import { code, type Html, html, name, path } from '../html.js';
import type { MessageKey } from '../i18n/messages/index.js';
import { csrfField, page, type Section, type UiContext } from '../layout.js';
import { units } from './commerce-parts.js';
import { consumptionOf } from './consumption-form.js';
import { holdOf } from './holds.js';
import { invoiceByRef } from './invoices.js';
import { subscriptionOf } from './sell.js';

/**
 * The step before an action that cannot be undone (reverse a consumption, void an invoice, cancel a
 * subscription, capture or release a hold), as the API key's revoke has it: the detail page's form posts here
 * first and gets a page saying what will happen, with the values typed carried over; only its button, which sends
 * them again with `confirmed=yes`, acts. Its other way is a link back to the page, nothing changed. Each page answers
 * undefined when its subject does not exist (the 404 page), and null when its state leaves nothing to confirm
 * (a stale page: the invoice paid meanwhile, the consumption reversed) — the route then answers as it would.
 */
export const CONFIRMED = 'yes';

/** Whether the form was sent from the confirmation page (its button), not from the detail page. */
export const isConfirmed = (fields: FormFields): boolean => textField(fields, 'confirmed') === CONFIRMED;

interface Confirmation {
  title: MessageKey;
  section: Section;
  /** Where the button posts (the action's own route) and where the way back leads (the detail page). */
  action: string;
  back: string;
  /** What will happen, one paragraph each, said in the service's own terms. */
  lead: Html[];
  submit: MessageKey;
  /** Whether it can never be taken back (a cancel at the period's end can, until then). */
  final: boolean;
  /** `data-action` of the button (tests and scripts select on it). */
  dataAction: string;
  /** The values typed on the detail page, sent again as they were. */
  carried: Record<string, string | undefined>;
}

function confirmationPage(ctx: UiContext, c: Confirmation): Html {
  const carried = Object.entries(c.carried).filter((entry): entry is [string, string] => entry[1] !== undefined);
  return page(
    ctx,
    { title: ctx.t(c.title).value, section: c.section },
    html`<h1>${ctx.t(c.title)}</h1>
<section class="panel" data-confirm="${c.dataAction}">
  ${c.lead.map((p) => html`<p>${p}</p>`)}
  ${c.final ? html`<p><strong>${ctx.t('commerce.confirm.final')}</strong></p>` : ''}
  <form method="post" action="${c.action}" class="actions">
    ${csrfField(ctx)}<input type="hidden" name="confirmed" value="${CONFIRMED}">
    ${carried.map(([key, value]) => html`<input type="hidden" name="${key}" value="${value}">`)}
    <a class="button secondary" href="${c.back}" data-action="back">${ctx.t('commerce.confirm.back')}</a>
    <button type="submit" class="danger" data-action="${c.dataAction}">${ctx.t(c.submit)}</button>
  </form>
</section>`,
  );
}

/** "Reverse this consumption?": its units go back to the balances that paid, except to those expired since. */
export async function reverseConfirmPage(
  ctx: UiContext,
  id: string,
  fields: FormFields,
): Promise<Html | null | undefined> {
  const c = await consumptionOf(ctx, id);
  if (!c) return undefined;
  if ((c.status !== 'applied' && c.status !== 'partial') || c.reversal) return null;
  const client = c.client ? await findClient(ctx.app.db, c.client.id) : undefined;
  const quantity = units(ctx, c.applied ?? c.quantity, c.credit_type?.unit);
  return confirmationPage(ctx, {
    title: 'commerce.confirm.reverse_title',
    section: 'clients',
    action: path`/ui/consumptions/${id}/reverse`,
    back: path`/ui/consumptions/${id}`,
    lead: [
      ctx.t('commerce.confirm.reverse_lead', {
        quantity,
        client: name(client?.name ?? ''),
        ref: code(c.client?.external_ref ?? ''),
      }),
    ],
    submit: 'commerce.confirm.reverse_submit',
    final: true,
    dataAction: 'confirm-reverse',
    carried: { reason: textField(fields, 'reason') },
  });
}

/**
 * "Void this invoice?": it can no longer be paid. The units it granted are not taken back (the service
 * voids no balance), except for the first invoice of a subscription that has not started, which cancels
 * that subscription and voids the units it was to grant (src/services/invoices.ts, voidInvoice).
 */
export async function voidConfirmPage(
  ctx: UiContext,
  ref: string,
  fields: FormFields,
): Promise<Html | null | undefined> {
  const invoice = await invoiceByRef(ctx, ref);
  if (!invoice) return undefined;
  if (invoice.status !== 'issued') return null;
  const subscription = invoice.subscription_id ? await subscriptionOf(ctx, invoice.subscription_id) : undefined;
  const cancelsSubscription = invoice.kind === 'subscription' && subscription?.status === 'pending';
  const number = code(invoice.number);
  return confirmationPage(ctx, {
    title: 'commerce.confirm.void_title',
    section: 'invoices',
    action: path`/ui/invoices/${invoice.id}/void`,
    back: path`/ui/invoices/${invoice.id}`,
    lead: [
      ctx.t('commerce.confirm.void_lead', { number, total: ctx.fmt.money(invoice.total, invoice.currency) }),
      ctx.t(cancelsSubscription ? 'commerce.confirm.void_pending' : 'commerce.confirm.void_units_stay'),
    ],
    submit: 'commerce.confirm.void_submit',
    final: true,
    dataAction: 'confirm-void',
    carried: { reason: textField(fields, 'reason') },
  });
}

/** "Cancel this subscription?": now (its remaining units voided at once) or at its period's end (no renewal). */
export async function cancelConfirmPage(
  ctx: UiContext,
  id: string,
  fields: FormFields,
): Promise<Html | null | undefined> {
  const s = await subscriptionOf(ctx, id);
  if (!s) return undefined;
  if (s.status === 'cancelled' || s.status === 'expired') return null;
  // a pending subscription has no period running: the route cancels it at once whatever `at` says
  const now = textField(fields, 'at') === 'now' || s.status === 'pending';
  const what = { package: name(s.package.name), client: name(s.client.name) };
  // renewed ahead (its current period not begun): the cancel takes that renewal back unless it is paid
  // (services/renewal-undo.ts), and the subscription then ends when the period running now does
  const ahead = new Date(s.current_period_start).getTime() > ctx.app.clock.now().getTime();
  const endLead = ahead
    ? ctx.t('commerce.confirm.cancel_end_ahead_lead', {
        ...what,
        start: ctx.fmt.dateTime(s.current_period_start),
        end: ctx.fmt.dateTime(s.current_period_end),
      })
    : ctx.t('commerce.confirm.cancel_end_lead', { ...what, end: ctx.fmt.dateTime(s.current_period_end) });
  return confirmationPage(ctx, {
    title: now ? 'commerce.confirm.cancel_now_title' : 'commerce.confirm.cancel_end_title',
    section: 'clients',
    action: path`/ui/subscriptions/${s.id}/cancel`,
    back: path`/ui/subscriptions/${s.id}`,
    lead: [now ? ctx.t('commerce.confirm.cancel_now_lead', what) : endLead],
    submit: now ? 'commerce.confirm.cancel_now_submit' : 'commerce.confirm.cancel_end_submit',
    final: now,
    dataAction: 'confirm-cancel',
    carried: { at: textField(fields, 'at'), reason: textField(fields, 'reason') },
  });
}

/**
 * "Renew this subscription?" and "Recharge it?", from the client page: each issues an invoice. A renewal adds
 * the next period with its units (made ahead, it starts when the current one ends); a recharge adds one
 * package's worth of units, usable until the current period ends (src/jobs/renew.ts, src/jobs/recharge.ts).
 * The form's one-time key is carried, so the button sent twice still renews or recharges once.
 */
export async function invoicingConfirmPage(
  ctx: UiContext,
  action: 'renew' | 'recharge',
  id: string,
  fields: FormFields,
): Promise<Html | null | undefined> {
  const s = await subscriptionOf(ctx, id);
  if (!s) return undefined;
  const possible =
    action === 'renew'
      ? (s.status === 'active' || s.status === 'expired') && !s.cancel_at_period_end
      : s.status === 'active';
  if (!possible) return null;
  const what = {
    package: name(s.package.name),
    client: name(s.client.name),
    end: ctx.fmt.dateTime(s.current_period_end),
  };
  const renew = action === 'renew';
  return confirmationPage(ctx, {
    title: renew ? 'commerce.confirm.renew_title' : 'commerce.confirm.recharge_title',
    section: 'clients',
    action: renew ? path`/ui/subscriptions/${s.id}/renew` : path`/ui/subscriptions/${s.id}/recharge`,
    back: path`/ui/clients/${s.client.id}`,
    lead: [ctx.t(renew ? 'commerce.confirm.renew_lead' : 'commerce.confirm.recharge_lead', what)],
    submit: renew ? 'commerce.confirm.renew_submit' : 'commerce.confirm.recharge_submit',
    final: false,
    dataAction: renew ? 'confirm-renew' : 'confirm-recharge',
    carried: { idem: textField(fields, 'idem') },
  });
}

/** Which hold a capture or release closes, after what it does: when it was taken, its key, and its reference. */
function holdNamed(ctx: UiContext, h: HoldResult): Html[] {
  const which = ctx.t('commerce.confirm.hold_which', {
    taken: ctx.fmt.dateTime(h.created_at),
    key: code(h.idempotency_key),
  });
  return h.reference ? [which, ctx.t('commerce.confirm.hold_reference', { reference: name(h.reference) })] : [which];
}

/**
 * "Capture this hold?", from the client page: the units asked for (all it holds when the quantity is empty) are
 * consumed, one consumption paid by the balances the hold took them from, and the rest goes back to them
 * (src/domain/hold.ts). A quantity the route refuses — not one of the credit type's, or more than the hold holds,
 * read as its handler reads it — leaves nothing to confirm (null): the route answers it, beside the field.
 */
export async function captureConfirmPage(
  ctx: UiContext,
  id: string,
  fields: FormFields,
): Promise<Html | null | undefined> {
  const h = await holdOf(ctx, id);
  if (!h) return undefined;
  if (h.status !== 'held') return null;
  const decimals = (await ctx.app.refs.creditType(ctx.app.db, h.credit_type.id))?.decimals ?? 0;
  const held = parseQuantity(h.held, decimals);
  const typed = numberField(fields, 'quantity');
  const asked = typed === undefined ? held : parseQuantity(typed, decimals);
  if (!held.ok || !asked.ok || asked.value > held.value) return null;
  const client = await findClient(ctx.app.db, h.client.id);
  const of = (value: bigint) => units(ctx, formatQuantity(value, decimals), h.credit_type.unit);
  const who = { client: name(client?.name ?? ''), ref: code(h.client.external_ref), quantity: of(asked.value) };
  const rest = held.value - asked.value;
  return confirmationPage(ctx, {
    title: 'commerce.confirm.capture_title',
    section: 'clients',
    action: path`/ui/holds/${h.id}/capture`,
    back: path`/ui/clients/${h.client.id}`,
    lead: [
      rest === 0n
        ? ctx.t('commerce.confirm.capture_all_lead', who)
        : ctx.t('commerce.confirm.capture_part_lead', { ...who, held: of(held.value), rest: of(rest) }),
      ...holdNamed(ctx, h),
    ],
    submit: 'commerce.confirm.capture_submit',
    final: true,
    dataAction: 'confirm-capture',
    carried: { quantity: textField(fields, 'quantity'), idem: textField(fields, 'idem') },
  });
}

/** "Release this hold?", from the client page: every unit it holds goes back to the balances it took them from. */
export async function releaseConfirmPage(
  ctx: UiContext,
  id: string,
  fields: FormFields,
): Promise<Html | null | undefined> {
  const h = await holdOf(ctx, id);
  if (!h) return undefined;
  if (h.status !== 'held') return null;
  const client = await findClient(ctx.app.db, h.client.id);
  return confirmationPage(ctx, {
    title: 'commerce.confirm.release_title',
    section: 'clients',
    action: path`/ui/holds/${h.id}/release`,
    back: path`/ui/clients/${h.client.id}`,
    lead: [
      ctx.t('commerce.confirm.release_lead', {
        quantity: units(ctx, h.held, h.credit_type.unit),
        client: name(client?.name ?? ''),
        ref: code(h.client.external_ref),
      }),
      ...holdNamed(ctx, h),
    ],
    submit: 'commerce.confirm.release_submit',
    final: true,
    dataAction: 'confirm-release',
    carried: { idem: textField(fields, 'idem') },
  });
}
