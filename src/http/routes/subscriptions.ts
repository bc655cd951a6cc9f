import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { AppContext } from '../../app-context.js';
import type { Executor } from '../../db/knex.js';
import { findClient } from '../../db/repositories/clients.js';
import { findPackage } from '../../db/repositories/packages.js';
import { listSubscriptions, type SubscriptionRow } from '../../db/repositories/subscriptions.js';
import { frozenPastUntil } from '../../domain/freeze.js';
import { type Failure, fail, type Result } from '../../domain/result.js';
import { isUuid } from '../../ids.js';
import { acceptRecharge } from '../../jobs/recharge.js';
import { acceptRenewal, forgetUndoneRenewal } from '../../jobs/renew.js';
import { renewAheadOnCommit } from '../../jobs/renew-ahead.js';
import {
  readAsSwept,
  settleFreezeOwed,
  settleOwedAnywhere,
  settleOwedOf,
  subscriptionViewAsSwept,
} from '../../jobs/swept-reads.js';
import {
  idParams,
  listOf,
  metadataSchema,
  moneyInput,
  pageQuery,
  quantityInput,
  REASON_MAX_LENGTH,
  refSchema,
  timestampSchema,
  waitQuery,
} from '../../schemas/common.js';
import { freezeSubscription, unfreezeSubscription } from '../../services/freeze.js';
import { cancelSubscription, patchSubscription, subscribe, subscriptionViews } from '../../services/subscriptions.js';
import { rechargeResultSchema } from '../../views/recharge.js';
import { renewalResultSchema } from '../../views/renewal.js';
import { subscriptionView as subscriptionSchema } from '../../views/subscription.js';
import type { AuthContext } from '../auth.js';
import { jobReply } from '../job-reply.js';
import { page } from '../reply.js';
import { type AnyRoute, defineRoute, type JsonReply } from '../route.js';

const autoRechargeSchema = z
  .strictObject({
    enabled: z.boolean().optional(),
    threshold_percent: z
      .number()
      .int()
      .min(0)
      .max(100)
      .optional()
      .meta({ description: 'Recharge when a balance falls to this share of its grant.' }),
    max_per_period: z.number().int().min(0).max(100).optional(),
    max_auto_recharges: z
      .number()
      .int()
      .min(0)
      .max(100)
      .optional()
      .meta({ description: 'The same limit as `max_per_period`, by its other name; both only if equal.' }),
  })
  .refine(
    (s) =>
      s.max_per_period === undefined || s.max_auto_recharges === undefined || s.max_per_period === s.max_auto_recharges,
    { path: ['max_auto_recharges'], message: 'must equal max_per_period when both are given' },
  )
  .transform(({ max_auto_recharges, ...rest }) => {
    const max = rest.max_per_period ?? max_auto_recharges;
    return max === undefined ? rest : { ...rest, max_per_period: max };
  });

const createBody = z.strictObject({
  client: refSchema.meta({ description: 'Client id or external_ref.' }),
  package: refSchema.meta({ description: 'Package id or code.' }),
  starts_at: timestampSchema.optional(),
  auto_renew: z.boolean().optional(),
  price: moneyInput.optional().meta({ description: "The subscription's own fee; defaults to the package price." }),
  activation: z
    .enum(['immediate', 'on_payment'])
    .optional()
    .meta({ description: '`on_payment`: pending until its invoice is paid.' }),
  apply_package_changes: z
    .boolean()
    .optional()
    .meta({ description: "Renew with the package's current items instead of the snapshot taken at purchase." }),
  auto_recharge: autoRechargeSchema.optional(),
  metadata: metadataSchema.optional(),
});

const patchBody = z
  .strictObject({
    auto_renew: z.boolean().optional(),
    price: moneyInput
      .nullable()
      .optional()
      .meta({ description: 'Its own fee for next renewals; null follows the package price again.' }),
    apply_package_changes: z.boolean().optional(),
    cancel_at_period_end: z.boolean().optional(),
    auto_recharge: autoRechargeSchema.optional(),
    metadata: metadataSchema.optional(),
    status: z.enum(['active', 'suspended']).optional().meta({
      description: '`suspended`: its balances stop paying for use while its period runs on; `active` resumes it.',
    }),
  })
  .refine((b) => Object.keys(b).length > 0, 'give at least one field to change');

const listQuery = pageQuery.extend({
  client: refSchema.optional(),
  package: refSchema.optional(),
  status: z.enum(['pending', 'active', 'expired', 'cancelled', 'suspended', 'frozen']).optional(),
  expiring_before: timestampSchema.optional().meta({
    description:
      'Subscriptions whose current period ends before this time and that are still to end (not expired or ' +
      'cancelled, unless `status` asks for those).',
  }),
});

const freezeBody = z
  .strictObject({
    until: timestampSchema.optional().meta({ description: 'Frozen until this instant (later than now).' }),
    days: z
      .number()
      .int()
      .min(1)
      .max(3660)
      .optional()
      .meta({ description: 'Or for this many days of 24 hours from now. Neither: as long as the allowance lets it.' }),
  })
  .optional();

const notFound = (id: string) => fail('not_found', `no subscription "${id}"`);

/** Who a change is recorded as: the key that called (`system` when none did). */
const actorOf = (auth: AuthContext | null): string => `key:${auth?.keyId ?? 'system'}`;

/** A renewal a change undid: its job is forgotten once the change is committed, not before. */
const forgetUndoneOnCommit =
  (app: AppContext, afterCommit: (action: () => Promise<void>) => void) =>
  (jobIds: readonly string[]): void =>
    afterCommit(() => forgetUndoneRenewal(app, jobIds));

/** A changed subscription as the routes answer it: 200 with its balances; a refusal as it is. */
async function changedReply(db: Executor, result: Result<SubscriptionRow>): Promise<JsonReply | Failure> {
  if (!result.ok) return result;
  return { status: 200, body: (await subscriptionViews(db, [result.value], { withBalances: true }))[0] };
}

export const subscriptionRoutes: AnyRoute[] = [
  defineRoute({
    method: 'post',
    path: '/v1/subscriptions',
    access: 'write',
    tag: 'subscriptions',
    summary: 'Subscribe a client to a package',
    description:
      'Writes the subscription, one balance per package item (each with its grant ledger entry) and its invoice ' +
      'in one transaction.',
    body: createBody,
    idempotency: 'stored',
    responses: {
      201: { description: 'Created, with its balances and invoice', schema: subscriptionSchema },
      404: { description: 'No such client or package' },
    },
    handler: async ({ body, db, app, auth, afterCommit }) => {
      const result = await subscribe(db, body, {
        now: app.clock.now(),
        timeZone: app.config.BUSINESS_TZ,
        actor: actorOf(auth),
        // bought with a start in the past, its period may end before the next nightly run: renewed ahead now
        onRenewable: renewAheadOnCommit(app, afterCommit),
      });
      if (!result.ok) return result;
      const { subscription, invoice } = result.value;
      const [view] = await subscriptionViews(db, [subscription], {
        withBalances: true,
        invoices: new Map([[subscription.id, invoice.id]]),
      });
      return { status: 201, body: view };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/subscriptions',
    access: 'read',
    tag: 'subscriptions',
    summary: 'List subscriptions, with their balances',
    description:
      'As the sweep leaves them: what it owes the clients of the page (a freeze past its `frozen_until`, a hold ' +
      'past its `expires_at`) is done first, so a subscription past its `frozen_until` is listed `active`; ' +
      'with `status=active` and no client, what it owes any client first (those are on no page yet).',
    query: listQuery,
    responses: { 200: { description: 'A page of subscriptions', schema: listOf(subscriptionSchema) } },
    handler: async ({ query, db, app }) => {
      let clientId: string | undefined;
      let packageId: string | undefined;
      if (query.client) {
        const client = await findClient(db, query.client);
        if (!client) return { status: 200, body: page([], null) };
        clientId = client.id;
      }
      if (query.package) {
        const pkg = await findPackage(db, query.package);
        if (!pkg) return { status: 200, body: page([], null) };
        packageId = pkg.id;
      }
      // by client: settled before the read; otherwise the clients of the page, settled, and the page read again
      if (clientId) await settleOwedOf(app, [clientId]);
      // active subscriptions of every client: the ones still to unfreeze are not on any page of them
      else if (query.status === 'active') await settleOwedAnywhere(app);
      const list = () =>
        listSubscriptions(db, query, {
          clientId,
          packageId,
          status: query.status,
          expiringBefore: query.expiring_before,
        });
      const result = clientId
        ? await list()
        : await readAsSwept(
            app,
            list,
            (p) => p.data.map((s) => s.client_id),
            (p, now) => p.data.some((s) => frozenPastUntil({ status: s.status, frozenUntil: s.frozen_until }, now)),
          );
      // the views (their balances' `held` included) are read after the settling
      return {
        status: 200,
        body: page(await subscriptionViews(db, result.data, { withBalances: true }), result.nextCursor),
      };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/subscriptions/{id}',
    access: 'read',
    tag: 'subscriptions',
    summary: 'Get a subscription with its balances',
    description:
      'As the sweep leaves it: past its `frozen_until` it is `active` again, its period end and expiries pushed by ' +
      'the frozen time (`subscription.unfrozen`), and holds of its client past their `expires_at` hold nothing.',
    params: idParams,
    responses: {
      200: { description: 'The subscription', schema: subscriptionSchema },
      404: { description: 'No such subscription' },
    },
    handler: async ({ params, app }) => {
      if (!isUuid(params.id)) return notFound(params.id);
      // its client settled before its view (balances included) is read
      const view = await subscriptionViewAsSwept(app, params.id);
      return view ? { status: 200, body: view } : notFound(params.id);
    },
  }),
  defineRoute({
    method: 'patch',
    path: '/v1/subscriptions/{id}',
    access: 'write',
    tag: 'subscriptions',
    summary: 'Change auto-renewal, its own price, auto-recharge settings; suspend or resume',
    description:
      'Records one `subscription.updated` event with the settings that changed (`changes`: their new values as ' +
      'this view shows them; `previous`: what they were); a change that changes nothing records none. Setting ' +
      '`cancel_at_period_end` (an active or suspended subscription) records `subscription.cancel_scheduled` ' +
      'instead — and takes back an unpaid renewal made ahead, as POST …/cancel at period_end does; suspending and ' +
      'resuming record `subscription.suspended` / `subscription.resumed`. A change that makes it renewable ' +
      '(`auto_renew` on, `cancel_at_period_end` taken back, resumed) with its period ending before the next nightly ' +
      'run renews it ahead at once, as that run would have.',
    params: idParams,
    body: patchBody,
    responses: {
      200: { description: 'Updated', schema: subscriptionSchema },
      404: { description: 'No such subscription' },
      409: {
        description:
          'A state change that is not allowed (suspend what is not active, set a pending, expired or cancelled ' +
          'subscription to cancel at period end, …)',
      },
    },
    handler: async ({ params, body, db, app, auth, afterCommit }) => {
      if (!isUuid(params.id)) return notFound(params.id);
      // a freeze past its frozen_until has ended: the sweep's unfreeze first, so that it can be suspended
      await settleFreezeOwed(app, params.id);
      const result = await patchSubscription(db, params.id, body, app.clock.now(), {
        actor: actorOf(auth),
        onRenewalUndone: forgetUndoneOnCommit(app, afterCommit),
        // auto_renew turned on, a cancel at period end taken back, resumed: renewed ahead now if the period ends
        // before the next nightly run
        onRenewable: renewAheadOnCommit(app, afterCommit),
      });
      return await changedReply(db, result);
    },
  }),
  defineRoute({
    method: 'post',
    path: '/v1/subscriptions/{id}/cancel',
    access: 'write',
    tag: 'subscriptions',
    summary: 'Cancel now (remaining units are voided) or at period end (no renewal)',
    description:
      '`period_end` (the default) lets the period of an active or suspended subscription run out and stops its ' +
      'renewals: the balances stay until then, `subscription.cancel_scheduled` is recorded, and the expiry sweep ' +
      'cancels it when the period ends (`subscription.cancelled`). A pending subscription has no period running: ' +
      'it is cancelled at once either way, and its unpaid invoice voided (`invoice.voided`; paying it is 409). ' +
      'Set to cancel at period end while a renewal made ahead has not begun and is unpaid, that renewal is taken ' +
      'back: its balances and invoice are voided and the period still running is the one that ends (`cancel_at`, ' +
      'with `renewals_undone`); a paid renewal stands, and the cancel comes at its end. A recharge bought into ' +
      'that renewal goes with it (its balances and unpaid invoice voided, `recharges_voided`), unless it is paid or ' +
      'already spent from: then the renewal stands as a paid one does. ' +
      'Cancelled now, the unpaid invoice of a period that has not begun (a renewal made ahead) is voided the same ' +
      'way: its units are void before they could be spent. Asking again answers the same subscription.',
    params: idParams,
    body: z.strictObject({
      at: z.enum(['now', 'period_end']).default('period_end'),
      reason: z.string().max(REASON_MAX_LENGTH).optional(),
    }),
    responses: {
      200: { description: 'Cancelled (or set to cancel)', schema: subscriptionSchema },
      404: { description: 'No such subscription' },
      409: { description: 'Expired already' },
    },
    handler: async ({ params, body, db, app, auth, afterCommit }) => {
      if (!isUuid(params.id)) return notFound(params.id);
      const result = await cancelSubscription(db, params.id, body.at, {
        now: app.clock.now(),
        actor: actorOf(auth),
        reason: body.reason,
        onRenewalUndone: forgetUndoneOnCommit(app, afterCommit),
      });
      return await changedReply(db, result);
    },
  }),
  defineRoute({
    method: 'post',
    path: '/v1/subscriptions/{id}/renew',
    access: 'write',
    tag: 'subscriptions',
    summary: 'Renew now: a renewal job for the current period',
    description:
      'The next period starts where the current one ends (or now, if the subscription has expired), with an ' +
      "invoice at the subscription's price. Renewing the same period twice grants nothing the second time. 202 " +
      '`{job_id}`; with `?wait=true`, 200 with the result.',
    params: idParams,
    query: waitQuery,
    body: z.strictObject({ apply_package_changes: z.boolean().optional() }).optional(),
    idempotency: 'job',
    responses: {
      202: { description: 'Queued', schema: z.object({ job_id: z.string(), status: z.string() }) },
      200: { description: 'Renewed (with ?wait=true)', schema: renewalResultSchema },
      404: { description: 'No such subscription' },
      409: { description: 'Cancelled, pending payment, or set to cancel at period end' },
    },
    handler: async ({ params, query, body, app, auth, idempotencyKey, path }) => {
      if (!isUuid(params.id)) return notFound(params.id);
      // a freeze past its frozen_until has ended: the sweep's unfreeze first (its period end pushed), then renewed
      await settleFreezeOwed(app, params.id);
      const accepted = await acceptRenewal(
        app,
        params.id,
        { apply_package_changes: body?.apply_package_changes },
        { idempotencyKey: idempotencyKey, apiKeyId: auth?.keyId, path },
      );
      if (!accepted.ok) return accepted;
      const { jobId } = accepted.value;
      return jobReply(app, { name: 'renew', jobId }, { wait: query.wait, queued: { job_id: jobId, status: 'queued' } });
    },
  }),
  defineRoute({
    method: 'post',
    path: '/v1/subscriptions/{id}/recharge',
    access: 'write',
    tag: 'subscriptions',
    summary: 'Recharge: refill before the renewal date, invoiced',
    description:
      "Adds recharge balances valid until the current period ends: one package's worth by default, or the " +
      "`items` given; invoiced at the package's recharge_price or the `price` given. The Idempotency-Key becomes " +
      "the job's idempotency key (the same key recharges once). 202 `{job_id}`; with `?wait=true`, 200 with the " +
      'result.',
    params: idParams,
    query: waitQuery,
    body: z
      .strictObject({
        items: z
          .array(z.strictObject({ credit_type: refSchema, units: quantityInput }))
          .min(1)
          .max(50)
          .optional(),
        price: moneyInput.optional(),
      })
      .optional(),
    idempotency: 'job',
    responses: {
      202: { description: 'Queued', schema: z.object({ job_id: z.string(), status: z.string() }) },
      200: { description: "Recharged (with ?wait=true), or this key's recharge again", schema: rechargeResultSchema },
      404: { description: 'No such subscription' },
      409: { description: 'The subscription is not active' },
    },
    handler: async ({ params, query, body, app, idempotencyKey }) => {
      if (!isUuid(params.id)) return notFound(params.id);
      const key = idempotencyKey;
      if (key !== undefined && (key.length === 0 || key.length > 255)) {
        return fail('validation_failed', 'Idempotency-Key must be 1–255 characters', {
          errors: [{ field: 'Idempotency-Key', message: 'must be 1–255 characters' }],
        });
      }
      // a freeze past its frozen_until has ended: the sweep's unfreeze first, so that it can be recharged
      await settleFreezeOwed(app, params.id);
      const accepted = await acceptRecharge(
        app,
        params.id,
        { items: body?.items, price: body?.price === undefined ? undefined : body.price.toString() },
        key ?? randomUUID(),
      );
      if (!accepted.ok) return accepted;
      const { jobId, replay, fresh } = accepted.value;
      const queued = { job_id: jobId, status: 'queued' };
      if (replay) return query.wait ? { status: 200, body: replay } : { status: 202, body: queued };
      return jobReply(
        app,
        { name: 'recharge', jobId, ...(fresh === undefined ? {} : { fresh }) },
        { wait: query.wait, queued },
      );
    },
  }),
  defineRoute({
    method: 'post',
    path: '/v1/subscriptions/{id}/freeze',
    access: 'write',
    tag: 'subscriptions',
    summary: "Freeze: stop the subscription's clock until a date (or for some days)",
    description:
      'An active subscription becomes `frozen` until `until` (or for `days`, or, with neither, as long as what is ' +
      "left of its package's `max_freeze_days` for this period): its balances pay for nothing, and it is neither " +
      'renewed nor expired. At unfreeze (by hand, or by the expiry sweep at `frozen_until`) its period end and the ' +
      'expiries of its balances move later by the time it was frozen. Records `subscription.frozen`. Frozen ' +
      'while a renewal made ahead (each nightly run renews the periods ending before the next run) has not ' +
      'begun and is ' +
      'unpaid, that renewal is taken back first — its balances and invoice voided (`renewals_undone`), the ' +
      'period running is the one frozen — and it is made again at the end the unfreeze sets; a paid one, or one ' +
      'a recharge was bought into, stands (409: its period has not begun). Frozen before and past its ' +
      '`frozen_until` (the sweep not come yet), that freeze ends there first, as the sweep ends it.',
    params: idParams,
    body: freezeBody,
    // a retried freeze (its answer lost) replays the first answer instead of 409 "frozen already"
    idempotency: 'stored',
    responses: {
      200: { description: 'Frozen', schema: subscriptionSchema },
      404: { description: 'No such subscription' },
      409: {
        description: 'Not active (frozen already, suspended, pending, expired, cancelled) or its period is not running',
      },
      422: {
        description:
          'The package allows no freezing, the freeze goes beyond what is left of its max_freeze_days in this ' +
          'period, ' +
          'or `until` is not in the future',
      },
    },
    handler: async ({ params, body, db, app, auth, afterCommit }) => {
      if (!isUuid(params.id)) return notFound(params.id);
      const result = await freezeSubscription(
        db,
        params.id,
        { until: body?.until, days: body?.days },
        {
          now: app.clock.now(),
          actor: actorOf(auth),
          onRenewalUndone: forgetUndoneOnCommit(app, afterCommit),
        },
      );
      return await changedReply(db, result);
    },
  }),
  defineRoute({
    method: 'post',
    path: '/v1/subscriptions/{id}/unfreeze',
    access: 'write',
    tag: 'subscriptions',
    summary: 'Unfreeze: start the clock again, pushing the period end and the expiries by the frozen time',
    description:
      'The subscription is active again; its `current_period_end` and the `expires_at` of its live balances move ' +
      'later by exactly the time it was frozen (never beyond `frozen_until`), each balance with an `extend` ledger ' +
      'entry (amount 0, old and new expiry). Records `subscription.unfrozen`. Auto-renewing, with its moved end ' +
      'before the next nightly run, it is renewed ahead at once (the job `renewal|<subscription>|<period end>` that ' +
      'run would have asked), so a use at that end finds the next period.',
    params: idParams,
    idempotency: 'stored',
    responses: {
      200: { description: 'Unfrozen', schema: subscriptionSchema },
      404: { description: 'No such subscription' },
      409: { description: 'The subscription is not frozen' },
    },
    handler: async ({ params, db, app, auth, afterCommit }) => {
      if (!isUuid(params.id)) return notFound(params.id);
      const result = await unfreezeSubscription(db, params.id, {
        now: app.clock.now(),
        actor: actorOf(auth),
        by: 'hand',
        // its end moved before the next nightly run: renewed ahead now
        onRenewable: renewAheadOnCommit(app, afterCommit),
      });
      return await changedReply(db, result);
    },
  }),
];
