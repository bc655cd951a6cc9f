import { z } from 'zod';
import { deliveriesOfEndpoint, listLiveEndpoints, liveEndpointById } from '../../db/repositories/webhooks.js';
import { fail } from '../../domain/result.js';
import { isUuid } from '../../ids.js';
import { idParams, listOf, pageQuery } from '../../schemas/common.js';
import {
  createEndpoint,
  deleteEndpoint,
  SUBSCRIBABLE,
  toEndpointView,
  webhookEndpointView,
} from '../../webhooks/endpoints.js';
import { redeliver } from '../../webhooks/redeliver.js';
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

export const webhookRoutes: AnyRoute[] = [
  defineRoute({
    method: 'post',
    path: '/v1/webhook-endpoints',
    access: 'admin',
    tag: 'webhooks',
    summary: 'Subscribe a URL to events',
    description:
      'Each event is POSTed as JSON with `Credits-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">` ' +
      'keyed with the secret, plus Credits-Event-Id, Credits-Event-Type and Credits-Delivery-Id. Non-2xx answers ' +
      'are retried with exponential backoff. The secret is shown in full only here.',
    body: z.strictObject({
      url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2000),
      events: z.array(z.enum(SUBSCRIBABLE)).min(1, 'give at least one event type, or "*"').max(SUBSCRIBABLE.length),
      secret: z.string().min(16, 'must be at least 16 characters').max(200).optional(),
      description: z.string().max(500).optional(),
    }),
    idempotency: 'stored',
    responses: { 201: { description: 'Created, with its secret', schema: webhookEndpointView } },
    handler: async ({ body, db, app }) =>
      replyWith(await createEndpoint(db, body, app.clock.now()), 201, (row) => toEndpointView(row, true)),
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
    path: '/v1/webhook-endpoints/{id}/deliveries',
    access: 'admin',
    tag: 'webhooks',
    summary: "An endpoint's deliveries, newest first, with their attempts' outcome",
    params: idParams,
    query: z.object({
      limit: z.coerce.number().int().min(1).max(500).default(50),
      status: z.enum(['pending', 'delivered', 'failed']).optional(),
    }),
    responses: {
      200: { description: 'Deliveries', schema: z.object({ data: z.array(deliveryView) }) },
      404: { description: 'No such endpoint' },
    },
    handler: async ({ params, query, db }) => {
      if (!isUuid(params.id) || !(await liveEndpointById(db, params.id)))
        return fail('not_found', `no webhook endpoint "${params.id}"`);
      const rows = await deliveriesOfEndpoint(db, params.id, { status: query.status, limit: query.limit });
      return {
        status: 200,
        body: {
          data: rows.map((r) => ({
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
        },
      };
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
    summary: 'Send a delivery again after it ran out of attempts',
    description:
      'A failed delivery goes back to pending with a fresh count of attempts. 409 when it was delivered already.',
    params: idParams,
    responses: {
      202: { description: 'Pending again', schema: z.object({ delivery_id: z.uuid(), status: z.literal('pending') }) },
      404: { description: 'No such delivery' },
      409: { description: 'Delivered already' },
    },
    handler: async ({ params, app }) => {
      if (!isUuid(params.id)) return fail('not_found', `no webhook delivery "${params.id}"`);
      const result = await redeliver(app, params.id);
      return result.ok ? { status: 202, body: result.value } : result;
    },
  }),
];
