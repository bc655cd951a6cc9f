import type { AppContext } from '../app-context.js';
import { MS_PER_DAY } from '../domain/period.js';
import { ok, type Result } from '../domain/result.js';
import type { CleanupResult } from '../views/maintenance.js';

/** How long stored Idempotency-Key responses are replayed, and dispatched events kept. */
export const IDEMPOTENCY_RETENTION_DAYS = 1;
export const OUTBOX_RETENTION_DAYS = 30;
/** Generated reports (and their stored output) are kept this long. */
export const REPORT_RETENTION_DAYS = 90;

/** Nightly housekeeping: forgets idempotency responses past their retention, old undelivered-to events and old reports. */
export async function cleanup(app: AppContext, asOf: Date): Promise<Result<CleanupResult>> {
  const idempotency = await app.db('idempotency_records')
    .where('created_at', '<', new Date(asOf.getTime() - IDEMPOTENCY_RETENTION_DAYS * MS_PER_DAY))
    .delete();
  // dispatched events that no endpoint wanted (events with deliveries stay, as their history)
  const outbox = await app.db.raw<{ rowCount: number }>(
    `DELETE FROM outbox_events e
      WHERE e.dispatched_at IS NOT NULL AND e.created_at < ?
        AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id)`,
    [new Date(asOf.getTime() - OUTBOX_RETENTION_DAYS * MS_PER_DAY)],
  );
  // a run's chunks go with it (ON DELETE CASCADE)
  const reports = await app.db('report_runs')
    .whereIn('status', ['done', 'failed'])
    .andWhere('created_at', '<', new Date(asOf.getTime() - REPORT_RETENTION_DAYS * MS_PER_DAY))
    .delete();
  return ok({ idempotency_records: idempotency, outbox_events: outbox.rowCount, report_runs: reports });
}
