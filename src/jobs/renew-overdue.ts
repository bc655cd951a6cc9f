import type { AppContext } from '../app-context.js';
import { dueForRenewal } from '../db/repositories/subscriptions.js';
import type { ErrorCode } from '../domain/result.js';
import { jobIdOf } from './definitions.js';
import { renewSubscription } from './renew.js';

const PAGE = 100;

export interface OverdueRenewals {
  /** Subscriptions that got at least one new period. */
  renewed: number;
  /** Renewals that failed with an expected outcome (the subscription changed meanwhile, …). */
  failed: Array<{ subscription_id: string; code: ErrorCode; detail: string }>;
}

/**
 * DOMAIN.md "No lapse by accident": before the expiry sweep expires anything, every auto-renewing
 * subscription whose period has ended at `asOf` without renewal (a missed nightly run, a scheduler
 * that was down, a renewal job that failed) is renewed here, in-process, period after period until
 * its current one runs past `asOf`. Each renewal is the `renew` job's own code under the `renew`
 * job's id for that period: the period's primary key makes a renewal job running at the same time
 * harmless (one renews, the other answers already_renewed), and the accepted request such a job
 * carries is settled by whichever applies it.
 */
export async function renewOverdue(app: AppContext, asOf: Date): Promise<OverdueRenewals> {
  const out: OverdueRenewals = { renewed: 0, failed: [] };
  // a period that ends exactly at asOf has ended (dueForRenewal looks strictly before)
  const before = new Date(asOf.getTime() + 1);
  for (let after: string | undefined; ; ) {
    const due = await dueForRenewal(app.db, { before, after, limit: PAGE });
    if (due.length === 0) break;
    for (const subscription of due) {
      let renewed = false;
      let periodEnd = subscription.current_period_end;
      while (periodEnd.getTime() <= asOf.getTime()) {
        const data = {
          subscription_id: subscription.id,
          period_end: periodEnd.toISOString(),
          accepted_at: asOf.toISOString(),
        };
        const result = await renewSubscription(app, data, jobIdOf('renew', data));
        if (!result.ok) {
          app.log.warn(
            { subscriptionId: subscription.id, periodEnd: data.period_end, code: result.code, detail: result.detail },
            'the expiry sweep could not renew an auto-renewing subscription whose period ended',
          );
          out.failed.push({ subscription_id: subscription.id, code: result.code, detail: result.detail });
          break;
        }
        renewed ||= result.value.status === 'renewed';
        const next = new Date(result.value.period_end);
        // a renewal always ends later than the period it renewed; anything else would loop
        if (next.getTime() <= periodEnd.getTime()) break;
        periodEnd = next;
      }
      if (renewed) out.renewed += 1;
    }
    after = due[due.length - 1]!.id;
  }
  return out;
}
