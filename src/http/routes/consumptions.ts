import { z } from 'zod';
import type { AppContext } from '../../app-context.js';
import { fingerprint } from '../../canonical-json.js';
import { allocationsOf, consumptionsByIds, listConsumptions } from '../../db/repositories/consumptions.js';
import { fail, type Failure } from '../../domain/result.js';
import { isUuid } from '../../ids.js';
import { consumptionResult, type ConsumptionResult } from '../../jobs/consume.js';
import { consumeData, reverseJob } from '../../jobs/definitions.js';
import { reversalResult, type ReversalResult } from '../../jobs/reverse.js';
import { enqueueAccepted, recordAccepted, redisReady } from '../../services/accept.js';
import { acceptConsumptions, consumptionView, consumptionViews } from '../../services/consumptions.js';
import { consumptionView as consumptionSchema } from '../../views/consumption.js';
import { page } from '../reply.js';
import { defineRoute, type AnyRoute, type JsonReply } from '../route.js';
import { idParams, listOf, pageQuery, refSchema, waitQuery } from '../schemas/common.js';
import { waitForJob } from '../wait.js';

const consumptionBody = consumeData.omit({ accepted_at: true });

const consumptionResultSchema = z
  .object({
    id: z.uuid(),
    status: z.enum(['applied', 'partial', 'rejected', 'reversed']),
    quantity: z.string(),
    applied: z.string(),
    shortfall: z.string(),
    allocations: z.array(z.object({ balance_id: z.uuid(), amount: z.string() })),
    remaining: z.string(),
    replayed: z.boolean(),
  })
  .meta({ id: 'ConsumptionResult' });

const queuedSchema = z.object({ id: z.uuid(), status: z.string(), job_id: z.string().optional() });

/** A finished consume job as API.md answers it: 200 with the result, or 422 insufficient_balance with the same fields. */
function consumptionReply(result: ConsumptionResult): JsonReply | Failure {
  if (result.status === 'rejected') {
    // The problem's `status` member is the HTTP status (RFC 9457); the consumption's own is `consumption_status`.
    const { status, ...fields } = result;
    return fail('insufficient_balance', `the client has ${result.remaining} ${result.credit_type.unit}(s) of ${result.credit_type.code} left; ${result.quantity} asked`, {
      extra: { ...fields, consumption_status: status },
    });
  }
  return { status: 200, body: result };
}

async function storedResult(app: AppContext, id: string): Promise<ConsumptionResult | undefined> {
  const row = (await consumptionsByIds(app.db, [id])).get(id);
  if (!row) return undefined;
  const allocations = (await allocationsOf(app.db, [id])).get(id) ?? [];
  const client = await app.refs.client(app.db, row.client_id);
  const creditType = await app.refs.creditType(app.db, row.credit_type_id);
  return client && creditType ? consumptionResult(row, allocations, client, creditType, true) : undefined;
}

async function waitReply(app: AppContext, queue: 'consumption', jobId: string, queued: unknown, done: (value: unknown) => JsonReply | Failure): Promise<JsonReply | Failure> {
  const outcome = await waitForJob(app, queue, jobId);
  if (outcome.state === 'completed') return done(outcome.value);
  if (outcome.state === 'failed') return outcome.code ? fail(outcome.code.code, outcome.code.detail) : fail('conflict', outcome.reason);
  return { status: 202, body: queued };
}

export const consumptionRoutes: AnyRoute[] = [
  defineRoute({
    method: 'post',
    path: '/v1/consumptions',
    access: 'write',
    tag: 'consumption',
    summary: 'Report a use: deducted soonest-expiring first, exactly once per (client, idempotency_key)',
    description:
      'Answers 202 `{id, status: "queued"}` once the request is recorded; the worker applies it. With `?wait=true` it waits up to WAIT_TIMEOUT_MS for the result: 200, or 422 `insufficient_balance` (mode=reject), or 202 when the wait runs out (then poll GET /v1/consumptions/{id}). A repeat with the same payload changes nothing; with another payload it is 409 `idempotency_conflict`.',
    query: waitQuery,
    body: consumptionBody,
    idempotency: 'job',
    responses: {
      202: { description: 'Accepted (or the wait ran out)', schema: queuedSchema },
      200: { description: 'Applied (with ?wait=true)', schema: consumptionResultSchema },
      409: { description: 'The idempotency key was used with another payload' },
      404: { description: 'No such client or credit type' },
      503: { description: 'Postgres or Redis is down; nothing was accepted' },
    },
    handler: async ({ body, query, app }) => {
      const accepted = await acceptConsumptions(app, [body]);
      if (!accepted.ok) return accepted;
      const [item] = accepted.value;
      const queued = { id: item!.id, status: item!.status };
      if (!query.wait) return { status: 202, body: queued };
      if (item!.status !== 'queued') {
        // applied before: answer the first result
        const replay = await storedResult(app, item!.id);
        if (replay) return consumptionReply(replay);
      }
      return waitReply(app, 'consumption', item!.jobId, queued, (value) => consumptionReply(value as ConsumptionResult));
    },
  }),
  defineRoute({
    method: 'post',
    path: '/v1/consumptions/batch',
    access: 'write',
    tag: 'consumption',
    summary: 'Report up to 1,000 uses in one request',
    description: 'All items are checked first; one bad item refuses the whole request (422 naming `items.N.field`). Accepted items are enqueued with one addBulk.',
    body: z.strictObject({ items: z.array(consumptionBody).min(1, 'give at least one item').max(1_000, 'at most 1,000 items per request') }),
    idempotency: 'job',
    responses: { 202: { description: 'Accepted, one id per item, in order', schema: z.object({ data: z.array(queuedSchema.extend({ idempotency_key: z.string() })) }) } },
    handler: async ({ body, app }) => {
      const accepted = await acceptConsumptions(app, body.items, (index) => `items.${index}`);
      if (!accepted.ok) return accepted;
      return { status: 202, body: { data: accepted.value.map((a) => ({ id: a.id, status: a.status, idempotency_key: a.idempotency_key })) } };
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/consumptions/{id}',
    access: 'read',
    tag: 'consumption',
    summary: 'A consumption: its status and allocations (or `queued`)',
    params: idParams,
    responses: { 200: { description: 'The consumption', schema: consumptionSchema }, 404: { description: 'No such consumption' } },
    handler: async ({ params, app }) => {
      if (!isUuid(params.id)) return fail('not_found', `no consumption "${params.id}"`);
      const view = await consumptionView(app, params.id);
      return view ? { status: 200, body: view } : fail('not_found', `no consumption "${params.id}"`);
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/consumptions',
    access: 'read',
    tag: 'consumption',
    summary: 'List consumptions, e.g. ?client=&idempotency_key=',
    query: pageQuery.extend({
      client: refSchema.optional(),
      idempotency_key: z.string().min(1).max(255).optional(),
      credit_type: refSchema.optional(),
      status: z.enum(['applied', 'partial', 'rejected', 'reversed']).optional(),
    }),
    responses: { 200: { description: 'A page of consumptions', schema: listOf(consumptionSchema) } },
    handler: async ({ query, app }) => {
      if (query.idempotency_key && !query.client) {
        return fail('validation_failed', 'idempotency_key is unique per client: give client too', { errors: [{ field: 'query.client', message: 'is required with idempotency_key' }] });
      }
      const client = query.client ? await app.refs.client(app.db, query.client) : undefined;
      const creditType = query.credit_type ? await app.refs.creditType(app.db, query.credit_type) : undefined;
      if ((query.client && !client) || (query.credit_type && !creditType)) return { status: 200, body: page([], null) };
      const result = await listConsumptions(app.db, query, { clientId: client?.id, idempotencyKey: query.idempotency_key, creditTypeId: creditType?.id, status: query.status });
      return { status: 200, body: page(await consumptionViews(app, result.data), result.nextCursor) };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/v1/consumptions/{id}/reverse',
    access: 'write',
    tag: 'consumption',
    summary: 'Give a consumption\'s units back to their balances, once',
    description: 'Units whose balance has expired since are not revived; the answer says how many. Reversing again answers the first reversal.',
    params: idParams,
    query: waitQuery,
    body: z.strictObject({ reason: z.string().max(500).optional() }).optional(),
    idempotency: 'job',
    responses: {
      202: { description: 'Accepted', schema: z.object({ job_id: z.string(), consumption_id: z.uuid(), status: z.string() }) },
      200: { description: 'Reversed (with ?wait=true)' },
      404: { description: 'No such consumption' },
      409: { description: 'A rejected consumption has nothing to reverse' },
    },
    handler: async ({ params, query, body, app }) => {
      if (!isUuid(params.id)) return fail('not_found', `no consumption "${params.id}"`);
      const existing = (await consumptionsByIds(app.db, [params.id])).get(params.id);
      if (!existing) return fail('not_found', `no consumption "${params.id}"`);
      if (existing.status === 'rejected') return fail('conflict', 'a rejected consumption took nothing, so there is nothing to reverse');
      const jobId = reverseJob.jobId({ consumption_id: params.id });
      if (existing.status === 'reversed') {
        // reversed before: answer the first reversal
        const creditType = await app.refs.creditType(app.db, existing.credit_type_id);
        return { status: 200, body: reversalResult(existing, creditType?.decimals ?? 0, true) };
      }
      if (!redisReady(app)) return fail('unavailable', 'the queue (Redis) cannot be reached; nothing was accepted, retry later');
      const data = { consumption_id: params.id, ...(body?.reason ? { reason: body.reason } : {}), accepted_at: app.clock.now().toISOString() };
      const job = { queue: 'consumption' as const, name: reverseJob.name, jobId, data, requestHash: fingerprint({ consumption_id: params.id }), subjectId: null };
      const recorded = await recordAccepted(app.db, [job]);
      if (!recorded.ok) return recorded;
      try {
        await enqueueAccepted(app, [job]);
      } catch (error) {
        // recorded in Postgres already: the relay enqueues it, so the request stands accepted
        app.log.warn({ err: error, jobId }, 'enqueue failed after accepting; the relay will retry');
      }
      const queued = { job_id: jobId, consumption_id: params.id, status: 'queued' };
      if (!query.wait) return { status: 202, body: queued };
      return waitReply(app, 'consumption', jobId, queued, (value) => ({ status: 200, body: value as ReversalResult }));
    },
  }),
];
