import type { AppContext } from '../app-context.js';
import { forgetOldFailures } from '../commands/index.js';
import { deleteConsumptionFailuresBefore } from '../db/repositories/consumption-failures.js';
import { deleteIdempotencyRecordsBefore } from '../db/repositories/idempotency-records.js';
import { deleteDispatchedEventsWithoutDeliveries } from '../db/repositories/outbox.js';
import { deleteFinishedReportRunsBefore } from '../db/repositories/reports.js';
import { MS_PER_DAY } from '../domain/period.js';
import { ok, type Result } from '../domain/result.js';
import type { CleanupResult } from '../views/maintenance.js';

/** How long stored Idempotency-Key responses are replayed, and dispatched events kept. */
export const IDEMPOTENCY_RETENTION_DAYS = 1;
export const OUTBOX_RETENTION_DAYS = 30;
/** Generated reports (and their stored output) are kept this long. */
export const REPORT_RETENTION_DAYS = 90;
/** Uses that failed alone (at a batch's door, or at the worker) stay readable by id as long as failed jobs (7 days). */
export const CONSUMPTION_FAILURE_RETENTION_DAYS = 7;

/**
 * Nightly housekeeping: forgets idempotency responses past their retention, old undelivered-to events, old reports,
 * the old failures of uses refused at the door and the stored failures of jobs BullMQ has forgotten.
 */
export async function cleanup(app: AppContext, asOf: Date): Promise<Result<CleanupResult>> {
  const idempotency = await deleteIdempotencyRecordsBefore(
    app.db,
    new Date(asOf.getTime() - IDEMPOTENCY_RETENTION_DAYS * MS_PER_DAY),
  );
  const outbox = await deleteDispatchedEventsWithoutDeliveries(
    app.db,
    new Date(asOf.getTime() - OUTBOX_RETENTION_DAYS * MS_PER_DAY),
  );
  const reports = await deleteFinishedReportRunsBefore(
    app.db,
    new Date(asOf.getTime() - REPORT_RETENTION_DAYS * MS_PER_DAY),
  );
  const failures = await deleteConsumptionFailuresBefore(
    app.db,
    new Date(asOf.getTime() - CONSUMPTION_FAILURE_RETENTION_DAYS * MS_PER_DAY),
  );
  // the stored failures of jobs BullMQ no longer holds (it keeps a failed job 7 days): nothing reads them then
  const jobFailures = await forgetOldFailures(app.db, asOf);
  return ok({
    idempotency_records: idempotency,
    outbox_events: outbox,
    report_runs: reports,
    consumption_failures: failures,
    job_failures: jobFailures,
  });
}
