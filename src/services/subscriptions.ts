import { canonicalJson } from '../canonical-json.js';
import type { Executor } from '../db/knex.js';
import {
  type BalanceRow,
  balancesOfSubscriptions,
  lockActiveBalancesOfSubscription,
} from '../db/repositories/balances.js';
import { clientsByIds, findClient } from '../db/repositories/clients.js';
import { type CreditTypeRow, creditTypesByIds } from '../db/repositories/credit-types.js';
import { type InvoiceWithLines, invoicesByIds } from '../db/repositories/invoices.js';
import { type OutboxEventDraft, recordEvents } from '../db/repositories/outbox.js';
import { findPackage, packageById, packagesByIds } from '../db/repositories/packages.js';
import {
  insertPeriod,
  insertSubscription,
  lockSubscription,
  type SubscriptionRow,
  subscriptionItems,
  updateSubscription,
} from '../db/repositories/subscriptions.js';
import { closeSuspension, insertSuspension } from '../db/repositories/suspensions.js';
import { transact } from '../db/transact.js';
import { toCreditTypeBrief } from '../domain/credit-type-brief.js';
import { minorToJson } from '../domain/money.js';
import { nthPeriod, validityOf } from '../domain/period.js';
import { formatQuantity } from '../domain/quantity.js';
import { subscriptionIn } from '../domain/renewal.js';
import { fail, ok, type Result } from '../domain/result.js';
import { newId } from '../ids.js';
import { toPackageRef } from '../views/package.js';
import {
  type SubscriptionSettings,
  type SubscriptionView,
  toSubscriptionSettings,
  toSubscriptionView,
} from '../views/subscription.js';
import { endFreezeOnCancel } from './freeze.js';
import { grantPeriod } from './grant-period.js';
import { packageInvoiceLine } from './invoice-lines.js';
import { voidUnpaidFirstInvoice, voidUnpaidInvoicesNotStarted } from './invoice-voiding.js';
import { type OnRenewable, tellIfRenewable } from './renewable.js';
import { renewalsUndoneData, type UndoneRenewal, undoRenewalsAhead } from './renewal-undo.js';
import { voidLockedBalances } from './void-balances.js';

/** The reason on the entries voiding a cancelled subscription's balances when the operator gave none. */
export const CANCELLED_REASON = 'subscription cancelled';

export interface AutoRechargeInput {
  enabled?: boolean | undefined;
  threshold_percent?: number | undefined;
  max_per_period?: number | undefined;
}

export interface SubscribeInput {
  client: string;
  package: string;
  starts_at?: Date | undefined;
  auto_renew?: boolean | undefined;
  price?: bigint | undefined;
  activation?: 'immediate' | 'on_payment' | undefined;
  apply_package_changes?: boolean | undefined;
  auto_recharge?: AutoRechargeInput | undefined;
  metadata?: Record<string, unknown> | undefined;
}

export interface SubscribeContext {
  now: Date;
  timeZone: string;
  actor: string;
  /** Told of a new subscription that is renewable (active, auto-renewing): its renewal ahead is asked after commit. */
  onRenewable?: OnRenewable | undefined;
}

export interface Subscribed {
  subscription: SubscriptionRow;
  balances: BalanceRow[];
  invoice: InvoiceWithLines;
}

/**
 * DOMAIN.md "Subscribe": the subscription, one balance per package item (each with its grant ledger
 * entry), the period and its invoice, all in one transaction.
 */
export async function subscribe(
  db: Executor,
  input: SubscribeInput,
  context: SubscribeContext,
): Promise<Result<Subscribed>> {
  const client = await findClient(db, input.client);
  if (!client)
    return fail('not_found', `no client "${input.client}"`, { errors: [{ field: 'client', message: 'not found' }] });
  const pkg = await findPackage(db, input.package);
  if (!pkg)
    return fail('not_found', `no package "${input.package}"`, { errors: [{ field: 'package', message: 'not found' }] });
  if (pkg.status !== 'active') return fail('conflict', `package "${pkg.code}" is archived and no longer sold`);

  const validity = validityOf(pkg);
  const anchor = input.starts_at ?? context.now;
  const period = nthPeriod(anchor, validity, context.timeZone, 0);
  if (period.end.getTime() <= context.now.getTime()) {
    return fail('validation_failed', 'starts_at is so far in the past that the whole period is over', {
      errors: [{ field: 'starts_at', message: `the period would end at ${period.end.toISOString()}, before now` }],
    });
  }
  const pending = input.activation === 'on_payment';
  const price = input.price ?? pkg.price;
  const subscription: SubscriptionRow = {
    id: newId(),
    client_id: client.id,
    package_id: pkg.id,
    status: pending ? 'pending' : 'active',
    activation: input.activation ?? 'immediate',
    anchor_at: anchor,
    period_index: 0,
    current_period_start: period.start,
    current_period_end: period.end,
    validity_count: validity.count,
    validity_unit: validity.unit,
    validity_calendar: validity.calendar,
    currency: pkg.currency,
    price_override: input.price ?? null,
    auto_renew: input.auto_renew ?? pkg.auto_renew,
    apply_package_changes: input.apply_package_changes ?? false,
    cancel_at_period_end: false,
    auto_recharge_enabled: input.auto_recharge?.enabled ?? false,
    auto_recharge_threshold_percent: input.auto_recharge?.threshold_percent ?? 10,
    auto_recharge_max_per_period: input.auto_recharge?.max_per_period ?? 1,
    renewal_count: 0,
    activated_at: pending ? null : context.now,
    cancelled_at: null,
    expired_at: null,
    frozen_at: null,
    frozen_until: null,
    metadata: input.metadata ?? {},
    created_at: context.now,
    updated_at: context.now,
  };
  const items = pkg.items.map((i) => ({ credit_type_id: i.credit_type_id, units: i.units, position: i.position }));

  return transact(db, async (tx) => {
    await insertSubscription(tx, subscription, items);
    // bought with a start in the past, its period may end before the next nightly run
    tellIfRenewable(undefined, subscription, context.onRenewable);
    const creditTypes = await creditTypesByIds(
      tx,
      items.map((i) => i.credit_type_id),
    );
    const { invoice, balances } = await grantPeriod(tx, {
      clientId: client.id,
      subscriptionId: subscription.id,
      sale: 'subscription',
      currency: pkg.currency,
      lines: [packageInvoiceLine(pkg, price, period, context.timeZone)],
      validity: period,
      periodStart: period.start,
      items: items.map((i) => ({ creditTypeId: i.credit_type_id, units: i.units })),
      terms: { priority: pkg.priority, lowBalancePercent: pkg.low_balance_percent },
      actor: context.actor,
      now: context.now,
      timeZone: context.timeZone,
    });
    await insertPeriod(tx, {
      subscription_id: subscription.id,
      starts_at: period.start,
      ends_at: period.end,
      kind: 'initial',
      invoice_id: invoice.id,
      price,
      late: false,
      job_id: null,
      created_at: context.now,
    });
    await recordEvents(
      tx,
      [
        {
          type: 'subscription.created',
          clientId: client.id,
          subjectId: subscription.id,
          data: {
            subscription_id: subscription.id,
            client_id: client.id,
            client_external_ref: client.external_ref,
            package: toPackageRef(pkg),
            status: subscription.status,
            period_start: period.start.toISOString(),
            period_end: period.end.toISOString(),
            invoice_id: invoice.id,
            price: minorToJson(price),
            currency: pkg.currency,
            // decimal strings of each credit type's precision, as every answer writes them ("2.5", not 250)
            items: items.map((i) => {
              const creditType = creditTypes.get(i.credit_type_id) as CreditTypeRow;
              return {
                credit_type: toCreditTypeBrief(creditType),
                units: formatQuantity(i.units, creditType.decimals),
              };
            }),
          },
        },
      ],
      context.now,
    );
    return ok({ subscription, balances, invoice });
  });
}

export interface PatchSubscriptionInput {
  auto_renew?: boolean | undefined;
  /** A number sets the subscription's own fee for its next renewals; null goes back to the package price. */
  price?: bigint | null | undefined;
  apply_package_changes?: boolean | undefined;
  cancel_at_period_end?: boolean | undefined;
  auto_recharge?: AutoRechargeInput | undefined;
  metadata?: Record<string, unknown> | undefined;
  /** Suspend (its balances stop paying for use, its period keeps running) or resume. */
  status?: 'active' | 'suspended' | undefined;
}

/**
 * A subscription whose period runs (in use or suspended) can be set to cancel when it ends; a frozen one too (its
 * period ends later, once it is unfrozen).
 */
const CAN_SCHEDULE_CANCEL: ReadonlySet<SubscriptionRow['status']> = new Set(['active', 'suspended', 'frozen']);

/**
 * API.md: every subscription change has an event. `subscription.updated` carries the settings that
 * changed, as the subscription's view shows them (`changes`, and `previous`); scheduling a cancel at
 * period end is `subscription.cancel_scheduled` instead, wherever it is asked (PATCH or …/cancel),
 * and taking it back is a change of a setting. A change that changes nothing records nothing.
 */
function settingsEvents(
  before: SubscriptionRow,
  after: SubscriptionRow,
  packagePrice: bigint,
  undone: readonly UndoneRenewal[],
): OutboxEventDraft[] {
  const old = toSubscriptionSettings(before, packagePrice);
  const next = toSubscriptionSettings(after, packagePrice);
  const events: OutboxEventDraft[] = [];
  const scheduled = !old.cancel_at_period_end && next.cancel_at_period_end;
  if (scheduled) events.push(cancelScheduled(after, undone));
  const changed = (Object.keys(next) as Array<keyof SubscriptionSettings>).filter(
    (key) => canonicalJson(old[key]) !== canonicalJson(next[key]) && !(scheduled && key === 'cancel_at_period_end'),
  );
  if (changed.length > 0) {
    // money goes out with its currency (API.md "Shapes"): a price changed is named with the subscription's
    const money = (row: SubscriptionRow) => (changed.includes('price') ? { currency: row.currency } : {});
    events.push({
      type: 'subscription.updated',
      clientId: after.client_id,
      subjectId: after.id,
      data: {
        subscription_id: after.id,
        client_id: after.client_id,
        changes: { ...Object.fromEntries(changed.map((key) => [key, next[key]])), ...money(after) },
        previous: { ...Object.fromEntries(changed.map((key) => [key, old[key]])), ...money(before) },
      },
    });
  }
  return events;
}

/**
 * `cancel_at` is the end of the period that runs to the cancel; when renewals made ahead were taken back for it
 * (undoRenewalsAhead), `renewals_undone` names their periods and invoices, earliest first, and `recharges_voided` the
 * recharges bought into those periods and taken back with them (`period_start`: the renewal's).
 */
const cancelScheduled = (subscription: SubscriptionRow, undone: readonly UndoneRenewal[] = []): OutboxEventDraft => ({
  type: 'subscription.cancel_scheduled',
  clientId: subscription.client_id,
  subjectId: subscription.id,
  data: {
    subscription_id: subscription.id,
    client_id: subscription.client_id,
    status: subscription.status,
    cancel_at: subscription.current_period_end.toISOString(),
    ...renewalsUndoneData(undone),
  },
});

/**
 * Who asks for a change, who hears of a renewal made ahead that it took back (to forget its job after commit), and who
 * hears of a subscription it made renewable (auto_renew turned on, a cancel at period end taken back, a resume: to ask
 * for its renewal ahead after commit).
 */
export interface ChangeContext {
  actor: string;
  onRenewalUndone?: ((jobIds: readonly string[]) => void) | undefined;
  onRenewable?: OnRenewable | undefined;
}

export async function patchSubscription(
  db: Executor,
  id: string,
  input: PatchSubscriptionInput,
  now: Date,
  context: ChangeContext = { actor: 'system' },
): Promise<Result<SubscriptionRow>> {
  return transact(db, async (tx) => {
    const current = await lockSubscription(tx, id);
    if (!current) return fail('not_found', `no subscription "${id}"`);
    if (
      input.cancel_at_period_end === false &&
      !CAN_SCHEDULE_CANCEL.has(current.status) &&
      current.cancel_at_period_end
    ) {
      return fail('conflict', `${subscriptionIn(current.status)} cannot be un-cancelled`);
    }
    if (
      input.cancel_at_period_end === true &&
      !current.cancel_at_period_end &&
      !CAN_SCHEDULE_CANCEL.has(current.status)
    ) {
      return fail(
        'conflict',
        current.status === 'pending'
          ? 'a pending subscription has no period running to cancel at; cancel it now'
          : `${subscriptionIn(current.status)} cannot be set to cancel`,
      );
    }
    const patch: Partial<SubscriptionRow> & { updated_at: Date } = { updated_at: now };
    const events: OutboxEventDraft[] = [];
    // set to cancel at period end now: a renewal made ahead and unpaid is taken back first (the period runs out)
    const undone =
      input.cancel_at_period_end === true && !current.cancel_at_period_end
        ? await undoRenewalsAhead(tx, current, { now, actor: context.actor })
        : [];
    if (input.status !== undefined && input.status !== current.status) {
      // only a live subscription is suspended, and only a suspended one resumed
      const allowed =
        (current.status === 'active' && input.status === 'suspended') ||
        (current.status === 'suspended' && input.status === 'active');
      if (!allowed) return fail('conflict', `${subscriptionIn(current.status)} cannot become ${input.status}`);
      patch.status = input.status;
      // when it began and ended: balances as of a past instant place its units by it (migration 0025)
      if (input.status === 'suspended')
        await insertSuspension(tx, {
          id: newId(),
          subscription_id: id,
          suspended_at: now,
          resumed_at: null,
          actor: context.actor,
        });
      else await closeSuspension(tx, id, now);
      events.push({
        type: input.status === 'suspended' ? 'subscription.suspended' : 'subscription.resumed',
        clientId: current.client_id,
        subjectId: id,
        data: { subscription_id: id, client_id: current.client_id, status: input.status },
      });
    }
    if (input.auto_renew !== undefined) patch.auto_renew = input.auto_renew;
    if (input.price !== undefined) patch.price_override = input.price;
    if (input.apply_package_changes !== undefined) patch.apply_package_changes = input.apply_package_changes;
    if (input.cancel_at_period_end !== undefined) patch.cancel_at_period_end = input.cancel_at_period_end;
    if (input.metadata !== undefined) patch.metadata = input.metadata;
    if (input.auto_recharge?.enabled !== undefined) patch.auto_recharge_enabled = input.auto_recharge.enabled;
    if (input.auto_recharge?.threshold_percent !== undefined)
      patch.auto_recharge_threshold_percent = input.auto_recharge.threshold_percent;
    if (input.auto_recharge?.max_per_period !== undefined)
      patch.auto_recharge_max_per_period = input.auto_recharge.max_per_period;
    const updated = await updateSubscription(tx, id, patch);
    tellIfRenewable(current, updated, context.onRenewable);
    const pkg = await packageById(tx, current.package_id);
    if (!pkg) return fail('not_found', `package ${current.package_id} is gone`);
    await recordEvents(
      tx,
      [...events, ...settingsEvents(current, updated, pkg.price, undone), ...undone.flatMap((u) => u.events)],
      now,
    );
    if (undone.length > 0) context.onRenewalUndone?.(undone.flatMap((u) => u.jobIds));
    return ok(updated);
  });
}

export interface CancelContext extends ChangeContext {
  now: Date;
  reason?: string | undefined;
}

/**
 * DOMAIN.md "Cancel": `now` voids what remains at once; `period_end` lets the period run out and
 * stops renewals — for a suspended subscription too, whose period runs on while it is suspended
 * (the expiry sweep cancels it at the end). A renewal made ahead of a period still running, and not paid, is taken
 * back first (undoRenewalsAhead): the period that runs out is the one running, not the renewal the client asked not
 * to have. Cancelling twice the same way answers the same subscription.
 */
export async function cancelSubscription(
  db: Executor,
  id: string,
  at: 'now' | 'period_end',
  context: CancelContext,
): Promise<Result<SubscriptionRow>> {
  return transact(db, async (tx) => {
    const current = await lockSubscription(tx, id);
    if (!current) return fail('not_found', `no subscription "${id}"`);
    if (current.status === 'cancelled') return ok(current);
    if (current.status === 'expired') return fail('conflict', 'the subscription has expired already');

    if (at === 'period_end' && CAN_SCHEDULE_CANCEL.has(current.status)) {
      if (current.cancel_at_period_end) return ok(current);
      // a renewal made ahead and unpaid is taken back: the period still running is the one that ends
      const undone = await undoRenewalsAhead(tx, current, context);
      const updated = await updateSubscription(tx, id, { cancel_at_period_end: true, updated_at: context.now });
      await recordEvents(tx, [cancelScheduled(updated, undone), ...undone.flatMap((u) => u.events)], context.now);
      if (undone.length > 0) context.onRenewalUndone?.(undone.flatMap((u) => u.jobIds));
      return ok(updated);
    }
    // `now`, or a pending subscription, which has no period running to cancel at
    await endFreezeOnCancel(tx, current, context.now);
    const updated = await updateSubscription(tx, id, {
      status: 'cancelled',
      frozen_at: null,
      frozen_until: null,
      cancelled_at: context.now,
      cancel_at_period_end: false,
      auto_renew: false,
      updated_at: context.now,
    });
    await voidBalances(tx, current, context.now, context.actor, context.reason ?? CANCELLED_REASON);
    // never paid, it will never run: its first invoice is void, so that a payment cannot buy units already void
    const voided =
      current.status === 'pending'
        ? await voidUnpaidFirstInvoice(tx, current, 'its subscription was cancelled before payment', context.now)
        : // a period paid ahead (or bought to start later) never runs now: its unpaid invoice buys nothing
          await voidUnpaidInvoicesNotStarted(
            tx,
            current,
            'its subscription was cancelled before the period began',
            context.now,
          );
    await recordEvents(
      tx,
      [
        {
          type: 'subscription.cancelled',
          clientId: current.client_id,
          subjectId: id,
          data: { subscription_id: id, client_id: current.client_id, at, cancelled_at: context.now.toISOString() },
        },
        ...voided,
      ],
      context.now,
    );
    return ok(updated);
  });
}

/** Voids every live balance of a subscription (locked after the subscription, in the lock order). */
export async function voidBalances(
  tx: Executor,
  subscription: SubscriptionRow,
  now: Date,
  actor: string,
  reason: string,
): Promise<void> {
  const balances = await lockActiveBalancesOfSubscription(tx, subscription.id);
  await voidLockedBalances(tx, balances, { now, actor, reason });
}

export interface ViewOptions {
  withBalances?: boolean;
  /** Attach each subscription's invoice (by subscription id). */
  invoices?: ReadonlyMap<string, string>;
}

/** Loads everything the views need in a handful of queries, whatever the number of subscriptions. */
export async function subscriptionViews(
  db: Executor,
  rows: readonly SubscriptionRow[],
  options: ViewOptions = {},
): Promise<SubscriptionView[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.id);
  // one after another: `db` may be a transaction, whose single connection runs one query at a time
  const clients = await clientsByIds(
    db,
    rows.map((r) => r.client_id),
  );
  const items = await subscriptionItems(db, ids);
  const balances = options.withBalances ? await balancesOfSubscriptions(db, ids) : [];
  const packages = await packagesByIds(
    db,
    rows.map((r) => r.package_id),
  );
  const invoices = options.invoices
    ? await invoicesByIds(db, [...options.invoices.values()])
    : new Map<string, InvoiceWithLines>();
  const packageById = new Map(packages.map((p) => [p.id, p]));
  const creditTypes = await creditTypesByIds(db, [
    ...items.map((i) => i.credit_type_id),
    ...balances.map((b) => b.credit_type_id),
  ]);
  return rows.map((row) => {
    const invoiceId = options.invoices?.get(row.id);
    const invoice = invoiceId ? invoices.get(invoiceId) : undefined;
    return toSubscriptionView(row, {
      client: clientsOrThrow(clients.get(row.client_id), row.client_id),
      pkg: clientsOrThrow(packageById.get(row.package_id), row.package_id),
      items: items.filter((i) => i.subscription_id === row.id),
      creditTypes,
      ...(options.withBalances ? { balances: balances.filter((b) => b.subscription_id === row.id) } : {}),
      ...(invoice ? { invoice } : {}),
    });
  });
}

function clientsOrThrow<T>(value: T | undefined, id: string): T {
  if (value === undefined) throw new Error(`row ${id} referenced by a subscription is missing`);
  return value;
}
