import type { AppContext } from '../app-context.js';
import type { Executor } from '../db/knex.js';
import { lockActiveBalancesOfSubscription } from '../db/repositories/balances.js';
import {
  closeFreeze,
  dueFrozenSubscriptionIds,
  extendBalances,
  frozenMsInPeriod,
  insertFreeze,
  movePeriodEnd,
  openFreeze,
} from '../db/repositories/freezes.js';
import { recordEvents } from '../db/repositories/outbox.js';
import { packageById } from '../db/repositories/packages.js';
import { lockSubscription, type SubscriptionRow, updateSubscription } from '../db/repositories/subscriptions.js';
import { transact } from '../db/transact.js';
import {
  extendExpiries,
  extendedPeriodEnd,
  type FreezeRequest,
  frozenPastUntil,
  frozenSpan,
  planFreeze,
} from '../domain/freeze.js';
import { subscriptionIn } from '../domain/renewal.js';
import { fail, ok, type Result } from '../domain/result.js';
import { newId } from '../ids.js';
import { type OnRenewable, tellIfRenewable } from './renewable.js';
import { renewalsUndoneData, undoRenewalsAhead } from './renewal-undo.js';

export interface FreezeContext {
  now: Date;
  actor: string;
  /** Who hears of renewals made ahead that a freeze took back (to forget their jobs after the commit). */
  onRenewalUndone?: ((jobIds: readonly string[]) => void) | undefined;
}

/** Who ends a freeze at its frozen_until: the expiry sweep, or a change that does what the sweep owes first. */
const SWEEP_ACTOR = 'expiry sweep';

export const UNDONE_BY_FREEZE =
  'the renewal made ahead was taken back: the subscription was frozen before its period ended (renewed again ' +
  'at the end the unfreeze sets)';

/**
 * DOMAIN.md "Freeze": stops an active subscription's clock until `until` (or for `days`, or as long as its
 * package's `max_freeze_days` still allows in this period). Its balances stop paying for use (consumption takes
 * only an active subscription's), renewals and the expiry sweep pass it by. One transaction: the subscription
 * (locked), its freeze record and `subscription.frozen`.
 */
export async function freezeSubscription(
  db: Executor,
  id: string,
  request: FreezeRequest,
  context: FreezeContext,
): Promise<Result<SubscriptionRow>> {
  return transact(db, async (tx) => {
    const found = await lockSubscription(tx, id);
    if (!found) return fail('not_found', `no subscription "${id}"`);
    // a freeze past its frozen_until ended then (DOMAIN.md), though the sweep has not come yet to record it (every read
    // answers it ended): ended first as the sweep ends it, so that this is the second freeze of a running clock, not
    // "frozen already" — rolled back with it if this one is refused
    let locked = found;
    if (frozenPastUntil({ status: found.status, frozenUntil: found.frozen_until }, context.now)) {
      const thawed = await unfreezeSubscription(tx, id, {
        now: context.now,
        at: context.now,
        actor: SWEEP_ACTOR,
        by: 'sweep',
      });
      if (!thawed.ok) return thawed;
      locked = thawed.value;
    }
    // each nightly run renews the periods that end before the next run (renewal-lookahead.ts: within 26 h for a
    // daily run, 49 where a night has no run): frozen in the last day of its period, an active subscription
    // has its next period already made. Unpaid, that renewal is taken back (as a cancel at period end takes it)
    // and the period running is the one frozen; the renewal comes again at the end the unfreeze sets. A paid one,
    // or one a recharge was bought into, stands, and the freeze is refused below (its period has not begun).
    const undone =
      locked.status === 'active'
        ? await undoRenewalsAhead(tx, locked, { ...context, why: UNDONE_BY_FREEZE, rechargesKeepIt: true })
        : [];
    const current = undone.at(-1)?.subscription ?? locked;
    const pkg = await packageById(tx, current.package_id);
    if (!pkg) return fail('not_found', `package ${current.package_id} is gone`);
    const usedMs = await frozenMsInPeriod(tx, id, current.current_period_start);
    const plan = planFreeze(
      {
        status: current.status,
        currentPeriodStart: current.current_period_start,
        currentPeriodEnd: current.current_period_end,
      },
      pkg.max_freeze_days,
      usedMs,
      request,
      context.now,
    );
    if (!plan.ok) return plan;
    const { frozenAt, frozenUntil } = plan.value;
    await insertFreeze(tx, {
      id: newId(),
      subscription_id: id,
      period_start: current.current_period_start,
      frozen_at: frozenAt,
      frozen_until: frozenUntil,
      unfrozen_at: null,
      ended_by: null,
      actor: context.actor,
      created_at: context.now,
    });
    const updated = await updateSubscription(tx, id, {
      status: 'frozen',
      frozen_at: frozenAt,
      frozen_until: frozenUntil,
      updated_at: context.now,
    });
    await recordEvents(
      tx,
      [
        {
          type: 'subscription.frozen',
          clientId: current.client_id,
          subjectId: id,
          data: {
            subscription_id: id,
            client_id: current.client_id,
            status: 'frozen',
            frozen_at: frozenAt.toISOString(),
            frozen_until: frozenUntil.toISOString(),
            current_period_end: current.current_period_end.toISOString(),
            ...renewalsUndoneData(undone),
          },
        },
        ...undone.flatMap((u) => u.events),
      ],
      context.now,
    );
    if (undone.length > 0) context.onRenewalUndone?.(undone.flatMap((u) => u.jobIds));
    return ok(updated);
  });
}

export interface UnfreezeContext extends FreezeContext {
  /** `hand`: POST …/unfreeze; `sweep`: the expiry sweep at `frozen_until`. */
  by: 'hand' | 'sweep';
  /** The instant the clock starts again (the sweep's `as_of`); `now` by default. Never beyond `frozen_until`. */
  at?: Date | undefined;
  /** Told when the unfrozen subscription is renewable (tellIfRenewable): its renewal ahead is asked after commit. */
  onRenewable?: OnRenewable | undefined;
}

/**
 * Starts a frozen subscription's clock again: it is active, and its period end and the expiries of its live
 * balances move later by exactly the time it was frozen (from `frozen_at` to now, or to `frozen_until` if that
 * has passed: a late sweep, or an unfreeze by hand after it, pushes no further than the freeze was asked for).
 * Each moved balance gets an `extend` ledger entry; `subscription.unfrozen` says by how much. One transaction,
 * the subscription locked before its balances (the one lock order).
 */
export async function unfreezeSubscription(
  db: Executor,
  id: string,
  context: UnfreezeContext,
): Promise<Result<SubscriptionRow>> {
  return transact(db, async (tx) => {
    const current = await lockSubscription(tx, id);
    if (!current) return fail('not_found', `no subscription "${id}"`);
    if (current.status !== 'frozen' || !current.frozen_at || !current.frozen_until)
      return fail('conflict', `${subscriptionIn(current.status)} is not frozen`);
    // the sweep ends only a freeze that is due: between its listing and this lock the subscription may
    // have been unfrozen by hand and frozen again, and that new freeze is not the sweep's to end
    if (context.by === 'sweep' && current.frozen_until.getTime() > (context.at ?? context.now).getTime())
      return fail('conflict', 'the freeze is not due yet');
    const span = frozenSpan(current.frozen_at, current.frozen_until, context.at ?? context.now);
    const balances = await lockActiveBalancesOfSubscription(tx, id);
    const extensions = extendExpiries(
      balances.map((b) => ({ id: b.id, expiresAt: b.expires_at })),
      current.frozen_at,
      span.ms,
    );
    await extendBalances(tx, balances, extensions, {
      actor: context.actor,
      reason: `unfrozen (frozen from ${current.frozen_at.toISOString()} to ${span.unfrozenAt.toISOString()})`,
      effectiveAt: span.unfrozenAt,
      now: context.now,
    });
    const periodEnd = extendedPeriodEnd(current.current_period_end, span.ms);
    await movePeriodEnd(tx, id, current.current_period_start, periodEnd);
    const freeze = await openFreeze(tx, id);
    if (freeze) await closeFreeze(tx, freeze.id, { unfrozen_at: span.unfrozenAt, ended_by: context.by });
    const updated = await updateSubscription(tx, id, {
      status: 'active',
      frozen_at: null,
      frozen_until: null,
      current_period_end: periodEnd,
      updated_at: context.now,
    });
    tellIfRenewable(current, updated, context.onRenewable);
    await recordEvents(
      tx,
      [
        {
          type: 'subscription.unfrozen',
          clientId: current.client_id,
          subjectId: id,
          data: {
            subscription_id: id,
            client_id: current.client_id,
            status: 'active',
            by: context.by,
            frozen_at: current.frozen_at.toISOString(),
            unfrozen_at: span.unfrozenAt.toISOString(),
            frozen_seconds: span.ms / 1000,
            previous_period_end: current.current_period_end.toISOString(),
            current_period_end: periodEnd.toISOString(),
            balances_extended: extensions.length,
          },
        },
      ],
      context.now,
    );
    return ok(updated);
  });
}

/**
 * Ends a frozen subscription's freeze without moving anything (it is cancelled meanwhile): the freeze record is
 * closed and the freeze columns cleared by the caller's update. Call with the subscription locked.
 */
export async function endFreezeOnCancel(tx: Executor, subscription: SubscriptionRow, now: Date): Promise<void> {
  if (subscription.status !== 'frozen' || !subscription.frozen_at || !subscription.frozen_until) return;
  const freeze = await openFreeze(tx, subscription.id);
  if (!freeze) return;
  const span = frozenSpan(subscription.frozen_at, subscription.frozen_until, now);
  await closeFreeze(tx, freeze.id, { unfrozen_at: span.unfrozenAt, ended_by: 'hand' });
}

const PAGE = 100;

/**
 * The expiry sweep's first step: every subscription frozen until `asOf` or before is unfrozen, as by hand at
 * `frozen_until` (the time pushed is `frozen_until − frozen_at`, however late the sweep). Each is its own
 * transaction; one unfrozen meanwhile (by hand, or by another sweep) is a conflict, and skipped. Safe to run
 * any number of times. `renewAhead` is given, a page at a time once their unfreezes have committed, those that came
 * out renewable (src/jobs/renew-ahead.ts asks the renewal of those whose moved end falls before the next night).
 */
export async function unfreezeDue(
  app: AppContext,
  asOf: Date,
  options: { renewAhead?: ((subscriptions: readonly SubscriptionRow[]) => Promise<unknown>) | undefined } = {},
): Promise<number> {
  let unfrozen = 0;
  for (let after: string | undefined; ; ) {
    const due = await dueFrozenSubscriptionIds(app.db, asOf, { after, limit: PAGE });
    if (due.length === 0) break;
    const renewable: SubscriptionRow[] = [];
    try {
      for (const id of due) {
        const told: SubscriptionRow[] = [];
        const result = await unfreezeSubscription(app.db, id, {
          now: app.clock.now(),
          at: asOf,
          actor: SWEEP_ACTOR,
          by: 'sweep',
          onRenewable: (subscription) => told.push(subscription),
        });
        if (!result.ok) continue;
        unfrozen += 1;
        renewable.push(...told);
      }
    } finally {
      // those committed, even when a later one failed (the next sweep finds that one still due)
      if (renewable.length > 0) await options.renewAhead?.(renewable);
    }
    after = due[due.length - 1];
  }
  return unfrozen;
}
