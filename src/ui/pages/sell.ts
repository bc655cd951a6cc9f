import { type ClientRow, findClient } from '../../db/repositories/clients.js';
import { listInvoices } from '../../db/repositories/invoices.js';
import { findPackage, listPackages } from '../../db/repositories/packages.js';
import { validityOf } from '../../domain/period.js';
import { isStorableText } from '../../domain/storable-text.js';
import { isUuid } from '../../ids.js';
import { subscriptionViewAsSwept } from '../../jobs/swept-reads.js';
import { REASON_MAX_LENGTH } from '../../schemas/common.js';
import { invoiceViews } from '../../services/invoices.js';
import type { SubscriptionView } from '../../views/subscription.js';
import { instantField } from '../date-inputs.js';
import { type FieldErrors, type FormFields, idemField, numberField, textField } from '../form.js';
import { code, type Html, html, name, path } from '../html.js';
import { badge, csrfField, notice, page, type UiContext } from '../layout.js';
import { sourceWord, validity } from '../words.js';
import { amountMessage, amountProblemOf, exampleAmount, minorFromMajor } from './amounts.js';
import { type FormState, inputField, refusalBlock, selectField, shortId, span, units } from './commerce-parts.js';
import { invoiceBlock } from './invoices.js';

/** The fields of the sale form that are shown beside their inputs (the others go in the block above it). */
const SALE_FIELDS = ['package', 'price', 'starts_at', 'auto_renew', 'activation'] as const;

/**
 * The body of POST /v1/subscriptions from the sale form. The price is typed in the package's currency
 * ("49.00") and handed on in minor units; a price that is not such an amount is handed on as typed, for
 * the route's schema to refuse.
 */
export async function saleBody(
  ctx: UiContext,
  client: ClientRow,
  fields: FormFields,
): Promise<Record<string, unknown>> {
  const packageRef = textField(fields, 'package');
  const priceText = numberField(fields, 'price');
  let price: string | undefined = priceText;
  // the package is read for its currency only; text Postgres cannot store is not looked up (the route refuses it)
  if (priceText !== undefined && packageRef && isStorableText(packageRef)) {
    const pkg = await findPackage(ctx.app.db, packageRef);
    const minor = pkg ? minorFromMajor(priceText, pkg.currency) : undefined;
    if (minor !== undefined) price = minor;
  }
  const autoRenew = textField(fields, 'auto_renew');
  return {
    client: client.id,
    package: packageRef,
    ...(price !== undefined ? { price } : {}),
    ...(textField(fields, 'starts_at') !== undefined
      ? { starts_at: instantField(fields, 'starts_at', ctx.app.config.BUSINESS_TZ) }
      : {}),
    ...(autoRenew === 'yes' ? { auto_renew: true } : autoRenew === 'no' ? { auto_renew: false } : {}),
    ...(textField(fields, 'activation') !== undefined ? { activation: textField(fields, 'activation') } : {}),
  };
}

/**
 * The sale form's own message for a price the route refused, in the terms it was typed in: not an amount of the
 * package's currency ("5.12345" KWD, "abc") — the route would only say that minor units must be whole, which is not
 * what was typed — or above the largest amount, which the route states in minor units.
 */
export async function salePriceMessage(ctx: UiContext, fields: FormFields): Promise<Html | undefined> {
  const packageRef = textField(fields, 'package');
  const priceText = numberField(fields, 'price');
  if (priceText === undefined || !packageRef || !isStorableText(packageRef)) return undefined;
  const pkg = await findPackage(ctx.app.db, packageRef);
  if (!pkg) return undefined;
  const problem = amountProblemOf(minorFromMajor(priceText, pkg.currency));
  return problem === undefined ? undefined : amountMessage(ctx, problem, pkg.currency);
}

/** GET /ui/clients/:ref/sell: the package to sell (active ones), with the options the route takes. */
export async function salePage(
  ctx: UiContext,
  ref: string,
  form: FormState = { values: {} },
): Promise<Html | undefined> {
  const client = await findClient(ctx.app.db, ref);
  if (!client) return undefined;
  const packages = (await listPackages(ctx.app.db, { limit: 500 }, { status: 'active' })).data;
  const errors: FieldErrors = form.refusal?.errors ?? new Map();
  const v = form.values;
  const choices = packages.map(
    (p) =>
      [
        p.id,
        html`${p.name} (${p.code}) · ${ctx.fmt.money(p.price, p.currency)} · ${validity(ctx, validityOf(p))}`,
      ] as const,
  );
  return page(
    ctx,
    { title: ctx.t('commerce.sell.title').value, section: 'clients' },
    html`<h1>${ctx.t('commerce.sell.title')}</h1>
<p class="sub"><a href="${path`/ui/clients/${client.id}`}">${name(client.name)}</a> ${code(client.external_ref)}</p>
${refusalBlock(ctx, form.refusal, SALE_FIELDS)}
<section class="panel">
  ${
    packages.length === 0
      ? html`<p class="empty">${ctx.t('commerce.sell.no_packages')}</p>`
      : html`<form method="post" action="${path`/ui/clients/${client.id}/sell`}" data-form="sell">
    ${csrfField(ctx)}${idemField(v.idem)}
    <div class="form-grid">
      ${selectField(ctx, errors, {
        name: 'package',
        label: ctx.t('commerce.sell.package'),
        value: v.package,
        options: [['', ctx.t('commerce.sell.choose_package')], ...choices],
      })}
      ${inputField(ctx, errors, {
        name: 'price',
        label: ctx.t('commerce.sell.price'),
        value: v.price,
        hint: ctx.t('commerce.sell.price_hint', { example: exampleAmount(ctx) }),
        attrs: html` inputmode="decimal" dir="ltr"`,
      })}
      ${inputField(ctx, errors, {
        name: 'starts_at',
        label: ctx.t('commerce.sell.starts_at'),
        value: v.starts_at,
        type: 'datetime-local',
        hint: ctx.t('commerce.sell.starts_at_hint'),
      })}
      ${selectField(ctx, errors, {
        name: 'auto_renew',
        label: ctx.t('commerce.sell.auto_renew'),
        value: v.auto_renew,
        options: [
          ['', ctx.t('commerce.sell.auto_renew_package')],
          ['yes', ctx.t('word.yes')],
          ['no', ctx.t('word.no')],
        ],
      })}
      ${selectField(ctx, errors, {
        name: 'activation',
        label: ctx.t('commerce.sell.activation'),
        value: v.activation,
        options: [
          ['immediate', ctx.t('commerce.sell.activation_immediate')],
          ['on_payment', ctx.t('commerce.sell.activation_on_payment')],
        ],
      })}
    </div>
    <p><button type="submit" data-action="sell">${ctx.t('commerce.sell.submit')}</button></p>
  </form>`
  }
</section>`,
  );
}

/** As the sweep leaves it (a freeze past its frozen_until ended, its client's holds past their expiry closed). */
const subscriptionOf = (ctx: UiContext, id: string): Promise<SubscriptionView | undefined> =>
  isUuid(id) ? subscriptionViewAsSwept(ctx.app, id) : Promise.resolve(undefined);

/** Cancel (now or at period end, with a reason) and suspend or resume, as far as its status allows. */
function subscriptionActions(ctx: UiContext, s: SubscriptionView, form: FormState): Html {
  const errors: FieldErrors = form.refusal?.errors ?? new Map();
  const over = s.status === 'cancelled' || s.status === 'expired';
  const pause =
    s.status === 'active'
      ? html`<form class="inline" method="post" action="${path`/ui/subscriptions/${s.id}/status`}">${csrfField(
          ctx,
        )}<input type="hidden" name="status" value="suspended"><button class="secondary" type="submit"
        data-action="suspend">${ctx.t('commerce.subscription.suspend')}</button></form>`
      : s.status === 'suspended'
        ? html`<form class="inline" method="post" action="${path`/ui/subscriptions/${s.id}/status`}">${csrfField(
            ctx,
          )}<input type="hidden" name="status" value="active"><button type="submit"
        data-action="resume">${ctx.t('commerce.subscription.resume')}</button></form>`
        : '';
  const cancel = over
    ? ''
    : html`<form method="post" action="${path`/ui/subscriptions/${s.id}/cancel`}" data-form="cancel">${csrfField(ctx)}
    <div class="form-grid">
      ${selectField(ctx, errors, {
        name: 'at',
        label: ctx.t('commerce.subscription.cancel_at'),
        value: form.values.at ?? 'period_end',
        options: [
          ['period_end', ctx.t('commerce.subscription.cancel_period_end')],
          ['now', ctx.t('commerce.subscription.cancel_now')],
        ],
      })}
      ${inputField(ctx, errors, {
        name: 'reason',
        label: ctx.t('commerce.subscription.cancel_reason'),
        value: form.values.reason,
        attrs: html` maxlength="${REASON_MAX_LENGTH}" dir="auto"`,
      })}
      <div><button class="secondary" type="submit" data-action="cancel">${ctx.t(
        'commerce.subscription.cancel',
      )}</button></div>
    </div>
  </form>`;
  return html`<div class="actions">
    <a class="button" href="${path`/ui/clients/${s.client.id}/consume`}">${ctx.t('commerce.client.consume')}</a>
    ${pause}
  </div>
  ${cancel}
  <p class="legend">${ctx.t('commerce.subscription.freeze_hint')}</p>`;
}

/** GET /ui/subscriptions/:id: the subscription as sold — its balances, its invoices, and what can be done with it. */
export async function subscriptionPage(
  ctx: UiContext,
  id: string,
  form: FormState = { values: {} },
): Promise<Html | undefined> {
  const s = await subscriptionOf(ctx, id);
  if (!s) return undefined;
  const client = await findClient(ctx.app.db, s.client.id);
  const invoices = await invoiceViews(
    ctx.app.db,
    (await listInvoices(ctx.app.db, { limit: 50 }, { subscriptionId: s.id })).data,
  );
  const flags = [
    s.cancel_at_period_end
      ? html` <span class="muted">${ctx.t('commerce.subscription.ends_at_period_end')}</span>`
      : '',
    s.frozen_until
      ? html` <span class="muted">${ctx.t('commerce.subscription.frozen_until')} ${ctx.fmt.dateTime(
          s.frozen_until,
        )}</span>`
      : '',
  ];
  const balances = s.balances ?? [];
  return page(
    ctx,
    { title: ctx.t('commerce.subscription.title', { package: s.package.name }).value, section: 'clients' },
    html`${notice(ctx)}${refusalBlock(ctx, form.refusal, ['at', 'reason'])}
<h1>${ctx.t('commerce.subscription.title', { package: name(s.package.name) })}</h1>
<p class="sub"><a href="${path`/ui/clients/${s.client.id}`}">${name(client?.name ?? '')}</a>
  ${code(s.client.external_ref)} · <a href="${path`/ui/packages/${s.package.id}`}">${code(s.package.code)}</a>
  · ${shortId(s.id)}</p>

<section class="panel" aria-labelledby="sub-h" data-subscription="${s.id}" data-status="${s.status}">
  <h2 id="sub-h">${ctx.t('commerce.subscription.heading')}</h2>
  <dl class="kv">
    <dt>${ctx.t('commerce.subscription.status')}</dt><dd>${badge(ctx, s.status)}${flags}</dd>
    <dt>${ctx.t('commerce.subscription.period')}</dt>
    <dd>${span(ctx, ctx.fmt.dateTime(s.current_period_start), ctx.fmt.dateTime(s.current_period_end))}</dd>
    <dt>${ctx.t('commerce.subscription.price')}</dt>
    <dd><span data-minor="${s.price}">${ctx.fmt.money(s.price, s.currency)}</span>${
      s.price_source === 'subscription'
        ? html` <span class="muted">${ctx.t('commerce.subscription.own_price')}</span>`
        : ''
    }</dd>
    <dt>${ctx.t('commerce.sell.auto_renew')}</dt><dd>${ctx.t(s.auto_renew ? 'word.yes' : 'word.no')}</dd>
    <dt>${ctx.t('commerce.sell.activation')}</dt><dd>${ctx.t(
      s.activation === 'on_payment' ? 'commerce.sell.activation_on_payment' : 'commerce.sell.activation_immediate',
    )}</dd>
    <dt>${ctx.t('commerce.subscription.renewals')}</dt><dd>${ctx.fmt.number(s.renewal_count)}</dd>
  </dl>
  ${subscriptionActions(ctx, s, form)}
</section>

<section class="panel" aria-labelledby="sub-bal-h">
  <h2 id="sub-bal-h">${ctx.t('commerce.subscription.balances')}</h2>
  ${
    balances.length === 0
      ? html`<p class="empty">${ctx.t('commerce.subscription.no_balances')}</p>`
      : html`<div class="scroll"><table>
    <thead><tr>
      <th>${ctx.t('commerce.balance.credit_type')}</th><th>${ctx.t('commerce.balance.source')}</th>
      <th>${ctx.t('commerce.balance.status')}</th><th class="num">${ctx.t('commerce.balance.remaining')}</th>
      <th>${ctx.t('commerce.balance.expires')}</th><th></th>
    </tr></thead>
    <tbody>${balances.map(
      (b) => html`<tr data-balance="${b.id}">
      <td>${code(b.credit_type.code)}</td>
      <td>${sourceWord(ctx, b.source)}</td>
      <td>${badge(ctx, b.status)}</td>
      <td class="num">${units(ctx, b.remaining)} / ${units(ctx, b.granted, b.credit_type.unit)}</td>
      <td class="nowrap">${ctx.fmt.dateTime(b.expires_at)}</td>
      <td><a href="${path`/ui/balances/${b.id}/adjust`}" data-action="adjust">${ctx.t(
        'commerce.balance.adjust',
      )}</a></td>
    </tr>`,
    )}</tbody>
  </table></div>`
  }
</section>

<section class="panel" aria-labelledby="sub-inv-h">
  <h2 id="sub-inv-h">${ctx.t('commerce.subscription.invoices')}</h2>
  ${
    invoices.length === 0
      ? html`<p class="empty">${ctx.t('commerce.invoices.none')}</p>`
      : invoices.map((invoice) => invoiceBlock(ctx, invoice))
  }
</section>`,
  );
}

export { subscriptionOf };
