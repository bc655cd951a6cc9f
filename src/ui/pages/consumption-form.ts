import { type PlacedBalanceRow, placedBalanceById } from '../../db/repositories/balances.js';
import { type ClientRow, findClient } from '../../db/repositories/clients.js';
import { type CreditTypeRow, listCreditTypes } from '../../db/repositories/credit-types.js';
import { formatQuantity } from '../../domain/quantity.js';
import { isUuid } from '../../ids.js';
import { REASON_MAX_LENGTH } from '../../schemas/common.js';
import { consumptionView } from '../../services/consumptions.js';
import type { QuoteView } from '../../services/quote.js';
import type { ConsumptionView } from '../../views/consumption.js';
import { instantField } from '../date-inputs.js';
import { type FieldErrors, type FormFields, idemField, numberField, textField } from '../form.js';
import { code, type Html, html, name, path } from '../html.js';
import { badge, csrfField, notice, page, type UiContext } from '../layout.js';
import { sourceWord } from '../words.js';
import { extraText, type FormState, inputField, refusalBlock, selectField, shortId, units } from './commerce-parts.js';

/** The credit types a use may name (not archived), in the order they were made. */
export async function usableCreditTypes(ctx: UiContext): Promise<CreditTypeRow[]> {
  return (await listCreditTypes(ctx.app.db, { limit: 500 }, { archived: false })).data;
}

/** The dimension keys of all those credit types, each with the codes of the credit types that declare it. */
function dimensionsOf(creditTypes: readonly CreditTypeRow[]): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  for (const ct of creditTypes) for (const key of ct.dimensions) keys.set(key, [...(keys.get(key) ?? []), ct.code]);
  return keys;
}

const dimensionInput = (key: string): string => `dim.${key}`;

/**
 * The consumption body from the form: the chosen credit type's dimensions go in its metadata (the
 * values of keys another credit type declares are left out). `withKey`: the form's one-time key is the
 * use's idempotency key (a quote records nothing and needs none).
 */
export function consumptionBody(
  ctx: UiContext,
  client: ClientRow,
  creditTypes: readonly CreditTypeRow[],
  fields: FormFields,
  withKey: boolean,
): Record<string, unknown> {
  const creditType = textField(fields, 'credit_type');
  const chosen = creditTypes.find((ct) => ct.code === creditType || ct.id === creditType);
  const metadata: Record<string, string> = {};
  for (const key of chosen?.dimensions ?? []) {
    const value = textField(fields, dimensionInput(key));
    if (value !== undefined) metadata[key] = value;
  }
  const occurredAt = instantField(fields, 'occurred_at', ctx.app.config.BUSINESS_TZ);
  const reference = textField(fields, 'reference');
  const mode = textField(fields, 'mode');
  const key = textField(fields, 'idem');
  return {
    client: client.id,
    credit_type: creditType,
    quantity: numberField(fields, 'quantity'),
    ...(occurredAt !== undefined ? { occurred_at: occurredAt } : {}),
    ...(reference !== undefined ? { reference } : {}),
    ...(mode !== undefined ? { mode } : {}),
    ...(Object.keys(metadata).length > 0 ? { metadata } : {}),
    ...(withKey ? { idempotency_key: key } : {}),
  };
}

export interface ConsumeForm extends FormState {
  quote?: QuoteView;
}

const CONSUME_FIELDS = ['credit_type', 'quantity', 'occurred_at', 'mode', 'reference'];

/** What a quote says the use would take: which balances, how much each, and what is left or missing. */
function quotePanel(ctx: UiContext, quote: QuoteView): Html {
  const unit = quote.credit_type.unit;
  const verdict =
    quote.would === 'reject'
      ? html`<div class="notice error" role="status" data-quote-verdict="reject">${ctx.t('commerce.quote.short', {
          remaining: units(ctx, quote.remaining, unit),
          quantity: units(ctx, quote.quantity, unit),
          shortfall: units(ctx, quote.shortfall, unit),
        })}</div>`
      : quote.would === 'partial'
        ? html`<div class="notice error" role="status" data-quote-verdict="partial">${ctx.t('commerce.quote.partial', {
            applied: units(ctx, quote.applied, unit),
            shortfall: units(ctx, quote.shortfall, unit),
          })}</div>`
        : html`<div class="notice" role="status" data-quote-verdict="apply">${ctx.t('commerce.quote.enough', {
            quantity: units(ctx, quote.quantity, unit),
            remaining: units(ctx, quote.remaining, unit),
          })}</div>`;
  return html`<section class="panel" aria-labelledby="quote-h" data-quote="${quote.would}">
  <h2 id="quote-h">${ctx.t('commerce.quote.heading')}</h2>
  ${verdict}
  <dl class="kv">
    <dt>${ctx.t('commerce.consumption.applied')}</dt><dd data-quote-applied="${quote.applied}">${units(
      ctx,
      quote.applied,
      unit,
    )}</dd>
    <dt>${ctx.t('commerce.consumption.shortfall')}</dt><dd data-quote-shortfall="${quote.shortfall}">${units(
      ctx,
      quote.shortfall,
      unit,
    )}</dd>
    <dt>${ctx.t('commerce.consumption.remaining')}</dt><dd data-quote-remaining="${quote.remaining}">${units(
      ctx,
      quote.remaining,
      unit,
    )}</dd>
  </dl>
  <p class="legend">${ctx.t('commerce.quote.nothing_written')}</p>
  ${
    quote.allocations.length === 0
      ? html`<p class="empty">${ctx.t('commerce.quote.no_allocation')}</p>`
      : html`<table>
    <thead><tr><th>${ctx.t('commerce.allocation.balance')}</th><th>${ctx.t('commerce.balance.expires')}</th>
      <th class="num">${ctx.t('commerce.allocation.would_take')}</th></tr></thead>
    <tbody>${quote.allocations.map(
      (a) => html`<tr data-allocation="${a.balance_id}" data-amount="${a.amount}">
      <td><a href="${path`/ui/balances/${a.balance_id}`}">${shortId(a.balance_id)}</a></td>
      <td class="nowrap">${ctx.fmt.dateTime(a.expires_at)}</td>
      <td class="num">${units(ctx, a.amount, unit)}</td>
    </tr>`,
    )}</tbody>
  </table>`
  }
</section>`;
}

/** The message of a use refused for want of units, with its figures (the 422 problem's members). */
export function insufficientMessage(ctx: UiContext, extra: Record<string, unknown>): Html {
  const creditType = extra.credit_type as { unit?: unknown } | undefined;
  const unit = typeof creditType?.unit === 'string' ? creditType.unit : undefined;
  return ctx.t('commerce.consume.insufficient', {
    remaining: units(ctx, extraText(extra, 'remaining') ?? '0', unit),
    quantity: units(ctx, extraText(extra, 'quantity') ?? '0', unit),
    shortfall: units(ctx, extraText(extra, 'shortfall') ?? '0', unit),
  });
}

/** GET /ui/clients/:ref/consume: report a use for the client — quote it first, then register it. */
export async function consumePage(
  ctx: UiContext,
  ref: string,
  form: ConsumeForm = { values: {} },
): Promise<Html | undefined> {
  const client = await findClient(ctx.app.db, ref);
  if (!client) return undefined;
  const creditTypes = await usableCreditTypes(ctx);
  const errors: FieldErrors = form.refusal?.errors ?? new Map();
  const v = form.values;
  const asked = typeof ctx.req.query.credit_type === 'string' ? ctx.req.query.credit_type : undefined;
  const dimensions = dimensionsOf(creditTypes);
  const dimensionFields = [...dimensions].map(([key, owners]) =>
    inputField(ctx, errors, {
      name: dimensionInput(key),
      field: `metadata.${key}`,
      label: html`${code(key)}`,
      value: v[dimensionInput(key)],
      hint: ctx.t('commerce.consume.dimension_hint', { types: ctx.fmt.list(owners.map((owner) => code(owner))) }),
      attrs: html` maxlength="200" dir="auto"`,
    }),
  );
  return page(
    ctx,
    { title: ctx.t('commerce.consume.title').value, section: 'clients' },
    html`<h1>${ctx.t('commerce.consume.title')}</h1>
<p class="sub"><a href="${path`/ui/clients/${client.id}`}">${name(client.name)}</a> ${code(client.external_ref)}</p>
${refusalBlock(ctx, form.refusal, [...CONSUME_FIELDS, ...[...dimensions.keys()].map((k) => `metadata.${k}`)])}
<section class="panel">
  ${
    creditTypes.length === 0
      ? html`<p class="empty">${ctx.t('commerce.consume.no_credit_types')}</p>`
      : html`<form method="post" action="${path`/ui/clients/${client.id}/consume`}" data-form="consume">
    ${csrfField(ctx)}${idemField(v.idem)}
    <div class="form-grid">
      ${selectField(ctx, errors, {
        name: 'credit_type',
        label: ctx.t('commerce.consume.credit_type'),
        value: v.credit_type ?? asked,
        options: creditTypes.map((ct) => [ct.code, html`${ct.name} (${ct.code}, ${ct.unit})`] as const),
        wide: true,
      })}
      ${inputField(ctx, errors, {
        name: 'quantity',
        label: ctx.t('commerce.consume.quantity'),
        value: v.quantity,
        attrs: html` inputmode="decimal" dir="ltr"`,
      })}
      ${inputField(ctx, errors, {
        name: 'occurred_at',
        label: ctx.t('commerce.consume.occurred_at'),
        value: v.occurred_at,
        type: 'datetime-local',
        hint: ctx.t('commerce.consume.occurred_at_hint'),
      })}
      ${selectField(ctx, errors, {
        name: 'mode',
        label: ctx.t('commerce.consume.mode'),
        value: v.mode,
        options: [
          ['reject', ctx.t('commerce.consume.mode_reject')],
          ['partial', ctx.t('commerce.consume.mode_partial')],
        ],
      })}
      ${inputField(ctx, errors, {
        name: 'reference',
        label: ctx.t('commerce.consume.reference'),
        value: v.reference,
        attrs: html` maxlength="255" dir="auto"`,
      })}
      ${dimensionFields}
    </div>
    <p class="actions">
      <button class="secondary" type="submit" name="action" value="quote" data-action="quote">${ctx.t(
        'commerce.consume.quote',
      )}</button>
      <button type="submit" name="action" value="register" data-action="register">${ctx.t(
        'commerce.consume.register',
      )}</button>
    </p>
    <p class="legend">${ctx.t('commerce.consume.key_hint')} ${code(v.idem ?? '')}</p>
  </form>`
  }
</section>
${form.quote ? quotePanel(ctx, form.quote) : ''}`,
  );
}

/** The consumption as the API reads it; undefined when there is none. */
export const consumptionOf = async (ctx: UiContext, id: string): Promise<ConsumptionView | undefined> =>
  isUuid(id) ? consumptionView(ctx.app, id) : undefined;

/** GET /ui/consumptions/:id: a use — which balances paid for it, how much each, what was left — and its reversal. */
export async function consumptionPage(
  ctx: UiContext,
  id: string,
  form: FormState = { values: {} },
): Promise<Html | undefined> {
  const c = await consumptionOf(ctx, id);
  if (!c) return undefined;
  if (c.status === 'queued' || !c.client || !c.credit_type) {
    return page(
      ctx,
      { title: ctx.t('commerce.consumption.title').value, section: 'clients', refreshS: 2 },
      html`${notice(ctx)}<h1>${ctx.t('commerce.consumption.title')}</h1>
<section class="panel" data-consumption="${c.id}" data-status="${c.status}">
  <p>${badge(ctx, c.status)} ${ctx.t('commerce.consumption.queued')}</p>
</section>`,
    );
  }
  const client = await findClient(ctx.app.db, c.client.id);
  const unit = c.credit_type.unit;
  const lots = new Map<string, PlacedBalanceRow>();
  for (const a of c.allocations ?? []) {
    const lot = await placedBalanceById(ctx.app.db, a.balance_id);
    if (lot) lots.set(a.balance_id, lot);
  }
  const creditType = await ctx.app.refs.creditType(ctx.app.db, c.credit_type.id);
  const decimals = creditType?.decimals ?? 0;
  const dimensions = Object.entries(c.dimensions ?? {});
  const reversible = (c.status === 'applied' || c.status === 'partial') && !c.reversal;
  const errors: FieldErrors = form.refusal?.errors ?? new Map();
  const reverse = reversible
    ? html`<form method="post" action="${path`/ui/consumptions/${c.id}/reverse`}" data-form="reverse">${csrfField(ctx)}
    <div class="form-grid">
      ${inputField(ctx, errors, {
        name: 'reason',
        label: ctx.t('commerce.consumption.reverse_reason'),
        value: form.values.reason,
        attrs: html` maxlength="${REASON_MAX_LENGTH}" dir="auto"`,
      })}
      <div><button class="secondary" type="submit" data-action="reverse">${ctx.t(
        'commerce.consumption.reverse',
      )}</button></div>
    </div>
  </form>`
    : '';
  const reversal = c.reversal
    ? html`<p data-reversal="${c.reversal.returned}">${ctx.t('commerce.consumption.reversed_line', {
        at: ctx.fmt.dateTime(c.reversal.reversed_at),
        returned: units(ctx, c.reversal.returned, unit),
        expired: units(ctx, c.reversal.expired, unit),
      })}</p>`
    : '';
  return page(
    ctx,
    { title: ctx.t('commerce.consumption.title').value, section: 'clients' },
    html`${notice(ctx)}${refusalBlock(ctx, form.refusal, ['reason'])}
<h1>${ctx.t('commerce.consumption.title')}</h1>
<p class="sub"><a href="${path`/ui/clients/${c.client.id}`}">${name(client?.name ?? '')}</a>
  ${code(c.client.external_ref)} · ${shortId(c.id)}</p>
<section class="panel" aria-labelledby="use-h" data-consumption="${c.id}" data-status="${c.status}">
  <h2 id="use-h">${badge(ctx, c.status)} ${code(c.credit_type.code)}</h2>
  <dl class="kv">
    <dt>${ctx.t('commerce.consume.quantity')}</dt><dd data-quantity="${c.quantity ?? ''}">${units(
      ctx,
      c.quantity,
      unit,
    )}</dd>
    <dt>${ctx.t('commerce.consumption.applied')}</dt><dd data-applied="${c.applied ?? ''}">${units(
      ctx,
      c.applied,
      unit,
    )}</dd>
    <dt>${ctx.t('commerce.consumption.shortfall')}</dt><dd data-shortfall="${c.shortfall ?? ''}">${units(
      ctx,
      c.shortfall,
      unit,
    )}</dd>
    <dt>${ctx.t('commerce.consumption.remaining')}</dt><dd data-remaining="${c.remaining ?? ''}">${units(
      ctx,
      c.remaining,
      unit,
    )}</dd>
    <dt>${ctx.t('commerce.consumption.occurred_at')}</dt><dd>${ctx.fmt.dateTime(c.occurred_at)}</dd>
    <dt>${ctx.t('commerce.consumption.key')}</dt><dd>${code(c.idempotency_key ?? '')}</dd>
    ${c.reference ? html`<dt>${ctx.t('commerce.consumption.reference')}</dt><dd dir="auto">${c.reference}</dd>` : ''}
    ${dimensions.map(([key, value]) => html`<dt>${code(key)}</dt><dd dir="auto">${value}</dd>`)}
  </dl>
  ${reversal}
</section>
<section class="panel" aria-labelledby="alloc-h">
  <h2 id="alloc-h">${ctx.t('commerce.allocation.heading')}</h2>
  ${
    (c.allocations ?? []).length === 0
      ? html`<p class="empty">${ctx.t('commerce.allocation.none')}</p>`
      : html`<div class="scroll"><table>
    <thead><tr>
      <th>${ctx.t('commerce.allocation.balance')}</th><th>${ctx.t('commerce.balance.source')}</th>
      <th>${ctx.t('commerce.balance.expires')}</th><th class="num">${ctx.t('commerce.allocation.paid')}</th>
      <th class="num">${ctx.t('commerce.allocation.left_now')}</th>
    </tr></thead>
    <tbody>${(c.allocations ?? []).map((a) => {
      const lot = lots.get(a.balance_id);
      return html`<tr data-allocation="${a.balance_id}" data-amount="${a.amount}">
      <td><a href="${path`/ui/balances/${a.balance_id}`}">${shortId(a.balance_id)}</a></td>
      <td>${lot ? sourceWord(ctx, lot.source) : '—'}</td>
      <td class="nowrap">${lot ? ctx.fmt.dateTime(lot.expires_at) : '—'}</td>
      <td class="num">${units(ctx, a.amount, unit)}</td>
      <td class="num">${lot ? units(ctx, formatQuantity(lot.remaining, decimals), unit) : '—'}</td>
    </tr>`;
    })}</tbody>
  </table></div>`
  }
  ${reverse}
  <p><a href="${path`/ui/clients/${c.client.id}/consume`}">${ctx.t('commerce.consumption.another')}</a></p>
</section>`,
  );
}
