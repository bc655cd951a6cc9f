import { z } from 'zod';
import { EVENT_TYPES, listEvents } from '../../db/repositories/outbox.js';
import { deliveriesOfEndpoint, endpointById, listLiveEndpoints } from '../../db/repositories/webhooks.js';
import { ADMIN_EVENT_TYPES } from '../../domain/event.js';
import { fail } from '../../domain/result.js';
import { isUuid } from '../../ids.js';
import { idParams, listOf, pageQuery } from '../../schemas/common.js';
import {
  createEndpoint,
  deleteEndpoint,
  enableEndpoint,
  rotateSecret,
  SUBSCRIBABLE,
  toEndpointView,
  webhookEndpointView,
} from '../../webhooks/endpoints.js';
import { eventEnvelope } from '../../webhooks/event-schemas.js';
import { redeliver } from '../../webhooks/redeliver.js';
import { isStandardSecret } from '../../webhooks/signature.js';
import { hasScope } from '../auth.js';
import { page, replyWith } from '../reply.js';
import { type AnyRoute, defineRoute } from '../route.js';

const deliveryView = z.object({
  id: z.uuid(),
  event_id: z.uuid(),
  event_type: z.string(),
  status: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number().int(),
  last_status_code: z.number().int().nullable(),
  last_error: z.string().nullable(),
  delivered_at: z.string().nullable(),
  created_at: z.string(),
});

/** A position in the outbox (an event's `seq`), as `next_cursor` gives it. */
const eventCursor = z
  .string()
  .max(19)
  .refine((v) => /^\d{1,19}$/.test(v) && BigInt(v) <= 9_223_372_036_854_775_807n, {
    message: 'must be a cursor this API gave out',
  });

export const webhookRoutes: AnyRoute[] = [
  defineRoute({
    method: 'post',
    path: '/v1/webhook-endpoints',
    access: 'admin',
    tag: 'webhooks',
    summary: 'Subscribe a URL to events',
    description:
      'Each event is POSTed as JSON with the Standard Webhooks headers (verifiable with the `standardwebhooks` ' +
      'libraries): `webhook-id` (the event id, the same on every retry), `webhook-timestamp` (unix seconds) and ' +
      '`webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">` keyed with the base64-decoded part ' +
      'of the `whsec_` secret; plus Credits-Event-Id, Credits-Event-Type, Credits-Delivery-Id and ' +
      'Credits-Delivery-Attempt. Non-2xx answers are retried with capped exponential backoff and jitter for more ' +
      'than 24 hours (the defaults); then the delivery fails and the endpoint is disabled. A URL whose host resolves ' +
      'to a loopback, private, link-local or other non-public address is refused (422) unless the service runs with ' +
      'WEBHOOK_ALLOW_PRIVATE=true. The secret is shown in full only here.',
    body: z.strictObject({
      url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2000),
      events: z.array(z.enum(SUBSCRIBABLE)).min(1, 'give at least one event type, or "*"').max(SUBSCRIBABLE.length),
      secret: z
        .string()
        .max(200)
        .refine(isStandardSecret, 'must be "whsec_" + the standard base64 of 24 to 64 random bytes')
        .optional(),
      description: z.string().max(500).optional(),
    }),
    idempotency: 'stored',
    responses: { 201: { description: 'Created, with its secret', schema: webhookEndpointView } },
    handler: async ({ body, db, app }) =>
      replyWith(
        await createEndpoint(db, body, app.clock.now(), { allowPrivate: app.config.WEBHOOK_ALLOW_PRIVATE }),
        201,
        (row) => toEndpointView(row, true),
      ),
  }),
  defineRoute({
    method: 'get',
    path: '/v1/webhook-endpoints',
    access: 'admin',
    tag: 'webhooks',
    summary: 'List webhook endpoints (secrets masked)',
    query: pageQuery,
    responses: { 200: { description: 'A page of endpoints', schema: listOf(webhookEndpointView) } },
    handler: async ({ query, db }) => {
      const result = await listLiveEndpoints(db, query);
      return {
        status: 200,
        body: page(
          result.data.map((r) => toEndpointView(r)),
          result.nextCursor,
        ),
      };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/webhook-endpoints/{id}',
    access: 'admin',
    tag: 'webhooks',
    summary: 'One webhook endpoint (secret masked), a deleted one too',
    description:
      'A deleted endpoint is answered with its `deleted_at`: it is no longer listed and is sent nothing more, but ' +
      'its row and its deliveries are kept, so that a receiver reconciling what it was sent can still read both. ' +
      '404 only for an id that never named an endpoint.',
    params: idParams,
    responses: {
      200: { description: 'The endpoint', schema: webhookEndpointView },
      404: { description: 'No endpoint, deleted or not, has this id' },
    },
    handler: async ({ params, db }) => {
      const row = isUuid(params.id) ? await endpointById(db, params.id) : undefined;
      return row ? { status: 200, body: toEndpointView(row) } : fail('not_found', `no webhook endpoint "${params.id}"`);
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/webhook-endpoints/{id}/deliveries',
    access: 'admin',
    tag: 'webhooks',
    summary: "An endpoint's deliveries, newest first, with their attempts' outcome",
    description:
      'A deleted endpoint (DELETE /v1/webhook-endpoints/{id}) is no longer listed and is sent nothing more, but its ' +
      'deliveries stay, the history of what it was sent, and are answered here as before: those still pending when ' +
      'it was deleted end `failed` with `last_error: "endpoint deleted"` when their next attempt comes, and none of ' +
      'its deliveries can be sent again (POST /v1/webhook-deliveries/{id}/retry answers 409). 404 only for an id ' +
      'that never named an endpoint.',
    params: idParams,
    query: pageQuery.extend({ status: z.enum(['pending', 'delivered', 'failed']).optional() }),
    responses: {
      200: {
        description: 'A page of deliveries, newest first (a deleted endpoint’s too)',
        schema: listOf(deliveryView),
      },
      404: { description: 'No endpoint, deleted or not, has this id' },
    },
    handler: async ({ params, query, db }) => {
      if (!isUuid(params.id) || !(await endpointById(db, params.id)))
        return fail('not_found', `no webhook endpoint "${params.id}"`);
      const result = await deliveriesOfEndpoint(db, params.id, query);
      return {
        status: 200,
        body: page(
          result.data.map((r) => ({
            id: r.id,
            event_id: r.event_id,
            event_type: r.event_type,
            status: r.status,
            attempts: r.attempts,
            last_status_code: r.last_status_code,
            last_error: r.last_error,
            delivered_at: r.delivered_at?.toISOString() ?? null,
            created_at: r.created_at.toISOString(),
          })),
          result.nextCursor,
        ),
      };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/v1/webhook-endpoints/{id}/enable',
    access: 'admin',
    tag: 'webhooks',
    summary: 'Enable an endpoint that was disabled',
    description:
      'An endpoint is disabled when a delivery to it failed all its attempts (a `webhook_endpoint.disabled` event ' +
      'says so): it is told of no event that occurs while it is disabled, then or once enabled here. Its failed ' +
      'deliveries can then be sent again with POST /v1/webhook-deliveries/{id}/retry. Enabling an endpoint that is ' +
      'not disabled changes nothing.',
    params: idParams,
    responses: {
      200: { description: 'Enabled (secret masked)', schema: webhookEndpointView },
      404: { description: 'No such endpoint' },
    },
    handler: async ({ params, db }) => {
      if (!isUuid(params.id)) return fail('not_found', `no webhook endpoint "${params.id}"`);
      return replyWith(await enableEndpoint(db, params.id), 200, (row) => toEndpointView(row));
    },
  }),
  defineRoute({
    method: 'post',
    path: '/v1/webhook-endpoints/{id}/rotate-secret',
    access: 'admin',
    tag: 'webhooks',
    summary: "Replace an endpoint's secret, the old one still valid for a grace period",
    description:
      'Answers the new secret, shown in full only here. Until `grace_seconds` have passed (default a day) every ' +
      'delivery carries two signatures, `webhook-signature: v1,<new> v1,<old>`, so the receiver can switch to the ' +
      'new secret at its pace; then only the new one. `grace_seconds: 0` drops the old secret at once.',
    params: idParams,
    body: z.strictObject({
      grace_seconds: z.number().int().min(0).max(604_800).default(86_400),
    }),
    idempotency: 'stored',
    responses: {
      200: { description: 'The endpoint, with its new secret', schema: webhookEndpointView },
      404: { description: 'No such endpoint' },
    },
    handler: async ({ params, body, db }) => {
      if (!isUuid(params.id)) return fail('not_found', `no webhook endpoint "${params.id}"`);
      return replyWith(await rotateSecret(db, params.id, body.grace_seconds), 200, (row) => toEndpointView(row, true));
    },
  }),
  defineRoute({
    method: 'delete',
    path: '/v1/webhook-endpoints/{id}',
    access: 'admin',
    tag: 'webhooks',
    summary: 'Stop delivering to an endpoint',
    params: idParams,
    responses: { 204: { description: 'Deleted' }, 404: { description: 'No such endpoint' } },
    handler: async ({ params, db, app }) => {
      if (!isUuid(params.id)) return fail('not_found', `no webhook endpoint "${params.id}"`);
      const result = await deleteEndpoint(db, params.id, app.clock.now());
      return result.ok ? { status: 204 } : result;
    },
  }),
  defineRoute({
    method: 'post',
    path: '/v1/webhook-deliveries/{id}/retry',
    access: 'admin',
    tag: 'webhooks',
    summary: 'Send a delivery again now (after it ran out of attempts, or while it waits for its next one)',
    description:
      'A failed delivery goes back to pending with a fresh count of attempts; a pending one waiting for its ' +
      'next attempt after a failure is tried now instead of when its backoff ends. 409 when it was delivered ' +
      'already, or while its endpoint is disabled or deleted.',
    params: idParams,
    responses: {
      202: { description: 'Pending again', schema: z.object({ delivery_id: z.uuid(), status: z.literal('pending') }) },
      404: { description: 'No such delivery' },
      409: { description: 'Delivered already' },
    },
    handler: async ({ params, app, db, afterCommit }) => {
      if (!isUuid(params.id)) return fail('not_found', `no webhook delivery "${params.id}"`);
      const result = await redeliver(app, db, params.id, afterCommit);
      return result.ok ? { status: 202, body: result.value } : result;
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/events',
    // a receiver's system reconciles with the key it reads with; the events about the endpoints themselves are an
    // administrator's, as the endpoints are (listing or changing them needs an admin key)
    access: 'read',
    tag: 'webhooks',
    summary: 'The events, oldest first, for receivers that reconcile',
    description:
      'The outbox as a list: each event as its webhook delivers it, oldest first. `after` is the `next_cursor` of ' +
      'the previous page (or the `seq` of the last event seen); a page with `next_cursor: null` is the last one ' +
      'for now: ask again later with the last cursor. Events no endpoint wanted are pruned after a while. A key ' +
      'below admin sees every event but those about the webhook endpoints (`webhook_endpoint.*`: 403 asked by type).',
    query: z
      .object({
        type: z.enum(EVENT_TYPES).optional(),
        after: eventCursor.optional(),
        // API.md "Conventions": every list takes ?cursor= (here the same as ?after=) and ?limit= (≤ 500, default 50)
        cursor: eventCursor.optional().meta({ description: 'The same as `after` (the `next_cursor` of a page).' }),
        limit: z.coerce.number().int().min(1).max(500).default(50),
      })
      .refine((q) => q.after === undefined || q.cursor === undefined || q.after === q.cursor, {
        message: 'give after or cursor (the same thing), not two different ones',
        path: ['cursor'],
      }),
    responses: {
      200: { description: 'A page of events', schema: listOf(eventEnvelope.extend({ seq: z.string() })) },
      403: { description: 'A `webhook_endpoint.*` type asked with a key below admin' },
    },
    handler: async ({ query, db, auth }) => {
      const admin = auth !== null && hasScope(auth, 'admin');
      if (!admin && query.type !== undefined && ADMIN_EVENT_TYPES.includes(query.type))
        return fail('forbidden', `the ${query.type} events need an admin key`);
      const result = await listEvents(db, {
        type: query.type,
        hidden: admin ? [] : ADMIN_EVENT_TYPES,
        afterSeq: BigInt(query.cursor ?? query.after ?? '0'),
        limit: query.limit,
      });
      const data = result.rows.map((row) => ({ seq: row.seq.toString(), ...row.payload }));
      return { status: 200, body: page(data, result.more ? (data[data.length - 1]?.seq ?? null) : null) };
    },
  }),
];
