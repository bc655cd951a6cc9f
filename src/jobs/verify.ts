import type { AppContext } from '../app-context.js';
import { ok, type Result } from '../domain/result.js';
import { verifyInvariants } from '../services/verify.js';
import type { VerifyResult } from '../views/maintenance.js';

/**
 * The nightly invariant check as a job. A violation is not a reason to retry: the job completes with
 * the report as its result, and the violations are logged at error level for whoever watches.
 */
export async function verifyJob(app: AppContext, asOf: Date): Promise<Result<VerifyResult>> {
  const report = await verifyInvariants(app.db);
  if (!report.ok)
    app.log.error(
      { violations: report.violations.slice(0, 20), count: report.violationCount },
      'ledger invariants violated',
    );
  return ok({ ...report, as_of: asOf.toISOString() });
}
