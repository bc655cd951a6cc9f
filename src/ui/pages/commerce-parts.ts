import { STATUS_OF } from '../../http/problem.js';
import type { RouteOutcome } from '../../http/run-route.js';
import {
  errorId,
  type FieldErrors,
  type FormFields,
  fieldError,
  formFields,
  otherFieldMessages,
  refusedFields,
} from '../form.js';
import { type Html, html, name, path, query, type Renderable } from '../html.js';
import type { MessageKey } from '../i18n/messages/index.js';
import type { UiContext } from '../layout.js';
import { selectOptions } from '../options.js';
import { failureSays } from '../refusals.js';

/**
 * What the commerce pages share (selling, consuming, adjusting, invoices): how a refused call is told,
 * their labelled inputs, the values a refused form shows again, and their links. Badges and notices
 * (layout.ts), typed numbers (form.ts) and dates (date-inputs.ts) are the ones every page uses. Nothing
 * here validates: the routes' schemas do.
 */

/** From one time to another, the arrow pointing the way the page reads (right to left in Arabic). */
export const span = (ctx: UiContext, from: Html, to: Html): Html => ctx.t('commerce.span', { from, to });

/** An id shortened for reading, whole in its title. */
export const shortId = (id: string): Html => html`<code dir="ltr" title="${id}">${id.slice(0, 8)}</code>`;

/**
 * A quantity (an exact decimal text from a view) with the locale's digits, and its unit. The unit is a name the
 * business typed ("message", "call v2", "رسالة"): isolated, as every name is (`name`), so that in a sentence of the
 * other direction — a refusal's figures on an Arabic page — its letters and the sentence's digits cannot reorder.
 */
export const units = (ctx: UiContext, value: string | null | undefined, unit?: string): Html => {
  if (value === null || value === undefined) return html`—`;
  const named = unit ? html` ${name(unit)}` : '';
  return html`<span class="nowrap" data-units="${value}">${ctx.fmt.number(value)}${named}</span>`;
};

/** How a refused call is shown: the HTTP status of the page, each field's message, and one line for the form. */
export interface Refusal {
  status: number;
  errors: FieldErrors;
  message: Html;
  /** The failure's code (`insufficient_balance`, `conflict`, …); `invalid` when the schemas refused. */
  code: string;
  /** The failure's extra members (a rejected consumption's figures). */
  extra: Record<string, unknown>;
}

/** What a form's page shows in it: the values typed (none at first) and, once refused, the refusal. */
export interface FormState {
  values: Record<string, string>;
  refusal?: Refusal;
}

const REFUSED: Record<string, MessageKey> = {
  validation_failed: 'commerce.refused.validation_failed',
  not_found: 'commerce.refused.not_found',
  conflict: 'commerce.refused.conflict',
  idempotency_conflict: 'commerce.refused.idempotency_conflict',
  insufficient_balance: 'commerce.refused.insufficient_balance',
  unavailable: 'commerce.refused.unavailable',
  forbidden: 'commerce.refused.forbidden',
};

/**
 * The detail of a failure in the page's language (refusals.ts); else as the API wrote it (English), which an Arabic
 * page marks so. Empty when the failure's code says it all.
 */
const detailOf = (ctx: UiContext, failure: { code: string; detail: string }): Html => {
  const said = failureSays(ctx, failure);
  if (said) return said.value === '' ? said : html` ${said}`;
  return ctx.locale === 'en' ? html` ${failure.detail}` : html` <span lang="en" dir="ltr">${failure.detail}</span>`;
};

/**
 * A refused call as the page tells it, with the status the API answers for it (http/problem.ts): 422 for
 * values the schemas or the domain refused (each beside its field), 409 for a state that does not allow
 * it, never a 500 for bad input. A `not_found` that names a field (a package or credit type typed in a
 * form) is bad input: 422 beside that field.
 */
export function refusalOf(ctx: UiContext, outcome: RouteOutcome): Refusal {
  const errors = refusedFields(ctx, outcome, formFields(ctx.req));
  if (outcome.kind === 'invalid') {
    return { status: 422, errors, message: ctx.t('form.invalid'), code: 'invalid', extra: {} };
  }
  if (outcome.kind !== 'failure') {
    return { status: 500, errors, message: ctx.t('commerce.refused.other'), code: 'unexpected', extra: {} };
  }
  const { failure } = outcome;
  let status = STATUS_OF[failure.code];
  if (failure.code === 'not_found' && errors.size > 0) status = 422;
  const key = REFUSED[failure.code] ?? 'commerce.refused.other';
  // a value the domain refused, or a reference it found nothing by, is told beside its field (in the page's
  // language): the block above says where to look, as for a value the schemas refused, rather than say it twice
  const fieldsTell = (failure.code === 'validation_failed' || failure.code === 'not_found') && errors.size > 0;
  return {
    status,
    errors,
    message: fieldsTell ? ctx.t('form.invalid') : html`${ctx.t(key)}${detailOf(ctx, failure)}`,
    code: failure.code,
    extra: failure.extra ?? {},
  };
}

/** The refusal as the block at the top of a form, with the messages of fields the form does not show. */
export function refusalBlock(ctx: UiContext, refusal: Refusal | undefined, shown: readonly string[]): Html {
  if (!refusal) return html``;
  const others = otherFieldMessages(
    ctx,
    [...refusal.errors].filter(([field]) => !shown.includes(field)),
  );
  return html`<div class="notice error" role="alert" data-refusal="${refusal.code}">${refusal.message}${others}</div>`;
}

/**
 * A control's label and hint, and the attributes that name it by the label alone and describe it by its
 * message and hint: inside the <label>, the hint and the message would otherwise be part of its name
 * ("Quantity Required."), read as the name by a screen reader and matched by a search by label.
 */
function namedBy(errors: FieldErrors, field: string, label: Html, hintText: Html | undefined) {
  const id = field.replace(/[^\w-]/g, '-');
  const described = [errors.has(field) ? errorId(field) : '', hintText ? `hint-${id}` : ''].filter(Boolean);
  return {
    label: html`<span id="label-${id}">${label}</span>`,
    hint: hintText ? html`<span class="legend" id="hint-${id}">${hintText}</span>` : '',
    attributes: html` aria-labelledby="label-${id}"${errors.has(field) ? html` aria-invalid="true"` : ''}${
      described.length > 0 ? html` aria-describedby="${described.join(' ')}"` : ''
    }`,
  };
}

/** A labelled input with its message beside it when the route refused its value. */
export function inputField(
  ctx: UiContext,
  errors: FieldErrors,
  spec: {
    name: string;
    label: Html;
    value?: string | undefined;
    /** The route's field when it is not the input's name (`metadata.branch` for `dim.branch`). */
    field?: string;
    type?: string;
    hint?: Html;
    attrs?: Html;
  },
): Html {
  const field = spec.field ?? spec.name;
  const { label, hint, attributes } = namedBy(errors, field, spec.label, spec.hint);
  return html`<label>${label}<input type="${spec.type ?? 'text'}" name="${spec.name}" value="${spec.value ?? ''}"${
    spec.attrs ?? ''
  }${attributes}>${hint}${fieldError(ctx, errors, field)}</label>`;
}

/** A labelled select; `options` are [value, label] pairs, the chosen one marked. */
export function selectField(
  ctx: UiContext,
  errors: FieldErrors,
  spec: {
    name: string;
    label: Html;
    value?: string | undefined;
    field?: string;
    options: ReadonlyArray<readonly [string, Renderable]>;
    hint?: Html;
    /** Options long enough to crowd a column (names the business typed): a row of the form's own, the select as
     * wide as its longest option up to the row's width. */
    wide?: boolean;
  },
): Html {
  const field = spec.field ?? spec.name;
  const options = selectOptions(spec.options, spec.value ?? '');
  const { label, hint, attributes } = namedBy(errors, field, spec.label, spec.hint);
  const select = html`<select name="${spec.name}"${attributes}>${options}</select>`;
  const wide = spec.wide ? html` class="wide"` : '';
  return html`<label${wide}>${label}${select}${hint}${fieldError(ctx, errors, field)}</label>`;
}

/** A form's fields as the text values to show again in it. */
export const keptValues = (fields: FormFields): Record<string, string> => {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(fields)) {
    const text = Array.isArray(value) ? value[0] : value;
    if (text !== undefined && name !== 'csrf') kept[name] = text;
  }
  return kept;
};

/** A text of a failure's extra member, if it is one. */
export const extraText = (extra: Record<string, unknown>, name: string): string | undefined => {
  const value = extra[name];
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
};

/** The client page's ways into the commerce pages: sell, register a consumption, the client's invoices. */
export const clientCommerceLinks = (ctx: UiContext, clientId: string): Html =>
  html`<p class="actions" data-commerce-links>
  <a class="button" href="${path`/ui/clients/${clientId}/sell`}" data-action="sell">${ctx.t('commerce.client.sell')}</a>
  <a class="button" href="${path`/ui/clients/${clientId}/consume`}" data-action="consume">${ctx.t(
    'commerce.client.consume',
  )}</a>
  <a href="/ui/invoices${query({ client: clientId })}" data-action="invoices">${ctx.t('commerce.client.invoices')}</a>
</p>`;

/** A subscription row's link to its page (invoices, cancel, suspend, resume). */
export const subscriptionLink = (ctx: UiContext, id: string): Html =>
  html`<a href="${path`/ui/subscriptions/${id}`}" data-action="manage" data-subscription="${id}">${ctx.t(
    'commerce.client.manage',
  )}</a>`;

/** A balance row's link to its adjustment form. */
export const adjustLink = (ctx: UiContext, balanceId: string): Html =>
  html`<a href="${path`/ui/balances/${balanceId}/adjust`}" data-action="adjust" data-balance="${balanceId}">${ctx.t(
    'commerce.balance.adjust',
  )}</a>`;
