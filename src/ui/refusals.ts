import { MAX_DECIMALS, quantityProblemMessage } from '../domain/quantity.js';
import type { ErrorCode } from '../domain/result.js';
import { UNSTORABLE_MESSAGE } from '../domain/storable-text.js';
import { code, type Html, html } from './html.js';
import { statusWord, type UiContext } from './layout.js';

/**
 * A route's refusal in the page's language. The routes answer in English: a field's message (`errors[].message`:
 * the schemas', zod's, the domain's) and, for a refusal no field says, a detail. Each is read here, by its error
 * code, its field and its words, as one of the catalogue's kinds of message (messages/fields.ts, refusals.ts), its
 * parameters — a bound, a code, a time, a status — carried over and written as the page writes them (numbers in
 * its digits, codes as codes). The same on an English page: the pages say every refusal they know in their own
 * words. Words not read here are shown as the route wrote them (form.ts `fieldMessage`, marked English on an
 * Arabic page). The words are the service's own where it exports them (domain/quantity.ts, storable-text.ts);
 * test/unit/ui-refusals.test.ts and test/ui pin the others to what the routes answer.
 */
export type Speaker = Pick<UiContext, 'locale' | 't' | 'fmt'>;

/** Where a field's message was given: the field, and what the form posted in it (a code typed or chosen). */
export interface FieldPlace {
  field?: string;
  value?: string;
}

/** A kind of message: the service's words (a pattern whose groups are the parameters) and what the page says. */
type Reading<P> = readonly [words: RegExp, say: (ctx: Speaker, parts: string[], place: P) => Html];

const escaped = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** Words the service writes as they are. */
const exactly = (text: string): RegExp => new RegExp(`^${escaped(text)}$`);

const ISO = '(\\d{4}-\\d{2}-\\d{2}T[\\d:.]+Z)';
const NUMBER = '(-?\\d{1,30}(?:\\.\\d{1,30})?)';
/** A code or a reference the service quotes ("sms"): what a person typed, up to a reference's 200 characters. */
const QUOTED = '"(.{1,200})"';

const n = (ctx: Speaker, value: string | number): string => ctx.fmt.number(value);
const required = (ctx: Speaker): Html => ctx.t('form.required');

/** A code's characters (a credit type's, a package's), each a code itself, listed as the page's language does. */
export const codeCharacters = (ctx: Pick<UiContext, 'fmt'>): Html =>
  ctx.fmt.list(['a-z', '0-9', '_', '-', '.'].map((c) => code(c)));

/** What a field that names a thing was given, when the route found nothing by it. */
function notFound(ctx: Speaker, place: FieldPlace): Html {
  const ref = place.value === undefined ? undefined : code(place.value);
  if (ref === undefined) return ctx.t('field.not_found');
  switch (place.field) {
    case 'credit_type':
      return ctx.t('field.no_credit_type', { code: ref });
    case 'package':
      return ctx.t('field.no_package', { code: ref });
    case 'client':
      return ctx.t('field.no_client', { ref });
    default:
      return ctx.t('field.not_found');
  }
}

/** The field messages the forms can meet, by their words (the first that matches says it). */
const FIELD_READINGS: ReadonlyArray<Reading<FieldPlace>> = [
  // a field left out or empty: every schema's words for it
  [exactly('is required'), required],
  [/received undefined$/, required],
  [/^Too small: expected string to have >=1 characters?$/, required],
  // zod's words (its English locale) for a text, a list or a number out of its range, or of another type
  [
    /^Too big: expected string to have <=(\d+) characters?$/,
    (ctx, [max = '0']) => ctx.t('field.too_long', { count: Number(max), max: n(ctx, max) }),
  ],
  [
    /^Too small: expected string to have >=(\d+) characters?$/,
    (ctx, [min = '0']) => ctx.t('field.too_short', { count: Number(min), min: n(ctx, min) }),
  ],
  [
    /^Too big: expected array to have <=(\d+) items?$/,
    (ctx, [max = '0']) => ctx.t('field.too_many', { max: n(ctx, max) }),
  ],
  [
    /^Too small: expected array to have >=(\d+) items?$/,
    (ctx, [min = '0']) => ctx.t('field.too_few', { min: n(ctx, min) }),
  ],
  [
    new RegExp(`^Too big: expected (?:number|int) to be <=${NUMBER}$`),
    (ctx, [b = '']) => ctx.t('field.at_most', { bound: n(ctx, b) }),
  ],
  [
    new RegExp(`^Too big: expected (?:number|int) to be <${NUMBER}$`),
    (ctx, [b = '']) => ctx.t('field.below', { bound: n(ctx, b) }),
  ],
  [
    new RegExp(`^Too small: expected (?:number|int) to be >=${NUMBER}$`),
    (ctx, [b = '']) => ctx.t('field.at_least', { bound: n(ctx, b) }),
  ],
  [
    new RegExp(`^Too small: expected (?:number|int) to be >${NUMBER}$`),
    (ctx, [b = '']) => ctx.t('field.above', { bound: n(ctx, b) }),
  ],
  [/^Invalid input: expected int, received number$/, (ctx) => ctx.t('field.whole_number')],
  [/^Invalid input: expected (?:number|int), received \w+$/, (ctx) => ctx.t('field.not_a_number')],
  [/^Invalid option: expected one of /, (ctx) => ctx.t('field.one_of')],
  // a quantity (domain/quantity.ts, and the schemas' words for what is not a number)
  [exactly(quantityProblemMessage('negative', 0)), (ctx) => ctx.t('field.not_negative')],
  [exactly(quantityProblemMessage('zero', 0)), (ctx) => ctx.t('field.above_zero')],
  [exactly(quantityProblemMessage('zero', 0, { allowNegative: true })), (ctx) => ctx.t('field.not_zero')],
  [exactly(quantityProblemMessage('too_many_decimals', 0)), (ctx) => ctx.t('field.whole_for_type')],
  [
    /^allows at most (\d) decimal places?$/,
    (ctx, [digits = '0']) => ctx.t('field.decimals', { count: Number(digits), digits: n(ctx, digits) }),
  ],
  [
    new RegExp(
      `^(?:${escaped(quantityProblemMessage('not_a_number', MAX_DECIMALS))}|must be a decimal number such as "2\\.5")$`,
    ),
    (ctx) => ctx.t('field.decimal', { example: n(ctx, '2.5') }),
  ],
  [new RegExp(`^must be at most ${NUMBER}$`), (ctx, [bound = '']) => ctx.t('field.at_most', { bound: n(ctx, bound) })],
  [exactly('must be a whole number of at least 1'), (ctx) => ctx.t('field.whole_at_least', { bound: n(ctx, 1) })],
  [exactly('is more than the hold holds'), (ctx) => ctx.t('field.more_than_held')],
  // an amount of money in minor units (the forms read amounts first: these are what they hand on as typed)
  [/^must be an? (?:integer|whole) number of minor units\b/, (ctx) => ctx.t('field.minor_units')],
  // codes, names and references
  [
    /^must be 1–64 characters of a-z, 0-9, "_", "-", "\." starting with a letter or digit$/,
    (ctx) => ctx.t('field.code', { min: n(ctx, 1), max: n(ctx, 64), chars: codeCharacters(ctx) }),
  ],
  [exactly('is taken'), (ctx) => ctx.t('field.taken')],
  [
    /^(?:must be an ISO 4217 code such as USD|is not an ISO 4217 code)$/,
    (ctx) => ctx.t('field.currency', { example: code('SAR') }),
  ],
  [exactly('not found'), (ctx, _parts, place) => notFound(ctx, place)],
  [new RegExp(`^no credit type ${QUOTED}$`), (ctx, [ref = '']) => ctx.t('field.no_credit_type', { code: code(ref) })],
  [new RegExp(`^no package ${QUOTED}$`), (ctx, [ref = '']) => ctx.t('field.no_package', { code: code(ref) })],
  [new RegExp(`^no client ${QUOTED}$`), (ctx, [ref = '']) => ctx.t('field.no_client', { ref: code(ref) })],
  [
    new RegExp(`^credit type ${QUOTED} is archived$`),
    (ctx, [ref = '']) => ctx.t('field.credit_type_archived', { code: code(ref) }),
  ],
  [
    new RegExp(`^credit type ${QUOTED} appears more than once$`),
    (ctx, [ref = '']) => ctx.t('field.repeated_credit_type', { code: code(ref) }),
  ],
  [exactly('a package holds at least one item'), (ctx) => ctx.t('field.one_item')],
  [exactly(UNSTORABLE_MESSAGE), (ctx) => ctx.t('field.unstorable')],
  // times and days: a day, or a time with its offset (a report's range, a balance's as_of); a time (a sale's start)
  [exactly('must be a day (YYYY-MM-DD) or an RFC 3339 time with its offset'), (ctx) => ctx.t('field.day')],
  [exactly('must be an RFC 3339 time with its offset, or a day'), (ctx) => ctx.t('field.day')],
  [/^must be an RFC 3339 time\b/, (ctx) => ctx.t('field.time')],
  [exactly('is in the future'), (ctx) => ctx.t('field.future')],
  [
    new RegExp(`^the period would end at ${ISO}, before now$`),
    (ctx, [end = '']) => ctx.t('field.period_over', { end: ctx.fmt.dateTime(end) }),
  ],
  // a client's e-mail and metadata
  [exactly('must be an e-mail address'), (ctx) => ctx.t('field.email')],
  [/^at most (\d+) keys$/, (ctx, [max = '0']) => ctx.t('field.keys_max', { max: n(ctx, max) })],
  [/^keys are at most (\d+) characters$/, (ctx, [max = '0']) => ctx.t('field.key_length', { max: n(ctx, max) })],
  [/^at most (\d+) KiB of JSON$/, (ctx, [max = '0']) => ctx.t('field.json_size', { max: n(ctx, max) })],
  // a webhook endpoint (webhooks/guard.ts, the route's schema)
  [/^(?:must be an http\(s\) URL|is not a URL)$/, (ctx) => ctx.t('field.url', { scheme: code('http(s)://') })],
  [
    /^names host "(.{1,300})", which does not resolve\b/,
    (ctx, [host = '']) => ctx.t('field.url_unresolved', { host: code(host) }),
  ],
  [
    /^names host "(.{1,300})", which resolves to (\S+), an? [\w-]+ address;/,
    (ctx, [host = '', address = '']) => ctx.t('field.url_private', { host: code(host), address: code(address) }),
  ],
  [exactly('give at least one event type, or "*"'), (ctx) => ctx.t('field.events_none')],
  // a credit type's dimensions and a package's validity
  [
    /^must be a lower-case key: a letter, then letters, digits or _ \(at most (\d+)\)$/,
    (ctx, [max = '0']) =>
      ctx.t('field.dimension_key', { max: n(ctx, max), chars: ctx.fmt.list(['a-z', '0-9', '_'].map((c) => code(c))) }),
  ],
  [exactly('day, week and month are groupings of their own'), (ctx) => ctx.t('field.dimension_reserved')],
  [/^at most (\d+) dimensions$/, (ctx, [max = '0']) => ctx.t('field.dimensions_max', { max: n(ctx, max) })],
  [exactly('each key once'), (ctx) => ctx.t('field.each_once')],
  [/^applies to a month or a year only\b/, (ctx) => ctx.t('field.calendar_unit')],
  // a report's params (reports/params.ts)
  [exactly('must not be after `to`'), (ctx) => ctx.t('reports.error.from_after_to')],
  [
    /^the range may span at most (\d+) days$/,
    (ctx, [days = '0']) =>
      ctx.t('field.range_max', { days: ctx.t('word.days', { count: Number(days), days: n(ctx, days) }) }),
  ],
  [
    new RegExp(`^the history before ${ISO} is archived: (?:from|to|as_of) must be at or after it$`),
    (ctx, [time = '']) => ctx.t('field.archived_before', { time: ctx.fmt.dateTime(time) }),
  ],
  [
    exactly('must be day, week, month, or a dimension of the credit_type given'),
    (ctx) => ctx.t('field.group_dimension'),
  ],
  [exactly('must be day, week or month'), (ctx) => ctx.t('field.group_calendar')],
  [exactly('must be a whole number of days'), (ctx) => ctx.t('field.whole_days')],
  // days_ahead's bounds, in days
  [
    /^must be at most (\d+) days?$/,
    (ctx, [days = '0']) =>
      ctx.t('field.days_at_most', { days: ctx.t('word.days', { count: Number(days), days: n(ctx, days) }) }),
  ],
  [
    /^must be at least (\d+) days?$/,
    (ctx, [days = '0']) =>
      ctx.t('field.days_at_least', { days: ctx.t('word.days', { count: Number(days), days: n(ctx, days) }) }),
  ],
  [/^does not apply to the \w+ report\b/, (ctx) => ctx.t('field.not_applicable')],
];

function read<P>(readings: ReadonlyArray<Reading<P>>, ctx: Speaker, words: string, place: P): Html | undefined {
  for (const [pattern, say] of readings) {
    const match = pattern.exec(words);
    if (match)
      return say(
        ctx,
        match.slice(1).map((part) => part ?? ''),
        place,
      );
  }
  return undefined;
}

/** A route's message of a field in the page's language; undefined for words not read here. */
export const fieldSays = (ctx: Speaker, message: string, place: FieldPlace = {}): Html | undefined =>
  read(FIELD_READINGS, ctx, message, place);

/** Days as the freeze route writes them: whole, or to two decimals (a freeze ended early used part of a day). */
const DAYS = '(\\d{1,6}(?:\\.\\d{1,2})?)';

/** The freeze route's refusals of the days (src/domain/freeze.ts), read for its form only: freezeMessage. */
const FREEZE_READINGS: ReadonlyArray<Reading<undefined>> = [
  [exactly('the package allows no freezing'), (ctx) => ctx.t('clients.freeze_not_allowed')],
  [
    new RegExp(
      `^beyond max_freeze_days: the package allows (\\d{1,6}) days per period, ` +
        `${DAYS} used, ${DAYS} left, ${DAYS} asked$`,
    ),
    (ctx, [allowed = '', used = '', left = '', asked = '']) =>
      ctx.t('clients.freeze_beyond', {
        allowed: n(ctx, allowed),
        used: n(ctx, used),
        left: n(ctx, left),
        asked: n(ctx, asked),
      }),
  ],
];

/**
 * The freeze route's own refusals of the days in the page's language, its figures in the page's digits; any other
 * message as it came (the form then says it as any field's message: form.ts `fieldMessage`).
 */
export const freezeMessage = (ctx: Speaker, message: string | Html): string | Html =>
  typeof message === 'string' ? (read(FREEZE_READINGS, ctx, message, undefined) ?? message) : message;

/** A status in a sentence ("active"), as the page names it. */
const status = (ctx: Speaker, value: string): Html => statusWord(ctx, value);

/** Nothing to say beyond what the refusal's code says already (the form's line for it is the whole reason). */
const NOTHING_MORE = (): Html => html``;

/** The details of refusals no field says, by their code and words. */
const FAILURE_READINGS: Partial<Record<ErrorCode, ReadonlyArray<Reading<undefined>>>> = {
  not_found: [
    [
      new RegExp(`^no credit type ${QUOTED}$`),
      (ctx, [ref = '']) => ctx.t('refusal.no_credit_type', { code: code(ref) }),
    ],
    [new RegExp(`^no package ${QUOTED}$`), (ctx, [ref = '']) => ctx.t('refusal.no_package', { code: code(ref) })],
    [new RegExp(`^no client ${QUOTED}$`), (ctx, [ref = '']) => ctx.t('refusal.no_client', { ref: code(ref) })],
    // what the form acts on is gone: the form's line for the code says so
    [/^no (?:subscription|invoice|balance|consumption|webhook delivery|webhook endpoint|API key|hold) "/, NOTHING_MORE],
  ],
  conflict: [
    [
      new RegExp(`^a credit type with code ${QUOTED} exists already$`),
      (ctx, [ref = '']) => ctx.t('refusal.credit_type_exists', { code: code(ref) }),
    ],
    [
      new RegExp(`^a package with code ${QUOTED} exists already$`),
      (ctx, [ref = '']) => ctx.t('refusal.package_exists', { code: code(ref) }),
    ],
    [
      new RegExp(`^package ${QUOTED} is archived and no longer sold$`),
      (ctx, [ref = '']) => ctx.t('refusal.package_archived', { code: code(ref) }),
    ],
    [
      /^invoice (\S+) is paid and cannot be voided$/,
      (ctx, [number = '']) => ctx.t('refusal.invoice_paid', { number: code(number) }),
    ],
    [
      /^invoice (\S+) is void and cannot be paid$/,
      (ctx, [number = '']) => ctx.t('refusal.invoice_void', { number: code(number) }),
    ],
    [
      new RegExp(
        `^invoice (\\S+) was unpaid when its subscription's period ended \\(${ISO}\\); it is void and cannot be paid$`,
      ),
      (ctx, [number = '', end = '']) =>
        ctx.t('refusal.invoice_lapsed', { number: code(number), end: ctx.fmt.dateTime(end) }),
    ],
    [
      /^an? (\w+) subscription cannot become (\w+)$/,
      (ctx, [from = '', to = '']) =>
        ctx.t('refusal.subscription_cannot_become', { from: status(ctx, from), to: status(ctx, to) }),
    ],
    [
      /^an? (\w+) subscription cannot be un-cancelled$/,
      (ctx, [from = '']) => ctx.t('refusal.subscription_uncancel', { status: status(ctx, from) }),
    ],
    [
      /^an? (\w+) subscription cannot be set to cancel$/,
      (ctx, [from = '']) => ctx.t('refusal.subscription_no_end_cancel', { status: status(ctx, from) }),
    ],
    [/^a pending subscription has no period running to cancel at\b/, (ctx) => ctx.t('refusal.pending_end_cancel')],
    [exactly('the subscription has expired already'), (ctx) => ctx.t('refusal.subscription_expired')],
    [/^the balance is (\w+)$/, (ctx, [value = '']) => ctx.t('refusal.balance_status', { status: status(ctx, value) })],
    [exactly('the balance has expired'), (ctx) => ctx.t('refusal.balance_expired')],
    [/^a rejected consumption took nothing\b/, (ctx) => ctx.t('refusal.reverse_rejected')],
    [/^its month of history was archived\b/, (ctx) => ctx.t('refusal.reverse_archived')],
    [new RegExp(`^consumption ${QUOTED} is queued, not applied yet\\b`), (ctx) => ctx.t('refusal.reverse_queued')],
    [exactly('the delivery was delivered already'), (ctx) => ctx.t('setup.delivery.retry_delivered')],
    [exactly('the endpoint of the delivery was deleted'), (ctx) => ctx.t('refusal.endpoint_deleted')],
    [/^the endpoint of the delivery is disabled\b/, (ctx) => ctx.t('setup.delivery.retry_disabled')],
    // a hold's capture or release (http/routes/holds.ts, jobs/hold-closing.ts)
    [
      /^hold \S+ (?:is |was )?(captured|released|expired|rejected): it cannot be (captured|released)$/,
      (ctx, [state = '', action = '']) =>
        ctx.t(action === 'captured' ? 'refusal.hold_not_captured' : 'refusal.hold_not_released', {
          status: status(ctx, state),
        }),
    ],
    [
      new RegExp(
        `^hold \\S+ was captured for ${NUMBER}: a capture of ${NUMBER}(?: \\(all it held\\))? is another capture$`,
      ),
      (ctx, [captured = '', asked = '']) =>
        ctx.t('refusal.hold_captured_otherwise', { captured: n(ctx, captured), asked: n(ctx, asked) }),
    ],
    [/^hold \S+ is still queued$/, (ctx) => ctx.t('refusal.hold_queued')],
    [
      new RegExp(`^hold \\S+ expired at ${ISO}$`),
      (ctx, [time = '']) => ctx.t('refusal.hold_expired', { time: ctx.fmt.dateTime(time) }),
    ],
  ],
  // the form's line for these says all there is to say
  idempotency_conflict: [[/^this Idempotency-Key was used with another request body$/, NOTHING_MORE]],
  unavailable: [[/^the queue \(Redis\) cannot be reached\b/, NOTHING_MORE]],
};

/**
 * A refusal's detail in the page's language (a refusal no field says: a conflict, something not found); undefined
 * for words not read here. Empty when the refusal's code says it all (the same form sent again with other values, the
 * queue unreachable): the form's line for that code is the whole reason.
 */
export const failureSays = (ctx: Speaker, failure: { code: string; detail: string }): Html | undefined =>
  read(FAILURE_READINGS[failure.code as ErrorCode] ?? [], ctx, failure.detail, undefined);
