import { STATUS_OF } from '../../http/problem.js';
import type { RouteOutcome } from '../../http/run-route.js';
import {
  errorId,
  type FormFields,
  fieldError,
  fieldErrorsOf,
  fieldMessage,
  idemField,
  invalidAttributes,
  isMissingMessage,
  leftBlank,
  oneTimeKey,
  textField,
} from '../form.js';
import { type Html, html, type Renderable } from '../html.js';
import type { MessageKey } from '../i18n/messages/index.js';
import { csrfField, type UiContext } from '../layout.js';
import { selectOptions } from '../options.js';
import { failureSays } from '../refusals.js';

/**
 * What the setup pages' forms share: a form's posted values kept on a re-render, each refused field's
 * message beside it, and one banner above the form that says why the whole form was refused (with any
 * message whose field has no input of its own, so that no refusal goes unsaid).
 */
export class FormView {
  /** The fields whose messages are shown beside an input (the banner lists the others). */
  private readonly shown = new Set<string>();
  private readonly shownPrefixes: string[] = [];
  /** Messages the page writes itself for a field it had to read first (an amount in major units). */
  private readonly overrides: ReadonlyMap<string, Html>;
  readonly errors: ReadonlyMap<string, string>;
  readonly values: FormFields;
  readonly outcome: RouteOutcome | undefined;
  /** The form was posted: its values are shown as they came, not the stored ones. */
  readonly posted: boolean;

  constructor(
    readonly ctx: UiContext,
    posted?: { values?: FormFields; outcome?: RouteOutcome | undefined; overrides?: ReadonlyMap<string, Html> },
  ) {
    this.posted = posted?.values !== undefined;
    this.values = posted?.values ?? {};
    this.outcome = posted?.outcome;
    const overrides = new Map(posted?.overrides ?? []);
    const errors = new Map(this.outcome ? fieldErrorsOf(this.outcome) : []);
    // a field left empty: the schema's generic words ("expected string, received undefined") say less than this
    for (const [field, message] of errors)
      if ((isMissingMessage(message) || leftBlank(this.values, field)) && !overrides.has(field))
        overrides.set(field, ctx.t('form.required'));
    for (const [field, message] of overrides) errors.set(field, message.value);
    this.overrides = overrides;
    this.errors = errors;
  }

  value(name: string): string {
    const value = this.values[name];
    return (Array.isArray(value) ? value[0] : value) ?? '';
  }

  all(name: string): string[] {
    const value = this.values[name];
    return Array.isArray(value) ? value : value === undefined ? [] : [value];
  }

  checked(name: string): boolean {
    return textField(this.values, name) !== undefined;
  }

  /**
   * This form's one-time key: the one it was posted with (a re-render sends the same request), or a new one — also
   * when that key was refused as sent before with other values (the Back button, a value changed): refused whenever
   * it came again, the form could never be sent (reloading a posted page posts the same key).
   */
  idem(): Html {
    const reused = this.outcome?.kind === 'failure' && this.outcome.failure.code === 'idempotency_conflict';
    return idemField((reused ? undefined : textField(this.values, 'idem')) ?? oneTimeKey());
  }

  /** The message beside one field (marked shown). */
  error(field: string): Html {
    this.shown.add(field);
    const own = this.overrides.get(field);
    if (own) return html`<p class="field-error" id="${errorId(field)}" role="alert">${own}</p>`;
    return fieldError(this.ctx, this.errors, field);
  }

  invalid(field: string): Html {
    return invalidAttributes(this.errors, field);
  }

  /** The messages of a field and of its parts (`dimensions`, `dimensions.2`), shown together beside one input. */
  errorsUnder(prefix: string): Array<[string, string]> {
    this.shownPrefixes.push(prefix);
    return [...this.errors].filter(([field]) => field === prefix || field.startsWith(`${prefix}.`));
  }

  /**
   * Why the form was refused, above it; with the messages no input showed. A refusal no field says (a conflict,
   * something gone): the page's own line for it (`why`), else the line for its code and the route's reason in the
   * page's language (refusals.ts), or as the route wrote it (English) when it is not read there.
   */
  banner(why: (failure: Extract<RouteOutcome, { kind: 'failure' }>['failure']) => Html | undefined): Html {
    const outcome = this.outcome;
    if (!outcome && this.overrides.size === 0) return html``;
    const { t } = this.ctx;
    let lead: Html = t('form.invalid');
    let detail: Html = html``;
    if (outcome?.kind === 'failure' && outcome.failure.code !== 'validation_failed') {
      const own = why(outcome.failure);
      lead = own ?? failureLead(this.ctx, outcome.failure.code);
      const said = own ? html`` : failureSays(this.ctx, outcome.failure);
      detail =
        said !== undefined
          ? html`${said.value === '' ? '' : ' '}${said}`
          : html` <span class="muted" lang="en" dir="ltr">(${outcome.failure.detail})</span>`;
    }
    const unshown = [...this.errors].filter(
      ([field]) => !this.shown.has(field) && !this.shownPrefixes.some((p) => field === p || field.startsWith(`${p}.`)),
    );
    const list =
      unshown.length === 0
        ? ''
        : html`<ul>${unshown.map(
            ([field, message]) =>
              html`<li><code dir="ltr">${field}</code> ${fieldMessage(this.ctx, message, { field })}</li>`,
          )}</ul>`;
    return html`<div class="notice error" role="alert"><p>${lead}${detail}</p>${list}</div>`;
  }
}

const inputId = (field: string): string => `f-${field.replace(/[^\w-]/g, '-')}`;

/** The status a refused form is shown again with: 422 for bad values, 409 for a conflict (a taken code), … */
export function refusalStatus(outcome: RouteOutcome | undefined): number {
  if (outcome?.kind === 'failure') return STATUS_OF[outcome.failure.code];
  return 422;
}

const FAILURE_LEADS: Partial<Record<string, MessageKey>> = {
  conflict: 'setup.error.conflict',
  not_found: 'setup.error.not_found',
  idempotency_conflict: 'setup.error.resent',
  unavailable: 'setup.error.unavailable',
};

function failureLead(ctx: UiContext, code: string): Html {
  return ctx.t(FAILURE_LEADS[code] ?? 'setup.error.refused');
}

/** A label: a message of the catalogue, or one already rendered (with its parameters). */
export type Label = MessageKey | Html;

const labelText = (ctx: UiContext, label: Label): Html => (typeof label === 'string' ? ctx.t(label) : label);

export interface InputSpec {
  label: Label;
  /** A short help text under the label. */
  hint?: MessageKey | Html;
  /** `number`: a whole number, typed in either language's digits (a text control with a numeric keyboard). */
  type?: 'text' | 'number' | 'email' | 'url';
  /** Codes, keys, amounts and URLs are written left to right; names and descriptions as they come. */
  dir?: 'ltr' | 'auto';
  inputmode?: 'decimal' | 'numeric';
  placeholder?: string;
  /** The value when the form is shown first (not posted yet). */
  initial?: string;
  maxlength?: number;
}

/**
 * A control's label text and help text, and the attributes that name it by the label text alone and
 * describe it by the help text and its message: a hint inside the <label> would otherwise be part of the
 * control's name ("Code How other systems name it…"), which a screen reader reads as the name and a
 * search by label ("Code", "Unit") finds in other fields' hints.
 */
function labelled(form: FormView, name: string, label: Label, hint: MessageKey | Html | undefined) {
  const id = inputId(name);
  const hintText = hint === undefined ? undefined : typeof hint === 'string' ? form.ctx.t(hint) : hint;
  const described = [hintText ? `${id}-hint` : '', form.errors.has(name) ? errorId(name) : ''].filter(Boolean);
  return {
    text: html`<span id="${id}-label">${labelText(form.ctx, label)}</span>${
      hintText ? html`<span class="muted small" id="${id}-hint">${hintText}</span>` : ''
    }`,
    attributes: html` aria-labelledby="${id}-label"${
      described.length > 0 ? html` aria-describedby="${described.join(' ')}"` : ''
    }${form.errors.has(name) ? html` aria-invalid="true"` : ''}`,
  };
}

/** A labelled input, its value kept, its message beside it. */
export function input(form: FormView, name: string, spec: InputSpec): Html {
  // a whole number is a text control with a numeric keyboard: Chromium's type="number" drops Arabic-Indic
  // digits as they are typed, and the form would send the default in their place (form.ts reads both)
  const whole = spec.type === 'number';
  const initial = spec.initial ?? '';
  // its default or kept value in the page's digits ("٥٠" on an Arabic page, not "50"); what was posted, as typed
  const value = form.posted
    ? form.value(name)
    : whole && /^-?\d{1,15}$/.test(initial)
      ? form.ctx.fmt.fieldNumber(initial)
      : initial;
  const { text, attributes } = labelled(form, name, spec.label, spec.hint);
  const extra: Renderable[] = [];
  const inputmode = spec.inputmode ?? (whole ? 'numeric' : undefined);
  if (inputmode) extra.push(html` inputmode="${inputmode}"`);
  if (spec.placeholder) extra.push(html` placeholder="${spec.placeholder}"`);
  if (spec.maxlength) extra.push(html` maxlength="${spec.maxlength}"`);
  // the control inside its label: the stylesheet lays a label out as a column, the control as wide as its cell
  return html`<div class="field"><label for="${inputId(name)}">${text}
<input id="${inputId(name)}" type="${whole ? 'text' : (spec.type ?? 'text')}" name="${name}" value="${value}" dir="${
    spec.dir ?? 'auto'
  }"${extra}${attributes}></label>${form.error(name)}</div>`;
}

/** A labelled multi-line text. */
export function textarea(form: FormView, name: string, spec: InputSpec & { rows?: number }): Html {
  const value = form.posted ? form.value(name) : (spec.initial ?? '');
  const { text, attributes } = labelled(form, name, spec.label, spec.hint);
  return html`<div class="field wide"><label for="${inputId(name)}">${text}
<textarea id="${inputId(name)}" name="${name}" rows="${spec.rows ?? 3}" dir="${
    spec.dir ?? 'auto'
  }"${attributes}>${value}</textarea></label>${form.error(name)}</div>`;
}

/** A labelled select of fixed choices, each shown with its text. */
export function select(
  form: FormView,
  name: string,
  spec: { label: Label; initial?: string; blank?: Html },
  choices: ReadonlyArray<readonly [string, Renderable]>,
): Html {
  const chosen = form.posted ? form.value(name) : (spec.initial ?? '');
  const options = selectOptions(spec.blank ? [['', spec.blank], ...choices] : choices, chosen);
  return html`<div class="field"><label for="${inputId(name)}">${labelText(form.ctx, spec.label)}
<select id="${inputId(name)}" name="${name}"${form.invalid(name)}>${options}</select></label>${form.error(name)}</div>`;
}

/** A labelled checkbox. */
export function checkbox(form: FormView, name: string, spec: { label: MessageKey; initial?: boolean }): Html {
  const on = form.posted ? form.checked(name) : (spec.initial ?? false);
  return html`<div class="field"><label class="check" for="${inputId(name)}"><input id="${inputId(
    name,
  )}" type="checkbox" name="${name}" value="on"${on ? html` checked` : ''}${form.invalid(name)}> ${form.ctx.t(
    spec.label,
  )}</label>${form.error(name)}</div>`;
}

/** A form that posts to the pages, with its CSRF token (and, for a creating form, its one-time key). */
export function postForm(
  form: FormView,
  action: string,
  body: Renderable,
  options: { creates?: boolean; submit: MessageKey; id?: string },
): Html {
  return html`<form method="post" action="${action}"${options.id ? html` id="${options.id}"` : ''}>
${csrfField(form.ctx)}${options.creates ? form.idem() : ''}
${body}
<div class="actions"><button type="submit">${form.ctx.t(options.submit)}</button></div>
</form>`;
}

/** Only the fields that differ from what is stored: an edit that changes nothing writes nothing. */
export function changedFields<T extends Record<string, unknown>>(posted: T, current: T): Partial<T> {
  const changed: Partial<T> = {};
  for (const key of Object.keys(posted) as Array<keyof T>) {
    if (posted[key] === undefined) continue;
    if (canonical(posted[key]) !== canonical(current[key])) changed[key] = posted[key];
  }
  return changed;
}

function canonical(value: unknown): string {
  if (value === undefined) return 'undefined';
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
}

/** The same refusal with its fields renamed (a body's `items.1` is the form's third row when the second was blank). */
export function renameFields(outcome: RouteOutcome, rename: (field: string) => string): RouteOutcome {
  if (outcome.kind === 'invalid') {
    return { kind: 'invalid', problems: outcome.problems.map((p) => ({ ...p, field: rename(p.field) })) };
  }
  if (outcome.kind === 'failure' && outcome.failure.errors) {
    const errors = outcome.failure.errors.map((p) => ({ ...p, field: rename(p.field) }));
    return { kind: 'failure', failure: { ...outcome.failure, errors } };
  }
  return outcome;
}
