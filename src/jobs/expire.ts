import type { AppContext } from '../app-context.js';
import { PG, pgCode, type Tx } from '../db/knex.js';
import {
  applyBalanceChanges,
  type BalanceChange,
  type BalanceRow,
  createBalances,
  lockExpiringBalances,
  lockPlaceOf,
} from '../db/repositories/balances.js';
import { creditTypesByIds } from '../db/repositories/credit-types.js';
import { ensureHistoryPartitions } from '../db/repositories/history.js';
import { appendLedgerEntries, type LedgerEntryDraft } from '../db/repositories/ledger.js';
import { type OutboxEventDraft, recordEvents } from '../db/repositories/outbox.js';
import { packageById } from '../db/repositories/packages.js';
import { recordLapse } from '../db/repositories/subscription-lapses.js';
import {
  dueSubscriptionIds,
  lockSubscriptions,
  periodStartingAt,
  type SubscriptionRow,
  subscriptionItems,
  updateSubscription,
} from '../db/repositories/subscriptions.js';
import { withTransaction } from '../db/transact.js';
import { toCreditTypeBrief } from '../domain/credit-type-brief.js';
import type { BalanceSource } from '../domain/grant.js';
import { monthsToPrepare } from '../domain/history.js';
import { formatQuantity, type Scaled } from '../domain/quantity.js';
import type { SubscriptionStatus } from '../domain/renewal.js';
import { ok, type Result } from '../domain/result.js';
import { planRollover } from '../domain/rollover.js';
import { unfreezeDue } from '../services/freeze.js';
import { voidUnpaidFirstInvoice } from '../services/invoice-voiding.js';
import type { ExpiryResult } from '../views/maintenance.js';
import { expireGrants } from './expire-grants.js';
import { expireHolds } from './hold-closing.js';
import { renewAheadBetweenNights } from './renew-ahead.js';
import { renewOverdue } from './renew-overdue.js';

const CHUNK = 100;
const ACTOR = 'expiry sweep';

/** Statuses whose period can end (and whose unrenewed end the sweep acts on). */
const LIVE: ReadonlySet<SubscriptionStatus> = new Set(['active', 'pending', 'suspended']);
/** A renewed subscription keeps its rollover whether it is in use or suspended at the old period's end. */
const ROLLS_OVER: ReadonlySet<SubscriptionStatus> = new Set(['active', 'suspended']);
/** What rolls over: everything a period held (its grant, its recharges, what rolled into it) — DOMAIN.md. */
const ROLLABLE: ReadonlySet<BalanceSource> = new Set(['package', 'recharge', 'rollover']);

/**
 * DOMAIN.md "Expire", after "No lapse by accident": first every frozen subscription whose `frozen_until` has
 * come is unfrozen (its period and expiries pushed by the frozen time), then every auto-renewing subscription whose
 * period ended without renewal is renewed (renewOverdue), so that nothing below expires a paying
 * client's plan. Then holds past their `expires_at` are released (expireHolds: units go back to a balance that was
 * still valid when the hold ended). Then balances past `expires_at` lose what remains (an `expire` entry), except what
 * the package's rollover policy moves into the period that starts where they end, if the
 * subscription was renewed (a `rollover` entry out, one rollover balance in); subscriptions whose
 * period ended without renewal become expired (a pending one's unpaid invoice voided) or cancelled
 * (set to cancel at period end). Subscriptions are handled a chunk at a time, by id, each chunk one
 * transaction that locks its subscriptions (by id) and then their balances in the one lock order.
 * Operators' grants, which belong to no subscription, expire after them (expire-grants.ts). Safe
 * to run any number of times: what is done is no longer due. First of all, it makes the month partitions of the
 * history (ledger entries, allocations) for this month and the next PARTITION_MONTHS_AHEAD.
 */
export async function expireDue(app: AppContext, asOf: Date): Promise<Result<ExpiryResult>> {
  // the history's month partitions (migration 0018), made months before anything is written into them
  // (made months ahead: a sweep that cannot take the lock in time leaves it to the next one, and expires anyway)
  try {
    const partitions = await ensureHistoryPartitions(app.db, monthsToPrepare(asOf));
    if (partitions > 0) app.log.info({ partitions }, 'made the partitions of the coming months of history');
  } catch (error) {
    // made months ahead, so the next sweep is soon enough: a long read holding the lock, or a deadlock with a
    // concurrent ledger write (seen once when a read settling a client raced the sweep's first making of the
    // partitions), leaves it to that sweep rather than fail this one's expiries
    const code = pgCode(error);
    if (code !== PG.lockNotAvailable && code !== PG.deadlockDetected) throw error;
    app.log.warn({ err: error, code }, 'the history partitions were not made (lock not available); next sweep');
  }
  // unfrozen with a moved end before the next nightly run: their renewal ahead asked at once (renew-ahead.ts)
  const unfrozen = await unfreezeDue(app, asOf, {
    renewAhead: (subscriptions) =>
      renewAheadBetweenNights(
        app,
        subscriptions.map((s) => s.id),
      ),
  });
  const renewals = await renewOverdue(app, asOf);
  // holds before balances: a hold that ended before its balance gave its units back while the balance was valid,
  // so they expire or roll over with the balance below instead of lapsing after it
  const holdsExpired = await expireHolds(app, asOf);
  const result: ExpiryResult = {
    as_of: asOf.toISOString(),
    subscriptions_renewed: renewals.renewed,
    balances_expired: 0,
    balances_rolled_over: 0,
    subscriptions_expired: 0,
    subscriptions_cancelled: 0,
    invoices_voided: 0,
    subscriptions_awaiting_renewal: 0,
    subscriptions_unfrozen: unfrozen,
    holds_expired: holdsExpired,
  };
  for (let after: string | undefined; ; ) {
    const due = await dueSubscriptionIds(app.db, asOf, { after, limit: CHUNK });
    if (due.length === 0) break;
    await withTransaction(app.db, async (tx) => {
      const subscriptions = await lockSubscriptions(tx, due);
      const balances = await lockExpiringBalances(tx, due, asOf);
      for (const subscription of subscriptions) {
        // frozen (since it was found due): its clock stands still, nothing of it expires
        if (subscription.status === 'frozen') continue;
        const own = balances.filter((b) => b.subscription_id === subscription.id);
        const counts = await expireSubscription(tx, app, subscription, own, asOf);
        result.balances_expired += counts.balances;
        result.balances_rolled_over += counts.rolled;
        result.invoices_voided += counts.invoicesVoided;
        if (counts.outcome === 'expired') result.subscriptions_expired += 1;
        if (counts.outcome === 'cancelled') result.subscriptions_cancelled += 1;
        if (counts.outcome === 'awaiting_renewal') result.subscriptions_awaiting_renewal += 1;
      }
    });
    after = due[due.length - 1];
  }
  result.balances_expired += await expireGrants(app, asOf);
  return ok(result);
}

/**
 * An auto-renewing subscription whose period ended is renewed, never expired. If it is still here
 * (its renewal failed, or it was set to auto-renew since the renewal phase), it is left as it is,
 * balances included — they roll over into the renewal the next sweep makes.
 */
const awaitsRenewal = (subscription: SubscriptionRow, asOf: Date): boolean =>
  subscription.status === 'active' &&
  subscription.auto_renew &&
  !subscription.cancel_at_period_end &&
  subscription.current_period_end.getTime() <= asOf.getTime();

type Outcome = 'expired' | 'cancelled' | 'awaiting_renewal' | null;

interface SubscriptionCounts {
  balances: number;
  rolled: number;
  invoicesVoided: number;
  outcome: Outcome;
}

async function expireSubscription(
  tx: Tx,
  app: AppContext,
  subscription: SubscriptionRow,
  balances: readonly BalanceRow[],
  asOf: Date,
): Promise<SubscriptionCounts> {
  if (awaitsRenewal(subscription, asOf)) {
    app.log.warn({ subscriptionId: subscription.id }, 'an auto-renewing subscription awaits its renewal; not expired');
    return { balances: 0, rolled: 0, invoicesVoided: 0, outcome: 'awaiting_renewal' };
  }
  const now = app.clock.now();
  const events: OutboxEventDraft[] = [];
  const entries: LedgerEntryDraft[] = [];
  const changes: BalanceChange[] = [];
  let balancesExpired = 0;
  let rolledCount = 0;
  const pkg = await packageById(tx, subscription.package_id);
  const policy = pkg && ROLLS_OVER.has(subscription.status) ? pkg.rollover : { policy: 'none' as const };
  const items = await subscriptionItems(tx, [subscription.id]);
  const creditTypes = await creditTypesByIds(
    tx,
    balances.map((b) => b.credit_type_id),
  );

  // One group per credit type and period end: the rollover cap is one per renewal and credit type.
  // Groups go by period end, so a rollover balance that has itself expired by `asOf` (a sweep late
  // by more than a period) joins the group of its own end and rolls over again with it.
  const groups = new Map<string, BalanceRow[]>();
  const join = (balance: BalanceRow) => {
    const key = `${balance.expires_at.toISOString()}|${balance.credit_type_id}`;
    groups.set(key, [...(groups.get(key) ?? []), balance]);
  };
  balances.forEach(join);
  while (groups.size > 0) {
    const key = [...groups.keys()].sort()[0]!;
    const group = groups.get(key)!;
    groups.delete(key);
    const { credit_type_id: creditTypeId, expires_at: periodEnd } = group[0]!;
    const creditType = creditTypes.get(creditTypeId)!;
    const q = (v: bigint) => formatQuantity(v, creditType.decimals);

    const next = policy.policy === 'none' ? undefined : await periodStartingAt(tx, subscription.id, periodEnd);
    const rollable = next ? group.filter((b) => ROLLABLE.has(b.source) && b.remaining > 0n) : [];
    // the cap is a share of one period's grant of the credit type; one not in the package caps at what it held
    const periodUnits =
      items.find((i) => i.credit_type_id === creditTypeId)?.units ?? rollable.reduce((sum, b) => sum + b.granted, 0n);
    const plan = planRollover(
      policy,
      rollable.map((b) => ({ ...lockPlaceOf(b), remaining: b.remaining })),
      periodUnits,
    );
    const rolledOf = new Map<string, Scaled>(plan.filter((p) => p.rolled > 0n).map((p) => [p.lot.id, p.rolled]));
    const total = [...rolledOf.values()].reduce((sum, v) => sum + v, 0n);
    let into: BalanceRow | undefined;
    if (next && total > 0n) {
      const givers = plan.filter((p) => p.rolled > 0n).map((p) => p.lot);
      [into] = await createBalances(
        tx,
        [
          {
            creditTypeId,
            granted: total,
            validFrom: next.starts_at,
            expiresAt: next.ends_at,
            priority: Math.min(...givers.map((l) => l.priority)),
            source: 'rollover',
            lowThreshold: 0n,
          },
        ],
        {
          clientId: subscription.client_id,
          subscriptionId: subscription.id,
          periodStart: next.starts_at,
          kind: 'rollover',
          actor: ACTOR,
          reason:
            `rolled over from ${givers.length === 1 ? 'balance' : 'balances'} ` +
            `${givers.map((l) => l.id).join(', ')}`,
          now,
        },
      );
      if (into!.expires_at.getTime() <= asOf.getTime()) join(into!);
    }

    for (const balance of group) {
      const rolled = rolledOf.get(balance.id) ?? 0n;
      if (rolled > 0n) {
        entries.push({
          balance_id: balance.id,
          client_id: balance.client_id,
          credit_type_id: balance.credit_type_id,
          subscription_id: subscription.id,
          kind: 'rollover',
          amount: -rolled,
          remaining_after: balance.remaining - rolled,
          actor: ACTOR,
          reason: `rolled over to balance ${into!.id}`,
          effective_at: balance.expires_at,
          created_at: now,
        });
        rolledCount += 1;
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
          actor: ACTOR,
          effective_at: balance.expires_at,
          created_at: now,
        });
      }
      changes.push({ id: balance.id, remaining: 0n, expired, rolledOver: rolled, status: 'expired' });
      balancesExpired += 1;
      events.push({
        type: 'balance.expired',
        clientId: balance.client_id,
        subjectId: balance.id,
        data: {
          balance_id: balance.id,
          subscription_id: subscription.id,
          client_id: balance.client_id,
          credit_type: toCreditTypeBrief(creditType),
          expired: q(expired),
          rolled_over: q(rolled),
          expires_at: balance.expires_at.toISOString(),
        },
      });
    }
  }
  await appendLedgerEntries(tx, entries);
  await applyBalanceChanges(tx, changes, now);

  let outcome: Outcome = null;
  let invoicesVoided = 0;
  if (LIVE.has(subscription.status) && subscription.current_period_end.getTime() <= asOf.getTime()) {
    // pending: never paid, so never live — it lapses whatever was scheduled; otherwise a scheduled cancel wins
    outcome = subscription.status !== 'pending' && subscription.cancel_at_period_end ? 'cancelled' : 'expired';
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
    if (outcome === 'expired') {
      await recordLapse(tx, {
        subscription_id: subscription.id,
        period_end: subscription.current_period_end,
        client_id: subscription.client_id,
        package_id: subscription.package_id,
        // when it expired: at its period's end (as the subscription's expired_at), not when the sweep came
        expired_at: subscription.current_period_end,
      });
    }
    if (subscription.status === 'pending') {
      const reason = `unpaid when its period ended (${subscription.current_period_end.toISOString()})`;
      const voided = await voidUnpaidFirstInvoice(tx, subscription, reason, now);
      invoicesVoided = voided.length;
      events.push(...voided);
    }
  }
  await recordEvents(tx, events, now);
  return { balances: balancesExpired, rolled: rolledCount, invoicesVoided, outcome };
}
