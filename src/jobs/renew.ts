import type { AppContext } from '../app-context.js';
import { createBalances, type BalanceRow } from '../db/repositories/balances.js';
import { creditTypesByIds } from '../db/repositories/credit-types.js';
import { recordEvents } from '../db/repositories/outbox.js';
import { packageById } from '../db/repositories/packages.js';
import {
  insertPeriod,
  lockSubscription,
  periodStartingAt,
  replaceSubscriptionItems,
  subscriptionItems,
  updateSubscription,
  type SubscriptionRow,
} from '../db/repositories/subscriptions.js';
import { transact } from '../db/transact.js';
import { grantsForPeriod } from '../domain/grant.js';
import { minorToJson } from '../domain/money.js';
import { formatQuantity } from '../domain/quantity.js';
import { decideRenewal } from '../domain/renewal.js';
import { fail, ok, type Result } from '../domain/result.js';
import { issueInvoice } from '../services/invoicing.js';
import { packageInvoiceLine } from '../services/invoice-lines.js';
import type { RenewData } from './definitions.js';

export interface RenewalResult {
  subscription_id: string;
  /** `renewed`, or `already_renewed` when this period was renewed before (nothing was granted again). */
  status: 'renewed' | 'already_renewed';
  period_start: string;
  period_end: string;
  /** The period started now because the subscription had expired. */
  late: boolean;
  invoice_id: string | null;
  price: number;
  currency: string;
  balances: Array<{ id: string; credit_type: string; granted: string; valid_from: string; expires_at: string }>;
}

/**
 * DOMAIN.md "Renew", one job: locks the subscription, decides the next period (pure), and writes the
 * period, its balances with their grant entries, the renewal invoice and `subscription.renewed` in
 * one transaction. The period's primary key makes a second renewal of it impossible.
 */
export async function renewSubscription(app: AppContext, data: RenewData, jobId: string): Promise<Result<RenewalResult>> {
  const now = app.clock.now();
  const timeZone = app.config.BUSINESS_TZ;
  return transact(app.db, async (tx) => {
    if (data.accepted_at) await tx('accepted_jobs').where({ job_id: jobId }).delete();
    const subscription = await lockSubscription(tx, data.subscription_id);
    if (!subscription) return fail('not_found', `no subscription "${data.subscription_id}"`);
    const pkg = await packageById(tx, subscription.package_id);
    if (!pkg) return fail('not_found', `package ${subscription.package_id} is gone`);

    const followPackage = data.apply_package_changes ?? subscription.apply_package_changes;
    const validity = followPackage
      ? { count: pkg.validity_count, unit: pkg.validity_unit }
      : { count: subscription.validity_count, unit: subscription.validity_unit };
    const decision = decideRenewal(
      {
        status: subscription.status,
        cancelAtPeriodEnd: subscription.cancel_at_period_end,
        anchorAt: subscription.anchor_at,
        periodIndex: subscription.period_index,
        currentPeriodStart: subscription.current_period_start,
        currentPeriodEnd: subscription.current_period_end,
      },
      new Date(data.period_end),
      validity,
      timeZone,
      now,
    );
    if (!decision.ok) return decision;
    if (decision.value.kind === 'already_renewed') return ok(await previousRenewal(tx, subscription, new Date(data.period_end)));

    const { period, anchorAt, periodIndex, late } = decision.value;
    let items = await subscriptionItems(tx, [subscription.id]);
    if (followPackage) {
      items = pkg.items.map((i) => ({ subscription_id: subscription.id, credit_type_id: i.credit_type_id, units: i.units, position: i.position }));
      await replaceSubscriptionItems(tx, subscription.id, items);
    }
    const price = subscription.price_override ?? pkg.price;
    const invoice = await issueInvoice(tx, {
      clientId: subscription.client_id,
      subscriptionId: subscription.id,
      kind: 'renewal',
      currency: subscription.currency,
      lines: [packageInvoiceLine(pkg, price, period, timeZone)],
      period,
      now,
      timeZone,
    });
    const inserted = await insertPeriod(tx, {
      subscription_id: subscription.id,
      starts_at: period.start,
      ends_at: period.end,
      kind: 'renewal',
      invoice_id: invoice.id,
      price,
      late,
      job_id: jobId,
      created_at: now,
    });
    if (!inserted) return fail('conflict', `a period starting at ${period.start.toISOString()} exists already`);
    const balances = await createBalances(
      tx,
      grantsForPeriod(
        items.map((i) => ({ creditTypeId: i.credit_type_id, units: i.units })),
        period,
        { priority: pkg.priority, lowBalancePercent: pkg.low_balance_percent },
      ),
      { clientId: subscription.client_id, subscriptionId: subscription.id, periodStart: period.start, kind: 'grant', invoiceId: invoice.id, jobId, actor: `job:${jobId}`, now },
    );
    await updateSubscription(tx, subscription.id, {
      status: 'active',
      anchor_at: anchorAt,
      period_index: periodIndex,
      current_period_start: period.start,
      current_period_end: period.end,
      validity_count: validity.count,
      validity_unit: validity.unit,
      renewal_count: subscription.renewal_count + 1,
      // expired_at stays: it tells when the subscription last lapsed (the renewals report counts it)
      updated_at: now,
    });
    const creditTypes = await creditTypesByIds(tx, items.map((i) => i.credit_type_id));
    const result = renewalResult(subscription, 'renewed', period, late, invoice.id, price, balances, creditTypes);
    await recordEvents(
      tx,
      [{ type: 'subscription.renewed', clientId: subscription.client_id, subjectId: subscription.id, data: { ...result, client_id: subscription.client_id, renewal_count: subscription.renewal_count + 1 } }],
      now,
    );
    return ok(result);
  });
}

function renewalResult(
  subscription: SubscriptionRow,
  status: RenewalResult['status'],
  period: { start: Date; end: Date },
  late: boolean,
  invoiceId: string | null,
  price: bigint,
  balances: readonly BalanceRow[],
  creditTypes: ReadonlyMap<string, { code: string; decimals: number }>,
): RenewalResult {
  return {
    subscription_id: subscription.id,
    status,
    period_start: period.start.toISOString(),
    period_end: period.end.toISOString(),
    late,
    invoice_id: invoiceId,
    price: minorToJson(price),
    currency: subscription.currency,
    balances: balances.map((b) => {
      const creditType = creditTypes.get(b.credit_type_id);
      return {
        id: b.id,
        credit_type: creditType?.code ?? b.credit_type_id,
        granted: formatQuantity(b.granted, creditType?.decimals ?? 0),
        valid_from: b.valid_from.toISOString(),
        expires_at: b.expires_at.toISOString(),
      };
    }),
  };
}

/** The answer for a period renewed before: the period that started where the asked one ended. */
async function previousRenewal(tx: Parameters<typeof periodStartingAt>[0], subscription: SubscriptionRow, periodEnd: Date): Promise<RenewalResult> {
  const period = await periodStartingAt(tx, subscription.id, periodEnd);
  const next = period ?? (await tx('subscription_periods').where({ subscription_id: subscription.id }).where('starts_at', '>', periodEnd).orderBy('starts_at').first());
  const balances = next
    ? ((await tx('balances').where({ subscription_id: subscription.id, period_start: next.starts_at, source: 'package' })) as BalanceRow[])
    : [];
  const creditTypes = await creditTypesByIds(tx, balances.map((b) => b.credit_type_id));
  return renewalResult(
    subscription,
    'already_renewed',
    next ? { start: next.starts_at, end: next.ends_at } : { start: subscription.current_period_start, end: subscription.current_period_end },
    next?.late ?? false,
    next?.invoice_id ?? null,
    next?.price ?? 0n,
    balances,
    creditTypes,
  );
}
