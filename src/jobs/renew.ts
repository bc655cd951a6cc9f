import type { AppContext } from '../app-context.js';
import { fingerprint } from '../canonical-json.js';
import {
  type Admission,
  accept,
  type Command,
  checkAdded,
  enqueue,
  queueReachable,
  route,
  type SettledLookup,
  settle,
  unreachable,
} from '../commands/index.js';
import type { Executor } from '../db/knex.js';
import { standingGrantOfPeriod } from '../db/repositories/balances.js';
import { creditTypesByIds } from '../db/repositories/credit-types.js';
import { rememberResponse, storedResponse, unbindIdempotencyKey } from '../db/repositories/idempotency-records.js';
import { recordEvents } from '../db/repositories/outbox.js';
import { packageById } from '../db/repositories/packages.js';
import {
  insertPeriod,
  lockSubscription,
  periodAfter,
  periodStartingAt,
  renewedPeriodEnds,
  replaceSubscriptionItems,
  type SubscriptionRow,
  subscriptionById,
  subscriptionItems,
  updateSubscription,
} from '../db/repositories/subscriptions.js';
import { transact } from '../db/transact.js';
import { idempotencyKeyReused } from '../domain/idempotency-key.js';
import { validityOf } from '../domain/period.js';
import { decideRenewal } from '../domain/renewal.js';
import { fail, ok, type Result } from '../domain/result.js';
import { grantPeriod } from '../services/grant-period.js';
import { packageInvoiceLine } from '../services/invoice-lines.js';
import { type RenewalResult, toRenewalResult } from '../views/renewal.js';
import { JOBS, type JobName, type JobPayload, jobIdOf, type RenewData } from './definitions.js';

/**
 * DOMAIN.md "Renew", one job: locks the subscription, decides the next period (pure), and writes the
 * period, its balances with their grant entries, the renewal invoice and `subscription.renewed` in
 * one transaction. The period's primary key makes a second renewal of it impossible.
 */
export async function renewSubscription(
  app: AppContext,
  data: JobPayload<'renew'>,
  jobId: string,
): Promise<Result<RenewalResult>> {
  const now = app.clock.now();
  const timeZone = app.config.BUSINESS_TZ;
  return transact(app.db, async (tx) => {
    if (data.accepted_at) await settle(tx, [jobId]);
    const subscription = await lockSubscription(tx, data.subscription_id);
    if (!subscription) return fail('not_found', `no subscription "${data.subscription_id}"`);
    const pkg = await packageById(tx, subscription.package_id);
    if (!pkg) return fail('not_found', `package ${subscription.package_id} is gone`);

    const followPackage = data.apply_package_changes ?? subscription.apply_package_changes;
    const validity = validityOf(followPackage ? pkg : subscription);
    const decision = decideRenewal(
      {
        status: subscription.status,
        cancelAtPeriodEnd: subscription.cancel_at_period_end,
        anchorAt: subscription.anchor_at,
        periodIndex: subscription.period_index,
        currentPeriodStart: subscription.current_period_start,
        currentPeriodEnd: subscription.current_period_end,
        autoRenew: subscription.auto_renew,
      },
      new Date(data.period_end),
      validity,
      timeZone,
      now,
    );
    if (!decision.ok) return decision;
    if (decision.value.kind === 'already_renewed')
      return ok(await previousRenewal(tx, subscription, new Date(data.period_end)));

    const { period, anchorAt, periodIndex, late } = decision.value;
    let items = await subscriptionItems(tx, [subscription.id]);
    if (followPackage) {
      items = pkg.items.map((i) => ({
        subscription_id: subscription.id,
        credit_type_id: i.credit_type_id,
        units: i.units,
        position: i.position,
      }));
      await replaceSubscriptionItems(tx, subscription.id, items);
    }
    const price = subscription.price_override ?? pkg.price;
    const { invoice, balances } = await grantPeriod(tx, {
      clientId: subscription.client_id,
      subscriptionId: subscription.id,
      sale: 'renewal',
      currency: subscription.currency,
      lines: [packageInvoiceLine(pkg, price, period, timeZone)],
      validity: period,
      periodStart: period.start,
      items: items.map((i) => ({ creditTypeId: i.credit_type_id, units: i.units })),
      terms: { priority: pkg.priority, lowBalancePercent: pkg.low_balance_percent },
      jobId,
      actor: `job:${jobId}`,
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
    await updateSubscription(tx, subscription.id, {
      status: 'active',
      anchor_at: anchorAt,
      period_index: periodIndex,
      current_period_start: period.start,
      current_period_end: period.end,
      validity_count: validity.count,
      validity_unit: validity.unit,
      validity_calendar: validity.calendar,
      renewal_count: subscription.renewal_count + 1,
      // one bought on payment that lapsed unpaid was never active: it is from this renewal (reads as of an instant
      // take a subscription never activated for pending)
      ...(subscription.activated_at === null ? { activated_at: now } : {}),
      // expired_at stays: it tells when the subscription last lapsed (the renewals report counts it)
      updated_at: now,
    });
    const creditTypes = await creditTypesByIds(
      tx,
      items.map((i) => i.credit_type_id),
    );
    const result = toRenewalResult(
      {
        subscriptionId: subscription.id,
        currency: subscription.currency,
        status: 'renewed',
        period,
        late,
        invoiceId: invoice.id,
        price,
      },
      balances,
      creditTypes,
    );
    await recordEvents(
      tx,
      [
        {
          type: 'subscription.renewed',
          clientId: subscription.client_id,
          subjectId: subscription.id,
          data: { ...result, client_id: subscription.client_id, renewal_count: subscription.renewal_count + 1 },
        },
      ],
      now,
    );
    return ok(result);
  });
}

/** The answer for a period renewed before: the period that started where the asked one ended. */
async function previousRenewal(tx: Executor, subscription: SubscriptionRow, periodEnd: Date): Promise<RenewalResult> {
  const next =
    (await periodStartingAt(tx, subscription.id, periodEnd)) ?? (await periodAfter(tx, subscription.id, periodEnd));
  const balances = next ? await standingGrantOfPeriod(tx, subscription.id, next.starts_at) : [];
  const creditTypes = await creditTypesByIds(
    tx,
    balances.map((b) => b.credit_type_id),
  );
  return toRenewalResult(
    {
      subscriptionId: subscription.id,
      currency: subscription.currency,
      status: 'already_renewed',
      period: next
        ? { start: next.starts_at, end: next.ends_at }
        : { start: subscription.current_period_start, end: subscription.current_period_end },
      late: next?.late ?? false,
      invoiceId: next?.invoice_id ?? null,
      price: next?.price ?? 0n,
    },
    balances,
    creditTypes,
  );
}

/** The fingerprint of a renewal request as accepted: the same period is the same request. */
export const renewalFingerprint = (
  data: Pick<RenewData, 'subscription_id' | 'period_end' | 'apply_package_changes'>,
): string =>
  fingerprint({
    subscription_id: data.subscription_id,
    period_end: data.period_end,
    // the terms are part of the request: one period renewed two ways at once is a conflict, not two 202s
    apply_package_changes: data.apply_package_changes ?? null,
  });

/** The fingerprint of the renewal job Redis holds under a period's id (a producer's may carry other terms). */
const heldRenewalHash = async (_: unknown, held: unknown): Promise<string | undefined> => {
  const parsed = JOBS.renew.schema.safeParse(held);
  return parsed.success ? renewalFingerprint(parsed.data) : undefined;
};

/** Who asks for a renewal, when they send an Idempotency-Key (keys are scoped per API key and path). */
export interface RenewalCaller {
  idempotencyKey?: string | undefined;
  apiKeyId?: string | undefined;
  path?: string | undefined;
}

/**
 * The accepting side of the `renew` job (POST /v1/subscriptions/{id}/renew, the pages): a renewal of
 * the subscription's current period. The job id names the period, so renewing it twice (two
 * clicks, two schedulers) makes one job and one period. An Idempotency-Key remembers which job it
 * asked for — with the accepted job, in one transaction, so a request refused with 503 leaves
 * nothing behind — and its repeat answers that same job even after the period has moved on.
 */
export async function acceptRenewal(
  app: AppContext,
  subscriptionId: string,
  body: { apply_package_changes?: boolean | undefined },
  caller: RenewalCaller = {},
): Promise<Result<{ jobId: string }>> {
  const now = app.clock.now();
  const requestHash = fingerprint({ subscription_id: subscriptionId, ...body });
  const scope =
    caller.idempotencyKey && caller.apiKeyId
      ? { apiKeyId: caller.apiKeyId, method: 'POST', path: caller.path ?? '', key: caller.idempotencyKey }
      : undefined;
  if (scope) {
    const stored = await storedResponse(app.db, scope);
    if (stored) {
      if (stored.request_hash !== requestHash) {
        return idempotencyKeyReused();
      }
      return ok({ jobId: (stored.response_body as { job_id: string }).job_id });
    }
  }
  const subscription = await subscriptionById(app.db, subscriptionId);
  if (!subscription) return fail('not_found', `no subscription "${subscriptionId}"`);
  if (subscription.status === 'cancelled') return fail('conflict', 'a cancelled subscription cannot be renewed');
  if (subscription.status === 'pending')
    return fail('conflict', 'the subscription is pending payment of its first invoice');
  if (subscription.status === 'suspended') return fail('conflict', 'a suspended subscription cannot be renewed');
  if (subscription.status === 'frozen')
    return fail('conflict', 'a frozen subscription cannot be renewed: its clock stands still until it is unfrozen');
  if (subscription.status === 'active' && subscription.cancel_at_period_end) {
    return fail('conflict', 'the subscription is set to cancel at the end of its period');
  }
  if (!queueReachable(app)) return unreachable();

  const data = {
    subscription_id: subscription.id,
    period_end: subscription.current_period_end.toISOString(),
    ...(body.apply_package_changes !== undefined ? { apply_package_changes: body.apply_package_changes } : {}),
    accepted_at: now.toISOString(),
  };
  const command = { name: 'renew' as const, data, requestHash: renewalFingerprint(data), subjectId: subscription.id };
  const otherTerms = () =>
    `the renewal of the period ending ${data.period_end} was requested before with other terms ` +
    '(apply_package_changes)';
  const admitted = await transact<{ replayed: string } | { admission: Admission<'renew'> }>(app.db, async (tx) => {
    if (scope) {
      // The key before the job: a request racing this one with the same key waits here until this transaction
      // ends, then meets its record. The check above cannot settle that race (both may find no record), and by the
      // time the second one read the subscription, the first's renewal may have moved the period on — accepting its
      // own job then would renew the next period under a key that asked for this one.
      const body = { job_id: jobIdOf('renew', data) };
      const standing = await rememberResponse(tx, scope, { requestHash, statusCode: 202, body, now });
      if (standing) {
        if (standing.request_hash !== requestHash) {
          return idempotencyKeyReused();
        }
        return ok({ replayed: (standing.response_body as { job_id: string }).job_id });
      }
    }
    const accepted = await accept(tx, [command], { describeConflict: otherTerms });
    return accepted.ok ? ok({ admission: accepted.value[0]! }) : accepted;
  });
  if (!admitted.ok) return admitted;
  if ('replayed' in admitted.value) return ok({ jobId: admitted.value.replayed });
  const { admission } = admitted.value;
  // Redis may hold the period's job with other terms (a producer's renewal): this one was not added
  if (
    (await enqueue(app, [admission])) &&
    (await checkAdded(app, [admission], { heldHash: heldRenewalHash })).clashed.size > 0
  ) {
    if (scope) await unbindIdempotencyKey(app.db, scope, requestHash);
    return fail('idempotency_conflict', otherTerms());
  }
  return ok({ jobId: admission.jobId });
}

/**
 * After a renewal made ahead was taken back (a cancel at period end, services/renewal-undo.ts): its completed job is
 * removed from BullMQ, since the next renewal of that period (once the cancel is taken back) is named the same
 * (`renewal|<subscription>|<period end>`) — BullMQ would not add it, and its waiters would be answered the renewal
 * taken back. Best effort, after the commit: a job still held (Redis away, the job not yet moved to completed) is
 * only logged; the expiry sweep renews a period that ended unrenewed before it expires anything (renewOverdue).
 */
export async function forgetUndoneRenewal(app: AppContext, jobIds: readonly string[]): Promise<void> {
  const queue = app.queues[JOBS.renew.queue];
  for (const jobId of jobIds) {
    try {
      const job = await queue.getJob(jobId);
      if (!job) continue;
      if ((await queue.remove(jobId)) === 0) {
        app.log.warn({ jobId }, 'the job of a renewal taken back could not be removed (it is running)');
      }
    } catch (error) {
      app.log.warn({ err: error, jobId }, 'the job of a renewal taken back could not be removed');
    }
  }
}

/** A job asked for (the sweep waits for the nightly's). */
export interface EnqueuedJob {
  name: JobName;
  jobId: string;
}

/**
 * Where a renewal asked for is found applied: the period that starts where the asked one ends. Two schedulers run the
 * same night: one may read a subscription as due just before the other's renewal of it applies, and ask for it once
 * that renewal has deleted its accepted row. Recorded anew, the request's enqueue would add nothing (Redis holds the
 * job completed), and its row would wait for the relay (RELAY_GRACE_MS) to run the renewal again, as after a restore
 * of Postgres from a backup. Found here, it is a repeat of the applied one: not recorded (commands/accept.ts).
 */
const renewedBefore: SettledLookup = async (db, commands) => {
  const asked = commands.flatMap((c) =>
    'period_end' in c.data ? [{ jobId: c.jobId, hash: c.requestHash ?? c.jobId, data: c.data }] : [],
  );
  const renewed = await renewedPeriodEnds(
    db,
    asked.map((a) => ({ subscriptionId: a.data.subscription_id, periodEnd: new Date(a.data.period_end) })),
  );
  return new Map(
    asked.flatMap((a) =>
      renewed.has(`${a.data.subscription_id}|${new Date(a.data.period_end).toISOString()}`)
        ? [[a.jobId, { requestHash: a.hash, status: 'renewed' }] as const]
        : [],
    ),
  );
};

/**
 * Asks for the renewal of each subscription's current period, as the nightly run asks for it: a `renew` command named
 * `renewal|<subscription>|<period end>`, accepted first like an API request (if Redis loses it, the relay enqueues it
 * again), then enqueued. The job id names the period: asked again (the next run, a second scheduler, a change that made
 * the subscription renewable between two runs: renew-ahead.ts), it is one renewal. Answers the jobs asked for.
 */
export async function askRenewals(
  app: AppContext,
  periods: ReadonlyArray<Pick<SubscriptionRow, 'id' | 'current_period_end'>>,
  acceptedAt: Date,
): Promise<EnqueuedJob[]> {
  if (periods.length === 0) return [];
  const commands = periods.map((s): Command<'renew'> => {
    const data = {
      subscription_id: s.id,
      period_end: s.current_period_end.toISOString(),
      accepted_at: acceptedAt.toISOString(),
    };
    return { name: 'renew', data, requestHash: renewalFingerprint(data), subjectId: s.id };
  });
  const admitted = await accept(app.db, commands, { settled: renewedBefore });
  if (!admitted.ok) app.log.warn({ detail: admitted.detail }, 'a renewal asked for clashed with one accepted before');
  // every one enqueued, a renewal applied before too (it has no accepted row): its job, which Redis holds completed,
  // adds nothing; one Redis has forgotten runs again and answers the renewal made, for whoever waits on it
  const enqueued = await enqueue(app, commands.map(route));
  // a job Redis holds failed under a period's id (refused when it ran: suspended, set to cancel or frozen between an
  // earlier ask and its run) would answer this request with that refusal, and the relay settle it by it: run again
  if (enqueued && admitted.ok) await checkAdded(app, admitted.value, { heldHash: heldRenewalHash });
  return commands.map((c) => ({ name: c.name, jobId: route(c).jobId }));
}
