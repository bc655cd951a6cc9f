import type { AppContext } from '../app-context.js';
import { fingerprint } from '../canonical-json.js';
import { settle, submit } from '../commands/index.js';
import { creditTypesByIds } from '../db/repositories/credit-types.js';
import { recordEvents } from '../db/repositories/outbox.js';
import { packageById } from '../db/repositories/packages.js';
import { autoRechargesInPeriod, insertRecharge, rechargeByKey } from '../db/repositories/recharges.js';
import {
  latestPeriodStartBy,
  lockSubscription,
  periodsOf,
  subscriptionById,
  subscriptionItems,
} from '../db/repositories/subscriptions.js';
import { transact } from '../db/transact.js';
import { minorToJson, parseMinor } from '../domain/money.js';
import { rechargeCountingPeriodStart, rechargeValidity } from '../domain/period.js';
import { formatQuantity } from '../domain/quantity.js';
import { subscriptionIn } from '../domain/renewal.js';
import { fail, ok, type Result } from '../domain/result.js';
import { newId } from '../ids.js';
import { grantPeriod } from '../services/grant-period.js';
import { resolveItems } from '../services/packages.js';
import { toGrantedBalanceViews } from '../views/granted-balance.js';
import type { RechargeResult } from '../views/recharge.js';
import { JOBS, type JobPayload, jobIdOf, type RechargeData } from './definitions.js';

/** The payload fingerprint of a recharge: the same idempotency key with another payload is a conflict. */
export const rechargeFingerprint = (data: Pick<RechargeData, 'subscription_id' | 'items' | 'price'>): string =>
  fingerprint({
    subscription_id: data.subscription_id,
    items: data.items ?? null,
    price: data.price === undefined ? null : String(data.price),
  });

/**
 * DOMAIN.md "Recharge": recharge balances valid from now until the current period's end — one
 * package's worth of every item by default, or the items given — and a recharge invoice, once per
 * (subscription, idempotency key). An automatic recharge counts against max_per_period.
 */
export async function rechargeSubscription(
  app: AppContext,
  data: JobPayload<'recharge'>,
  jobId: string,
): Promise<Result<RechargeResult>> {
  const now = app.clock.now();
  const timeZone = app.config.BUSINESS_TZ;
  const hash = rechargeFingerprint(data);
  return transact(app.db, async (tx) => {
    if (data.accepted_at) await settle(tx, [jobId]);
    const subscription = await lockSubscription(tx, data.subscription_id);
    if (!subscription) return fail('not_found', `no subscription "${data.subscription_id}"`);

    const previous = await rechargeByKey(tx, subscription.id, data.idempotency_key);
    if (previous) {
      if (previous.request_hash !== hash)
        return fail(
          'idempotency_conflict',
          `idempotency_key "${data.idempotency_key}" was used for this subscription with another payload`,
        );
      return ok({ ...(previous.result as RechargeResult), replayed: true });
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
      return data.auto
        ? ok(skipped(`the subscription is ${subscription.status}`))
        : fail('conflict', `${subscriptionIn(subscription.status)} cannot be recharged`);
    }
    if (subscription.current_period_end.getTime() <= now.getTime()) {
      return data.auto
        ? ok(skipped('the period is over'))
        : fail('conflict', 'the current period is over: renew the subscription first');
    }
    // the period this recharge counts against: the one running now, which a renewal ahead has not ended yet
    const ahead = now.getTime() < subscription.current_period_start.getTime();
    const running = ahead ? await latestPeriodStartBy(tx, subscription.id, now) : undefined;
    const countedIn = rechargeCountingPeriodStart(subscription.current_period_start, running, now);
    // when its first period began: none yet (bought to start later, and maybe renewed ahead already) is that period's
    // start, still ahead; one renewed ahead inside a running period has begun
    const firstStart = !ahead
      ? subscription.current_period_start
      : (running ?? (await periodsOf(tx, subscription.id))[0]?.starts_at ?? subscription.current_period_start);
    if (data.auto) {
      if (!subscription.auto_recharge_enabled) return ok(skipped('auto-recharge is off'));
      const n = await autoRechargesInPeriod(tx, subscription.id, countedIn);
      if (n >= subscription.auto_recharge_max_per_period)
        return ok(skipped(`max_per_period (${subscription.auto_recharge_max_per_period}) reached`));
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
      if (!parsed.ok)
        return fail('validation_failed', `price ${parsed.detail}`, {
          errors: [{ field: 'price', message: parsed.detail }],
        });
      price = parsed.value;
    }
    const period = rechargeValidity(
      { start: subscription.current_period_start, end: subscription.current_period_end },
      firstStart,
      now,
    );
    const creditTypes = await creditTypesByIds(
      tx,
      items.map((i) => i.credit_type_id),
    );
    const describe = items.map((i) => {
      const creditType = creditTypes.get(i.credit_type_id);
      const units = formatQuantity(i.units, creditType?.decimals ?? 0);
      return `${units} ${creditType?.unit ?? ''} ${creditType?.name ?? ''}`.trim();
    });
    const { invoice, balances } = await grantPeriod(tx, {
      clientId: subscription.client_id,
      subscriptionId: subscription.id,
      sale: 'recharge',
      currency: subscription.currency,
      lines: [{ description: `Recharge of ${pkg.name} (${pkg.code}): ${describe.join(', ')}`, amount: price }],
      validity: period,
      periodStart: subscription.current_period_start,
      items: items.map((i) => ({ creditTypeId: i.credit_type_id, units: i.units })),
      terms: { priority: pkg.priority, lowBalancePercent: pkg.low_balance_percent },
      jobId,
      actor: `job:${jobId}`,
      now,
      timeZone,
    });
    const id = newId();
    const result: RechargeResult = {
      recharge_id: id,
      subscription_id: subscription.id,
      status: 'recharged',
      auto: data.auto ?? false,
      invoice_id: invoice.id,
      price: minorToJson(price),
      currency: subscription.currency,
      balances: toGrantedBalanceViews(balances, creditTypes),
      replayed: false,
    };
    await insertRecharge(tx, {
      id,
      subscription_id: subscription.id,
      idempotency_key: data.idempotency_key,
      request_hash: hash,
      auto: data.auto ?? false,
      invoice_id: invoice.id,
      period_start: countedIn,
      price,
      result,
      created_at: now,
    });
    await recordEvents(
      tx,
      [
        {
          type: 'subscription.recharged',
          clientId: subscription.client_id,
          subjectId: subscription.id,
          data: { ...result, client_id: subscription.client_id },
        },
      ],
      now,
    );
    return ok(result);
  });
}

/** A recharge as the API asks for it: one package's worth by default, or these items, at this fee. */
export interface RechargeRequest {
  items?: Array<{ credit_type: string; units: number | string }> | undefined;
  price?: number | string | undefined;
}

/**
 * The accepting side of the `recharge` job (POST /v1/subscriptions/{id}/recharge, the pages). Its
 * idempotency key is the request's Idempotency-Key (or a fresh one): the same key makes one
 * recharge and one invoice. A key applied before answers that recharge's result (`replay`); with
 * another payload it is 409, before or after it was applied.
 */
export async function acceptRecharge(
  app: AppContext,
  subscriptionId: string,
  body: RechargeRequest,
  idempotencyKey: string,
): Promise<Result<{ jobId: string; replay?: RechargeResult; fresh?: boolean }>> {
  const subscription = await subscriptionById(app.db, subscriptionId);
  if (!subscription) return fail('not_found', `no subscription "${subscriptionId}"`);
  const data: RechargeData = {
    subscription_id: subscription.id,
    ...(body.items ? { items: body.items } : {}),
    ...(body.price !== undefined ? { price: body.price } : {}),
    idempotency_key: idempotencyKey,
    accepted_at: app.clock.now().toISOString(),
  };
  const requestHash = rechargeFingerprint(data);
  const conflict = fail(
    'idempotency_conflict',
    `idempotency_key "${idempotencyKey}" was used for this subscription with another payload`,
  );
  const before = await rechargeByKey(app.db, subscription.id, idempotencyKey);
  if (before) {
    if (before.request_hash !== requestHash) return conflict;
    return ok({ jobId: jobIdOf('recharge', data), replay: { ...(before.result as RechargeResult), replayed: true } });
  }
  // what the job could only refuse is refused now, as a consumption's quantity is: a 202 would lose the 422
  if (data.items) {
    const resolved = await resolveItems(app.db, data.items);
    if (!resolved.ok) return resolved;
  }
  if (data.price !== undefined) {
    const parsed = parseMinor(data.price);
    if (!parsed.ok)
      return fail('validation_failed', `price ${parsed.detail}`, {
        errors: [{ field: 'price', message: parsed.detail }],
      });
  }
  if (subscription.status !== 'active')
    return fail('conflict', `${subscriptionIn(subscription.status)} cannot be recharged`);
  if (subscription.current_period_end.getTime() <= app.clock.now().getTime())
    return fail('conflict', 'the current period is over: renew the subscription first');
  const submitted = await submit(app, [{ name: 'recharge', data, requestHash, subjectId: subscription.id }], {
    describeConflict: () => conflict.detail,
    heldHash: async (held) => {
      const parsed = JOBS.recharge.schema.safeParse(held);
      return parsed.success ? rechargeFingerprint(parsed.data) : undefined;
    },
  });
  if (!submitted.ok) return submitted;
  const admission = submitted.value[0]!;
  return ok({ jobId: admission.jobId, fresh: admission.state === 'new' });
}
