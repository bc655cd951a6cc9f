import type { Tx } from '../db/knex.js';
import {
  type BalanceRow,
  lockBalancesOfPeriod,
  lockBalancesOfPeriodsStartingAfter,
  standingGrantOfPeriod,
} from '../db/repositories/balances.js';
import { forgetResponsesOfJob } from '../db/repositories/idempotency-records.js';
import { type InvoiceWithLines, invoiceById } from '../db/repositories/invoices.js';
import type { OutboxEventDraft } from '../db/repositories/outbox.js';
import { rechargesGranting } from '../db/repositories/recharges.js';
import {
  periodEndingAt,
  periodStartingAt,
  replaceSubscriptionItems,
  type SubscriptionItemRow,
  type SubscriptionRow,
  subscriptionItems,
  takeBackPeriod,
  updateSubscription,
} from '../db/repositories/subscriptions.js';
import type { Period } from '../domain/period.js';
import { countBeforeRenewal, rechargesKeepRenewal } from '../domain/renewal.js';
import { jobIds } from '../jobs/job-id.js';
import { voidUnpaidInvoices } from './invoice-voiding.js';
import { voidLockedBalances } from './void-balances.js';

/**
 * Takes back every renewal made ahead of the period running, latest first (a renewal by hand can be asked for again
 * once the first has moved the period on), until the current period is the one running or a renewal stands (its
 * invoice paid). Answers what was taken back, latest first.
 */
export async function undoRenewalsAhead(
  tx: Tx,
  subscription: SubscriptionRow,
  context: UndoContext,
): Promise<UndoneRenewal[]> {
  if (subscription.current_period_start.getTime() <= context.now.getTime()) return [];
  // the balances of every period not begun first (recharges bought into them included), then (renewal by renewal)
  // the invoices: the one lock order
  await lockBalancesOfPeriodsStartingAfter(tx, subscription.id, context.now);
  const undone: UndoneRenewal[] = [];
  for (let current = subscription; ; ) {
    const next = await undoRenewalAhead(tx, current, context);
    if (!next) return undone;
    undone.push(next);
    current = next.subscription;
  }
}

export interface UndoContext {
  now: Date;
  actor: string;
  /** Why, as the void entries and the voided invoice say it (a cancel at period end by default). */
  why?: string | undefined;
  /**
   * Any recharge bought into the renewal keeps it (a freeze: the client ends nothing, and must not lose units it
   * just bought); otherwise only one paid or spent from does (rechargesKeepRenewal).
   */
  rechargesKeepIt?: boolean | undefined;
}

/** What taking back a renewal made ahead did. */
export interface UndoneRenewal {
  /** The subscription back on the period still running. */
  subscription: SubscriptionRow;
  /** The period taken back, and its invoice. */
  period: Period;
  invoiceId: string | null;
  /** The recharges bought into that period, taken back with it (their units voided, their invoices void). */
  recharges: VoidedRecharge[];
  /** `invoice.voided`, for its invoice and the recharges' when they were unpaid. */
  events: OutboxEventDraft[];
  /**
   * The renewal job ids of the period still running (`renewal|<subscription>|<its end>`): the job that made the
   * renewal taken back, which the next renewal of that period (after a cancel taken back) is named again. Its
   * completed job in BullMQ must not answer for that one (forgetUndoneRenewal, after the commit).
   */
  jobIds: string[];
}

/** A recharge bought into a renewal taken back. */
export interface VoidedRecharge {
  rechargeId: string | null;
  invoiceId: string;
}

/**
 * An event's `renewals_undone` (the periods taken back and their invoices) and `recharges_voided` (the recharges
 * bought into those periods, taken back with them; `period_start`: the renewal's), earliest first; none: no member.
 */
export const renewalsUndoneData = (
  undone: readonly UndoneRenewal[],
): {
  renewals_undone?: Array<{ period_start: string; period_end: string; invoice_id: string | null }>;
  recharges_voided?: Array<{ recharge_id: string | null; invoice_id: string; period_start: string }>;
} => {
  const earliestFirst = [...undone].reverse();
  const recharges = earliestFirst.flatMap((u) =>
    u.recharges.map((r) => ({
      recharge_id: r.rechargeId,
      invoice_id: r.invoiceId,
      period_start: u.period.start.toISOString(),
    })),
  );
  return {
    ...(undone.length > 0
      ? {
          renewals_undone: earliestFirst.map((u) => ({
            period_start: u.period.start.toISOString(),
            period_end: u.period.end.toISOString(),
            invoice_id: u.invoiceId,
          })),
        }
      : {}),
    ...(recharges.length > 0 ? { recharges_voided: recharges } : {}),
  };
};

/** A status whose period runs and that a renewal made ahead left as it was. */
const RUNS: ReadonlySet<SubscriptionRow['status']> = new Set(['active', 'suspended']);

/** The reasons on the ledger entries of a renewal taken back (the client page says them in its language). */
export const REASON =
  'the renewal made ahead was taken back: the subscription is set to cancel at the end of its period';
export const RECHARGE_REASON =
  'the renewal made ahead that this recharge was bought into was taken back: the subscription is set to cancel at ' +
  'the end of its period';

/**
 * DOMAIN.md "Cancel: … at period end (no renewal)": the nightly run renews auto-renewing subscriptions ahead of their
 * period's end (26–49 h, src/jobs/renewal-lookahead.ts), and a renewal can be asked for by hand earlier still.
 * Set to cancel at period end before the period running has ended, such a subscription would keep — and owe — the
 * renewal it asked not to have. When its current period has not begun and that renewal's invoice is not paid, the
 * renewal is taken back, in the caller's transaction (the subscription locked), in the one lock order (its
 * balances, then the invoice): the renewal's package balances are voided (a `void` entry each), its unpaid invoice
 * voided (`invoice.voided`), its period row moved out of subscription_periods into subscription_periods_undone
 * (takeBackPeriod: the old period's units find nothing to roll over into and expire, a renewal after a cancel taken
 * back may grant it again, and the reports still count the renewal when it was made, and its undo when it was
 * undone), and the subscription goes back to the period still running: its start and end, its count
 * (countBeforeRenewal), renewal_count, and the item snapshot a renewal following the package replaced (read back
 * from the old period's grant). The validity snapshot such a renewal replaced is not known any more: it stays. A paid
 * renewal stands (the client bought that period: the cancel comes at its end), and so does anything else: a period
 * begun, a late renewal, a frozen subscription.
 * A recharge bought after the renewal belongs to the renewed period (valid from its purchase to that period's end):
 * it goes with the renewal, its balances voided and its unpaid invoice voided with the same kind of reason, unless
 * it keeps the renewal (rechargesKeepRenewal: paid, or already spent from). Recharges bought into the period running
 * are not touched: they end with it. Answers undefined when nothing was taken back.
 */
export async function undoRenewalAhead(
  tx: Tx,
  subscription: SubscriptionRow,
  context: UndoContext,
): Promise<UndoneRenewal | undefined> {
  const { now, actor } = context;
  const reason = context.why ?? REASON;
  if (!RUNS.has(subscription.status) || subscription.current_period_start.getTime() <= now.getTime()) return;
  const renewal = await periodStartingAt(tx, subscription.id, subscription.current_period_start);
  if (renewal?.kind !== 'renewal' || renewal.late) return;
  const previous = await periodEndingAt(tx, subscription.id, renewal.starts_at);
  if (!previous) return;

  // the one lock order: the subscription (the caller's), its balances and its recharges', then the invoices
  const locked = await lockBalancesOfPeriod(tx, subscription.id, renewal.starts_at);
  const balances = locked.filter((b) => b.source === 'package');
  const invoice = renewal.invoice_id ? await invoiceById(tx, renewal.invoice_id, { forUpdate: true }) : undefined;
  if (invoice?.status === 'paid') return;
  // nothing can be held from a balance not yet valid; were it so, the renewal stands rather than lose a hold
  if (balances.some((b) => b.held > 0n)) return;
  const recharged = locked.filter((b) => b.source === 'recharge');
  const recharges = await rechargesBoughtInto(tx, subscription.id, recharged);
  const weighed = recharges.map((r) => ({ invoiceStatus: r.invoice.status, balances: r.balances }));
  if (rechargesKeepRenewal(weighed) || (context.rechargesKeepIt && recharged.length > 0)) return;

  await voidLockedBalances(tx, balances, { now, actor, reason, invoiceId: renewal.invoice_id });
  // a recharge balance whose sale is not found (none is made without one) still belongs to the period taken back
  const sold = new Set(recharges.flatMap((r) => r.balances.map((b) => b.id)));
  await voidLockedBalances(
    tx,
    recharged.filter((b) => !sold.has(b.id)),
    { now, actor, reason: RECHARGE_REASON, invoiceId: null },
  );
  for (const r of recharges)
    await voidLockedBalances(tx, r.balances, { now, actor, reason: RECHARGE_REASON, invoiceId: r.invoice.id });
  const events = [
    ...(await voidUnpaidInvoices(tx, invoice ? [invoice] : [], reason, now)),
    ...(await voidUnpaidInvoices(
      tx,
      recharges.map((r) => r.invoice),
      RECHARGE_REASON,
      now,
    )),
  ];
  await takeBackPeriod(tx, subscription.id, renewal.starts_at, { undoneAt: now, reason, actor });

  // the snapshot the old period was granted from: its grant that stands, in the order it was made — a period whose
  // renewal made ahead was taken back and made again holds that first grant too, voided (standingGrantOfPeriod)
  const granted = await standingGrantOfPeriod(tx, subscription.id, previous.starts_at);
  const items = await subscriptionItems(tx, [subscription.id]);
  const before = granted.map((b, position) => ({ credit_type_id: b.credit_type_id, units: b.granted, position }));
  if (before.length > 0 && !sameItems(items, before)) await replaceSubscriptionItems(tx, subscription.id, before);

  const count = countBeforeRenewal(
    { anchorAt: subscription.anchor_at, periodIndex: subscription.period_index },
    { start: previous.starts_at, end: previous.ends_at },
  );
  const restored = await updateSubscription(tx, subscription.id, {
    anchor_at: count.anchorAt,
    period_index: count.periodIndex,
    current_period_start: previous.starts_at,
    current_period_end: previous.ends_at,
    renewal_count: Math.max(0, subscription.renewal_count - 1),
    updated_at: now,
  });
  const ids = [
    ...new Set([jobIds.renewal(subscription.id, previous.ends_at), ...(renewal.job_id ? [renewal.job_id] : [])]),
  ];
  // an Idempotency-Key that asked for the renewal taken back answers it no more: its repeat is a new request
  for (const id of ids) await forgetResponsesOfJob(tx, id);
  return {
    subscription: restored,
    period: { start: renewal.starts_at, end: renewal.ends_at },
    invoiceId: renewal.invoice_id,
    recharges: recharges.map((r) => ({ rechargeId: r.rechargeId, invoiceId: r.invoice.id })),
    events,
    jobIds: ids,
  };
}

const sameItems = (
  a: readonly Pick<SubscriptionItemRow, 'credit_type_id' | 'units'>[],
  b: readonly Pick<SubscriptionItemRow, 'credit_type_id' | 'units'>[],
): boolean =>
  a.length === b.length &&
  a.every((item, i) => item.credit_type_id === b[i]!.credit_type_id && item.units === b[i]!.units);

/** A recharge bought into a period: its invoice (locked) and its balances there (locked by the caller). */
interface RechargeInPeriod {
  rechargeId: string | null;
  invoice: InvoiceWithLines;
  balances: BalanceRow[];
}

/**
 * The recharges whose balances these are (locked, of one period), each with its invoice locked, in invoice id order
 * (after the balances: the one lock order).
 */
async function rechargesBoughtInto(
  tx: Tx,
  subscriptionId: string,
  balances: readonly BalanceRow[],
): Promise<RechargeInPeriod[]> {
  const grants = await rechargesGranting(
    tx,
    subscriptionId,
    balances.map((b) => b.id),
  );
  const byInvoice = new Map<string, { rechargeId: string | null; balanceIds: Set<string> }>();
  for (const g of grants) {
    const entry = byInvoice.get(g.invoice_id) ?? { rechargeId: g.recharge_id, balanceIds: new Set<string>() };
    entry.balanceIds.add(g.balance_id);
    byInvoice.set(g.invoice_id, entry);
  }
  const found: RechargeInPeriod[] = [];
  for (const invoiceId of [...byInvoice.keys()].sort()) {
    const invoice = await invoiceById(tx, invoiceId, { forUpdate: true });
    const { rechargeId, balanceIds } = byInvoice.get(invoiceId)!;
    if (invoice) found.push({ rechargeId, invoice, balances: balances.filter((b) => balanceIds.has(b.id)) });
  }
  return found;
}
