import type { Executor } from '../../db/knex.js';
import { type CreditTypeRow, creditTypesByIds, listCreditTypes } from '../../db/repositories/credit-types.js';
import { findPackage, type PackageWithItems } from '../../db/repositories/packages.js';
import { VALIDITY_CALENDARS, VALIDITY_UNITS, type ValidityCalendar, type ValidityUnit } from '../../domain/period.js';
import { formatQuantity, parseQuantity } from '../../domain/quantity.js';
import type { RouteOutcome } from '../../http/run-route.js';
import { itemSchema } from '../../schemas/package.js';
import { creditTypesOfPackages, resolveItems } from '../../services/packages.js';
import { type PackageView, toPackageView } from '../../views/package.js';
import { checkboxField, type FormFields, integerField, numberField, textField } from '../form.js';
import { code, type Html, html, name, path } from '../html.js';
import type { MessageKey } from '../i18n/messages/index.js';
import { badge, csrfField, notice, page, type UiContext } from '../layout.js';
import { codeCharacters, fieldSays } from '../refusals.js';
import {
  type AmountProblem,
  amountMessage,
  amountProblemOf,
  exampleAmount,
  majorFromMinor,
  minorFromMajor,
} from './amounts.js';
import { changedFields, checkbox, FormView, input, postForm, renameFields, select, textarea } from './setup-kit.js';

/** Blank item rows a new package's form offers (blank rows are ignored). */
export const ITEM_ROWS = 5;
/** The pages' form parser takes 50 fields: with the package's other fields, room for this many item rows. */
const MAX_ITEM_ROWS = 12;

const ROLLOVER_POLICIES = ['none', 'all', 'percent'] as const;

const UNIT_TEXT: Record<ValidityUnit, MessageKey> = {
  day: 'setup.validity.day',
  week: 'setup.validity.week',
  month: 'setup.validity.month',
  year: 'setup.validity.year',
};
const CALENDAR_TEXT: Record<ValidityCalendar, MessageKey> = {
  gregory: 'setup.calendar.gregory',
  'islamic-umalqura': 'setup.calendar.islamic_umalqura',
};
const ROLLOVER_TEXT: Record<(typeof ROLLOVER_POLICIES)[number], MessageKey> = {
  none: 'setup.rollover.none',
  all: 'setup.rollover.all',
  percent: 'setup.rollover.percent',
};

/** What a package form posted, as the route's body, and the amounts that were not amounts of the currency. */
export interface PackageBody {
  body: Record<string, unknown>;
  /**
   * Fields whose amount the route refuses in other terms than those typed: text that was not an amount in major
   * units (sent on as typed), an amount above the largest (sent on as its minor digits).
   */
  amountProblems: ReadonlyMap<string, AmountProblem>;
  /** The form row of each item of the body (`items.1` may be the third row when the second was blank). */
  itemRows: number[];
}

/** The item rows the form posted: `items.<row>.credit_type` and `items.<row>.units`. */
function postedRows(fields: FormFields): number {
  let rows = 0;
  for (const key of Object.keys(fields)) {
    const match = /^items\.(\d{1,2})\.(credit_type|units)$/.exec(key);
    if (match) rows = Math.max(rows, Number(match[1]) + 1);
  }
  return Math.min(rows, MAX_ITEM_ROWS);
}

function amount(
  fields: FormFields,
  field: string,
  currency: string,
  problems: Map<string, AmountProblem>,
): string | undefined {
  const text = textField(fields, field);
  if (text === undefined) return undefined;
  const minor = minorFromMajor(text, currency);
  const problem = amountProblemOf(minor);
  if (problem !== undefined) problems.set(field, problem);
  return minor ?? text;
}

function items(fields: FormFields): { items: Array<Record<string, unknown>>; rows: number[] } {
  const list: Array<Record<string, unknown>> = [];
  const rows: number[] = [];
  for (let row = 0; row < postedRows(fields); row += 1) {
    const creditType = textField(fields, `items.${row}.credit_type`);
    // units as typed, digits made ASCII: the route checks them against the credit type's decimals
    const units = numberField(fields, `items.${row}.units`);
    if (creditType === undefined && units === undefined) continue;
    list.push({ credit_type: creditType, units });
    rows.push(row);
  }
  return { items: list, rows };
}

function rollover(fields: FormFields, edit: boolean): Record<string, unknown> | undefined {
  const policy = textField(fields, 'rollover.policy');
  if (policy === undefined) return undefined;
  if (policy !== 'percent') return { policy };
  const cap = integerField(fields, 'rollover.cap_percent');
  return {
    policy,
    percent: integerField(fields, 'rollover.percent'),
    ...(cap !== undefined ? { cap_percent: cap } : edit ? { cap_percent: null } : {}),
  };
}

function validity(fields: FormFields): Record<string, unknown> {
  const calendar = textField(fields, 'validity.calendar');
  return {
    count: integerField(fields, 'validity.count'),
    unit: textField(fields, 'validity.unit'),
    ...(calendar !== undefined ? { calendar } : {}),
  };
}

/** POST /v1/packages from the new package's form: amounts typed in major units, as exact minor-unit digits. */
export function packageCreateBody(fields: FormFields): PackageBody {
  const currency = textField(fields, 'currency')?.toUpperCase();
  const amountProblems = new Map<string, AmountProblem>();
  // an unknown or missing currency reads amounts with two decimals; the route refuses the currency itself
  const digitsOf = currency ?? '';
  const { items: list, rows } = items(fields);
  const body: Record<string, unknown> = {
    code: textField(fields, 'code'),
    name: textField(fields, 'name'),
    description: textField(fields, 'description'),
    price: amount(fields, 'price', digitsOf, amountProblems),
    currency,
    validity: validity(fields),
    items: list,
    recharge_price: amount(fields, 'recharge_price', digitsOf, amountProblems),
    rollover: rollover(fields, false),
    auto_renew: checkboxField(fields, 'auto_renew'),
    priority: integerField(fields, 'priority'),
    low_balance_percent: integerField(fields, 'low_balance_percent'),
    max_freeze_days: integerField(fields, 'max_freeze_days'),
  };
  for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key];
  return { body, amountProblems, itemRows: rows };
}

/** What the stored package is, in the shape the edit form posts (for the fields it changes). */
function currentBody(row: PackageWithItems, view: PackageView): Record<string, unknown> {
  const rolloverNow =
    view.rollover.policy === 'percent'
      ? { policy: 'percent', percent: view.rollover.percent, cap_percent: view.rollover.cap_percent ?? null }
      : { policy: view.rollover.policy };
  return {
    name: view.name,
    description: view.description,
    price: row.price.toString(),
    validity: { count: view.validity.count, unit: view.validity.unit, calendar: view.validity.calendar },
    items: view.items.map((i) => ({ credit_type: i.credit_type.code, units: i.units })),
    recharge_price: row.recharge_price === null ? null : row.recharge_price.toString(),
    rollover: rolloverNow,
    auto_renew: view.auto_renew,
    priority: view.priority,
    low_balance_percent: view.low_balance_percent,
    max_freeze_days: view.max_freeze_days,
  };
}

/**
 * PATCH /v1/packages/{id} from the edit form: only the fields that differ from the stored package
 * (a price typed "49" is the stored 4900; units "2.50" are the stored "2.5"), so that an edit of the
 * name does not rewrite the items nor record a price change.
 */
export function packagePatchBody(
  fields: FormFields,
  row: PackageWithItems,
  view: PackageView,
  creditTypes: ReadonlyMap<string, CreditTypeRow>,
): PackageBody {
  const amountProblems = new Map<string, AmountProblem>();
  const { items: list, rows } = items(fields);
  const byCode = new Map([...creditTypes.values()].map((c) => [c.code, c]));
  // the same quantity written as the stored one is written, so that an untouched row compares equal
  const canonicalItems = list.map((item) => {
    const creditType = typeof item.credit_type === 'string' ? byCode.get(item.credit_type) : undefined;
    const parsed = creditType ? parseQuantity(item.units, creditType.decimals) : undefined;
    return parsed?.ok && creditType ? { ...item, units: formatQuantity(parsed.value, creditType.decimals) } : item;
  });
  const posted: Record<string, unknown> = {
    name: textField(fields, 'name') ?? '',
    description: textField(fields, 'description') ?? null,
    price: amount(fields, 'price', row.currency, amountProblems) ?? '',
    validity: validity(fields),
    items: canonicalItems,
    recharge_price: amount(fields, 'recharge_price', row.currency, amountProblems) ?? null,
    rollover: rollover(fields, true),
    auto_renew: checkboxField(fields, 'auto_renew'),
    priority: integerField(fields, 'priority'),
    low_balance_percent: integerField(fields, 'low_balance_percent'),
    max_freeze_days: integerField(fields, 'max_freeze_days') ?? null,
  };
  return { body: changedFields(posted, currentBody(row, view)), amountProblems, itemRows: rows };
}

/**
 * A package refused for its fields' formats (the schemas) or its currency is refused before the route
 * reads its items: their rules (a known, live credit type, each once; units in its decimals, not negative)
 * would only show once the rest is fixed. The items that are well formed are checked here by the route's
 * own rules (resolveItems, nothing written), so that one answer tells every field.
 */
export async function withItemProblems(ctx: UiContext, outcome: RouteOutcome, items: unknown): Promise<RouteOutcome> {
  const refusedByFields =
    outcome.kind === 'invalid' || (outcome.kind === 'failure' && outcome.failure.code === 'validation_failed');
  if (!refusedByFields || !Array.isArray(items)) return outcome;
  const problems = outcome.kind === 'invalid' ? outcome.problems : (outcome.failure.errors ?? []);
  // the route checked the items already when one of their rules is among its problems
  if (outcome.kind === 'failure' && problems.some((p) => p.field.startsWith('items.'))) return outcome;
  const wellFormed: Array<{ index: number; item: { credit_type: string; units: string | number } }> = [];
  for (const [index, item] of items.entries()) {
    const parsed = itemSchema.safeParse(item);
    if (parsed.success && !problems.some((p) => p.field.startsWith(`items.${index}.`)))
      wellFormed.push({ index, item: parsed.data });
  }
  if (wellFormed.length === 0) return outcome;
  const resolved = await resolveItems(
    ctx.app.db,
    wellFormed.map((w) => w.item),
  );
  if (resolved.ok) return outcome;
  const more = (resolved.errors ?? []).map((p) => {
    const match = /^items\.(\d+)(\..*)?$/.exec(p.field);
    const index = match ? wellFormed[Number(match[1])]?.index : undefined;
    return index === undefined ? p : { ...p, field: `items.${index}${match?.[2] ?? ''}` };
  });
  const all = [...problems, ...more];
  return outcome.kind === 'invalid'
    ? { kind: 'invalid', problems: all }
    : { kind: 'failure', failure: { ...outcome.failure, errors: all } };
}

/** The body's item fields (`items.1.units`) as the form's rows (`items.2.units`). */
export function itemsAsRows(outcome: RouteOutcome, rows: readonly number[]): RouteOutcome {
  return renameFields(outcome, (field) => {
    const match = /^items\.(\d+)(\..*)?$/.exec(field);
    if (!match) return field;
    const row = rows[Number(match[1])];
    return row === undefined ? field : `items.${row}${match[2] ?? ''}`;
  });
}

/** The messages a package form writes itself: for an amount the route would refuse in other terms (amounts.ts). */
export const amountMessages = (
  ctx: UiContext,
  problems: ReadonlyMap<string, AmountProblem>,
  currency: string,
): Map<string, Html> =>
  new Map([...problems].map(([field, problem]) => [field, amountMessage(ctx, problem, currency)]));

/** Credit types a package may hold (the active ones), and those it holds already. */
async function creditTypeChoices(db: Executor, held: readonly string[] = []): Promise<CreditTypeRow[]> {
  const active = (await listCreditTypes(db, { limit: 500 }, { archived: false })).data;
  const missing = held.filter((id) => !active.some((c) => c.id === id));
  const archived = missing.length > 0 ? [...(await creditTypesByIds(db, missing)).values()] : [];
  return [...active, ...archived];
}

interface FormParts {
  form: FormView;
  creditTypes: readonly CreditTypeRow[];
  initial?: { row: PackageWithItems; view: PackageView };
}

function itemRows(parts: FormParts): Html {
  const { form, creditTypes, initial } = parts;
  const { t } = form.ctx;
  const stored = initial?.view.items ?? [];
  const count = Math.min(
    MAX_ITEM_ROWS,
    Math.max(
      ITEM_ROWS,
      form.posted ? postedRows(form.values) : 0,
      stored.length + (stored.length >= ITEM_ROWS ? 1 : 0),
    ),
  );
  const choices = creditTypes.map(
    (c) =>
      [
        c.code,
        html`${name(c.name)} (${c.code} · ${c.unit})${c.archived ? html` — ${t('status.archived')}` : ''}`,
      ] as const,
  );
  const rows: Html[] = [];
  for (let row = 0; row < count; row += 1) {
    const item = stored[row];
    const n = form.ctx.fmt.number(row + 1);
    rows.push(html`<div class="form-grid item-row" data-item-row="${row}">
${select(
  form,
  `items.${row}.credit_type`,
  { label: t('setup.package.item_type', { n }), initial: item?.credit_type.code ?? '', blank: html`—` },
  choices,
)}
${input(form, `items.${row}.units`, {
  label: t('setup.package.item_units', { n }),
  dir: 'ltr',
  inputmode: 'decimal',
  initial: item?.units ?? '',
})}
</div>`);
  }
  const problems = form.errorsUnder('items').filter(([field]) => !/^items\.\d+\./.test(field));
  const whole =
    problems.length === 0
      ? ''
      : html`<div class="field-error" role="alert">${problems.map(
          ([field, message]) =>
            html`<p>${
              fieldSays(form.ctx, message, { field }) ??
              html`${t('setup.package.items_invalid')} <span lang="en" dir="ltr">(${message})</span>`
            }</p>`,
        )}</div>`;
  return html`<fieldset class="items"><legend>${t('setup.package.items')}</legend>
<p class="legend">${t('setup.package.items_hint')}</p>
${rows}${whole}</fieldset>`;
}

function packageFields(parts: FormParts): Html {
  const { form, initial } = parts;
  const { t } = form.ctx;
  const number = (value: number) => form.ctx.fmt.number(value);
  const view = initial?.view;
  const row = initial?.row;
  const currency = row?.currency;
  const rolloverNow = view?.rollover;
  const calendarNow = view?.validity.calendar ?? 'gregory';
  const identity = view
    ? html``
    : input(form, 'code', {
        label: 'setup.package.code',
        hint: t('setup.package.code_hint', { chars: codeCharacters(form.ctx) }),
        dir: 'ltr',
      });
  const currencyField = view
    ? html``
    : input(form, 'currency', {
        label: 'setup.package.currency',
        hint: t('setup.package.currency_hint', {
          examples: form.ctx.fmt.list(['SAR', 'KWD', 'USD'].map((c) => code(c))),
        }),
        dir: 'ltr',
        initial: 'USD',
        maxlength: 3,
      });
  // a Hijri validity counts months and years of Umm al-Qura (a Ramadan package ends at the end of the Hijri month)
  const calendarField = select(
    form,
    'validity.calendar',
    { label: 'setup.package.validity_calendar', initial: calendarNow },
    VALIDITY_CALENDARS.map((c) => [c, t(CALENDAR_TEXT[c])] as const),
  );
  return html`<div class="form-grid">
${identity}
${input(form, 'name', { label: 'setup.package.name', initial: view?.name ?? '' })}
${currencyField}
${input(form, 'price', {
  label: 'setup.package.price',
  hint: currency
    ? html`${t('setup.package.in_currency')} <code dir="ltr">${currency}</code>`
    : t('setup.package.price_hint', { example: exampleAmount(form.ctx) }),
  dir: 'ltr',
  inputmode: 'decimal',
  initial: row ? majorFromMinor(row.price, row.currency) : '',
})}
${input(form, 'recharge_price', {
  label: 'setup.package.recharge_price',
  hint: 'setup.package.recharge_price_hint',
  dir: 'ltr',
  inputmode: 'decimal',
  initial: row?.recharge_price != null ? majorFromMinor(row.recharge_price, row.currency) : '',
})}
</div>
${textarea(form, 'description', { label: 'setup.package.description', initial: view?.description ?? '' })}
<fieldset><legend>${t('setup.package.validity')}</legend><div class="form-grid">
${input(form, 'validity.count', {
  label: 'setup.package.validity_count',
  type: 'number',
  dir: 'ltr',
  initial: String(view?.validity.count ?? 1),
})}
${select(
  form,
  'validity.unit',
  { label: 'setup.package.validity_unit', initial: view?.validity.unit ?? 'month' },
  VALIDITY_UNITS.map((u) => [u, t(UNIT_TEXT[u])] as const),
)}
${calendarField}
</div></fieldset>
${itemRows(parts)}
<fieldset><legend>${t('setup.package.rollover')}</legend><div class="form-grid">
${select(
  form,
  'rollover.policy',
  { label: 'setup.package.rollover_policy', initial: rolloverNow?.policy ?? 'none' },
  ROLLOVER_POLICIES.map((p) => [p, t(ROLLOVER_TEXT[p])] as const),
)}
${input(form, 'rollover.percent', {
  label: 'setup.package.rollover_percent',
  hint: t('setup.package.rollover_percent_hint', { min: number(1), max: number(100) }),
  type: 'number',
  dir: 'ltr',
  initial: rolloverNow?.policy === 'percent' ? String(rolloverNow.percent) : '',
})}
${input(form, 'rollover.cap_percent', {
  label: 'setup.package.rollover_cap',
  hint: 'setup.package.rollover_cap_hint',
  type: 'number',
  dir: 'ltr',
  initial: rolloverNow?.policy === 'percent' && rolloverNow.cap_percent != null ? String(rolloverNow.cap_percent) : '',
})}
</div></fieldset>
<fieldset><legend>${t('setup.package.terms')}</legend><div class="form-grid">
${input(form, 'priority', {
  label: 'setup.package.priority',
  hint: t('setup.package.priority_hint', { min: number(0), max: number(100), default: number(50) }),
  type: 'number',
  dir: 'ltr',
  initial: String(view?.priority ?? 50),
})}
${input(form, 'max_freeze_days', {
  label: 'setup.package.max_freeze_days',
  hint: 'setup.package.max_freeze_days_hint',
  type: 'number',
  dir: 'ltr',
  initial: view?.max_freeze_days != null ? String(view.max_freeze_days) : '',
})}
${input(form, 'low_balance_percent', {
  label: 'setup.package.low_balance_percent',
  hint: t('setup.package.low_balance_percent_hint', { min: number(0), max: number(100), default: number(10) }),
  type: 'number',
  dir: 'ltr',
  initial: String(view?.low_balance_percent ?? 10),
})}
${checkbox(form, 'auto_renew', { label: 'setup.package.auto_renew', initial: view?.auto_renew ?? false })}
</div></fieldset>`;
}

/** A posted package form, as the page shows it again after a refusal. */
export interface PackagePosted {
  values?: FormFields;
  outcome?: RouteOutcome;
  overrides?: ReadonlyMap<string, Html>;
}

const whyRefused = (ctx: UiContext) => (failure: { code: string }) =>
  failure.code === 'conflict' ? ctx.t('setup.package.code_taken') : undefined;

/** The form that creates a package. */
export async function packageNewPage(ctx: UiContext, posted?: PackagePosted): Promise<Html> {
  const { t } = ctx;
  const creditTypes = await creditTypeChoices(ctx.app.db);
  const form = new FormView(ctx, posted);
  const fields = packageFields({ form, creditTypes });
  const banner = form.banner(whyRefused(ctx));
  const none =
    creditTypes.length === 0
      ? html`<div class="notice error" role="status">${t('setup.package.no_credit_types')} <a
    href="/ui/credit-types#new">${t('setup.credit_types.new')}</a></div>`
      : '';
  return page(
    ctx,
    { title: t('setup.package.new_title').value, section: 'packages' },
    html`<p><a href="/ui/packages">${t('setup.package.back')}</a></p>
<h1>${t('setup.package.new_title')}</h1>
<p class="sub">${t('setup.package.new_lead', { example: exampleAmount(ctx) })}</p>
${none}
<section class="panel">
  ${banner}
  ${postForm(form, '/ui/packages/new', fields, { creates: true, submit: 'setup.package.create', id: 'package-form' })}
</section>`,
  );
}

/** The package and what the edit form needs of it. */
export async function packageForEdit(
  db: Executor,
  ref: string,
): Promise<{ row: PackageWithItems; view: PackageView; creditTypes: Map<string, CreditTypeRow> } | undefined> {
  const row = await findPackage(db, ref);
  if (!row) return undefined;
  const creditTypes = await creditTypesOfPackages(db, [row]);
  return { row, view: toPackageView(row, creditTypes), creditTypes };
}

/** The form that changes a package (fees, units, validity, rollover, terms), and its archive switch. */
export async function packageEditPage(ctx: UiContext, ref: string, posted?: PackagePosted): Promise<Html | undefined> {
  const { t } = ctx;
  const found = await packageForEdit(ctx.app.db, ref);
  if (!found) return undefined;
  const { row, view } = found;
  const creditTypes = await creditTypeChoices(
    ctx.app.db,
    row.items.map((i) => i.credit_type_id),
  );
  const form = new FormView(ctx, posted);
  const fields = packageFields({ form, creditTypes, initial: { row, view } });
  const banner = form.banner(whyRefused(ctx));
  const archived = row.status === 'archived';
  return page(
    ctx,
    { title: row.name, section: 'packages' },
    html`<p><a href="${path`/ui/packages/${row.id}`}">${t('setup.package.back_to_package')}</a></p>
<h1 dir="auto">${name(row.name)}</h1>
<p class="sub"><code dir="ltr">${row.code}</code> · <code dir="ltr">${row.currency}</code> · ${badge(
      ctx,
      archived ? 'archived' : 'active',
    )}</p>
${notice(ctx)}
<section class="panel" aria-labelledby="pkg-edit-h">
  <h2 id="pkg-edit-h">${t('setup.package.edit_title')}</h2>
  <p class="legend">${t('setup.package.edit_lead')}</p>
  ${banner}
  ${postForm(form, path`/ui/packages/${row.id}/edit`, fields, { submit: 'word.save', id: 'package-form' })}
</section>
<section class="panel" aria-labelledby="pkg-archive-h">
  <h2 id="pkg-archive-h">${t(archived ? 'setup.package.unarchive' : 'setup.package.archive')}</h2>
  <p class="legend">${t(archived ? 'setup.package.unarchive_why' : 'setup.package.archive_why')}</p>
  <form method="post" action="${path`/ui/packages/${row.id}/archive`}">${csrfField(ctx)}
    <input type="hidden" name="status" value="${archived ? 'active' : 'archived'}">
    <button type="submit" class="secondary" data-action="${archived ? 'unarchive' : 'archive'}">${t(
      archived ? 'setup.package.unarchive' : 'setup.package.archive',
    )}</button>
  </form>
</section>`,
  );
}
