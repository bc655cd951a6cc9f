import type { AppContext } from '../app-context.js';
import type { Tx } from '../db/knex.js';
import {
  applyBalanceChanges,
  type BalanceChange,
  type BalanceRow,
  createBalances,
  lockExpiringBalances,
} from '../db/repositories/balances.js';
import { creditTypesByIds } from '../db/repositories/credit-types.js';
import { appendLedgerEntries, type LedgerEntryDraft } from '../db/repositories/ledger.js';
import { type OutboxEventDraft, recordEvents } from '../db/repositories/outbox.js';
import { packageById } from '../db/repositories/packages.js';
import {
  dueSubscriptionIds,
  lockSubscriptions,
  periodStartingAt,
  type SubscriptionRow,
  subscriptionItems,
  updateSubscription,
} from '../db/repositories/subscriptions.js';
import { withTransaction } from '../db/transact.js';
import { formatQuantity } from '../domain/quantity.js';
import { ok, type Result } from '../domain/result.js';
import { rolloverAmount } from '../domain/rollover.js';
import type { ExpiryResult } from '../views/maintenance.js';
import { expireGrants } from './expire-grants.js';

const CHUNK = 100;

/**
 * DOMAIN.md "Expire": balances past `expires_at` lose what remains (an `expire` entry), except what
 * the package's rollover policy moves into the next period (a `rollover` entry out, and a rollover
 * balance in the period that starts where this one ended, if the subscription was renewed);
 * subscriptions whose period ended without renewal become expired (or cancelled, when set to cancel
 * at period end); operators' grants, which belong to no subscription, expire after them
 * (expire-grants.ts). Subscriptions are handled a chunk at a time, each chunk one transaction that locks
 * its subscriptions (by id) and then their balances in the one lock order. Safe to run any number of
 * times: what is done is no longer due.
 */
export async function expireDue(app: AppContext, asOf: Date): Promise<Result<ExpiryResult>> {
  const result: ExpiryResult = {
    as_of: asOf.toISOString(),
    balances_expired: 0,
    balances_rolled_over: 0,
    subscriptions_expired: 0,
    subscriptions_cancelled: 0,
  };
  for (;;) {
    const due = await dueSubscriptionIds(app.db, asOf, CHUNK);
    if (due.length === 0) break;
    await withTransaction(app.db, async (tx) => {
      const subscriptions = await lockSubscriptions(tx, due);
      const balances = await lockExpiringBalances(tx, due, asOf);
      for (const subscription of subscriptions) {
        const own = balances.filter((b) => b.subscription_id === subscription.id);
        const counts = await expireSubscription(tx, app, subscription, own, asOf);
        result.balances_expired += counts.balances;
        result.balances_rolled_over += counts.rolled;
        if (counts.outcome === 'expired') result.subscriptions_expired += 1;
        if (counts.outcome === 'cancelled') result.subscriptions_cancelled += 1;
      }
    });
  }
  result.balances_expired += await expireGrants(app, asOf);
  return ok(result);
}

async function expireSubscription(
  tx: Tx,
  app: AppContext,
  subscription: SubscriptionRow,
  balances: readonly BalanceRow[],
  asOf: Date,
): Promise<{ balances: number; rolled: number; outcome: 'expired' | 'cancelled' | null }> {
  const now = app.clock.now();
  const events: OutboxEventDraft[] = [];
  const entries: LedgerEntryDraft[] = [];
  const changes: BalanceChange[] = [];
  let rolledCount = 0;
  const pkg = await packageById(tx, subscription.package_id);
  const items = await subscriptionItems(tx, [subscription.id]);
  const creditTypes = await creditTypesByIds(
    tx,
    balances.map((b) => b.credit_type_id),
  );

  for (const balance of balances) {
    const creditType = creditTypes.get(balance.credit_type_id)!;
    const q = (v: bigint) => formatQuantity(v, creditType.decimals);
    let rolled = 0n;
    // Rollover moves unused package and recharge units into the next period, when there is one.
    if (
      balance.remaining > 0n &&
      pkg &&
      pkg.rollover.policy !== 'none' &&
      (balance.source === 'package' || balance.source === 'recharge') &&
      subscription.status === 'active'
    ) {
      const next = await periodStartingAt(tx, subscription.id, balance.expires_at);
      const periodUnits = items.find((i) => i.credit_type_id === balance.credit_type_id)?.units ?? balance.granted;
      rolled = next ? rolloverAmount(pkg.rollover, balance.remaining, periodUnits) : 0n;
      if (next && rolled > 0n) {
        const [created] = await createBalances(
          tx,
          [
            {
              creditTypeId: balance.credit_type_id,
              granted: rolled,
              validFrom: next.starts_at,
              expiresAt: next.ends_at,
              priority: balance.priority,
              source: 'rollover',
              lowThreshold: 0n,
            },
          ],
          {
            clientId: balance.client_id,
            subscriptionId: subscription.id,
            periodStart: next.starts_at,
            kind: 'rollover',
            actor: 'expiry sweep',
            reason: `rolled over from balance ${balance.id}`,
            now,
          },
        );
        entries.push({
          balance_id: balance.id,
          client_id: balance.client_id,
          credit_type_id: balance.credit_type_id,
          subscription_id: subscription.id,
          kind: 'rollover',
          amount: -rolled,
          remaining_after: balance.remaining - rolled,
          actor: 'expiry sweep',
          reason: `rolled over to balance ${created!.id}`,
          effective_at: balance.expires_at,
          created_at: now,
        });
        rolledCount += 1;
      }
    }
    const expired = balance.remaining - rolled;
    if (expired > 0n) {
      entries.push({
        balance_id: balance.id,
        client_id: balance.client_id,
        credit_type_id: balance.credit_type_id,
        subscription_id: subscription.id,
        kind: 'expire',
        amount: -expired,
        remaining_after: 0n,
        actor: 'expiry sweep',
        effective_at: balance.expires_at,
        created_at: now,
      });
    }
    changes.push({ id: balance.id, remaining: 0n, expired, rolledOver: rolled, status: 'expired' });
    events.push({
      type: 'balance.expired',
      clientId: balance.client_id,
      subjectId: balance.id,
      data: {
        balance_id: balance.id,
        subscription_id: subscription.id,
        client_id: balance.client_id,
        credit_type: creditType.code,
        expired: q(expired),
        rolled_over: q(rolled),
        expires_at: balance.expires_at.toISOString(),
      },
    });
  }
  await appendLedgerEntries(tx, entries);
  await applyBalanceChanges(tx, changes, now);

  let outcome: 'expired' | 'cancelled' | null = null;
  if (
    ['active', 'pending', 'suspended'].includes(subscription.status) &&
    subscription.current_period_end.getTime() <= asOf.getTime()
  ) {
    outcome = subscription.status === 'active' && subscription.cancel_at_period_end ? 'cancelled' : 'expired';
    await updateSubscription(
      tx,
      subscription.id,
      outcome === 'cancelled'
        ? {
            status: 'cancelled',
            cancelled_at: subscription.current_period_end,
            cancel_at_period_end: false,
            auto_renew: false,
            updated_at: now,
          }
        : { status: 'expired', expired_at: subscription.current_period_end, updated_at: now },
    );
    events.push({
      type: outcome === 'cancelled' ? 'subscription.cancelled' : 'subscription.expired',
      clientId: subscription.client_id,
      subjectId: subscription.id,
      data: {
        subscription_id: subscription.id,
        client_id: subscription.client_id,
        at: 'period_end',
        period_end: subscription.current_period_end.toISOString(),
      },
    });
  }
  await recordEvents(tx, events, now);
  return { balances: balances.length, rolled: rolledCount, outcome };
}
