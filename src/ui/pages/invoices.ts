import { clientsByIds, findClient } from '../../db/repositories/clients.js';
import { findInvoice, listInvoices } from '../../db/repositories/invoices.js';
import { isUuid } from '../../ids.js';
import { REASON_MAX_LENGTH } from '../../schemas/common.js';
import { invoiceViews } from '../../services/invoices.js';
import type { InvoiceView } from '../../views/invoice.js';
import { type FieldErrors, fieldError, invalidAttributes, queryText } from '../form.js';
import { code, type Html, html, name, path, query } from '../html.js';
import type { MessageKey } from '../i18n/messages/index.js';
import { badge, csrfField, nextLink, notice, page, statusWord, type UiContext } from '../layout.js';
import { type Refusal, refusalBlock, selectField, span, units } from './commerce-parts.js';

const PAGE_SIZE = 50;
const STATUSES = ['issued', 'paid', 'void'] as const;
const KINDS = ['subscription', 'renewal', 'recharge'] as const;

const KIND_LABEL: Record<InvoiceView['kind'], MessageKey> = {
  subscription: 'commerce.invoice.kind.subscription',
  renewal: 'commerce.invoice.kind.renewal',
  recharge: 'commerce.invoice.kind.recharge',
};

/** A period as invoice lines write it (services/invoice-lines.ts `describePeriod`): two days and an arrow. */
const LINE_PERIOD = /(\d{4}-\d{2}-\d{2} → \d{4}-\d{2}-\d{2})/;

/**
 * A line's description with its period kept left to right: in a line that starts in Arabic (a package named in
 * Arabic) the two days would otherwise read from the right, the end first, the arrow pointing back to the start.
 */
const lineDescription = (text: string): Html =>
  html`${text.split(LINE_PERIOD).map((part, i) => (i % 2 === 1 ? html`<bdi dir="ltr">${part}</bdi>` : part))}`;

/** An invoice's amount in its currency, as the viewer's locale writes it. */
const amount = (ctx: UiContext, minor: number, currency: string): Html =>
  html`<span class="nowrap" data-minor="${minor}">${ctx.fmt.money(minor, currency)}</span>`;

/**
 * The pay and void buttons of an issued invoice (void with an optional reason). A void refused for its reason (too
 * long, a character that cannot be stored) comes back with the reason as typed, marked, and why beside it.
 */
export function invoiceActions(
  ctx: UiContext,
  invoice: InvoiceView,
  values: Record<string, string> = {},
  errors: FieldErrors = new Map(),
): Html {
  if (invoice.status !== 'issued') return html``;
  const reasonError = fieldError(ctx, errors, 'reason');
  return html`<div class="actions">
  <form class="inline" method="post" action="${path`/ui/invoices/${invoice.id}/pay`}">${csrfField(ctx)}<button
    type="submit" data-action="pay" data-invoice="${invoice.id}">${ctx.t('commerce.invoice.pay')}</button></form>
  <form class="inline" method="post" action="${path`/ui/invoices/${invoice.id}/void`}">${csrfField(ctx)}<label
    class="muted small">${ctx.t('commerce.invoice.void_reason')}<input type="text" name="reason"
    maxlength="${REASON_MAX_LENGTH}" dir="auto" value="${values.reason ?? ''}"${invalidAttributes(
      errors,
      'reason',
    )}></label><button class="secondary"
    type="submit" data-action="void" data-invoice="${invoice.id}">${ctx.t('commerce.invoice.void')}</button>${
      reasonError
    }</form>
</div>`;
}

/** An invoice whole: number, status, period, each line, the total. */
export function invoiceBlock(ctx: UiContext, invoice: InvoiceView, options: { actions?: boolean } = {}): Html {
  const period =
    invoice.period_start && invoice.period_end
      ? span(ctx, ctx.fmt.date(invoice.period_start), ctx.fmt.date(invoice.period_end))
      : html`—`;
  const settled = invoice.paid_at
    ? html`<dt>${ctx.t('commerce.invoice.paid_at')}</dt><dd>${ctx.fmt.dateTime(invoice.paid_at)}</dd>`
    : invoice.voided_at
      ? html`<dt>${ctx.t('commerce.invoice.voided_at')}</dt><dd>${ctx.fmt.dateTime(invoice.voided_at)}${
          invoice.void_reason ? html` · <span dir="auto">${invoice.void_reason}</span>` : ''
        }</dd>`
      : '';
  return html`<div class="invoice" data-invoice="${invoice.id}" data-number="${invoice.number}"
  data-status="${invoice.status}" data-total="${invoice.total}">
  <h3><a href="${path`/ui/invoices/${invoice.id}`}">${ctx.t('commerce.invoice.number', {
    number: code(invoice.number),
  })}</a> ${badge(ctx, invoice.status)}</h3>
  <dl class="kv">
    <dt>${ctx.t('commerce.invoice.kind')}</dt><dd>${ctx.t(KIND_LABEL[invoice.kind])}</dd>
    <dt>${ctx.t('commerce.invoice.issued_at')}</dt><dd>${ctx.fmt.dateTime(invoice.issued_at)}</dd>
    <dt>${ctx.t('commerce.invoice.period')}</dt><dd>${period}</dd>
    ${settled}
  </dl>
  <table>
    <thead><tr><th>${ctx.t('commerce.invoice.line')}</th><th class="num">${ctx.t(
      'commerce.invoice.quantity',
    )}</th><th class="num">${ctx.t('commerce.invoice.amount')}</th></tr></thead>
    <tbody>${invoice.lines.map(
      (line) => html`<tr>
      <td dir="auto">${lineDescription(line.description)}</td>
      <td class="num">${line.credit_type ? units(ctx, line.quantity, line.credit_type.unit) : '—'}</td>
      <td class="num">${amount(ctx, line.amount, invoice.currency)}</td>
    </tr>`,
    )}</tbody>
    <tfoot><tr><th colspan="2">${ctx.t('commerce.invoice.total')}</th><th class="num" data-invoice-total="${
      invoice.total
    }">${amount(ctx, invoice.total, invoice.currency)}</th></tr></tfoot>
  </table>
  ${options.actions === false ? '' : invoiceActions(ctx, invoice)}
</div>`;
}

/** GET /ui/invoices: every invoice, newest last, filtered by status, kind and client as the API filters them. */
export async function invoicesPage(ctx: UiContext): Promise<Html> {
  const { db } = ctx.app;
  const status = STATUSES.find((s) => s === ctx.req.query.status);
  const kind = KINDS.find((k) => k === ctx.req.query.kind);
  const clientRef = queryText(ctx.req.query.client, 200);
  const cursor = queryText(ctx.req.query.cursor, 200);
  const client = clientRef ? await findClient(db, clientRef) : undefined;
  const result =
    clientRef && !client
      ? { data: [], nextCursor: null }
      : await listInvoices(db, { limit: PAGE_SIZE, cursor }, { clientId: client?.id, status, kind });
  const invoices = await invoiceViews(db, result.data);
  const names = await clientsByIds(
    db,
    invoices.map((i) => i.client.id),
  );
  const filters = html`<form class="search" method="get" action="/ui/invoices" role="search">
  ${selectField(ctx, new Map(), {
    name: 'status',
    label: ctx.t('commerce.invoices.filter_status'),
    value: status,
    options: [['', ctx.t('commerce.invoices.any')], ...STATUSES.map((s) => [s, statusWord(ctx, s)] as const)],
  })}
  ${selectField(ctx, new Map(), {
    name: 'kind',
    label: ctx.t('commerce.invoice.kind'),
    value: kind,
    options: [['', ctx.t('commerce.invoices.any')], ...KINDS.map((k) => [k, ctx.t(KIND_LABEL[k])] as const)],
  })}
  <label>${ctx.t('commerce.invoices.filter_client')}<input type="search" name="client" value="${
    clientRef ?? ''
  }" dir="auto"></label>
  <button type="submit">${ctx.t('word.search')}</button>
</form>`;
  const next = result.nextCursor
    ? nextLink(ctx, `/ui/invoices${query({ status, kind, client: clientRef, cursor: result.nextCursor })}`)
    : '';
  return page(
    ctx,
    { title: ctx.t('commerce.invoices.title').value, section: 'invoices' },
    html`${notice(ctx)}
<h1>${ctx.t('commerce.invoices.title')}</h1>
<p class="sub">${ctx.t('commerce.invoices.lead')}</p>
${filters}
<section class="panel">
  ${
    invoices.length === 0
      ? html`<p class="empty">${ctx.t('commerce.invoices.none')}</p>`
      : html`<div class="scroll"><table>
    <thead><tr>
      <th>${ctx.t('commerce.invoice.number_short')}</th><th>${ctx.t('commerce.invoices.client')}</th>
      <th>${ctx.t('commerce.invoice.kind')}</th><th>${ctx.t('commerce.invoices.status')}</th>
      <th class="num">${ctx.t('commerce.invoice.total')}</th><th>${ctx.t('commerce.invoice.issued_at')}</th>
    </tr></thead>
    <tbody>${invoices.map((i) => {
      const who = names.get(i.client.id);
      return html`<tr data-invoice="${i.id}" data-status="${i.status}">
      <td><a href="${path`/ui/invoices/${i.id}`}">${code(i.number)}</a></td>
      <td><a href="${path`/ui/clients/${i.client.id}`}">${name(who?.name ?? i.client.external_ref)}</a></td>
      <td>${ctx.t(KIND_LABEL[i.kind])}</td>
      <td>${badge(ctx, i.status)}</td>
      <td class="num">${amount(ctx, i.total, i.currency)}</td>
      <td class="nowrap">${ctx.fmt.dateTime(i.issued_at)}</td>
    </tr>`;
    })}</tbody>
  </table></div>`
  }
  ${next}
</section>`,
  );
}

/** The invoice by id or number, as the API reads it. */
export async function invoiceByRef(ctx: UiContext, ref: string): Promise<InvoiceView | undefined> {
  if (ref.length > 200) return undefined;
  const row = await findInvoice(ctx.app.db, ref, isUuid(ref));
  return row ? (await invoiceViews(ctx.app.db, [row]))[0] : undefined;
}

/** GET /ui/invoices/:id: one invoice, its lines and total, and the pay and void buttons while it is issued. */
export async function invoicePage(
  ctx: UiContext,
  ref: string,
  refused?: { refusal: Refusal; values: Record<string, string> },
): Promise<Html | undefined> {
  const invoice = await invoiceByRef(ctx, ref);
  if (!invoice) return undefined;
  const client = await findClient(ctx.app.db, invoice.client.id);
  const subscription = invoice.subscription_id
    ? html` · <a href="${path`/ui/subscriptions/${invoice.subscription_id}`}">${ctx.t(
        'commerce.invoice.subscription',
      )}</a>`
    : '';
  return page(
    ctx,
    { title: ctx.t('commerce.invoice.number', { number: invoice.number }).value, section: 'invoices' },
    html`${notice(ctx)}${refusalBlock(ctx, refused?.refusal, ['reason'])}
<h1>${ctx.t('commerce.invoice.number', { number: code(invoice.number) })}</h1>
<p class="sub"><a href="${path`/ui/clients/${invoice.client.id}`}">${name(client?.name ?? '')}</a>
  ${code(invoice.client.external_ref)}${subscription} · <a href="/ui/invoices">${ctx.t(
    'commerce.invoices.title',
  )}</a></p>
<section class="panel">
  ${invoiceBlock(ctx, invoice, { actions: false })}
  ${invoiceActions(ctx, invoice, refused?.values, refused?.refusal.errors)}
</section>`,
  );
}
