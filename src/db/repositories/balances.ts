import type { Lot } from '../../domain/allocate.js';
import type { BalanceChange, BalanceStatus } from '../../domain/balance-change.js';
import type { BalanceDraft, BalanceSource } from '../../domain/grant.js';
import type { LockKey } from '../../domain/lock-order.js';
import type { SubscriptionStatus } from '../../domain/renewal.js';
import { newId } from '../../ids.js';
import { jsonTime } from '../../json-time.js';
import type { Executor, Tx } from '../knex.js';
import { balanceLockOrder } from '../lock-order.js';
import { appendLedgerEntries, type LedgerKind } from './ledger.js';

export type { BalanceChange } from '../../domain/balance-change.js';

export interface BalanceRow {
  id: string;
  client_id: string;
  /** Null only for an operator's grant (source `adjustment`) that belongs to no subscription. */
  subscription_id: string | null;
  credit_type_id: string;
  source: BalanceSource;
  status: BalanceStatus;
  granted: bigint;
  remaining: bigint;
  /**
   * Running totals of the ledger by kind:
   * granted + adjusted − consumed − expired − voided − rolled_over − held = remaining.
   */
  consumed: bigint;
  adjusted: bigint;
  expired: bigint;
  voided: bigint;
  rolled_over: bigint;
  /** Units reserved by open holds (ledger `hold` minus `release`): out of remaining, not yet consumed. */
  held: bigint;
  low_threshold: bigint;
  low_notified_at: Date | null;
  expiry_notified_at: Date | null;
  priority: number;
  valid_from: Date;
  expires_at: Date;
  period_start: Date;
  created_at: Date;
  updated_at: Date;
}

/** The order every transaction locks balances in (src/domain/lock-order.ts): client, credit type, spending order. */
export const BALANCE_LOCK_ORDER = balanceLockOrder();

/**
 * A balance row's place in the lock and spending order (src/domain/lock-order.ts), named as the domain's rules read
 * it: what sorting, rollover and thawing rules are given of a row, written once.
 */
export const lockPlaceOf = (
  row: Pick<BalanceRow, 'id' | 'client_id' | 'credit_type_id' | 'priority' | 'valid_from' | 'expires_at'>,
): Pick<Lot, LockKey> => ({
  id: row.id,
  clientId: row.client_id,
  creditTypeId: row.credit_type_id,
  priority: row.priority,
  validFrom: row.valid_from,
  expiresAt: row.expires_at,
});

export interface GrantContext {
  clientId: string;
  /** Null for an operator's grant to the client itself (migration 0012 allows it for `adjustment` balances only). */
  subscriptionId: string | null;
  periodStart: Date;
  /** The ledger kind of each new balance's first entry: grant, recharge, rollover or adjust. */
  kind: LedgerKind;
  invoiceId?: string | null;
  jobId?: string | null;
  actor?: string | null;
  reason?: string | null;
  now: Date;
}

/** Creates balances and, in the same statement batch, the ledger entry that grants each of them. */
export async function createBalances(
  db: Executor,
  drafts: readonly BalanceDraft[],
  context: GrantContext,
): Promise<BalanceRow[]> {
  if (drafts.length === 0) return [];
  const rows: BalanceRow[] = drafts.map((draft) => ({
    id: newId(),
    client_id: context.clientId,
    subscription_id: context.subscriptionId,
    credit_type_id: draft.creditTypeId,
    source: draft.source,
    status: 'active',
    granted: draft.granted,
    remaining: draft.granted,
    consumed: 0n,
    adjusted: 0n,
    expired: 0n,
    voided: 0n,
    rolled_over: 0n,
    held: 0n,
    low_threshold: draft.lowThreshold,
    low_notified_at: null,
    expiry_notified_at: null,
    priority: draft.priority,
    valid_from: draft.validFrom,
    expires_at: draft.expiresAt,
    period_start: context.periodStart,
    created_at: context.now,
    updated_at: context.now,
  }));
  await db('balances').insert(
    rows.map((r) => ({
      ...r,
      granted: r.granted.toString(),
      remaining: r.remaining.toString(),
      low_threshold: r.low_threshold.toString(),
      consumed: 0,
      adjusted: 0,
      expired: 0,
      voided: 0,
      rolled_over: 0,
      held: 0,
    })),
  );
  await appendLedgerEntries(
    db,
    rows.map((row) => ({
      balance_id: row.id,
      client_id: row.client_id,
      credit_type_id: row.credit_type_id,
      subscription_id: row.subscription_id,
      kind: context.kind,
      amount: row.granted,
      remaining_after: row.granted,
      invoice_id: context.invoiceId ?? null,
      job_id: context.jobId ?? null,
      actor: context.actor ?? null,
      reason: context.reason ?? null,
      effective_at: context.now,
      created_at: context.now,
    })),
  );
  return rows;
}

export async function balancesOfSubscriptions(db: Executor, subscriptionIds: readonly string[]): Promise<BalanceRow[]> {
  if (subscriptionIds.length === 0) return [];
  return (await db('balances')
    .whereIn('subscription_id', subscriptionIds)
    .orderByRaw(BALANCE_LOCK_ORDER)) as BalanceRow[];
}

/** Locks the subscription's live balances, in the one lock order. Call after locking the subscription. */
export async function lockActiveBalancesOfSubscription(db: Executor, subscriptionId: string): Promise<BalanceRow[]> {
  return (await db('balances')
    .where({ subscription_id: subscriptionId, status: 'active' })
    .orderByRaw(BALANCE_LOCK_ORDER)
    .forUpdate()) as BalanceRow[];
}

/**
 * Locks the live balances of these subscriptions that are past their expiry at `asOf`, in the one
 * lock order. Call after locking the subscriptions.
 */
export async function lockExpiringBalances(
  tx: Tx,
  subscriptionIds: readonly string[],
  asOf: Date,
): Promise<BalanceRow[]> {
  return (await tx('balances')
    .whereIn('subscription_id', subscriptionIds)
    .andWhere({ status: 'active' })
    .andWhere('expires_at', '<=', asOf)
    .orderByRaw(BALANCE_LOCK_ORDER)
    .forUpdate()) as BalanceRow[];
}

/**
 * Locks up to `limit` live balances of no subscription (operators' grants) past their expiry at
 * `asOf`, in the one lock order. They are the only balances the expiry sweep reaches without going
 * through a subscription, so nothing is locked before them.
 */
export async function lockExpiringGrants(tx: Tx, asOf: Date, limit: number): Promise<BalanceRow[]> {
  return (await tx('balances')
    .whereNull('subscription_id')
    .andWhere({ status: 'active' })
    .andWhere('expires_at', '<=', asOf)
    .orderByRaw(BALANCE_LOCK_ORDER)
    .limit(limit)
    .forUpdate()) as BalanceRow[];
}

/**
 * What the nightly sweep tells once per balance: it expires soon (`expiry_notified_at`), or it is at
 * or under its threshold (`low_notified_at`).
 */
export type BalanceNotice = 'expiring_soon' | 'low';

export interface NoticeWindow {
  asOf: Date;
  /** `expiring_soon`: balances expiring up to here. */
  horizon: Date;
  limit: number;
}

/**
 * Up to `limit` usable balances (live, something left, valid at `asOf`) that are due `notice` and
 * were never given it, by id, locked. Rows another transaction holds are skipped, not waited for:
 * several sweeps can share the work.
 */
export async function lockBalancesDueNotice(
  tx: Tx,
  notice: BalanceNotice,
  window: NoticeWindow,
): Promise<BalanceRow[]> {
  const query = tx('balances')
    .where({ status: 'active' })
    .andWhere('remaining', '>', 0)
    .andWhere('expires_at', '>', window.asOf)
    .andWhere('valid_from', '<=', window.asOf)
    .orderBy('id')
    .limit(window.limit)
    .forUpdate()
    .skipLocked();
  if (notice === 'expiring_soon') {
    // a frozen subscription's balances do not expire when they say: their expiry moves at unfreeze
    query
      .whereNull('expiry_notified_at')
      .andWhere('expires_at', '<=', window.horizon)
      .whereNotExists((s) =>
        s
          .select(tx.raw('1'))
          .from('subscriptions as fs')
          .whereRaw("fs.id = balances.subscription_id AND fs.status = 'frozen'"),
      );
  } else query.whereNull('low_notified_at').andWhereRaw('remaining <= low_threshold');
  return (await query) as BalanceRow[];
}

/** Remembers that these balances were given `notice`, so that it is sent once. */
export async function markBalancesNotified(
  db: Executor,
  notice: BalanceNotice,
  ids: readonly string[],
  now: Date,
): Promise<void> {
  await db('balances')
    .whereIn('id', ids)
    .update(notice === 'expiring_soon' ? { expiry_notified_at: now } : { low_notified_at: now });
}

/** A balance with the status of the subscription that holds it: what decides whether its units are usable. */
export interface PlacedBalanceRow extends BalanceRow {
  subscription_status: SubscriptionStatus | null;
  /** When the subscription expired or was cancelled, if it was (what a balance as of an instant needs). */
  subscription_ended_at?: Date | null;
  /** When the subscription became active (null: not yet, or never), what a balance as of an instant needs. */
  subscription_activated_at?: Date | null;
  /** When its freeze began, while the subscription is frozen (what decides whether a date passed counts). */
  subscription_frozen_at?: Date | null;
}

const placedBalances = (db: Executor) =>
  db('balances as b')
    .leftJoin('subscriptions as s', 's.id', 'b.subscription_id')
    .select(
      'b.*',
      's.status as subscription_status',
      db.raw(`CASE s.status WHEN 'expired' THEN s.expired_at WHEN 'cancelled' THEN s.cancelled_at END
                 AS subscription_ended_at`),
      's.activated_at as subscription_activated_at',
      's.frozen_at as subscription_frozen_at',
    );

/** Every balance of the client with its subscription's status, by credit type and then in spending order. */
export async function balancesOfClient(db: Executor, clientId: string): Promise<PlacedBalanceRow[]> {
  return (await placedBalances(db)
    .where('b.client_id', clientId)
    .orderBy([
      { column: 'b.credit_type_id' },
      { column: 'b.priority' },
      { column: 'b.expires_at' },
      { column: 'b.valid_from' },
      { column: 'b.id' },
    ])) as PlacedBalanceRow[];
}

/** When each of these balances expires (now: a freeze may have pushed it since), by id. */
export async function balanceExpiries(db: Executor, ids: readonly string[]): Promise<Map<string, Date>> {
  if (ids.length === 0) return new Map();
  const rows = (await db('balances')
    .whereIn('id', [...new Set(ids)])
    .select('id', 'expires_at')) as Array<{
    id: string;
    expires_at: Date;
  }>;
  return new Map(rows.map((r) => [r.id, r.expires_at]));
}

/** One balance with its subscription's status. */
export async function placedBalanceById(db: Executor, id: string): Promise<PlacedBalanceRow | undefined> {
  return (await placedBalances(db).where('b.id', id).first()) as PlacedBalanceRow | undefined;
}

/**
 * Moves these balances' start to `period`'s (a subscription activated by a payment later than its planned start gets
 * the whole period); their expiry and its `extend` entries are `extendBalances`'s (freezes.ts), which the caller
 * runs with the old starts (migration 0026).
 */
export async function moveBalanceStarts(
  db: Executor,
  balances: readonly BalanceRow[],
  period: { start: Date },
  now: Date,
): Promise<void> {
  if (balances.length === 0) return;
  await db('balances')
    .whereIn(
      'id',
      balances.map((b) => b.id),
    )
    .update({ valid_from: period.start, period_start: period.start, updated_at: now });
}

export async function lockBalance(db: Executor, id: string): Promise<BalanceRow | undefined> {
  return (await db('balances').where({ id }).forUpdate().first()) as BalanceRow | undefined;
}

export async function balanceById(db: Executor, id: string): Promise<BalanceRow | undefined> {
  return (await db('balances').where({ id }).first()) as BalanceRow | undefined;
}

/** One UPDATE of many balances from a JSON array of changes (balanceChangesJson); `param` is its placeholder. */
export const balanceUpdateSql = (param: string): string => `UPDATE balances AS b
        SET remaining = c.remaining,
            consumed = b.consumed + COALESCE(c.consumed, 0),
            adjusted = b.adjusted + COALESCE(c.adjusted, 0),
            expired = b.expired + COALESCE(c.expired, 0),
            voided = b.voided + COALESCE(c.voided, 0),
            rolled_over = b.rolled_over + COALESCE(c.rolled_over, 0),
            held = b.held + COALESCE(c.held, 0),
            status = COALESCE(c.status, b.status),
            low_notified_at = COALESCE(c.low_notified_at, b.low_notified_at),
            updated_at = c.updated_at
       FROM json_to_recordset(${param}::json)
            AS c(id uuid, remaining bigint, consumed bigint, adjusted bigint, expired bigint, voided bigint,
                 rolled_over bigint, held bigint, status text, low_notified_at timestamptz, updated_at timestamptz)
      WHERE b.id = c.id`;

/** A delta as balanceUpdateSql reads it: none (0) is left out, a missing key being read as NULL, then 0. */
const delta = (value: bigint | undefined): string | undefined => (value ? value.toString() : undefined);

/**
 * The changes as the JSON balanceUpdateSql reads. What a change leaves as it was is left out: a consumption moves
 * one running total of each balance, and every byte sent is parsed by Postgres once per row.
 */
export const balanceChangesJson = (changes: readonly BalanceChange[], now: Date): string =>
  JSON.stringify(
    changes.map((c) => ({
      id: c.id,
      remaining: c.remaining.toString(),
      consumed: delta(c.consumed),
      adjusted: delta(c.adjusted),
      expired: delta(c.expired),
      voided: delta(c.voided),
      rolled_over: delta(c.rolledOver),
      held: delta(c.held),
      status: c.status,
      low_notified_at: c.lowNotifiedAt ? jsonTime(c.lowNotifiedAt) : undefined,
      updated_at: jsonTime(now),
    })),
  );

/**
 * Applies many balance changes in one statement. The rows must already be locked by this
 * transaction (SELECT … FOR UPDATE in the lock order): an UPDATE … FROM takes its locks in no
 * particular order.
 */
export async function applyBalanceChanges(db: Executor, changes: readonly BalanceChange[], now: Date): Promise<void> {
  if (changes.length === 0) return;
  await db.raw(balanceUpdateSql('?'), [balanceChangesJson(changes, now)]);
}

/**
 * The package balances of the grant that stands for one period of a subscription: those made after the last take-back
 * of that period (subscription_periods_undone; ids are time-ordered, and the take-back's row is written before the
 * period is renewed again). A period renewed, taken back and renewed again holds the void grant of the renewal
 * taken back as well, which is not this period's grant.
 */
export async function standingGrantOfPeriod(
  db: Executor,
  subscriptionId: string,
  periodStart: Date,
): Promise<BalanceRow[]> {
  const lastTakeBack = db('subscription_periods_undone')
    .where({ subscription_id: subscriptionId, starts_at: periodStart })
    .orderBy('id', 'desc')
    .limit(1)
    .select('id');
  return (await db('balances')
    .where({ subscription_id: subscriptionId, period_start: periodStart, source: 'package' })
    .where((q) => q.whereNotExists(lastTakeBack).orWhere('id', '>', lastTakeBack))
    .orderBy('id')) as BalanceRow[];
}

/** The balances a renewal made ahead can take back: its own grant, and what recharges bought into its period. */
const PERIOD_SOURCES = ['package', 'recharge'] as const;

/**
 * Locks the live balances of one period of a subscription (a renewal's): its package balances and the recharges
 * bought into that period, in the one lock order. Call after locking the subscription.
 */
export async function lockBalancesOfPeriod(
  tx: Executor,
  subscriptionId: string,
  periodStart: Date,
): Promise<BalanceRow[]> {
  return (await tx('balances')
    .where({ subscription_id: subscriptionId, period_start: periodStart, status: 'active' })
    .whereIn('source', PERIOD_SOURCES)
    .orderByRaw(BALANCE_LOCK_ORDER)
    .forUpdate()) as BalanceRow[];
}

/**
 * Locks the live balances (package and recharge) of the subscription's periods starting after `after` (renewals made
 * ahead), in the one lock order: a transaction that takes several of those renewals back locks all their balances
 * before any of their invoices. Call after locking the subscription.
 */
export async function lockBalancesOfPeriodsStartingAfter(
  tx: Executor,
  subscriptionId: string,
  after: Date,
): Promise<BalanceRow[]> {
  return (await tx('balances')
    .where({ subscription_id: subscriptionId, status: 'active' })
    .whereIn('source', PERIOD_SOURCES)
    .where('period_start', '>', after)
    .orderByRaw(BALANCE_LOCK_ORDER)
    .forUpdate()) as BalanceRow[];
}

/** Locks balances by id, in the one lock order (a reversal gives back to the balances a consumption took from). */
export async function lockBalancesByIds(tx: Executor, ids: readonly string[]): Promise<BalanceRow[]> {
  if (ids.length === 0) return [];
  return (await tx('balances').whereIn('id', ids).orderByRaw(BALANCE_LOCK_ORDER).forUpdate()) as BalanceRow[];
}
