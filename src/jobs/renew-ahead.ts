import type { AppContext } from '../app-context.js';
import { dueForRenewal } from '../db/repositories/subscriptions.js';
import type { OnRenewable } from '../services/renewable.js';
import { askRenewals, type EnqueuedJob } from './renew.js';
import { type RunsAround, renewalLookaheadMs, runsAround } from './renewal-lookahead.js';

/**
 * Before when a period must end for its renewal to be asked now. One that ran at the last nightly run: before that
 * run's horizon (what it renewed, or would have renewed had the subscription been renewable then). One begun since
 * (bought, or activated by its payment, after it) was not there for that run to renew: it is the next run's, like
 * any other, unless it ends before that run comes (a start in the past, a short day of daylight saving).
 */
const dueBefore = (period: { current_period_start: Date }, runs: RunsAround): Date =>
  period.current_period_start.getTime() > runs.last.getTime() ? runs.next : runs.lastHorizon;

/**
 * DOMAIN.md "Auto-renew" between two nightly runs. Each run renews ahead what ends before the next one, but only what
 * is renewable when it looks: a subscription that becomes renewable after it (unfrozen by hand, by the expiry sweep,
 * or by a read or a use settling what the sweep owes; auto_renew turned on; a cancel at period end taken back;
 * resumed; activated by its payment; bought with a start in the past) with a period ending before the next run would
 * see that period end unrenewed, its balances expire, and every use refused until the expiry sweep renewed it
 * (DOMAIN.md "No lapse by accident"). Called once such a change has committed, with the subscriptions it made
 * renewable: each one still renewable as committed whose period ends before the last run's horizon (what that run
 * would have renewed had it been renewable then; dueBefore) gets its renewal asked now, the very job the nightly run
 * asks for (askRenewals: `renewal|<subscription>|<period end>`, accepted, then enqueued), so that the next run asking
 * again changes nothing. One ending later is left to the next run, as any subscription is. Best effort: a failure is
 * logged, never the caller's (its change has committed), and the expiry sweep renews a period that ended unrenewed
 * before it expires anything. Answers the jobs asked for.
 */
export async function renewAheadBetweenNights(
  app: AppContext,
  subscriptionIds: readonly string[],
): Promise<EnqueuedJob[]> {
  const ids = [...new Set(subscriptionIds)];
  if (ids.length === 0) return [];
  try {
    const now = app.clock.now();
    const { NIGHTLY_CRON, BUSINESS_TZ } = app.config;
    // read as committed, still renewable; a period ending past now + the look-ahead ends past the last run's horizon
    // too, and only when one ends sooner is that run looked for
    const latest = new Date(now.getTime() + renewalLookaheadMs(NIGHTLY_CRON, BUSINESS_TZ));
    const soon = await dueForRenewal(app.db, { before: latest, ids, limit: ids.length });
    if (soon.length === 0) return [];
    const runs = runsAround(NIGHTLY_CRON, BUSINESS_TZ, now);
    return await askRenewals(
      app,
      soon.filter((s) => s.current_period_end.getTime() < dueBefore(s, runs).getTime()),
      now,
    );
  } catch (error) {
    app.log.warn(
      { err: error, subscriptionIds: ids },
      'could not ask for the renewal ahead of subscriptions made renewable between two nightly runs; the expiry ' +
        'sweep renews a period that ended unrenewed',
    );
    return [];
  }
}

/**
 * What a route hands a change as its OnRenewable (src/services/renewable.ts): the renewal ahead of a subscription the
 * change made renewable, asked once the route's writes have committed (its `afterCommit`), never before.
 */
export const renewAheadOnCommit =
  (app: AppContext, afterCommit: (action: () => Promise<void>) => void): OnRenewable =>
  (subscription) =>
    afterCommit(async () => {
      await renewAheadBetweenNights(app, [subscription.id]);
    });
