import type { Executor } from '../knex.js';

/** How far behind the asynchronous parts are, read for /metrics (each from an index). */
export interface BacklogFigures {
  /** Requests answered 202 whose job has not yet been applied, and the age of the oldest. */
  acceptedJobs: number;
  acceptedOldestSeconds: number;
  /** Events written but not yet fanned out to deliveries, and the age of the oldest. */
  outboxPending: number;
  outboxOldestSeconds: number;
  /** Deliveries still to be made (first attempt or a retry). */
  deliveriesPending: number;
  /**
   * The latest finished nightly run: the minute it ran as of (unix seconds; 0 when none ever finished, as README says
   * — not left to whatever the gauge held before, another install's in a process that served one) and the violations
   * its verify found (undefined when none ever finished, or its verify did not finish in time: the gauge keeps its
   * value, 0 at first).
   */
  nightlyAsOfSeconds: number;
  nightlyViolations: number | undefined;
}

export async function backlogFigures(db: Executor): Promise<BacklogFigures> {
  const result = await db.raw<{
    rows: Array<{
      accepted: string;
      accepted_age: string;
      outbox: string;
      outbox_age: string;
      deliveries: string;
      nightly_as_of: string | null;
      nightly_violations: string | null;
    }>;
  }>(`
    WITH night AS (SELECT as_of, report FROM nightly_runs WHERE finished_at IS NOT NULL ORDER BY as_of DESC LIMIT 1)
    SELECT (SELECT count(*) FROM accepted_jobs) AS accepted,
           coalesce((SELECT extract(epoch FROM now() - min(accepted_at)) FROM accepted_jobs), 0) AS accepted_age,
           (SELECT count(*) FROM outbox_events WHERE dispatched_at IS NULL) AS outbox,
           coalesce((SELECT extract(epoch FROM now() - min(created_at)) FROM outbox_events
                      WHERE dispatched_at IS NULL), 0) AS outbox_age,
           (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending') AS deliveries,
           (SELECT extract(epoch FROM as_of) FROM night) AS nightly_as_of,
           (SELECT report -> 'verify' ->> 'violationCount' FROM night) AS nightly_violations`);
  const row = result.rows[0]!;
  return {
    acceptedJobs: Number(row.accepted),
    acceptedOldestSeconds: Math.max(0, Number(row.accepted_age)),
    outboxPending: Number(row.outbox),
    outboxOldestSeconds: Math.max(0, Number(row.outbox_age)),
    deliveriesPending: Number(row.deliveries),
    nightlyAsOfSeconds: row.nightly_as_of === null ? 0 : Number(row.nightly_as_of),
    nightlyViolations: row.nightly_violations === null ? undefined : Number(row.nightly_violations),
  };
}
