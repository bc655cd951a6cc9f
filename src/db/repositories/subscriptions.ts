import type { ValidityCalendar, ValidityUnit } from '../../domain/period.js';
import type { SubscriptionStatus } from '../../domain/renewal.js';
import { newId } from '../../ids.js';
import type { Executor, Tx } from '../knex.js';
import { type Page, type PageRequest, readPage } from '../pagination.js';

export interface SubscriptionRow {
  id: string;
  client_id: string;
  package_id: string;
  status: SubscriptionStatus;
  activation: 'immediate' | 'on_payment';
  anchor_at: Date;
  period_index: number;
  current_period_start: Date;
  current_period_end: Date;
  validity_count: number;
  validity_unit: ValidityUnit;
  /** The snapshot of the package's validity calendar its periods are counted in (migration 0020). */
  validity_calendar: ValidityCalendar;
  currency: string;
  price_override: bigint | null;
  auto_renew: boolean;
  apply_package_changes: boolean;
  cancel_at_period_end: boolean;
  auto_recharge_enabled: boolean;
  auto_recharge_threshold_percent: number;
  auto_recharge_max_per_period: number;
  renewal_count: number;
  activated_at: Date | null;
  cancelled_at: Date | null;
  expired_at: Date | null;
  /** The freeze in progress (status `frozen`); both null otherwise. */
  frozen_at: Date | null;
  frozen_until: Date | null;
  metadata: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
}

export interface SubscriptionItemRow {
  subscription_id: string;
  credit_type_id: string;
  units: bigint;
  position: number;
}

export interface SubscriptionPeriodRow {
  subscription_id: string;
  starts_at: Date;
  ends_at: Date;
  kind: 'initial' | 'renewal';
  invoice_id: string | null;
  price: bigint;
  late: boolean;
  job_id: string | null;
  created_at: Date;
}

export async function insertSubscription(
  db: Executor,
  row: SubscriptionRow,
  items: readonly Omit<SubscriptionItemRow, 'subscription_id'>[],
): Promise<void> {
  await db('subscriptions').insert({ ...row, metadata: JSON.stringify(row.metadata) });
  await db('subscription_items').insert(items.map((i) => ({ ...i, subscription_id: row.id })));
}

export async function subscriptionById(db: Executor, id: string): Promise<SubscriptionRow | undefined> {
  return (await db('subscriptions').where({ id }).first()) as SubscriptionRow | undefined;
}

/** Subscriptions are locked before their balances and invoices (the one lock order). */
export async function lockSubscription(db: Executor, id: string): Promise<SubscriptionRow | undefined> {
  return (await db('subscriptions').where({ id }).forUpdate().first()) as SubscriptionRow | undefined;
}

/**
 * Locks the subscriptions, by id: a transaction that locks several locks them in this order before
 * their balances (the one lock order). Ids that match nothing are left out.
 */
export async function lockSubscriptions(tx: Tx, ids: readonly string[]): Promise<SubscriptionRow[]> {
  return (await tx('subscriptions').whereIn('id', ids).orderBy('id').forUpdate()) as SubscriptionRow[];
}

/**
 * Up to `limit` subscriptions (ids, ascending, after `after`) with something for the expiry sweep at
 * `asOf`: a live balance past its expiry, or a period that ended without renewal. A frozen subscription is never
 * due: its clock stands still (its balances expire, later, once it is unfrozen). The sweep pages by
 * id, so a subscription it leaves as it is (one awaiting its renewal) is not handed back to it.
 * Balances of no subscription (an operator's grant) are swept apart (lockExpiringGrants): here
 * they would be a NULL id (`subscription_id > ?` leaves them out).
 */
export async function dueSubscriptionIds(
  db: Executor,
  asOf: Date,
  page: { after?: string | undefined; limit: number },
): Promise<string[]> {
  const after = page.after ?? '00000000-0000-0000-0000-000000000000';
  const result = await db.raw<{ rows: Array<{ id: string }> }>(
    `SELECT id FROM (
       SELECT DISTINCT subscription_id AS id FROM balances
        WHERE status = 'active' AND expires_at <= ? AND subscription_id > ?
          AND subscription_id NOT IN (SELECT id FROM subscriptions WHERE status = 'frozen')
       UNION
       SELECT id FROM subscriptions
        WHERE status IN ('active', 'pending', 'suspended') AND current_period_end <= ? AND id > ?
     ) due ORDER BY id LIMIT ?`,
    [asOf, after, asOf, after, page.limit],
  );
  return result.rows.map((r) => r.id);
}

export async function subscriptionItems(
  db: Executor,
  subscriptionIds: readonly string[],
): Promise<SubscriptionItemRow[]> {
  if (subscriptionIds.length === 0) return [];
  return (await db('subscription_items')
    .whereIn('subscription_id', subscriptionIds)
    .orderBy(['subscription_id', 'position'])) as SubscriptionItemRow[];
}

export async function replaceSubscriptionItems(
  db: Executor,
  subscriptionId: string,
  items: readonly Omit<SubscriptionItemRow, 'subscription_id'>[],
): Promise<void> {
  await db('subscription_items').where({ subscription_id: subscriptionId }).delete();
  await db('subscription_items').insert(items.map((i) => ({ ...i, subscription_id: subscriptionId })));
}

export async function updateSubscription(
  db: Executor,
  id: string,
  patch: Partial<SubscriptionRow> & { updated_at: Date },
): Promise<SubscriptionRow> {
  const values: Record<string, unknown> = { ...patch };
  if (patch.metadata) values.metadata = JSON.stringify(patch.metadata);
  const [row] = (await db('subscriptions').where({ id }).update(values).returning('*')) as SubscriptionRow[];
  if (!row) throw new Error(`subscription ${id} vanished during an update`);
  return row;
}

/** Inserts the period; false when it exists already (the period was granted before). */
export async function insertPeriod(db: Executor, row: SubscriptionPeriodRow): Promise<boolean> {
  const inserted = await db('subscription_periods')
    .insert(row)
    .onConflict(['subscription_id', 'starts_at'])
    .ignore()
    .returning('starts_at');
  return inserted.length > 0;
}

export async function periodsOf(db: Executor, subscriptionId: string): Promise<SubscriptionPeriodRow[]> {
  return (await db('subscription_periods')
    .where({ subscription_id: subscriptionId })
    .orderBy('starts_at')) as SubscriptionPeriodRow[];
}

export async function periodStartingAt(
  db: Executor,
  subscriptionId: string,
  startsAt: Date,
): Promise<SubscriptionPeriodRow | undefined> {
  return (await db('subscription_periods').where({ subscription_id: subscriptionId, starts_at: startsAt }).first()) as
    | SubscriptionPeriodRow
    | undefined;
}

/**
 * Of these periods (a subscription and the end of one of its periods), the ones renewed: a period of the subscription
 * starts where the given one ends (the primary key; a renewal taken back is no longer here). Answered as
 * `<subscription id>|<end, ISO>`.
 */
export async function renewedPeriodEnds(
  db: Executor,
  periods: ReadonlyArray<{ subscriptionId: string; periodEnd: Date }>,
): Promise<Set<string>> {
  if (periods.length === 0) return new Set();
  const rows = (await db('subscription_periods')
    .whereIn(
      ['subscription_id', 'starts_at'],
      periods.map((p) => [p.subscriptionId, p.periodEnd]),
    )
    .select('subscription_id', 'starts_at')) as Array<{ subscription_id: string; starts_at: Date }>;
  return new Set(rows.map((r) => `${r.subscription_id}|${r.starts_at.toISOString()}`));
}

/** The period of the subscription that ends at `endsAt` (the one a renewal starting there continued). */
export async function periodEndingAt(
  db: Executor,
  subscriptionId: string,
  endsAt: Date,
): Promise<SubscriptionPeriodRow | undefined> {
  return (await db('subscription_periods').where({ subscription_id: subscriptionId, ends_at: endsAt }).first()) as
    | SubscriptionPeriodRow
    | undefined;
}

/** A period taken back (migration 0034): its row as it was in subscription_periods, and when, why and by whom. */
export interface UndonePeriodRow extends SubscriptionPeriodRow {
  id: string;
  undone_at: Date;
  reason: string;
  actor: string;
}

/**
 * Takes back a period that never began (a renewal made ahead, undone): its row leaves subscription_periods (the
 * periods that stand: the period may be granted again, and nothing reads it as the subscription's any more) for
 * subscription_periods_undone, in one statement — the row moved is the row deleted. The reports that count
 * renewals by when they were made (renewals, top_packages, the pictures as of an instant) still find it there, with
 * when it was taken back. Answers the row kept, or undefined when the subscription has no period starting then.
 */
export async function takeBackPeriod(
  db: Executor,
  subscriptionId: string,
  startsAt: Date,
  undo: { undoneAt: Date; reason: string; actor: string },
): Promise<UndonePeriodRow | undefined> {
  const result = await db.raw<{ rows: UndonePeriodRow[] }>(
    `WITH moved AS (
       DELETE FROM subscription_periods WHERE subscription_id = ? AND starts_at = ?
       RETURNING subscription_id, starts_at, ends_at, kind, invoice_id, price, late, job_id, created_at)
     INSERT INTO subscription_periods_undone
       (id, subscription_id, starts_at, ends_at, kind, invoice_id, price, late, job_id, created_at, undone_at, reason,
        actor)
     SELECT ?, subscription_id, starts_at, ends_at, kind, invoice_id, price, late, job_id, created_at, ?, ?, ?
       FROM moved
     RETURNING *`,
    [subscriptionId, startsAt, newId(), undo.undoneAt, undo.reason, undo.actor],
  );
  return result.rows[0];
}

/** The start of the latest period of the subscription begun by `at` (the one running then, if it has not ended). */
export async function latestPeriodStartBy(db: Executor, subscriptionId: string, at: Date): Promise<Date | undefined> {
  const row = (await db('subscription_periods')
    .where({ subscription_id: subscriptionId })
    .where('starts_at', '<=', at)
    .orderBy('starts_at', 'desc')
    .first('starts_at')) as Pick<SubscriptionPeriodRow, 'starts_at'> | undefined;
  return row?.starts_at;
}

/** Moves the period starting at `startsAt` to `period` (an activation later than the planned start). */
export async function movePeriod(
  db: Executor,
  subscriptionId: string,
  startsAt: Date,
  period: { start: Date; end: Date },
): Promise<void> {
  await db('subscription_periods')
    .where({ subscription_id: subscriptionId, starts_at: startsAt })
    .update({ starts_at: period.start, ends_at: period.end });
}

export interface SubscriptionFilter {
  clientId?: string | undefined;
  packageId?: string | undefined;
  status?: SubscriptionStatus | undefined;
  expiringBefore?: Date | undefined;
}

export async function listSubscriptions(
  db: Executor,
  page: PageRequest,
  filter: SubscriptionFilter,
): Promise<Page<SubscriptionRow>> {
  const query = db('subscriptions').select('*');
  if (filter.clientId) query.where('client_id', filter.clientId);
  if (filter.packageId) query.where('package_id', filter.packageId);
  if (filter.status) query.where('status', filter.status);
  if (filter.expiringBefore) {
    query.where('current_period_end', '<', filter.expiringBefore);
    // expiring: still to end — one that has ended (expired, cancelled) only when asked by its status
    if (!filter.status) query.whereNotIn('status', ['expired', 'cancelled']);
  }
  return readPage<SubscriptionRow>(query, page, 'subscriptions');
}

/**
 * Auto-renewing live subscriptions whose period ends before `before`, a page at a time by id (the
 * nightly sweep renews them, and the expiry sweep those whose period has ended); only those of `ids` when given (the
 * subscriptions a change made renewable between two nightly runs).
 */
export async function dueForRenewal(
  db: Executor,
  page: { before: Date; after?: string | undefined; limit: number; ids?: readonly string[] | undefined },
): Promise<Array<Pick<SubscriptionRow, 'id' | 'current_period_start' | 'current_period_end'>>> {
  const query = db('subscriptions');
  if (page.ids) query.whereIn('id', [...page.ids]);
  return (await query
    .where({ status: 'active', auto_renew: true, cancel_at_period_end: false })
    .andWhere('current_period_end', '<', page.before)
    .andWhere('id', '>', page.after ?? '00000000-0000-0000-0000-000000000000')
    .orderBy('id')
    .limit(page.limit)
    .select('id', 'current_period_start', 'current_period_end')) as Array<
    Pick<SubscriptionRow, 'id' | 'current_period_start' | 'current_period_end'>
  >;
}

/** The first period of a subscription starting after `after` (the one a renewal of `after`'s period made). */
export async function periodAfter(
  db: Executor,
  subscriptionId: string,
  after: Date,
): Promise<SubscriptionPeriodRow | undefined> {
  return (await db('subscription_periods')
    .where({ subscription_id: subscriptionId })
    .where('starts_at', '>', after)
    .orderBy('starts_at')
    .first()) as SubscriptionPeriodRow | undefined;
}
