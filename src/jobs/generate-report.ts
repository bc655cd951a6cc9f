import type { Job } from 'bullmq';
import type { AppContext } from '../app-context.js';
import { insertReportRun, reportRunById } from '../db/repositories/reports.js';
import { withTransaction } from '../db/transact.js';
import { fail, type Result } from '../domain/result.js';
import { failedEvent, generateReport } from '../reports/generate.js';
import { reportParamsInput } from '../reports/params.js';
import { createReportRun } from '../reports/service.js';
import { problemsText, zodProblems } from '../schemas/problems.js';
import type { GenerateResult } from '../views/report-run.js';
import type { JobPayload } from './definitions.js';
import type { JobRun } from './job-run.js';

/** BullMQ counts failed attempts in attemptsMade: this one is the last when it is the job's `attempts`-th. */
const isLastAttempt = (job: Job): boolean => job.attemptsMade + 1 >= (job.opts.attempts ?? 1);

/**
 * A producer may send the whole request with an id of its choosing: the run is created here, with
 * its params checked exactly as POST /v1/reports checks them (a run that cannot be made is stored
 * as failed, with the reason).
 */
async function createFromJob(
  app: AppContext,
  data: JobPayload<'generate'> & { type: NonNullable<JobPayload<'generate'>['type']> },
): Promise<Result<void>> {
  const parsed = reportParamsInput.safeParse(data.params ?? {});
  const created = parsed.success
    ? await createReportRun(
        app.db,
        app,
        { type: data.type, params: parsed.data, format: data.format ?? 'json' },
        { trigger: 'api', id: data.report_id },
      )
    : fail('validation_failed', problemsText(zodProblems(parsed.error, 'params')));
  if (created.ok) return { ok: true, value: undefined };
  const now = app.clock.now();
  const run = { id: data.report_id, type: data.type, format: data.format ?? 'json', trigger: 'api' as const };
  const error = `${created.code}: ${created.detail}`;
  // stored failed, with its report.failed event (a receiver waiting for report.ready hears none will come)
  await withTransaction(app.db, async (tx) => {
    const stored = await insertReportRun(tx, {
      ...run,
      params: data.params ?? {},
      created_at: now,
      status: 'failed',
      error,
    });
    if (stored) await failedEvent(run, error, now)(tx);
  });
  return created;
}

/** `reports` queue, `generate` job: API.md `{report_id}`, job id `report|<report_id>`. */
export async function generateReportJob(
  data: JobPayload<'generate'>,
  { app, job, jobId }: JobRun,
): Promise<Result<GenerateResult>> {
  if (data.type && !(await reportRunById(app.db, data.report_id))) {
    const created = await createFromJob(app, { ...data, type: data.type });
    if (!created.ok) return created;
  }
  return generateReport(app, data.report_id, { jobId, final: isLastAttempt(job) });
}
