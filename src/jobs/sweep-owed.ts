import type { AppContext } from '../app-context.js';
import { dueFrozenSubscriptionIdsOf } from '../db/repositories/freezes.js';
import { clientsOwedBySweep, dueHoldIdsOf } from '../db/repositories/holds.js';
import type { SqlClient } from '../db/sql-client.js';
import { unfreezeSubscription } from '../services/freeze.js';
import { applyClosings } from './hold-closing.js';
import { compactTime } from './job-id.js';
import { renewAheadBetweenNights } from './renew-ahead.js';

/**
 * Thrown inside a use's or a hold's transaction (rolling it back) when one came up short for a client the expiry
 * sweep owes something (`clientsOwedBySweep`): a hold past its `expires_at` still reserving units, a subscription
 * past its `frozen_until` still frozen. DOMAIN.md has them end at those instants; the sweep only comes every few
 * minutes, and a use is never refused for units that were due back already (as it never waits for the sweep to
 * expire a balance).
 */
export class SweepOwed extends Error {
  constructor(readonly clientIds: readonly string[]) {
    super('the expiry sweep owes these clients a closing: done first, then the batch runs again');
  }
}

/**
 * What the expiry sweep would have done by `now` for these clients, done now, as it does it (src/jobs/expire.ts):
 * the freezes due end at their `frozen_until` (unfreezeDue; the renewal ahead of those that came out renewable with
 * an end before the next nightly run asked), then the holds due expire (expireHolds).
 */
export async function settleOwed(app: AppContext, clientIds: readonly string[], now: Date): Promise<void> {
  for (const id of await dueFrozenSubscriptionIdsOf(app.db, clientIds, now)) {
    // one unfrozen meanwhile (by hand, or by the sweep) is a conflict: nothing left to do
    const told: string[] = [];
    const unfrozen = await unfreezeSubscription(app.db, id, {
      now,
      at: now,
      actor: 'expiry sweep',
      by: 'sweep',
      onRenewable: (subscription) => told.push(subscription.id),
    });
    // as the sweep does: a moved end before the next nightly run has its renewal ahead asked once committed
    if (unfrozen.ok) await renewAheadBetweenNights(app, told);
  }
  const holds = await dueHoldIdsOf(app.db, clientIds, now);
  if (holds.length > 0) {
    await applyClosings(
      app,
      holds.map((holdId) => ({ holdId, action: 'expire' as const, jobId: `expire|${compactTime(now)}` })),
    );
  }
}

/**
 * Runs a batch (`settled`: false), and when it came up short for clients the sweep owes something (SweepOwed), does
 * that first and runs it again, once. A batch that was not short never pays more than it did.
 */
export async function settlingOwed<T>(app: AppContext, now: Date, run: (settled: boolean) => Promise<T>): Promise<T> {
  try {
    return await run(false);
  } catch (error) {
    if (!(error instanceof SweepOwed)) throw error;
    await settleOwed(app, error.clientIds, now);
    return run(true);
  }
}

/** Throws SweepOwed when any of these short rows' clients is owed something by the sweep (see settlingOwed). */
export async function refuseIfOwed(
  client: SqlClient,
  short: ReadonlyArray<{ client_id: string }>,
  now: Date,
): Promise<void> {
  if (short.length === 0) return;
  const owed = await clientsOwedBySweep(
    client,
    short.map((r) => r.client_id),
    now,
  );
  if (owed.length > 0) throw new SweepOwed(owed);
}
