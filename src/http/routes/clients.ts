import { z } from 'zod';
import { findClient, listClients } from '../../db/repositories/clients.js';
import { fail } from '../../domain/result.js';
import { settleOwedOf } from '../../jobs/swept-reads.js';
import { parseBound } from '../../reports/params.js';
import {
  idParams,
  listOf,
  metadataSchema,
  nameSchema,
  pageQuery,
  quantityInput,
  REASON_MAX_LENGTH,
  refSchema,
  timestampSchema,
} from '../../schemas/common.js';
import {
  asOfArchived,
  clientBalances,
  clientBalancesAsOf,
  clientStatement,
  creditTypeBalanceView,
  ledgerEntryView,
} from '../../services/balances.js';
import { patchClient, upsertClient } from '../../services/clients.js';
import { clientForecast, forecastView } from '../../services/forecast.js';
import { grantUnits, grantView } from '../../services/grants.js';
import { clientUsage, usageView } from '../../services/usage.js';
import { clientView, toClientView } from '../../views/client.js';
import { page, replyWith } from '../reply.js';
import { type AnyRoute, defineRoute } from '../route.js';

const emailSchema = z.email('must be an e-mail address').max(320).nullable();

const upsertBody = z.strictObject({
  external_ref: z
    .string()
    .trim()
    .min(1, 'is required')
    .max(200)
    .meta({ description: "The client's id in the sales/invoicing system." }),
  name: nameSchema,
  email: emailSchema.optional(),
  metadata: metadataSchema.optional(),
});

const patchBody = z
  .strictObject({ name: nameSchema.optional(), email: emailSchema.optional(), metadata: metadataSchema.optional() })
  .refine((b) => Object.keys(b).length > 0, 'give at least one field to change');

export const clientRoutes: AnyRoute[] = [
  defineRoute({
    method: 'post',
    path: '/v1/clients',
    access: 'write',
    tag: 'clients',
    summary: 'Create a client, or update the one with this external_ref',
    body: upsertBody,
    idempotency: 'stored',
    responses: {
      201: { description: 'Created', schema: clientView },
      200: { description: 'Found by external_ref (and updated)', schema: clientView },
    },
    handler: async ({ body, db, app }) => {
      const result = await upsertClient(db, body, app.clock.now());
      if (!result.ok) return result;
      return { status: result.value.created ? 201 : 200, body: toClientView(result.value.client) };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/clients',
    access: 'read',
    tag: 'clients',
    summary: 'List clients',
    query: pageQuery.extend({
      search: z
        .string()
        .trim()
        .min(1)
        .max(200)
        .optional()
        .meta({ description: 'Matches name, external_ref or email.' }),
    }),
    responses: { 200: { description: 'A page of clients', schema: listOf(clientView) } },
    handler: async ({ query, db }) => {
      const result = await listClients(db, query, { search: query.search });
      return { status: 200, body: page(result.data.map(toClientView), result.nextCursor) };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/clients/{id}',
    access: 'read',
    tag: 'clients',
    summary: 'Get a client by id or external_ref',
    params: idParams,
    responses: { 200: { description: 'The client', schema: clientView }, 404: { description: 'No such client' } },
    handler: async ({ params, db }) => {
      const row = await findClient(db, params.id);
      return row ? { status: 200, body: toClientView(row) } : fail('not_found', `no client "${params.id}"`);
    },
  }),
  defineRoute({
    method: 'patch',
    path: '/v1/clients/{id}',
    access: 'write',
    tag: 'clients',
    summary: 'Change a client',
    params: idParams,
    body: patchBody,
    responses: { 200: { description: 'Updated', schema: clientView }, 404: { description: 'No such client' } },
    handler: async ({ params, body, db, app }) =>
      replyWith(await patchClient(db, params.id, body, app.clock.now()), 200, toClientView),
  }),
  defineRoute({
    method: 'get',
    path: '/v1/clients/{id}/balances',
    access: 'read',
    tag: 'clients',
    summary:
      'What a client holds: per credit type granted, consumed, remaining (usable now), unavailable, upcoming, ' +
      'expired, next expiry, and the balances behind it',
    description:
      'With `as_of` (an RFC 3339 instant): the same answer as it stood then, computed from the ledger alone — ' +
      'each balance replayed from its entries written up to that instant (a balance with none did not exist ' +
      'yet) and what the sweep owed by then but wrote later (a hold past its `expires_at`, a freeze past its ' +
      '`frozen_until`: ended as of then, as a live read then would have answered), with the expiry it had then ' +
      '(before an `extend` that took effect later), placed by its validity and its ' +
      "subscription's status (a freeze covering the instant: frozen) at that instant. At now it equals the " +
      'live answer. A suspension or a pending payment leaves no history: such a status is taken as it is now. ' +
      'Either answer is as the sweep leaves the client: what it owes now (a hold past its `expires_at`, a freeze ' +
      'past its `frozen_until`) is done first, with its ledger entries (dated when the hold or the freeze ended) ' +
      'and events.',
    params: idParams,
    query: z.object({
      as_of: z
        .string()
        .trim()
        .max(40)
        .optional()
        .meta({
          description:
            'Answer as of this instant (RFC 3339 with its offset), from the ledger; a day (YYYY-MM-DD) means the ' +
            'end of that day in BUSINESS_TZ.',
        }),
    }),
    responses: {
      200: {
        description: 'One row per credit type the client has held',
        schema: z.object({ data: z.array(creditTypeBalanceView) }),
      },
      404: { description: 'No such client' },
    },
    handler: async ({ params, query, db, app }) => {
      const client = await findClient(db, params.id);
      if (!client) return fail('not_found', `no client "${params.id}"`);
      const asOf = query.as_of === undefined ? undefined : parseBound(query.as_of, app.config.BUSINESS_TZ, true);
      if (query.as_of !== undefined && asOf === undefined) {
        return fail('validation_failed', 'as_of must be an RFC 3339 time with its offset, or a day (YYYY-MM-DD)', {
          errors: [{ field: 'query.as_of', message: 'must be an RFC 3339 time with its offset, or a day' }],
        });
      }
      const archived = asOf ? await asOfArchived(db, asOf) : null;
      if (archived)
        return fail('validation_failed', archived, { errors: [{ field: 'query.as_of', message: archived }] });
      const now = app.clock.now();
      // what the sweep owes by now, done first — for a past instant too: a hold that ran out or a freeze that ended
      // before it, with nothing to record that yet, has its closing entries dated at that end (effective_at), which
      // the ledger then answers as of the instant
      await settleOwedOf(app, [client.id]);
      const data = asOf ? await clientBalancesAsOf(db, client.id, asOf) : await clientBalances(db, client.id, now);
      return { status: 200, body: { data } };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/clients/{id}/forecast',
    access: 'read',
    tag: 'clients',
    summary: 'When a credit type runs empty at the recent burn, and what will expire unused',
    description:
      'The burn is the net consumption (consumed − reversed, by when it happened) of the last `window_days` ÷ ' +
      "`window_days`. The usable balances are walked in the spending order (a frozen subscription's from its " +
      '`frozen_until`, its expiries pushed by the frozen time), the current one draining at that ' +
      'burn from now: a balance whose expiry comes first keeps what is left then (`expiring_unused`), and the ' +
      'credit type runs empty when the last one is spent or expires. Exact: units spent by an expiry round ' +
      "down (what expires rounds up); `burn_per_day` is shown with 6 more decimals than the credit type's, " +
      'rounded half up; `days_until_empty` is whole ' +
      'days, rounded down. With no burn, `days_until_empty` and `empty_on` are null and every balance ' +
      'expires unused. Walked as the sweep leaves the balances: a hold past its `expires_at`, a freeze past its ' +
      '`frozen_until` are closed first.',
    params: idParams,
    query: z.object({
      credit_type: refSchema.meta({ description: 'Id or code of the credit type.' }),
      window_days: z.coerce.number().int().min(1).max(366).default(30),
    }),
    responses: {
      200: { description: 'The forecast', schema: forecastView },
      404: { description: 'No such client or credit type' },
    },
    handler: async ({ params, query, db, app }) => {
      const client = await findClient(db, params.id);
      if (!client) return fail('not_found', `no client "${params.id}"`);
      const creditType = await app.refs.creditType(db, query.credit_type);
      if (!creditType) return fail('not_found', `no credit type "${query.credit_type}"`);
      await settleOwedOf(app, [client.id]);
      return { status: 200, body: await clientForecast(app, { clientId: client.id, creditType }, query.window_days) };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/clients/{id}/usage',
    access: 'read',
    tag: 'clients',
    summary: "A client's net use of a credit type per day, week, month, or per value of one of its dimensions",
    description:
      'Consumed − reversed: a use counts when it occurred, a reversal when it happened. `group_by` is `day` ' +
      '(default), `week`, `month` (buckets of BUSINESS_TZ, keyed by their first day; a week starts on WEEK_START) ' +
      "or one of the credit type's " +
      '`dimensions` (one row per value, "(none)" for uses that gave none). `from`/`to` as a report\'s range: ' +
      'a day or an RFC 3339 time, both ends included; default the last 30 days up to now.',
    params: idParams,
    query: z.object({
      credit_type: refSchema.meta({ description: 'Id or code of the credit type.' }),
      from: z.string().trim().max(40).optional(),
      to: z.string().trim().max(40).optional(),
      group_by: z.string().trim().min(1).max(40).optional(),
    }),
    responses: {
      200: { description: 'One row per key', schema: usageView },
      404: { description: 'No such client or credit type' },
    },
    handler: async ({ params, query, db, app }) =>
      replyWith(
        await clientUsage(
          db,
          { ...query, client: params.id },
          { now: app.clock.now(), timeZone: app.config.BUSINESS_TZ, weekStart: app.config.WEEK_START },
        ),
        200,
        (usage) => usage,
      ),
  }),
  defineRoute({
    method: 'post',
    path: '/v1/clients/{id}/grants',
    access: 'admin',
    tag: 'balances',
    summary: 'Grant a client units of a credit type, with a validity of their own',
    description:
      'DOMAIN.md balance source `adjustment`: an operator gives units to a client, whether or not it holds a ' +
      'subscription. The balance belongs to no subscription (`subscription_id` null): it is spent in the ' +
      'spending order like any other, reversed into, and expired by the sweep at its `expires_at`; it is never ' +
      "renewed or rolled over. Its ledger entry is an `adjust` with the reason and the caller's key as actor. " +
      'Honours Idempotency-Key.',
    params: idParams,
    body: z.strictObject({
      credit_type: refSchema.meta({ description: 'Id or code of the credit type.' }),
      units: quantityInput.meta({ description: 'Positive decimal, at most the credit type\'s decimals, e.g. "2.5".' }),
      expires_at: timestampSchema.meta({ description: 'When the units expire: after valid_from and in the future.' }),
      valid_from: timestampSchema.optional().meta({ description: 'When they become usable; default now.' }),
      priority: z
        .number()
        .int()
        .min(0)
        .max(100)
        .optional()
        .meta({ description: 'Spending priority (lower is spent first); default 50, as a package.' }),
      reason: z.string().trim().min(1, 'is required').max(REASON_MAX_LENGTH),
    }),
    idempotency: 'stored',
    responses: {
      201: { description: 'The balance created, with its ledger entry', schema: grantView },
      404: { description: 'No such client or credit type' },
      422: {
        description:
          'Units not positive or with more decimals than the credit type allows, expires_at not after valid_from ' +
          'or in the past, an archived credit type',
      },
    },
    handler: async ({ params, body, db, app, auth }) =>
      replyWith(
        await grantUnits(db, params.id, body, { now: app.clock.now(), actor: `key:${auth?.keyId}` }),
        201,
        (grant) => grant,
      ),
  }),
  defineRoute({
    method: 'get',
    path: '/v1/clients/{id}/statement',
    access: 'read',
    tag: 'clients',
    summary: "A client's ledger entries with remaining_after, oldest first",
    params: idParams,
    query: z.object({
      from: timestampSchema.optional(),
      to: timestampSchema.optional(),
      credit_type: refSchema.optional(),
      // API.md "Conventions": a list's limit is at most 500, 50 by default
      limit: z.coerce.number().int().min(1).max(500).default(50),
      cursor: z
        .string()
        .regex(/^\d{1,19}$/, 'is not a cursor this API gave out')
        .optional(),
    }),
    responses: {
      200: { description: 'A page of ledger entries', schema: listOf(ledgerEntryView) },
      404: { description: 'No such client or credit type' },
    },
    handler: async ({ params, query, db, app }) => {
      const client = await findClient(db, params.id);
      if (!client) return fail('not_found', `no client "${params.id}"`);
      let creditTypeId: string | undefined;
      if (query.credit_type) {
        const creditType = await app.refs.creditType(db, query.credit_type);
        if (!creditType) return fail('not_found', `no credit type "${query.credit_type}"`);
        creditTypeId = creditType.id;
      }
      // the entries the sweep owes by now (a hold's release at its expires_at, a freeze's extends) are written first
      await settleOwedOf(app, [client.id]);
      return {
        status: 200,
        body: await clientStatement(db, {
          clientId: client.id,
          creditTypeId,
          from: query.from,
          to: query.to,
          cursor: query.cursor,
          limit: query.limit,
        }),
      };
    },
  }),
];
