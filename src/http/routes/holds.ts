import { z } from 'zod';
import type { AppContext } from '../../app-context.js';
import { forgetFailedJob, submit } from '../../commands/index.js';
import { type HoldRow, listHolds } from '../../db/repositories/holds.js';
import { capturedOtherwise, HOLD_STATUSES, heldPastExpiry, repeatsCapture } from '../../domain/hold.js';
import { parseQuantity } from '../../domain/quantity.js';
import { type Failure, fail, ok, type Result } from '../../domain/result.js';
import { isUuid } from '../../ids.js';
import { holdData, type JobData, type JobResult } from '../../jobs/definitions.js';
import { acceptHold, closingJobId } from '../../jobs/hold.js';
import { readAsSwept, settleOwedAnywhere, settleOwedOf } from '../../jobs/swept-reads.js';
import { idParams, listOf, pageQuery, quantityInput, refSchema, waitQuery } from '../../schemas/common.js';
import { holdResults, holdRow, holdView, queuedHoldViews, storedCapture } from '../../services/holds.js';
import {
  captureResultSchema,
  type HoldResult,
  holdResultSchema,
  holdView as holdViewSchema,
  queuedHoldSchema,
} from '../../views/hold.js';
import { withBoundKey } from '../bound-idempotency-key.js';
import { jobReply, queuedSchema, takenOrInsufficient } from '../job-reply.js';
import { holdInsufficientProblemSchema, validationProblemSchema } from '../problem-schemas.js';
import { page } from '../reply.js';
import { type AnyRoute, defineRoute, type JsonReply } from '../route.js';

const holdBody = holdData.omit({ accepted_at: true });

/** A finished hold job as API.md answers it: 200 `held`, or 422 insufficient_balance with the hold's fields. */
const holdReply = (result: HoldResult) => takenOrInsufficient(result, 'hold_status');

const invalidQuantity = (problem: string): Failure =>
  fail('validation_failed', `quantity ${problem}`, { errors: [{ field: 'quantity', message: problem }] });

const closedConflict = (id: string, status: string, verb: string): Failure =>
  fail('conflict', `hold ${id} is ${status}: it cannot be ${verb}`);

/** The hold a capture or a release closes: 404 for none, 409 for one whose request is still queued. */
async function holdToClose(app: AppContext, id: string): Promise<Result<HoldRow>> {
  if (!isUuid(id)) return fail('not_found', `no hold "${id}"`);
  const row = await holdRow(app, id);
  if (row) return ok(row);
  const view = await holdView(app, id);
  return view ? fail('conflict', `hold ${id} is still queued`) : fail('not_found', `no hold "${id}"`);
}

/**
 * Sends a held hold's capture or release to its worker and waits for it (202 with the job while queued); `done` makes
 * the answer of the job's result (200 with it by default).
 */
async function closeHold<N extends 'capture' | 'release'>(
  app: AppContext,
  name: N,
  data: JobData<N>,
  done?: (result: JobResult<N>) => JsonReply | Failure,
): Promise<JsonReply | Failure> {
  // a closing the worker refused before (a producer's capture) failed under this job id and changed nothing —
  // the hold is still held: forgotten, so that this one runs instead of answering that refusal
  await forgetFailedJob(app, name, closingJobId(name, data.hold_id));
  const submitted = await submit(app, [{ name, data }], { watch: true });
  if (!submitted.ok) return submitted;
  const admission = submitted.value[0]!;
  const queued = { id: data.hold_id, status: 'queued', job_id: admission.jobId };
  return jobReply(
    app,
    { name, jobId: admission.jobId, watch: admission.watch, fresh: admission.state === 'new' },
    { wait: true, queued, ...(done ? { done } : {}) },
  );
}

export const holdRoutes: AnyRoute[] = [
  defineRoute({
    method: 'post',
    path: '/v1/holds',
    access: 'write',
    tag: 'holds',
    summary: 'Reserve units now for a use whose size is known later, exactly once per (client, idempotency_key)',
    description:
      'Taken in the spending order like a consumption: each balance gives what it can, its `remaining` drops and ' +
      'its `held` grows. Answers 202 `{id, status: "queued"}`; with `?wait=true`, 200 `held` or 422 ' +
      '`insufficient_balance` (nothing reserved), or 200 `expired` (nothing reserved, `hold.expired`) for a hold ' +
      'whose `expires_at` had passed when its worker took it. The hold expires after `expires_in_seconds` ' +
      '(default 900, ' +
      'at most 7 days) and its units go back: recorded by the sweep, or first by a use or hold of its client that ' +
      'comes up short, or a read of the hold or its client (GET /v1/holds, balances, subscriptions, forecast). A ' +
      'repeat with the same payload changes nothing; with another payload it is 409 `idempotency_conflict`.',
    query: waitQuery,
    body: holdBody,
    idempotency: 'job',
    responses: {
      202: { description: 'Accepted (or the wait ran out)', schema: queuedSchema },
      200: { description: 'Held (with ?wait=true)', schema: holdResultSchema },
      409: { description: 'The idempotency key was used with another payload' },
      422: {
        description: 'Invalid input, or with ?wait=true a rejection (`insufficient_balance`, with the hold)',
        schema: z.union([validationProblemSchema, holdInsufficientProblemSchema]),
      },
      404: { description: 'No such client or credit type' },
    },
    handler: async ({ body, query, app, auth, idempotencyKey }) =>
      // the body's idempotency_key names the hold; an Idempotency-Key besides is bound to this body (API.md)
      withBoundKey(
        {
          app,
          auth,
          key: idempotencyKey,
          path: '/v1/holds',
          body,
          // a hold rejected for insufficient balance was recorded: its key stays bound to it
          recorded: ['insufficient_balance'],
        },
        async () => {
          const accepted = await acceptHold(app, body, { watch: query.wait });
          if (!accepted.ok) return accepted;
          const item = accepted.value;
          const queued = { id: item.id, status: item.status };
          if (query.wait && item.status !== 'queued') {
            const row = await holdRow(app, item.id);
            if (row) return holdReply((await holdResults(app, [row], true))[0]!);
          }
          return jobReply(
            app,
            { name: 'hold', jobId: item.jobId, watch: item.watch, fresh: item.fresh },
            { wait: query.wait, queued, done: holdReply },
          );
        },
      ),
  }),
  defineRoute({
    method: 'get',
    path: '/v1/holds/{id}',
    access: 'read',
    tag: 'holds',
    summary: 'A hold: its status, allocations and what its closing did (or `queued`)',
    description:
      'A hold past its `expires_at` ended then (DOMAIN.md): if the sweep has not recorded it yet, it is done ' +
      'first (what the sweep owes its client: the closing, its ledger entries, `hold.expired`), and the hold is ' +
      'answered `expired`.',
    params: idParams,
    responses: {
      200: { description: 'The hold', schema: holdViewSchema },
      404: { description: 'No such hold' },
    },
    handler: async ({ params, app }) => {
      if (!isUuid(params.id)) return fail('not_found', `no hold "${params.id}"`);
      // only a hold still held past its expiry can be owed: any other read of it costs nothing more
      const view = await readAsSwept(
        app,
        () => holdView(app, params.id),
        (v, now) =>
          v?.client && v.expires_at && heldPastExpiry({ status: v.status, expiresAt: new Date(v.expires_at) }, now)
            ? [v.client.id]
            : [],
        () => true,
      );
      return view ? { status: 200, body: view } : fail('not_found', `no hold "${params.id}"`);
    },
  }),
  defineRoute({
    method: 'get',
    path: '/v1/holds',
    access: 'read',
    tag: 'holds',
    summary: 'List holds, e.g. ?client=&status=held',
    description:
      'Holds as stored, newest last, after what the sweep owes the clients of the page is done (a hold past its ' +
      '`expires_at` is listed `expired`, not `held`; with `status=expired` and no client, what it owes any client ' +
      'is done first). `status=queued` lists instead the hold requests accepted and ' +
      'not applied yet (what each asks for; they become holds — or rejections — as their worker takes them).',
    query: pageQuery.extend({
      client: refSchema.optional(),
      status: z.enum(['queued', ...HOLD_STATUSES]).optional(),
    }),
    responses: {
      200: { description: 'A page of holds', schema: listOf(z.union([holdResultSchema, queuedHoldSchema])) },
    },
    handler: async ({ query, app }) => {
      const client = query.client ? await app.refs.client(app.db, query.client) : undefined;
      if (query.client && !client) return { status: 200, body: page([], null) };
      if (query.status === 'queued') {
        const queued = await queuedHoldViews(app, query, client);
        return { status: 200, body: page(queued.data, queued.nextCursor) };
      }
      const status = query.status;
      const list = () => listHolds(app.db, query, { clientId: client?.id, status });
      // by client: settled before the read; otherwise the clients of the page's holds past their expiry, settled,
      // and the page read again
      if (client) await settleOwedOf(app, [client.id]);
      // expired holds of every client: the ones still to expire are not on any page of them
      else if (status === 'expired') await settleOwedAnywhere(app);
      const result = client
        ? await list()
        : await readAsSwept(
            app,
            list,
            (listed, now) =>
              listed.data
                .filter((h) => heldPastExpiry({ status: h.status, expiresAt: h.expires_at }, now))
                .map((h) => h.client_id),
            () => true,
          );
      return { status: 200, body: page(await holdResults(app, result.data), result.nextCursor) };
    },
  }),
  defineRoute({
    method: 'post',
    path: '/v1/holds/{id}/capture',
    access: 'write',
    tag: 'holds',
    summary: 'Turn held units into a consumption (all, or `quantity` of them) and release the rest, once',
    description:
      'Waits for the capture (up to WAIT_TIMEOUT_MS, then 202) and answers `{hold, consumption}`: the ' +
      "consumption's allocations are the held amounts in the hold's order, up to the quantity. Capturing again " +
      'with the same quantity answers the same (no `quantity` stands for all the hold held, the default: it ' +
      'repeats a first capture of all of it, given or not); another quantity is another capture, 409 `conflict`, ' +
      'as is a capture of a released, expired or rejected hold.',
    params: idParams,
    body: z.strictObject({ quantity: quantityInput.optional() }).optional(),
    idempotency: 'job',
    responses: {
      200: { description: 'Captured (now or before)', schema: captureResultSchema },
      202: { description: 'The wait ran out; poll GET /v1/holds/{id}', schema: queuedSchema },
      404: { description: 'No such hold' },
      409: {
        description: 'The hold is released, expired, rejected or not yet taken, or captured for another quantity',
      },
    },
    handler: async ({ params, body, app }) => {
      const found = await holdToClose(app, params.id);
      if (!found.ok) return found;
      const row = found.value;
      if (row.status !== 'held' && row.status !== 'captured') return closedConflict(row.id, row.status, 'captured');
      // checked here, not only by the worker: the job id names the hold, so a capture refused by the
      // worker would leave a failed job under that id and no later capture could run
      const decimals = (await app.refs.creditType(app.db, row.credit_type_id))?.decimals ?? 0;
      let quantity: bigint | undefined;
      if (body?.quantity !== undefined) {
        const parsed = parseQuantity(body.quantity, decimals);
        if (!parsed.ok) return invalidQuantity(parsed.detail);
        if (parsed.value > row.quantity) return invalidQuantity('is more than the hold holds');
        quantity = parsed.value;
      }
      // captured before: the same capture again answers the first; another quantity is another capture, 409 (as the
      // worker answers a capture job of another quantity: jobs/hold-closing.ts), never the first one's answer
      if (row.status === 'captured') {
        if (!repeatsCapture(row, quantity)) return capturedOtherwise(row, quantity, decimals);
        const stored = await storedCapture(app, row);
        return stored ? { status: 200, body: stored } : closedConflict(row.id, row.status, 'captured');
      }
      return await closeHold(
        app,
        'capture',
        {
          hold_id: row.id,
          ...(body?.quantity !== undefined ? { quantity: body.quantity } : {}),
          accepted_at: app.clock.now().toISOString(),
        },
        // a capture of this hold asked a moment before (its job pending, or run as this one was being accepted) is
        // the one this request waited for: its answer stands for this one only if it took the quantity asked here
        (result) => {
          const captured = parseQuantity(result.hold.captured ?? '0', decimals);
          const taken = { quantity: row.quantity, captured: captured.ok ? captured.value : null };
          return repeatsCapture(taken, quantity)
            ? { status: 200, body: result }
            : capturedOtherwise({ ...taken, id: row.id }, quantity, decimals);
        },
      );
    },
  }),
  defineRoute({
    method: 'post',
    path: '/v1/holds/{id}/release',
    access: 'write',
    tag: 'holds',
    summary: 'Give every held unit back, once',
    description:
      'Units of a balance that expired meanwhile are not revived (`lapsed`). Releasing again (or a hold the sweep ' +
      'expired) answers the hold as it is; a hold past its `expires_at` expired then, and is closed as `expired` ' +
      '(its units given back as of that instant); a captured or rejected hold is 409 `conflict`.',
    params: idParams,
    idempotency: 'job',
    responses: {
      200: { description: 'Released (now or before)', schema: holdResultSchema },
      202: { description: 'The wait ran out; poll GET /v1/holds/{id}', schema: queuedSchema },
      404: { description: 'No such hold' },
      409: { description: 'The hold is captured, rejected or not yet taken' },
    },
    handler: async ({ params, app }) => {
      const found = await holdToClose(app, params.id);
      if (!found.ok) return found;
      const row = found.value;
      if (row.status === 'released' || row.status === 'expired')
        return { status: 200, body: (await holdResults(app, [row], true))[0] };
      if (row.status !== 'held') return closedConflict(row.id, row.status, 'released');
      return await closeHold(app, 'release', { hold_id: row.id, accepted_at: app.clock.now().toISOString() });
    },
  }),
];
