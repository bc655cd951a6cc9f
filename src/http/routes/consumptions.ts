import { z } from 'zod';
import { listConsumptions } from '../../db/repositories/consumptions.js';
import { fail } from '../../domain/result.js';
import { isUuid, newId } from '../../ids.js';
import { acceptBatchUses, acceptConsumptions, batchFirstAnswer, batchRepeatOf } from '../../jobs/consume.js';
import { consumeData } from '../../jobs/definitions.js';
import { acceptReversal } from '../../jobs/reverse.js';
import { idParams, listOf, pageQuery, REASON_MAX_LENGTH, refSchema, waitQuery } from '../../schemas/common.js';
import { consumptionView, consumptionViews, failedUse, storedConsumptionResult } from '../../services/consumptions.js';
import { quoteConsumption, quoteView } from '../../services/quote.js';
import {
  type ConsumptionResult,
  consumptionResultSchema,
  consumptionView as consumptionSchema,
  failedUseSchema,
} from '../../views/consumption.js';
import { reversalResultSchema } from '../../views/reversal.js';
import { waitForBatch } from '../batch-wait.js';
import { withBoundKey } from '../bound-idempotency-key.js';
import { jobReply, queuedSchema, takenOrInsufficient } from '../job-reply.js';
import { insufficientBalanceProblemSchema, validationProblemSchema } from '../problem-schemas.js';
import { page } from '../reply.js';
import { type AnyRoute, defineRoute } from '../route.js';

const consumptionBody = consumeData.omit({ accepted_at: true });

/** A use of a batch as its consumption reads, with its key. */
const batchItemSchema = consumptionSchema.extend({ idempotency_key: z.string() });

/** A finished consume job as API.md answers it: 200 with the result, or 422 insufficient_balance with its fields. */
const consumptionReply = (result: ConsumptionResult) => takenOrInsufficient(result, 'consumption_status');

export const consumptionRoutes: AnyRoute[] = [
  defineRoute({
    method: 'post',
    path: '/v1/consumptions',
    access: 'write',
    tag: 'consumption',
    summary: 'Report a use: deducted soonest-expiring first, exactly once per (client, idempotency_key)',
    description:
      'Answers 202 `{id, status: "queued"}` once the request is recorded; the worker applies it. With ' +
      '`?wait=true` it waits up to WAIT_TIMEOUT_MS for the result: 200, or 422 `insufficient_balance` ' +
      '(mode=reject), or 202 when the wait runs out (then poll GET /v1/consumptions/{id}). A repeat with the ' +
      'same payload changes nothing; with another payload it is 409 `idempotency_conflict`.',
    query: waitQuery,
    body: consumptionBody,
    idempotency: 'job',
    responses: {
      202: { description: 'Accepted (or the wait ran out)', schema: queuedSchema },
      200: { description: 'Applied (with ?wait=true)', schema: consumptionResultSchema },
      409: { description: 'The idempotency key was used with another payload' },
      422: {
        description:
          'Invalid input (`validation_failed`, see `errors`), or with ?wait=true a rejection ' +
          "(`insufficient_balance`, with the consumption's fields)",
        schema: z.union([validationProblemSchema, insufficientBalanceProblemSchema]),
      },
      404: { description: 'No such client or credit type' },
      503: { description: 'Postgres or Redis is down; nothing was accepted' },
    },
    handler: async ({ body, query, app, auth, idempotencyKey }) =>
      // the body's idempotency_key names the use; an Idempotency-Key besides is bound to this body (API.md)
      withBoundKey(
        {
          app,
          auth,
          key: idempotencyKey,
          path: '/v1/consumptions',
          body,
          // a use rejected for insufficient balance was recorded: its key stays bound to it
          recorded: ['insufficient_balance'],
        },
        async () => {
          const accepted = await acceptConsumptions(app, [body], { watch: query.wait });
          if (!accepted.ok) return accepted;
          const item = accepted.value[0]!;
          const queued = { id: item.id, status: item.status };
          if (query.wait && item.status !== 'queued') {
            // applied before: answer the first result
            const replay = await storedConsumptionResult(app, item.id);
            if (replay) return consumptionReply(replay);
          }
          return jobReply(
            app,
            { name: 'consume', jobId: item.jobId, watch: item.watch, fresh: item.fresh },
            { wait: query.wait, queued, done: consumptionReply },
          );
        },
      ),
  }),
  defineRoute({
    method: 'post',
    path: '/v1/consumptions/quote',
    access: 'read',
    tag: 'consumption',
    summary: 'What a use would take now (allocations, shortfall, remaining after), with nothing written',
    description:
      'The consumption body (`idempotency_key` optional: a quote is never recorded; one that names a use ' +
      'applied before answers what that use took, `replayed: true`, or 409 `idempotency_conflict` for another ' +
      'payload, as sending it would) run through the same ' +
      'burn-down as the consume job, over the balances a consumption would lock, read without a lock. A read ' +
      'key may ask: nothing changes. A use accepted a moment later may find less.',
    body: consumptionBody.extend({ idempotency_key: consumptionBody.shape.idempotency_key.optional() }),
    responses: {
      200: { description: 'What the use would take', schema: quoteView },
      404: { description: 'No such client or credit type' },
      409: { description: '`idempotency_key` names a use applied with another payload' },
      422: { description: 'Invalid input (`validation_failed`, see `errors`)', schema: validationProblemSchema },
    },
    handler: async ({ body, app }) => {
      const quote = await quoteConsumption(app, body);
      return quote.ok ? { status: 200, body: quote.value } : quote;
    },
  }),
  defineRoute({
    method: 'post',
    path: '/v1/consumptions/batch',
    access: 'write',
    tag: 'consumption',
    summary: 'Report up to 1,000 uses in one request',
    description:
      'The request is checked first: a malformed item (a missing or mistyped field, a quantity of zero or below, ' +
      'an unknown field), no items or more than 1,000 refuse the whole request (422 naming `items.N.field`), and ' +
      'so does a key reused with another payload (409 `idempotency_conflict`: two items under one client and key ' +
      'with other payloads, or an item under a key used before with another one). Then each use fails alone: one ' +
      'naming a client or credit type that does not exist (`not_found`), or with a quantity finer than its credit ' +
      'type allows or a time in the future (`validation_failed`), is answered `failed` with that code under the ' +
      'id its consumption would have had, readable by GET /v1/consumptions/{id}; nothing is deducted for it and ' +
      'its key stays free. The other uses are recorded each on its own (idempotent by client and key, readable ' +
      'by id) and travel to the workers in one `consume-batch` job, applied many per transaction; a use that ' +
      'fails at the worker fails alone too. An Idempotency-Key names the batch job, so a retried request makes ' +
      'no second job and answers the uses the first one failed at the door as it did (even when a use has taken ' +
      'such a key since); the same key with another body is 409 `idempotency_conflict`. With `?wait=true` it waits ' +
      'up to WAIT_TIMEOUT_MS for the batch and answers each use as it stands: 200 when every use has its outcome ' +
      '(a use short of balance is an item `rejected`, not a 422), 202 with the same shape while some are still ' +
      '`queued`.',
    query: waitQuery,
    body: z.strictObject({
      items: z.array(consumptionBody).min(1, 'give at least one item').max(1_000, 'at most 1,000 items per request'),
    }),
    idempotency: 'job',
    responses: {
      202: {
        description:
          'Accepted, one id per item, in order: `queued` (or the status of a use applied before), or `failed` ' +
          'with the code and detail of what refused it at the door; the uses not refused travel in one ' +
          '`consume-batch` job named by `batch_key`. (With ?wait=true, the answer below while some are `queued`.)',
        schema: z.object({
          batch_key: z.string(),
          data: z.array(
            z.union([failedUseSchema, queuedSchema.extend({ idempotency_key: z.string() }), batchItemSchema]),
          ),
        }),
      },
      200: {
        description:
          'With ?wait=true: every use has its outcome — its consumption (as GET /v1/consumptions/{id}), or ' +
          '`failed` with the code and detail of what refused it at the door or at the worker; in order, one per item',
        schema: z.object({ batch_key: z.string(), data: z.array(z.union([batchItemSchema, failedUseSchema])) }),
      },
      409: {
        description:
          "A use's idempotency_key was used with another payload, or the Idempotency-Key with another batch; " +
          'nothing was recorded',
      },
    },
    handler: async ({ body, query, app, auth, idempotencyKey }) => {
      const key = idempotencyKey;
      // The key names the carrier job, so it is bound to this body before anything is recorded: the same
      // key with other uses would be recorded under a carrier that carries (or carried) only the first
      // body's, and never applied. Another body is 409, as for any Idempotency-Key (API.md); a refused
      // request unbinds the key, so that its caller may correct the body and retry with it.
      return withBoundKey(
        {
          app,
          auth,
          key,
          path: '/v1/consumptions/batch',
          body,
          // the batch key adds the API key's id in front: 200 leaves room under the job id's bound
          maxLength: 200,
        },
        async (binding) => {
          // the request's Idempotency-Key names its batch job (per API key): a retried request is one job. The time
          // the key was bound is part of the name: once the cleanup has forgotten the key (a day), the same key is a
          // new request, and its uses must not be recorded under the carrier of the first (Redis may still hold that
          // job, finished: adding the name again would add nothing, and those uses would never be applied)
          const batchKey =
            key && auth && binding ? `${auth.keyId}:${key}:${binding.since.getTime().toString(36)}` : newId();
          // sent again under its key: its first answer, the uses it failed at its door failed again whatever has
          // happened since (acceptBatchUses `repeat`); a first request notes those for its repeats
          const accepted = await acceptBatchUses(app, body.items, {
            batchKey,
            ...(binding?.repeat ? { repeat: batchRepeatOf(binding.noted) } : {}),
          });
          if (!accepted.ok) return accepted;
          await binding?.note(batchFirstAnswer(accepted.value));
          if (query.wait) return waitForBatch(app, batchKey, accepted.value);
          return {
            status: 202,
            body: {
              batch_key: batchKey,
              data: accepted.value.map((a) =>
                a.status === 'failed' ? a : { id: a.id, status: a.status, idempotency_key: a.idempotency_key },
              ),
            },
          };
        },
      );
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/consumptions/{id}',
    access: 'read',
    tag: 'consumption',
    summary: 'A consumption: its status and allocations (or `queued`, or `failed`)',
    description:
      'A use that failed alone reads `failed`, with its code and detail, under the id its consumption would have ' +
      'had (uuid v5 of its client — as named when there is no such client — and its key): refused at the door of ' +
      'POST /v1/consumptions/batch, or refused for good by the worker (a `consume` or `consume-batch` job, e.g. ' +
      "a producer's, naming a client or credit type that does not exist, a quantity its credit type refuses, a " +
      'time in the future: `not_found`, `validation_failed`). It reads so until a use is accepted under its client ' +
      'and key (a failure leaves the key free; the consumption is then read), for 7 days at most. A use short of ' +
      'balance is a `rejected` consumption, not a failure; an outage fails no use (its job is retried).',
    params: idParams,
    responses: {
      200: { description: 'The consumption', schema: z.union([consumptionSchema, failedUseSchema]) },
      404: { description: 'No such consumption' },
    },
    handler: async ({ params, app }) => {
      if (!isUuid(params.id)) return fail('not_found', `no consumption "${params.id}"`);
      const view = (await consumptionView(app, params.id)) ?? (await failedUse(app, params.id));
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
        return fail('validation_failed', 'idempotency_key is unique per client: give client too', {
          errors: [{ field: 'query.client', message: 'is required with idempotency_key' }],
        });
      }
      const client = query.client ? await app.refs.client(app.db, query.client) : undefined;
      const creditType = query.credit_type ? await app.refs.creditType(app.db, query.credit_type) : undefined;
      if ((query.client && !client) || (query.credit_type && !creditType)) return { status: 200, body: page([], null) };
      const result = await listConsumptions(app.db, query, {
        clientId: client?.id,
        idempotencyKey: query.idempotency_key,
        creditTypeId: creditType?.id,
        status: query.status,
      });
      return { status: 200, body: page(await consumptionViews(app, result.data), result.nextCursor) };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/v1/consumptions/{id}/reverse',
    access: 'write',
    tag: 'consumption',
    summary: "Give a consumption's units back to their balances, once",
    description:
      'Units whose balance has expired (or been voided) since are not revived; the answer says how many ' +
      '(`expired`). They go back to that balance and expire there at once (DOMAIN.md rule 5: "recorded as ' +
      'expired"): a `reverse` and an `expire` ledger entry, the balance\'s `consumed` less them and its `expired` ' +
      'more, its `remaining` as it was. So the whole use is taken back from what was consumed (the usage and the ' +
      'consumption report count the reversal, `returned` + `expired`, when it was made). Reversing again answers ' +
      'the first reversal.',
    params: idParams,
    query: waitQuery,
    body: z.strictObject({ reason: z.string().max(REASON_MAX_LENGTH).optional() }).optional(),
    idempotency: 'job',
    responses: {
      202: {
        description: 'Accepted',
        schema: z.object({ job_id: z.string(), consumption_id: z.uuid(), status: z.string() }),
      },
      200: { description: 'Reversed (with ?wait=true), or reversed before', schema: reversalResultSchema },
      404: { description: 'No such consumption' },
      409: { description: 'A rejected consumption has nothing to reverse; a queued one has not been applied yet' },
    },
    handler: async ({ params, query, body, app }) => {
      if (!isUuid(params.id)) return fail('not_found', `no consumption "${params.id}"`);
      const accepted = await acceptReversal(app, params.id, body?.reason);
      if (!accepted.ok) return accepted;
      if (accepted.value.replay) return { status: 200, body: accepted.value.replay };
      const queued = { job_id: accepted.value.jobId, consumption_id: params.id, status: 'queued' };
      return jobReply(app, { name: 'reverse', jobId: accepted.value.jobId }, { wait: query.wait, queued });
    },
  }),
];
