import { z } from 'zod';
import { ManualClock } from '../../clock.js';
import { type NightlyRunRow, recentNightlyRuns } from '../../db/repositories/nightly-runs.js';
import { fail } from '../../domain/result.js';
import { type NightlyReport, runNightly } from '../../scheduler/nightly.js';
import { listOf, pageQuery, timestampSchema } from '../../schemas/common.js';
import { describes } from '../../schemas/describes.js';
import { verifyInvariants } from '../../services/verify.js';
import { verifyReportSchema } from '../../views/maintenance.js';
import { page } from '../reply.js';
import { type AnyRoute, defineRoute } from '../route.js';

const nightlyReportSchema = describes<NightlyReport>()(
  z
    .object({
      as_of: z.string(),
      phases: z.array(
        z.object({
          phase: z.string().meta({ description: '`renewals`, `expiry`, `events`, `verify`, in that order.' }),
          jobs: z.number().int(),
          completed: z.number().int(),
          failed: z.array(z.object({ jobId: z.string(), reason: z.string() })),
          pending: z.number().int().meta({ description: 'Jobs still running when the wait ran out (they go on).' }),
        }),
      ),
      verify: verifyReportSchema.optional().meta({ description: "The verify job's result, when it finished in time." }),
    })
    .meta({ id: 'NightlyReport' }),
);

/** How far ahead of the service clock a nightly run may be asked (the caller's clock, the run's minute). */
const AS_OF_SLACK_MS = 60_000;

const clockSchema = z.object({ now: z.string(), mode: z.literal('manual') });

const nightlyRunView = z
  .object({
    as_of: z.string().meta({ description: 'The minute the run ran as of (its jobs are named by it).' }),
    started_at: z.string(),
    finished_at: z.string().nullable().meta({
      description: 'Null while it runs, or when it stopped before its last phase (a shutdown): the next start runs it.',
    }),
    report: nightlyReportSchema.nullable().meta({ description: 'What each phase did, once it finished.' }),
  })
  .meta({ id: 'NightlyRun' });

/** A stored report as it is answered: one stored before `violation_count` was named gets it from `violationCount`. */
function reportView(report: NightlyReport | null): NightlyReport | null {
  if (report?.verify === undefined || report.verify.violation_count !== undefined) return report;
  return { ...report, verify: { ...report.verify, violation_count: report.verify.violationCount } };
}

const toNightlyRunView = (row: NightlyRunRow): z.infer<typeof nightlyRunView> => ({
  as_of: row.as_of.toISOString(),
  started_at: row.started_at.toISOString(),
  finished_at: row.finished_at?.toISOString() ?? null,
  report: reportView((row.report as NightlyReport | null) ?? null),
});

/** A page of runs ends at an `as_of`; the next page starts below it. */
const encodeRunCursor = (asOf: Date): string => Buffer.from(asOf.toISOString(), 'utf8').toString('base64url');
const runCursorSchema = z
  .string()
  .max(100)
  .transform((cursor, context) => {
    const at = new Date(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Number.isNaN(at.getTime())) {
      context.addIssue({ code: 'custom', message: 'is not a cursor this API gave out' });
      return z.NEVER;
    }
    return at;
  });

export const adminRoutes: AnyRoute[] = [
  defineRoute({
    method: 'post',
    path: '/v1/admin/nightly-runs',
    access: 'admin',
    tag: 'admin',
    summary: 'Run the nightly sweep now (as of a given time), and wait for it',
    description:
      'The same sweep as NIGHTLY_CRON and `npm run cli -- run-nightly`: renewals due before the next run, expiry ' +
      '(which first renews any auto-renewing subscription whose period ended unrenewed), events, housekeeping, ' +
      'reports, then the invariant check — each phase waiting for the one before. Job ids derive from `as_of`, ' +
      'so running it twice for the same minute does the work once. Not as of a time ahead of the service clock ' +
      '(422): the sweep would expire balances and holds before their time.',
    body: z.strictObject({
      as_of: timestampSchema.optional().meta({ description: 'Defaults to now; at most a minute ahead of it.' }),
      timeout_ms: z.number().int().min(1_000).max(600_000).default(120_000),
    }),
    responses: { 200: { description: 'What each phase did', schema: nightlyReportSchema } },
    handler: async ({ body, app }) => {
      const now = app.clock.now();
      const asOf = body.as_of ?? now;
      // a sweep as of a later instant would end what has not ended yet (balances, holds, freezes): what a client
      // paid for, gone early; a minute of slack for the caller's clock and the run's minute
      if (asOf.getTime() > now.getTime() + AS_OF_SLACK_MS) {
        const message = `must not be ahead of the service clock (${now.toISOString()})`;
        return fail('validation_failed', `as_of ${message}`, { errors: [{ field: 'as_of', message }] });
      }
      return { status: 200, body: await runNightly(app, asOf, { phaseTimeoutMs: body.timeout_ms }) };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/admin/nightly-runs',
    access: 'admin',
    tag: 'admin',
    summary: 'The nightly runs, newest first: did last night run, and what did it do',
    description:
      'One row per minute a run ran as of (NIGHTLY_CRON, a missed night run at start, POST /v1/admin/nightly-runs, ' +
      '`npm run cli -- run-nightly`). A scheduler that starts after a nightly minute with no finished run as of it ' +
      'or later runs that night then (when nights have run before).',
    query: pageQuery.extend({ cursor: runCursorSchema.optional() }),
    responses: { 200: { description: 'A page of runs', schema: listOf(nightlyRunView) } },
    handler: async ({ query, db }) => {
      const rows = await recentNightlyRuns(db, { before: query.cursor, limit: query.limit + 1 });
      const data = rows.slice(0, query.limit);
      const last = data[data.length - 1];
      const next = rows.length > query.limit && last ? encodeRunCursor(last.as_of) : null;
      return { status: 200, body: page(data.map(toNightlyRunView), next) };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/v1/admin/verify',
    access: 'admin',
    tag: 'admin',
    summary: 'Check every invariant of DOMAIN.md now',
    responses: { 200: { description: 'The report: ok, counts checked, each violation', schema: verifyReportSchema } },
    handler: async ({ app }) => ({ status: 200, body: await verifyInvariants(app.db) }),
  }),
  defineRoute({
    method: 'get',
    path: '/v1/admin/clock',
    access: 'admin',
    tag: 'admin',
    summary: "The service's clock (CLOCK=manual only)",
    responses: {
      200: { description: 'Now, as the service sees it', schema: clockSchema },
      404: { description: 'The clock is the system clock' },
    },
    handler: async ({ app }) =>
      app.clock instanceof ManualClock
        ? { status: 200, body: { now: app.clock.now().toISOString(), mode: 'manual' } }
        : fail('not_found', 'the clock is the system clock (start with CLOCK=manual to move it)'),
  }),
  defineRoute({
    method: 'put',
    path: '/v1/admin/clock',
    access: 'admin',
    tag: 'admin',
    summary: "Move the service's clock (CLOCK=manual only)",
    body: z.strictObject({ now: timestampSchema }),
    responses: {
      200: { description: 'The new now', schema: clockSchema },
      404: { description: 'The clock is the system clock' },
    },
    handler: async ({ app, body }) => {
      if (!(app.clock instanceof ManualClock))
        return fail('not_found', 'the clock is the system clock (start with CLOCK=manual to move it)');
      app.clock.set(body.now);
      return { status: 200, body: { now: app.clock.now().toISOString(), mode: 'manual' } };
    },
  }),
];
