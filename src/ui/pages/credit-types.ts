import { type CreditTypeRow, findCreditType, listCreditTypes } from '../../db/repositories/credit-types.js';
import { MAX_DECIMALS } from '../../domain/quantity.js';
import { MAX_DIMENSIONS } from '../../http/routes/credit-types.js';
import type { RouteOutcome } from '../../http/run-route.js';
import { type FormFields, fieldMessage, integerField, queryText, textField } from '../form.js';
import { type Html, html, name, path, query } from '../html.js';
import { badge, csrfField, nextLink, notice, page, type UiContext } from '../layout.js';
import { codeCharacters } from '../refusals.js';
import { changedFields, FormView, input, postForm } from './setup-kit.js';

/** A posted form, as the page shows it again after a refusal. */
export interface Posted {
  values?: FormFields;
  outcome?: RouteOutcome;
}

/**
 * The dimension keys as one comma list ("branch, employee"; the Arabic comma and spaces separate too).
 * Each key goes to the route as typed: its schema says which key is not a key, and which repeats.
 */
export const dimensionList = (text: string | undefined): string[] =>
  (text ?? '').split(/[\s,\u060c]+/).filter((key) => key !== '');

/** POST /v1/credit-types from the create form. */
export function creditTypeCreateBody(fields: FormFields): Record<string, unknown> {
  const dimensions = dimensionList(textField(fields, 'dimensions'));
  return {
    code: textField(fields, 'code'),
    name: textField(fields, 'name'),
    unit: textField(fields, 'unit'),
    decimals: integerField(fields, 'decimals'),
    ...(dimensions.length > 0 ? { dimensions } : {}),
  };
}

/** PATCH /v1/credit-types/{id} from the edit form: only what changed (an empty body: nothing to write). */
export function creditTypePatchBody(fields: FormFields, current: CreditTypeRow): Record<string, unknown> {
  const posted = {
    name: textField(fields, 'name') ?? '',
    unit: textField(fields, 'unit') ?? '',
    dimensions: dimensionList(textField(fields, 'dimensions')),
  };
  return changedFields(posted, { name: current.name, unit: current.unit, dimensions: current.dimensions });
}

const dimensionsText = (keys: readonly string[]): Html =>
  keys.length === 0 ? html`—` : html`${keys.map((k, i) => html`${i > 0 ? ' ' : ''}<code dir="ltr">${k}</code>`)}`;

function dimensionsInput(form: FormView, initial: readonly string[]): Html {
  const { t } = form.ctx;
  const problems = form.errorsUnder('dimensions');
  const keys = dimensionList(form.value('dimensions'));
  const value = form.posted ? form.value('dimensions') : initial.join(', ');
  // named by its label alone, described by its hint and messages (as setup-kit's inputs are)
  const invalid =
    problems.length > 0
      ? html` aria-invalid="true" aria-describedby="f-dimensions-hint error-dimensions"`
      : html` aria-describedby="f-dimensions-hint"`;
  const messages =
    problems.length === 0
      ? ''
      : html`<div class="field-error" id="error-dimensions" role="alert">${problems.map(([field, message]) => {
          const key = keys[Number(field.split('.')[1])];
          const which = key !== undefined && field !== 'dimensions' ? html`<code dir="ltr">${key}</code>: ` : '';
          return html`<p>${which}${fieldMessage(form.ctx, message, { field })}</p>`;
        })}</div>`;
  return html`<div class="field wide"><label for="f-dimensions"><span id="f-dimensions-label">${t(
    'setup.credit_type.dimensions',
  )}</span><span class="muted small" id="f-dimensions-hint">${t('setup.credit_type.dimensions_hint', {
    max: form.ctx.fmt.number(MAX_DIMENSIONS),
    example: html`<bdi dir="ltr">branch, employee</bdi>`,
  })}</span>
<input id="f-dimensions" type="text" name="dimensions" value="${value}" dir="ltr"
  placeholder="branch, employee" aria-labelledby="f-dimensions-label"${invalid}></label>${messages}</div>`;
}

/** The credit types, each with its edit link, and the form that creates one. */
export async function creditTypesPage(ctx: UiContext, posted?: Posted): Promise<Html> {
  const { t, fmt } = ctx;
  const result = await listCreditTypes(ctx.app.db, { limit: 100, cursor: queryText(ctx.req.query.cursor) }, {});
  const form = new FormView(ctx, posted);
  const fields = html`<div class="form-grid">
${input(form, 'code', {
  label: 'setup.credit_type.code',
  hint: t('setup.credit_type.code_hint', { chars: codeCharacters(ctx) }),
  dir: 'ltr',
})}
${input(form, 'name', { label: 'setup.credit_type.name' })}
${input(form, 'unit', { label: 'setup.credit_type.unit', hint: 'setup.credit_type.unit_hint' })}
${input(form, 'decimals', {
  label: 'setup.credit_type.decimals',
  hint: t('setup.credit_type.decimals_hint', { min: fmt.number(0), max: fmt.number(MAX_DECIMALS) }),
  type: 'number',
  dir: 'ltr',
  initial: '0',
})}
${dimensionsInput(form, [])}
</div>`;
  const banner = form.banner((failure) =>
    failure.code === 'conflict' ? t('setup.credit_type.code_taken') : undefined,
  );
  const rows = result.data.map(
    (c) => html`<tr data-credit-type="${c.code}">
  <td dir="auto"><a href="${path`/ui/credit-types/${c.id}`}">${name(c.name)}</a></td>
  <td><code dir="ltr">${c.code}</code></td>
  <td dir="auto"><bdi>${c.unit}</bdi></td>
  <td class="num">${fmt.number(c.decimals)}</td>
  <td>${dimensionsText(c.dimensions)}</td>
  <td>${badge(ctx, c.archived ? 'archived' : 'active')}</td>
</tr>`,
  );
  return page(
    ctx,
    { title: t('setup.credit_types.title').value, section: 'credit-types' },
    html`<h1>${t('setup.credit_types.title')}</h1>
<p class="sub">${t('setup.credit_types.lead')}</p>
${notice(ctx)}
<section class="panel" aria-labelledby="ct-list-h">
  <h2 id="ct-list-h">${t('setup.credit_types.list')}</h2>
  ${
    rows.length === 0
      ? html`<p class="empty">${t('setup.credit_types.empty')}</p>`
      : html`<div class="scroll"><table>
    <thead><tr>
      <th>${t('setup.credit_type.name')}</th><th>${t('setup.credit_type.code')}</th>
      <th>${t('setup.credit_type.unit')}</th><th class="num">${t('setup.credit_type.decimals')}</th>
      <th>${t('setup.credit_type.dimensions')}</th><th>${t('setup.credit_type.status')}</th>
    </tr></thead>
    <tbody>${rows}</tbody>
  </table></div>`
  }
  ${result.nextCursor ? nextLink(ctx, `/ui/credit-types${query({ cursor: result.nextCursor })}`) : ''}
</section>
<section class="panel" aria-labelledby="ct-new-h" id="new">
  <h2 id="ct-new-h">${t('setup.credit_types.new')}</h2>
  ${banner}
  ${postForm(form, '/ui/credit-types', fields, { creates: true, submit: 'setup.credit_types.create' })}
</section>`,
  );
}

/** One credit type: rename it, change its unit word or dimensions, archive or bring it back. */
export async function creditTypeEditPage(ctx: UiContext, ref: string, posted?: Posted): Promise<Html | undefined> {
  const { t, fmt } = ctx;
  const creditType = await findCreditType(ctx.app.db, ref);
  if (!creditType) return undefined;
  const form = new FormView(ctx, posted);
  const fields = html`<div class="form-grid">
${input(form, 'name', { label: 'setup.credit_type.name', initial: creditType.name })}
${input(form, 'unit', {
  label: 'setup.credit_type.unit',
  hint: 'setup.credit_type.unit_hint',
  initial: creditType.unit,
})}
${dimensionsInput(form, creditType.dimensions)}
</div>`;
  const banner = form.banner(() => undefined);
  const archived = creditType.archived;
  return page(
    ctx,
    { title: creditType.name, section: 'credit-types' },
    html`<p><a href="/ui/credit-types">${t('setup.credit_types.back')}</a></p>
<h1 dir="auto">${name(creditType.name)}</h1>
<p class="sub"><code dir="ltr">${creditType.code}</code> · ${badge(ctx, archived ? 'archived' : 'active')}</p>
${notice(ctx)}
<section class="panel" aria-labelledby="ct-fixed-h">
  <h2 id="ct-fixed-h">${t('setup.credit_type.fixed')}</h2>
  <dl class="kv">
    <dt>${t('setup.credit_type.code')}</dt><dd><code dir="ltr">${creditType.code}</code></dd>
    <dt>${t('setup.credit_type.decimals')}</dt><dd>${fmt.number(creditType.decimals)}</dd>
  </dl>
  <p class="legend">${t('setup.credit_type.fixed_why')}</p>
</section>
<section class="panel" aria-labelledby="ct-edit-h">
  <h2 id="ct-edit-h">${t('setup.credit_type.edit')}</h2>
  ${banner}
  ${postForm(form, path`/ui/credit-types/${creditType.id}`, fields, { submit: 'word.save' })}
</section>
<section class="panel" aria-labelledby="ct-archive-h">
  <h2 id="ct-archive-h">${t(archived ? 'setup.credit_type.unarchive' : 'setup.credit_type.archive')}</h2>
  <p class="legend">${t(archived ? 'setup.credit_type.unarchive_why' : 'setup.credit_type.archive_why')}</p>
  <form method="post" action="${path`/ui/credit-types/${creditType.id}/archive`}">${csrfField(ctx)}
    <input type="hidden" name="archived" value="${archived ? 'false' : 'true'}">
    <button type="submit" class="secondary" data-action="${archived ? 'unarchive' : 'archive'}">${t(
      archived ? 'setup.credit_type.unarchive' : 'setup.credit_type.archive',
    )}</button>
  </form>
</section>`,
  );
}
