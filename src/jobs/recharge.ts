import type { AppContext } from '../app-context.js';
import { fingerprint } from '../canonical-json.js';
import { createBalances } from '../db/repositories/balances.js';
import { creditTypesByIds } from '../db/repositories/credit-types.js';
import { recordEvents } from '../db/repositories/outbox.js';
import { packageById } from '../db/repositories/packages.js';
import { lockSubscription, subscriptionItems } from '../db/repositories/subscriptions.js';
import { transact } from '../db/transact.js';
import { grantsForPeriod } from '../domain/grant.js';
import { minorToJson, parseMinor } from '../domain/money.js';
import { formatQuantity } from '../domain/quantity.js';
import { fail, ok, type Result } from '../domain/result.js';
import { newId } from '../ids.js';
import { issueInvoice } from '../services/invoicing.js';
import { resolveItems } from '../services/packages.js';
import type { RechargeData } from './definitions.js';

export interface RechargeResult {
  recharge_id: string | null;
  subscription_id: string;
  /** `recharged`, or `skipped` when an automatic recharge is off or has reached max_per_period. */
  status: 'recharged' | 'skipped';
  reason?: string;
  auto: boolean;
  invoice_id: string | null;
  price: number;
  currency: string;
  balances: Array<{ id: string; credit_type: string; granted: string; valid_from: string; expires_at: string }>;
  replayed: boolean;
}

/** The payload fingerprint of a recharge: the same idempotency key with another payload is a conflict. */
export const rechargeFingerprint = (data: Pick<RechargeData, 'subscription_id' | 'items' | 'price'>): string =>
  fingerprint({ subscription_id: data.subscription_id, items: data.items ?? null, price: data.price === undefined ? null : String(data.price) });

/**
 * DOMAIN.md "Recharge": recharge balances valid from now until the current period's end — one
 * package's worth of every item by default, or the items given — and a recharge invoice, once per
 * (subscription, idempotency key). An automatic recharge counts against max_per_period.
 */
export async function rechargeSubscription(app: AppContext, data: RechargeData, jobId: string): Promise<Result<RechargeResult>> {
  const now = app.clock.now();
  const timeZone = app.config.BUSINESS_TZ;
  const hash = rechargeFingerprint(data);
  return transact(app.db, async (tx) => {
    if (data.accepted_at) await tx('accepted_jobs').where({ job_id: jobId }).delete();
    const subscription = await lockSubscription(tx, data.subscription_id);
    if (!subscription) return fail('not_found', `no subscription "${data.subscription_id}"`);

    const previous = (await tx('recharges').where({ subscription_id: subscription.id, idempotency_key: data.idempotency_key }).first()) as
      | { request_hash: string; result: RechargeResult }
      | undefined;
    if (previous) {
      if (previous.request_hash !== hash) return fail('idempotency_conflict', `idempotency_key "${data.idempotency_key}" was used for this subscription with another payload`);
      return ok({ ...previous.result, replayed: true });
    }
    const skipped = (reason: string): RechargeResult => ({
      recharge_id: null,
      subscription_id: subscription.id,
      status: 'skipped',
      reason,
      auto: true,
      invoice_id: null,
      price: 0,
      currency: subscription.currency,
      balances: [],
      replayed: false,
    });
    if (subscription.status !== 'active') {
      return data.auto ? ok(skipped(`the subscription is ${subscription.status}`)) : fail('conflict', `a ${subscription.status} subscription cannot be recharged`);
    }
    if (subscription.current_period_end.getTime() <= now.getTime()) {
      return data.auto ? ok(skipped('the period is over')) : fail('conflict', 'the current period is over: renew the subscription first');
    }
    if (data.auto) {
      if (!subscription.auto_recharge_enabled) return ok(skipped('auto-recharge is off'));
      const [{ n }] = (await tx('recharges').where({ subscription_id: subscription.id, period_start: subscription.current_period_start, auto: true }).count({ n: '*' })) as [{ n: bigint }];
      if (Number(n) >= subscription.auto_recharge_max_per_period) return ok(skipped(`max_per_period (${subscription.auto_recharge_max_per_period}) reached`));
    }

    const pkg = await packageById(tx, subscription.package_id);
    if (!pkg) return fail('not_found', `package ${subscription.package_id} is gone`);
    let items: Array<{ credit_type_id: string; units: bigint }>;
    if (data.items) {
      const resolved = await resolveItems(tx, data.items);
      if (!resolved.ok) return resolved;
      items = resolved.value.items;
    } else {
      items = await subscriptionItems(tx, [subscription.id]);
    }
    let price = pkg.recharge_price ?? pkg.price;
    if (data.price !== undefined) {
      const parsed = parseMinor(data.price);
      if (!parsed.ok) return fail('validation_failed', `price ${parsed.detail}`, { errors: [{ field: 'price', message: parsed.detail }] });
      price = parsed.value;
    }
    const period = { start: now, end: subscription.current_period_end };
    const creditTypes = await creditTypesByIds(tx, items.map((i) => i.credit_type_id));
    const describe = items.map((i) => `${formatQuantity(i.units, creditTypes.get(i.credit_type_id)?.decimals ?? 0)} ${creditTypes.get(i.credit_type_id)?.unit ?? ''} ${creditTypes.get(i.credit_type_id)?.name ?? ''}`.trim());
    const invoice = await issueInvoice(tx, {
      clientId: subscription.client_id,
      subscriptionId: subscription.id,
      kind: 'recharge',
      currency: subscription.currency,
      lines: [{ description: `Recharge of ${pkg.name} (${pkg.code}): ${describe.join(', ')}`, amount: price }],
      period,
      now,
      timeZone,
    });
    const balances = await createBalances(
      tx,
      grantsForPeriod(
        items.map((i) => ({ creditTypeId: i.credit_type_id, units: i.units })),
        period,
        { priority: pkg.priority, lowBalancePercent: pkg.low_balance_percent },
        'recharge',
      ),
      { clientId: subscription.client_id, subscriptionId: subscription.id, periodStart: subscription.current_period_start, kind: 'recharge', invoiceId: invoice.id, jobId, actor: `job:${jobId}`, now },
    );
    const id = newId();
    const result: RechargeResult = {
      recharge_id: id,
      subscription_id: subscription.id,
      status: 'recharged',
      auto: data.auto ?? false,
      invoice_id: invoice.id,
      price: minorToJson(price),
      currency: subscription.currency,
      balances: balances.map((b) => ({
        id: b.id,
        credit_type: creditTypes.get(b.credit_type_id)?.code ?? b.credit_type_id,
        granted: formatQuantity(b.granted, creditTypes.get(b.credit_type_id)?.decimals ?? 0),
        valid_from: b.valid_from.toISOString(),
        expires_at: b.expires_at.toISOString(),
      })),
      replayed: false,
    };
    await tx('recharges').insert({
      id,
      subscription_id: subscription.id,
      idempotency_key: data.idempotency_key,
      request_hash: hash,
      auto: data.auto ?? false,
      invoice_id: invoice.id,
      period_start: subscription.current_period_start,
      price,
      result: JSON.stringify(result),
      created_at: now,
    });
    await recordEvents(tx, [{ type: 'subscription.recharged', clientId: subscription.client_id, subjectId: subscription.id, data: { ...result, client_id: subscription.client_id } }], now);
    return ok(result);
  });
}
