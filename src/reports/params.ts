import { DateTime } from 'luxon';
import { z } from 'zod';
import type { Executor } from '../db/knex.js';
import { findClient } from '../db/repositories/clients.js';
import { findCreditType } from '../db/repositories/credit-types.js';
import { archivedThrough } from '../db/repositories/history.js';
import { findPackage } from '../db/repositories/packages.js';
import { parseInstant } from '../domain/period.js';
import { type FieldProblem, fail, ok, type Result } from '../domain/result.js';
import { WEEK_STARTS, type WeekStart } from '../domain/week.js';
import { REPORT_TYPES, type ReportType } from '../jobs/definitions.js';
import { refSchema } from '../schemas/common.js';

export { REPORT_TYPES, type ReportType };

export const GROUPINGS = ['day', 'week', 'month'] as const;
export type Grouping = (typeof GROUPINGS)[number];
export const isGrouping = (value: string): value is Grouping => (GROUPINGS as readonly string[]).includes(value);

/** The default range of a report: the last 30 days up to and including now (API.md). */
export const DEFAULT_RANGE_DAYS = 30;
/** The longest range a report covers, so that a day-by-day report stays a sensible size. */
export const MAX_RANGE_DAYS = 3_660;

const instantInput = z
  .string()
  .trim()
  .max(40)
  .meta({
    description:
      '`YYYY-MM-DD` (a calendar day in BUSINESS_TZ; as `to` it means the end of that day) or an RFC 3339 time with ' +
      'its offset.',
  });

/** The `expiring` report's `days_ahead`: at least a day, at most a year (a leap one). */
const DAYS_AHEAD_MIN = 1;
const DAYS_AHEAD_MAX = 366;
const WHOLE_DAYS = 'must be a whole number of days';

/**
 * A number, or its digits as text (a form's field): whole days within the bounds, each refusal naming its bound.
 * Text of more digits than a double holds exactly is still a whole number, only out of bounds: it is read as the
 * largest (or smallest) safe integer, so that the refusal says the bound rather than "not a whole number". The
 * bounds live in the pipe, with their messages; the document states them on the number's branch (an integer,
 * minimum, maximum) and in the description.
 */
const daysAheadInput = z
  .union([
    z.number().meta({ type: 'integer', minimum: DAYS_AHEAD_MIN, maximum: DAYS_AHEAD_MAX }),
    z
      .string()
      .trim()
      .regex(/^[+-]?\d+$/, WHOLE_DAYS)
      .meta({ description: `whole days as digits, ${DAYS_AHEAD_MIN} to ${DAYS_AHEAD_MAX}` }),
  ])
  .transform((v) => Math.min(Number.MAX_SAFE_INTEGER, Math.max(Number.MIN_SAFE_INTEGER, Number(v))))
  .pipe(
    z
      .number()
      .int(WHOLE_DAYS)
      .min(DAYS_AHEAD_MIN, `must be at least ${DAYS_AHEAD_MIN} day`)
      .max(DAYS_AHEAD_MAX, `must be at most ${DAYS_AHEAD_MAX} days`),
  );

/** What a caller may ask for; which of these apply depends on the report type (APPLIES). */
export const reportParamsInput = z
  .strictObject({
    from: instantInput.optional(),
    to: instantInput.optional(),
    group_by: z
      .string()
      .trim()
      .min(1)
      .max(40)
      .optional()
      .meta({
        description:
          '`day` (default), `week` or `month`: buckets of the business time zone (a week starts on WEEK_START, ' +
          'kept in the run as `week_start`). The consumption report also takes ' +
          'one of its credit_type\'s dimensions: a row per value, "(none)" for uses without one.',
      }),
    credit_type: refSchema.optional().meta({ description: 'Only this credit type (id or code).' }),
    package: refSchema.optional().meta({ description: 'Only subscriptions of this package (id or code).' }),
    client: refSchema.optional().meta({ description: 'Only this client (id or external_ref).' }),
    per: z
      .enum(['client', 'package'])
      .optional()
      .meta({ description: 'consumption: one row per client or per package as well.' }),
    days_ahead: daysAheadInput.optional().meta({
      description:
        `expiring: how many days ahead, a whole number from ${DAYS_AHEAD_MIN} to ${DAYS_AHEAD_MAX} (a number, or its ` +
        'digits as a string); default EXPIRING_SOON_DAYS.',
    }),
  })
  .meta({ id: 'ReportParams' });
export type ReportParamsInput = z.input<typeof reportParamsInput>;
type ParamName = keyof z.output<typeof reportParamsInput>;

/** Which params each report takes: anything else is refused (422), never silently ignored. */
export const APPLIES: Record<ReportType, readonly ParamName[]> = {
  consumption: ['from', 'to', 'group_by', 'credit_type', 'package', 'client', 'per'],
  renewals: ['from', 'to', 'group_by', 'package', 'client'],
  top_packages: ['from', 'to', 'client'],
  subscriptions: ['package', 'client'],
  balances: ['package', 'client', 'credit_type'],
  expiring: ['days_ahead', 'package', 'client', 'credit_type'],
};

/** Reports over a range of time; the others are a picture as of the moment they were asked for. */
export const RANGED: readonly ReportType[] = ['consumption', 'renewals', 'top_packages'];

/**
 * The params as stored with the run: every default filled in, references turned into ids, and the
 * time zone and "now" fixed, so that generating (or regenerating) the run never depends on when
 * the job happens to run.
 */
export const storedParams = z.strictObject({
  from: z.iso.datetime().optional(),
  to: z.iso.datetime().optional(),
  /** day, week, month, or (consumption) a dimension of `credit_type`. */
  group_by: z.string().optional(),
  time_zone: z.string().optional(),
  /** The first day of a week bucket (WEEK_START when the run was made), kept with `group_by: week` only. */
  week_start: z.enum(WEEK_STARTS).optional(),
  as_of: z.iso.datetime().optional(),
  days_ahead: z.number().int().min(DAYS_AHEAD_MIN).max(DAYS_AHEAD_MAX).optional(),
  credit_type: z.uuid().optional(),
  package: z.uuid().optional(),
  client: z.uuid().optional(),
  per: z.enum(['client', 'package']).optional(),
});
export type StoredParams = z.infer<typeof storedParams>;

export interface ResolveContext {
  now: Date;
  timeZone: string;
  /** WEEK_START: the first day of the weeks of `group_by: week`. */
  weekStart: WeekStart;
  /** DOMAIN.md's default for `expiring` (EXPIRING_SOON_DAYS). */
  expiringDays: number;
}

/** A bound given as a day (YYYY-MM-DD), not an instant. */
const A_DAY = /^\d{4}-\d{2}-\d{2}$/;

const problem = (field: string, message: string): FieldProblem => ({ field: `params.${field}`, message });

/**
 * The start of the default range (DEFAULT_RANGE_DAYS up to and including `to`): `to` given as a day (its end, see
 * parseBound), the midnight that makes DEFAULT_RANGE_DAYS whole days of it — not 30 days before its last
 * millisecond, whose first bucket would hold a single millisecond; any other `to`, 30 days before it.
 */
export function defaultFrom(to: Date, toText: string | undefined, timeZone: string): Date {
  const end = DateTime.fromJSDate(to, { zone: timeZone });
  if (toText === undefined || !A_DAY.test(toText)) return end.minus({ days: DEFAULT_RANGE_DAYS }).toJSDate();
  return end
    .startOf('day')
    .minus({ days: DEFAULT_RANGE_DAYS - 1 })
    .startOf('day')
    .toJSDate();
}

/**
 * `to` given as a day means the end of that day (the range includes it): the last millisecond before the next day's
 * start — its midnight, not 24 hours on, nor the same local time the next day (a day whose clocks jump at midnight,
 * as Cairo's do in April, starts at 01:00: a day from then would take the first hour of the next one).
 */
export function parseBound(text: string, timeZone: string, end: boolean): Date | undefined {
  const at = parseInstant(text, timeZone);
  if (!at || !end || !A_DAY.test(text)) return at;
  return new Date(DateTime.fromJSDate(at, { zone: timeZone }).plus({ days: 1 }).startOf('day').toMillis() - 1);
}

/**
 * Checks a report request's params against its type and resolves them (defaults, references) into
 * what is stored with the run. Every problem is reported at once, with its field.
 */
export async function resolveReportParams(
  db: Executor,
  type: ReportType,
  input: z.output<typeof reportParamsInput>,
  context: ResolveContext,
): Promise<Result<StoredParams>> {
  const problems: FieldProblem[] = [];
  for (const [name, value] of Object.entries(input) as Array<[ParamName, unknown]>) {
    if (value !== undefined && !APPLIES[type].includes(name))
      problems.push(problem(name, `does not apply to the ${type} report (it takes: ${APPLIES[type].join(', ')})`));
  }
  const out: StoredParams = {};
  if (RANGED.includes(type)) {
    const to = input.to === undefined ? context.now : parseBound(input.to, context.timeZone, true);
    if (to === undefined)
      problems.push(problem('to', 'must be a day (YYYY-MM-DD) or an RFC 3339 time with its offset'));
    let from: Date | undefined;
    if (input.from !== undefined) {
      from = parseBound(input.from, context.timeZone, false);
      if (from === undefined)
        problems.push(problem('from', 'must be a day (YYYY-MM-DD) or an RFC 3339 time with its offset'));
    } else if (to) {
      from = defaultFrom(to, input.to, context.timeZone);
    }
    // the consumption report sums the ledger, whose archived months are no longer live (services/archive.ts): a
    // range reaching into them would leave their uses out, so it is refused, and a default one starts after them
    const through = type === 'consumption' && from && to ? await archivedThrough(db) : null;
    if (from && to && through && from.getTime() < through.getTime()) {
      const archived = `the history before ${through.toISOString()} is archived`;
      if (input.from !== undefined) problems.push(problem('from', `${archived}: from must be at or after it`));
      else if (to.getTime() < through.getTime()) problems.push(problem('to', `${archived}: to must be at or after it`));
      else from = through;
    }
    if (from && to) {
      if (from.getTime() > to.getTime()) problems.push(problem('from', 'must not be after `to`'));
      else if (to.getTime() - from.getTime() > MAX_RANGE_DAYS * 86_400_000)
        problems.push(problem('from', `the range may span at most ${MAX_RANGE_DAYS} days`));
      out.from = from.toISOString();
      out.to = to.toISOString();
    }
    if (type !== 'top_packages') out.group_by = input.group_by ?? 'day';
    if (input.group_by !== undefined && !isGrouping(input.group_by)) {
      // a dimension: the consumption report's, of the credit type it is narrowed to
      const creditType =
        type === 'consumption' && input.credit_type !== undefined
          ? await findCreditType(db, input.credit_type)
          : undefined;
      if (!creditType?.dimensions.includes(input.group_by))
        problems.push(
          problem(
            'group_by',
            type === 'consumption'
              ? 'must be day, week, month, or a dimension of the credit_type given'
              : 'must be day, week or month',
          ),
        );
    }
    out.time_zone = context.timeZone;
    // like the zone, the week start is the one of the day the run was asked for, whenever the job runs
    if (out.group_by === 'week') out.week_start = context.weekStart;
  } else {
    out.as_of = context.now.toISOString();
  }
  if (type === 'expiring') out.days_ahead = input.days_ahead ?? context.expiringDays;
  if (input.per !== undefined) out.per = input.per;

  // references: only those that apply, so a refused one is not also reported as unknown
  const applies = (name: ParamName) => APPLIES[type].includes(name);
  if (input.client !== undefined && applies('client')) {
    const client = await findClient(db, input.client);
    if (client) out.client = client.id;
    else problems.push(problem('client', `no client "${input.client}"`));
  }
  if (input.package !== undefined && applies('package')) {
    const pkg = await findPackage(db, input.package);
    if (pkg) out.package = pkg.id;
    else problems.push(problem('package', `no package "${input.package}"`));
  }
  if (input.credit_type !== undefined && applies('credit_type')) {
    const creditType = await findCreditType(db, input.credit_type);
    if (creditType) out.credit_type = creditType.id;
    else problems.push(problem('credit_type', `no credit type "${input.credit_type}"`));
  }
  if (problems.length > 0)
    return fail('validation_failed', problems.map((p) => `${p.field}: ${p.message}`).join('; '), { errors: problems });
  return ok(out);
}
