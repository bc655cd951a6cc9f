import { randomUUID } from 'node:crypto';
import type { Request } from 'express';
import type { FieldProblem } from '../domain/result.js';
import { UNSTORABLE_MESSAGE } from '../domain/storable-text.js';
import { unstorablePath } from '../http/refuse-unstorable-text.js';
import { type AnyRoute, concretePath } from '../http/route.js';
import { allRoutes } from '../http/routes/index.js';
import { type RouteOutcome, refusesInput, runRoute } from '../http/run-route.js';
import { code, Html, html } from './html.js';
import type { UiContext } from './layout.js';
import { type FieldPlace, fieldSays, type Speaker } from './refusals.js';

/** The fields a form posted (urlencoded): each name's text, or its texts when the name repeats. */
export type FormFields = Record<string, string | string[]>;

export function formFields(req: Request): FormFields {
  const body = req.body && typeof req.body === 'object' ? (req.body as Record<string, unknown>) : {};
  const fields: FormFields = {};
  for (const [name, value] of Object.entries(body)) {
    if (typeof value === 'string') fields[name] = value;
    else if (Array.isArray(value)) fields[name] = value.filter((v): v is string => typeof v === 'string');
  }
  return fields;
}

/**
 * A query parameter's text (a search form's field, a pager's cursor), trimmed; undefined when absent,
 * blank, or longer than `max` (nothing that long is a value any list takes).
 */
export function queryText(value: unknown, max = 500): string | undefined {
  const text = typeof value === 'string' ? value.trim() : '';
  return text.length > 0 && text.length <= max ? text : undefined;
}

/** A text field, trimmed; undefined when it is absent or blank (the route's schema then says if it is required). */
export function textField(fields: FormFields, name: string): string | undefined {
  const value = fields[name];
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  return text === undefined || text === '' ? undefined : text;
}

/** Every value a repeated field posted, trimmed, blanks dropped. */
export function listField(fields: FormFields, name: string): string[] {
  const value = fields[name];
  const all = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return all.map((v) => v.trim()).filter((v) => v !== '');
}

/**
 * A number as a person of either language types it: Arabic-Indic (٠–٩) and Eastern Arabic-Indic (۰–۹)
 * digits read as ASCII digits, the Arabic decimal separator (٫) as a point, the Arabic thousands
 * separator (٬) dropped. Nothing else changes: what is still not a number goes on to the route as typed,
 * and the route's schema refuses it.
 */
export function asciiDigits(text: string): string {
  return text
    .replace(/[\u0660-\u0669]/g, (d) => String(d.charCodeAt(0) - 0x0660))
    .replace(/[\u06f0-\u06f9]/g, (d) => String(d.charCodeAt(0) - 0x06f0))
    .replace(/\u066b/g, '.')
    .replace(/\u066c/g, '');
}

/** A number field's text (a quantity, an amount), digits made ASCII; undefined when blank. */
export function numberField(fields: FormFields, name: string): string | undefined {
  const text = textField(fields, name);
  return text === undefined ? undefined : asciiDigits(text);
}

/**
 * A field the route reads as an integer: the number when the text is one (Arabic-Indic digits read as
 * their ASCII twins, as in amounts), else the text itself, so that the route's own schema refuses it
 * with its own message (the page never validates on its own).
 */
export function integerField(fields: FormFields, name: string): number | string | undefined {
  const text = numberField(fields, name);
  if (text === undefined) return undefined;
  return /^-?\d{1,15}$/.test(text) ? Number(text) : text;
}

/** A checkbox: present means true. */
export const checkboxField = (fields: FormFields, name: string): boolean => textField(fields, name) !== undefined;

let routeTable: Map<string, AnyRoute> | undefined;

/** The API's routes by `METHOD path-template`: the pages call these, never a copy of what they do. */
function routeFor(method: AnyRoute['method'], template: string): AnyRoute {
  routeTable ??= new Map(allRoutes().map((route) => [`${route.method} ${route.path}`, route]));
  const route = routeTable.get(`${method} ${template}`);
  if (!route) throw new Error(`the pages call ${method.toUpperCase()} ${template}, which is not a route`);
  return route;
}

export interface FormCall {
  params?: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
  /**
   * The form's one-time key (a hidden `idem` field rendered with the form): sending the same form twice
   * — a double click, a reload — is the same request to the route, answered once.
   */
  idem?: string;
}

/**
 * The HTTP edge refuses unstorable text (a NUL) before any route; a form's body is parsed after that guard ran, so
 * the pages make the same check, with the same message, before the route sees it: the field that holds one.
 */
const unstorableField = (call: FormCall): string | undefined =>
  unstorablePath(call.params ?? {}, 'path') ?? unstorablePath(call.query ?? {}, 'query') ?? unstorablePath(call.body);

/**
 * Whether submitRoute would refuse the call for its input (the route's schemas, text that cannot be stored), found
 * with nothing run. An action that asks first (confirm.ts) asks this before: what the route refuses is refused at
 * once, beside its field, and never carried on to a confirmation page whose button could only meet the refusal —
 * nor, a NUL, put in a hidden field that a browser sends back changed (U+FFFD) and the route would then take.
 */
export function routeWouldRefuse(
  ctx: UiContext,
  method: AnyRoute['method'],
  template: string,
  call: FormCall = {},
): boolean {
  if (unstorableField(call) !== undefined) return true;
  const route = routeFor(method, template);
  return refusesInput(route, { params: call.params ?? {}, query: call.query ?? {}, body: call.body, req: ctx.req });
}

/**
 * Calls an API route from a page's form, as the signed-in admin key, through the same runner as the
 * HTTP edge (schemas, handler, idempotency, after-commit work, audit).
 */
export async function submitRoute(
  ctx: UiContext,
  method: AnyRoute['method'],
  template: string,
  call: FormCall = {},
): Promise<RouteOutcome> {
  const route = routeFor(method, template);
  const params = call.params ?? {};
  const unstorable = unstorableField(call);
  if (unstorable !== undefined)
    return { kind: 'invalid', problems: [{ field: unstorable, message: UNSTORABLE_MESSAGE }] };
  return runRoute(ctx.app, route, {
    params,
    query: call.query ?? {},
    body: call.body,
    idempotencyKey: formIdempotencyKey(call.idem),
    path: concretePath(template, params),
    req: ctx.req,
    res: ctx.res,
    auth: ctx.viewer.auth,
    origin: 'ui',
  });
}

/** The Idempotency-Key a form's one-time key becomes for the route (undefined for a malformed one). */
export const formIdempotencyKey = (idem: string | undefined): string | undefined =>
  idem && /^[\w-]{8,100}$/.test(idem) ? `ui:${idem}` : undefined;

/** A fresh one-time key for a form's hidden `idem` field. */
export const oneTimeKey = (): string => randomUUID();

export const idemField = (key: string = oneTimeKey()): Html => html`<input type="hidden" name="idem" value="${key}">`;

/** The body of the route's reply when it answered one of `statuses`; undefined for anything else (a refusal). */
export function replied(outcome: RouteOutcome, ...statuses: number[]): Record<string, unknown> | undefined {
  if (outcome.kind !== 'reply' || !statuses.includes(outcome.reply.status)) return undefined;
  const body = outcome.reply.body;
  return body && typeof body === 'object' ? (body as Record<string, unknown>) : {};
}

/** The id in a reply's body (every creating route answers the thing it made); '' when there is none. */
export function replyId(body: unknown): string {
  const id = body && typeof body === 'object' ? (body as { id?: unknown }).id : undefined;
  return typeof id === 'string' ? id : '';
}

/**
 * The field problems of a refused call by field (`items.0.units`), for the form to show beside each field:
 * the route's message (English text), or one the page wrote itself in the viewer's language (Html).
 */
export type FieldErrors = ReadonlyMap<string, string | Html>;

/** A schema's words for a field the form left empty ("expected string, received undefined"). */
export const isMissingMessage = (message: string | Html): boolean =>
  typeof message === 'string' && /received undefined$/.test(message);

/**
 * A refused field the form posted blank: whatever the schema's words (an amount's "must be an integer
 * number of minor units"), the person left it empty, and "Required." says what to do.
 */
export const leftBlank = (fields: FormFields, field: string): boolean =>
  Object.hasOwn(fields, field) && textField(fields, field) === undefined;

/** The route's own messages of a refused call, by field. */
export function fieldErrorsOf(outcome: RouteOutcome): ReadonlyMap<string, string> {
  const problems: FieldProblem[] =
    outcome.kind === 'invalid' ? outcome.problems : outcome.kind === 'failure' ? (outcome.failure.errors ?? []) : [];
  const errors = new Map<string, string>();
  for (const problem of problems) if (!errors.has(problem.field)) errors.set(problem.field, problem.message);
  return errors;
}

/**
 * A refused call's messages by field, in the page's language where refusals.ts reads them (a reference not found
 * named by what the form posted in its field), each field the form posted blank told "Required.".
 */
export function refusedFields(ctx: Speaker, outcome: RouteOutcome, posted: FormFields): FieldErrors {
  const errors = new Map<string, string | Html>();
  for (const [field, message] of fieldErrorsOf(outcome)) {
    const said = leftBlank(posted, field)
      ? ctx.t('form.required')
      : fieldSays(ctx, message, { field, value: textField(posted, field) });
    errors.set(field, said ?? message);
  }
  return errors;
}

/** The id of a field's message, which its input names in aria-describedby. */
export const errorId = (field: string): string => `error-${field.replace(/[^\w-]/g, '-')}`;

/** The attributes of an input whose value was refused: marked invalid and described by its message. */
export const invalidAttributes = (errors: FieldErrors, field: string): Html =>
  errors.has(field) ? html` aria-invalid="true" aria-describedby="${errorId(field)}"` : html``;

/**
 * A refused field's message as the page says it: in the page's language when refusals.ts reads its words; else the
 * route's precise reason (English) — on an Arabic page after an Arabic sentence that the value is not valid, marked
 * as English.
 */
export function fieldMessage(ctx: Speaker, message: string | Html, place?: FieldPlace): Html {
  if (message instanceof Html) return message;
  const known = fieldSays(ctx, message, place);
  if (known) return known;
  return ctx.locale === 'en'
    ? html`${message}`
    : html`${ctx.t('form.field_invalid')} <span lang="en" dir="ltr">(${message})</span>`;
}

/**
 * The messages of refused fields a form has no input for, in a refusal's banner: each field named, its message as
 * the page says it (fieldMessage); nothing when there are none.
 */
export const otherFieldMessages = (
  ctx: Speaker,
  others: ReadonlyArray<readonly [string, string | Html]>,
): Html | string =>
  others.length > 0
    ? html`<ul>${others.map(
        ([field, message]) => html`<li>${code(field)}: ${fieldMessage(ctx, message, { field })}</li>`,
      )}</ul>`
    : '';

/** The message beside a refused field (fieldMessage), which its input names in aria-describedby. */
export function fieldError(ctx: Speaker, errors: FieldErrors, field: string): Html {
  const message = errors.get(field);
  if (message === undefined) return html``;
  return html`<p class="field-error" id="${errorId(field)}" role="alert">${fieldMessage(ctx, message, { field })}</p>`;
}
