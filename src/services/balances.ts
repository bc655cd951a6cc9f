import { z } from 'zod';
import type { Executor } from '../db/knex.js';
import { balancesOfClient, lockPlaceOf, type PlacedBalanceRow } from '../db/repositories/balances.js';
import { type CreditTypeRow, creditTypesByIds } from '../db/repositories/credit-types.js';
import { freezesOfClientUpTo } from '../db/repositories/freezes.js';
import { archivedThrough } from '../db/repositories/history.js';
import { expiriesBefore, type LedgerEntryRow, ledgerUpTo, statement } from '../db/repositories/ledger.js';
import { lapsesOfClient } from '../db/repositories/subscription-lapses.js';
import { suspensionsOfClient } from '../db/repositories/suspensions.js';
import { availabilityOf } from '../domain/availability.js';
import { balanceAt, type FreezeSpan, frozenAtAt, subscriptionStatusAt } from '../domain/balance-as-of.js';
import { toCreditTypeBrief } from '../domain/credit-type-brief.js';
import { groupBy } from '../domain/group-by.js';
import { LEDGER_KINDS } from '../domain/ledger-entry.js';
import { compareLockOrder } from '../domain/lock-order.js';
import { formatQuantity } from '../domain/quantity.js';
import { type PlacedBalanceView, placedBalanceView, toPlacedBalanceView } from '../views/balance.js';
import { creditTypeBrief } from '../views/credit-type.js';

export const creditTypeBalanceView = z
  .object({
    credit_type: creditTypeBrief,
    granted: z
      .string()
      .meta({ description: 'Granted by packages, recharges and adjustments (rollovers move units, they do not add).' }),
    consumed: z.string().meta({ description: 'Net of reversals.' }),
    remaining: z.string().meta({
      description:
        'What a consumption could spend now: balances that are active, of an active subscription (or of none), ' +
        'with valid_from <= now < expires_at. The same total a consumption with ?wait=true answers as its ' +
        '`remaining`.',
    }),
    unavailable: z.string().meta({
      description:
        'Held by a subscription that is not active (suspended, frozen, pending): not spendable until it is ' +
        'active again.',
    }),
    upcoming: z.string().meta({
      description: 'Valid from a later time (a renewed period that has not started), of an active subscription.',
    }),
    expired: z.string().meta({
      description: 'Expired, including units past their expiry that the sweep has not reached yet.',
    }),
    voided: z.string(),
    held: z.string().meta({
      description:
        'Reserved by open holds: out of remaining, not consumed yet (a capture consumes, a release returns).',
    }),
    next_expiry: z.string().nullable().meta({ description: 'When the next usable units expire.' }),
    balances: z.array(placedBalanceView),
  })
  .meta({
    id: 'CreditTypeBalance',
    description:
      'granted − consumed − expired − voided − held = remaining + unavailable + upcoming: every unit granted is ' +
      'consumed, expired, voided, reserved by a hold, or still on a balance, usable now or not.',
  });
export type CreditTypeBalanceView = z.infer<typeof creditTypeBalanceView>;

/**
 * GET /v1/clients/{id}/balances: one row per credit type the client has held, summed from the
 * balances' running totals (no ledger scan). Each balance's remaining units count where a
 * consumption would find them now (domain/availability.ts): `remaining` only when usable; a
 * balance past its expiry but not yet swept counts as expired, one held by a suspended or pending
 * subscription as unavailable, one not valid yet as upcoming.
 */
export async function clientBalances(db: Executor, clientId: string, now: Date): Promise<CreditTypeBalanceView[]> {
  const balances = await balancesOfClient(db, clientId);
  return summarizeBalances(db, balances, now);
}

/**
 * Why the balances cannot be answered as of `asOf`, or null when they can: the ledger before the end of the
 * archived months (services/archive.ts) is no longer in the database, only each balance's sums at that end.
 */
export async function asOfArchived(db: Executor, asOf: Date): Promise<string | null> {
  const through = await archivedThrough(db);
  return through && asOf.getTime() < through.getTime()
    ? `the history before ${through.toISOString()} is archived: as_of must be at or after it`
    : null;
}

/**
 * GET /v1/clients/{id}/balances?as_of=: the same answer as it stood at `asOf`, from the ledger alone
 * (DOMAIN.md "As of"). Each balance's running totals are replayed from its entries written up to
 * then (domain/balance-as-of.ts); a balance with none did not exist yet. Its expiry is the one it
 * had then (an `extend` entry written later gives the earlier one), and its subscription's status
 * the one the ledger, the freezes and the suspensions imply (subscriptionStatusAt). Then the rows are summed exactly
 * as the live answer sums them, at `asOf`: at now both answers are equal. Not before the end of the archived
 * months (asOfArchived): a balance then starts from its checkpoint.
 */
export async function clientBalancesAsOf(db: Executor, clientId: string, asOf: Date): Promise<CreditTypeBalanceView[]> {
  const [balances, sums, expiries, freezeRows, suspensionRows, lapseRows] = await Promise.all([
    balancesOfClient(db, clientId),
    ledgerUpTo(db, clientId, asOf),
    expiriesBefore(db, clientId, asOf),
    freezesOfClientUpTo(db, clientId, asOf),
    suspensionsOfClient(db, clientId),
    lapsesOfClient(db, clientId),
  ]);
  const suspensions = groupBy(suspensionRows, (r) => r.subscription_id);
  const lapses = groupBy(lapseRows, (r) => r.subscription_id);
  const freezes = new Map<string, FreezeSpan[]>();
  for (const f of freezeRows) {
    const span = { frozenAt: f.frozen_at, unfrozenAt: f.unfrozen_at };
    const list = freezes.get(f.subscription_id);
    if (list) list.push(span);
    else freezes.set(f.subscription_id, [span]);
  }
  const ledgers = new Map<string, { first: bigint; later: Map<string, { amount: bigint; count: number }> }>();
  for (const row of sums) if (row.kind === null) ledgers.set(row.balance_id, { first: row.amount, later: new Map() });
  for (const row of sums) {
    if (row.kind !== null) ledgers.get(row.balance_id)?.later.set(row.kind, { amount: row.amount, count: row.n });
  }
  const then: PlacedBalanceRow[] = [];
  for (const b of balances) {
    const ledger = ledgers.get(b.id);
    if (!ledger) continue;
    // a freeze that ended after asOf moved the expiry later (`extend`): then it had the earlier one. One that had run
    // out by asOf (its frozen_until) had ended then, though the sweep ended it later: a live read at asOf would have
    // ended it first (its unfrozen_at is its frozen_until, its entry's effective_at)
    const extension = expiries.get(b.id);
    const expiresAt = extension?.expiresAt ?? b.expires_at;
    // a payment after the planned start moved the start too (an activation's entry): then it had the planned one
    const validFrom = extension?.validFrom ?? b.valid_from;
    const spans = (b.subscription_id && freezes.get(b.subscription_id)) || [];
    const totals = balanceAt(ledger, { status: b.status, expiresAt }, asOf);
    then.push({
      ...b,
      granted: totals.granted,
      remaining: totals.remaining,
      consumed: totals.consumed,
      adjusted: totals.adjusted,
      expired: totals.expired,
      voided: totals.voided,
      rolled_over: totals.rolledOver,
      held: totals.held,
      status: totals.status,
      expires_at: expiresAt,
      valid_from: validFrom,
      subscription_frozen_at: frozenAtAt(spans, asOf),
      subscription_status: subscriptionStatusAt(
        b.subscription_status,
        {
          endedAt: b.subscription_ended_at,
          activatedAt: b.subscription_activated_at,
          freezes: spans,
          suspensions: ((b.subscription_id && suspensions.get(b.subscription_id)) || []).map((x) => ({
            from: x.suspended_at,
            until: x.resumed_at,
          })),
          lapses: ((b.subscription_id && lapses.get(b.subscription_id)) || []).map((x) => ({
            from: x.expired_at,
            until: x.renewed_at,
          })),
        },
        asOf,
      ),
    });
  }
  // in the order they had then: an expiry moved since (a freeze's `extend`) may have put a balance behind another
  then.sort((a, b) => compareLockOrder(lockPlaceOf(a), lockPlaceOf(b)));
  return summarizeBalances(db, then, asOf);
}

/** One row per credit type, from balances (live or replayed), each placed where a consumption at `at` finds it. */
async function summarizeBalances(
  db: Executor,
  balances: readonly PlacedBalanceRow[],
  at: Date,
): Promise<CreditTypeBalanceView[]> {
  const creditTypes = await creditTypesByIds(
    db,
    balances.map((b) => b.credit_type_id),
  );
  const groups = groupBy(balances, (b) => b.credit_type_id);
  return [...groups].map(([creditTypeId, rows]) => {
    const creditType = creditTypes.get(creditTypeId) as CreditTypeRow;
    const standing = { usable: 0n, unavailable: 0n, upcoming: 0n, expired: 0n, void: 0n };
    let held = 0n;
    let granted = 0n;
    let consumed = 0n;
    let expired = 0n;
    let voided = 0n;
    let nextExpiry: Date | null = null;
    const views: PlacedBalanceView[] = [];
    for (const b of rows) {
      if (b.source !== 'rollover') granted += b.granted;
      granted += b.adjusted;
      consumed += b.consumed;
      expired += b.expired;
      voided += b.voided;
      held += b.held;
      const availability = availabilityOf(
        { status: b.status, validFrom: b.valid_from, expiresAt: b.expires_at },
        b.subscription_status,
        at,
        b.subscription_frozen_at ?? null,
      );
      // a swept or voided balance holds nothing (its units are in expired/voided already)
      if (b.status === 'active') standing[availability] += b.remaining;
      if (availability === 'usable' && b.remaining > 0n && (nextExpiry === null || b.expires_at < nextExpiry))
        nextExpiry = b.expires_at;
      views.push(toPlacedBalanceView(b, creditType, availability));
    }
    const q = (v: bigint) => formatQuantity(v, creditType.decimals);
    return {
      credit_type: toCreditTypeBrief(creditType),
      granted: q(granted),
      consumed: q(consumed),
      remaining: q(standing.usable),
      unavailable: q(standing.unavailable),
      upcoming: q(standing.upcoming),
      expired: q(expired + standing.expired),
      voided: q(voided),
      held: q(held),
      next_expiry: nextExpiry?.toISOString() ?? null,
      balances: views,
    };
  });
}

export const ledgerEntryView = z
  .object({
    id: z.uuid(),
    seq: z.string(),
    kind: z.enum(LEDGER_KINDS),
    balance_id: z.uuid(),
    subscription_id: z.uuid().nullable().meta({ description: "Null for the entries of an operator's grant." }),
    credit_type: creditTypeBrief,
    amount: z.string().meta({ description: 'Signed: negative when units leave the balance.' }),
    remaining_after: z.string(),
    consumption_id: z.uuid().nullable(),
    invoice_id: z.uuid().nullable(),
    reason: z.string().nullable(),
    actor: z.string().nullable(),
    effective_at: z.string(),
    created_at: z.string(),
    previous_expires_at: z
      .string()
      .nullable()
      .optional()
      .meta({ description: "`extend` (amount 0): the balance's expiry before it moved." }),
    expires_at: z
      .string()
      .nullable()
      .optional()
      .meta({ description: "`extend`: the balance's expiry after it moved (later by the frozen time)." }),
    previous_valid_from: z
      .string()
      .nullable()
      .optional()
      .meta({
        description:
          "`extend` written when a payment after the planned start activated the subscription: the balance's start " +
          'before it moved (null for a freeze, which moves only the expiry).',
      }),
  })
  .meta({ id: 'LedgerEntry' });
export type LedgerEntryView = z.infer<typeof ledgerEntryView>;

export function toLedgerEntryView(row: LedgerEntryRow, creditType: CreditTypeRow): LedgerEntryView {
  return {
    id: row.id,
    seq: row.seq.toString(),
    kind: row.kind,
    balance_id: row.balance_id,
    subscription_id: row.subscription_id,
    credit_type: toCreditTypeBrief(creditType),
    amount: formatQuantity(row.amount, creditType.decimals),
    remaining_after: formatQuantity(row.remaining_after, creditType.decimals),
    consumption_id: row.consumption_id,
    invoice_id: row.invoice_id,
    reason: row.reason,
    actor: row.actor,
    effective_at: row.effective_at.toISOString(),
    created_at: row.created_at.toISOString(),
    ...(row.kind === 'extend'
      ? {
          previous_expires_at: row.previous_expires_at?.toISOString() ?? null,
          expires_at: row.expires_at?.toISOString() ?? null,
          previous_valid_from: row.previous_valid_from?.toISOString() ?? null,
        }
      : {}),
  };
}

/** A client's ledger, oldest first, paginated by sequence number. */
export async function clientStatement(
  db: Executor,
  filter: {
    clientId: string;
    creditTypeId?: string | undefined;
    from?: Date | undefined;
    to?: Date | undefined;
    cursor?: string | undefined;
    limit: number;
  },
): Promise<{ data: LedgerEntryView[]; next_cursor: string | null }> {
  const afterSeq = filter.cursor && /^\d{1,19}$/.test(filter.cursor) ? BigInt(filter.cursor) : undefined;
  const rows = await statement(db, {
    clientId: filter.clientId,
    creditTypeId: filter.creditTypeId,
    from: filter.from,
    to: filter.to,
    afterSeq,
    limit: filter.limit + 1,
  });
  const page = rows.slice(0, filter.limit);
  const creditTypes = await creditTypesByIds(
    db,
    page.map((r) => r.credit_type_id),
  );
  const last = page[page.length - 1];
  return {
    data: page.map((r) => toLedgerEntryView(r, creditTypes.get(r.credit_type_id)!)),
    next_cursor: rows.length > filter.limit && last ? last.seq.toString() : null,
  };
}
