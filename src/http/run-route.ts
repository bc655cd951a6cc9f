import type { Request, Response } from 'express';
import type { AppContext } from '../app-context.js';
import { fingerprint } from '../canonical-json.js';
import type { Executor } from '../db/knex.js';
import { insertAuditEvent } from '../db/repositories/audit.js';
import { decideInTransaction } from '../db/transact.js';
import { auditedRequest } from '../domain/audit-request.js';
import { DomainError, type Failure, type FieldProblem } from '../domain/result.js';
import { zodProblems } from '../schemas/problems.js';
import type { AuthContext } from './auth.js';
import { runIdempotent } from './idempotency.js';
import { STATUS_OF } from './problem.js';
import { type AnyRoute, isFailure, isRawReply, type JsonReply } from './route.js';

/** What one call of a route is given: the raw parts, before its schemas have read them. */
export interface RouteCall {
  params: unknown;
  query: unknown;
  body: unknown;
  /** The Idempotency-Key of the call (the header over HTTP, the form's one-time key in the pages). */
  idempotencyKey: string | undefined;
  /** The concrete path called (`/v1/clients/5f…`): part of a stored idempotent reply's identity. */
  path: string;
  req: Request;
  res: Response;
  auth: AuthContext | null;
  /** Who called: a system over HTTP, or a person through a form of the pages (for the audit trail). */
  origin: 'api' | 'ui';
}

/** How a call ended: refused by the schemas, refused by the domain, answered, or written out by the handler. */
export type RouteOutcome =
  | { kind: 'invalid'; problems: FieldProblem[] }
  | { kind: 'failure'; failure: Failure }
  | { kind: 'reply'; reply: JsonReply }
  | { kind: 'raw' };

const isEmptyObject = (value: unknown): boolean =>
  value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value as object).length === 0;

/**
 * A route that takes a body got none: none was sent, or it was not sent as JSON (the body parser reads only JSON
 * media types), which a schema's "expected object, received undefined" would not tell the caller.
 */
function missingBody(req: Request): FieldProblem {
  const type = req.headers['content-type'];
  return {
    field: '(body)',
    message:
      type !== undefined
        ? `must be JSON, sent with Content-Type: application/json (not ${type.split(';')[0]!.trim().slice(0, 100)})`
        : 'is required: a JSON object, sent with Content-Type: application/json',
  };
}

/** A call's params, query and body as the route's schemas read them, and every problem they found. */
function readInput(route: AnyRoute, call: Pick<RouteCall, 'params' | 'query' | 'body' | 'req'>) {
  const parts = {
    params: route.params?.safeParse(call.params),
    query: route.query?.safeParse(call.query),
    body: route.body?.safeParse(call.body ?? undefined),
  };
  // a route that takes no body refuses one, rather than ignoring what the caller meant to say
  const strayBody = !route.body && call.body !== undefined && !isEmptyObject(call.body);
  const problems: FieldProblem[] = [
    ...(strayBody ? [{ field: '(body)', message: 'this route takes no body' }] : []),
    ...(parts.params && !parts.params.success ? zodProblems(parts.params.error, 'path') : []),
    ...(parts.query && !parts.query.success ? zodProblems(parts.query.error, 'query') : []),
    ...(parts.body && !parts.body.success
      ? call.body === undefined
        ? [missingBody(call.req)]
        : zodProblems(parts.body.error)
      : []),
  ];
  return { parts, problems };
}

/**
 * Whether the route's schemas would refuse a call's input, read as runRoute reads it, with nothing run: its
 * handler, its audit row. A page asks before it shows a confirmation, so that what the route would refuse is not
 * carried to a button that could only be refused after it was pressed.
 */
export const refusesInput = (route: AnyRoute, call: Pick<RouteCall, 'params' | 'query' | 'body' | 'req'>): boolean =>
  readInput(route, call).problems.length > 0;

/**
 * One call of a route: its schemas, its handler (in the idempotency transaction for a `stored` route
 * called with a key), then the work it left for after the commit. The HTTP edge (app.ts) and the pages
 * (src/ui) both call routes through here, so an action in a page is the API's action, never a copy.
 */
export async function runRoute(ctx: AppContext, route: AnyRoute, call: RouteCall): Promise<RouteOutcome> {
  const { parts, problems } = readInput(route, call);
  if (problems.length > 0) {
    await auditOf(ctx, route, call)?.refused(STATUS_OF.validation_failed);
    return { kind: 'invalid', problems };
  }

  const after: Array<() => Promise<void>> = [];
  const audit = auditOf(ctx, route, call);

  let outcome: unknown;
  try {
    const key = call.idempotencyKey;
    if (route.idempotency === 'stored' && key !== undefined && call.auth) {
      if (key.length === 0 || key.length > 255) {
        const problems = [{ field: 'Idempotency-Key', message: 'must be 1–255 characters' }];
        await audit?.refused(STATUS_OF.validation_failed);
        return { kind: 'invalid', problems };
      }
      const { reply, committed } = await runIdempotent(
        ctx.db,
        {
          apiKeyId: call.auth.keyId,
          method: route.method.toUpperCase(),
          path: call.path,
          key,
          requestHash: fingerprint({ body: call.body ?? null, query: call.query }),
          now: ctx.clock.now(),
        },
        async (tx) => {
          const reply = (await route.handler(contextOf(ctx, call, parts, tx as unknown as AppContext['db'], after))) as
            | JsonReply
            | Failure;
          // the change and its audit row commit together (or neither does)
          if (audit && statusOf(reply) < 400) await audit.record(tx, reply);
          return reply;
        },
      );
      outcome = reply;
      if (!committed) {
        after.length = 0;
        // a replay of a stored answer changed nothing and was recorded when it did; a refusal is recorded now
        if (audit && statusOf(reply) >= 400) await audit.record(ctx.db, reply);
      }
    } else if (audit?.inTransaction) {
      const { value, committed } = await decideInTransaction(ctx.db, async (tx) => {
        const reply = await route.handler(contextOf(ctx, call, parts, tx as unknown as AppContext['db'], after));
        const success = statusOf(reply) < 400;
        if (success) await audit.record(tx, reply);
        return { value: reply, commit: success };
      });
      outcome = value;
      if (!committed) {
        after.length = 0;
        await audit.record(ctx.db, value);
      }
    } else {
      outcome = await route.handler(contextOf(ctx, call, parts, ctx.db, after));
    }
  } catch (error) {
    if (error instanceof DomainError) {
      await audit?.refused(STATUS_OF[error.failure.code]);
      return { kind: 'failure', failure: error.failure };
    }
    // an outage or a bug: no answer of the route to record (the request log keeps it with its id)
    throw error;
  }
  for (const action of after) await action();
  // a job-accepting route, or one whose work is not one transaction: recorded once its acceptance is done
  if (audit && !audit.inTransaction && !(route.idempotency === 'stored' && call.idempotencyKey !== undefined)) {
    await audit.record(ctx.db, outcome);
  }

  if (isRawReply(outcome)) return { kind: 'raw' };
  if (isFailure(outcome)) return { kind: 'failure', failure: outcome };
  return { kind: 'reply', reply: outcome as JsonReply };
}

/** A parse of a route's params, query or body (zod's safeParse), when the route declares it. */
type Parsed = { success: true; data: unknown } | { success: false } | undefined;

/**
 * What a route's handler is given. A function of the module, not a closure made per call: the service
 * runs under tsx, whose transform names each named closure with Object.defineProperty as it is made.
 */
function contextOf(
  ctx: AppContext,
  call: RouteCall,
  parts: { params: Parsed; query: Parsed; body: Parsed },
  db: AppContext['db'],
  after: Array<() => Promise<void>>,
) {
  return {
    params: parts.params?.success ? parts.params.data : {},
    query: parts.query?.success ? parts.query.data : {},
    body: parts.body?.success ? parts.body.data : undefined,
    req: call.req,
    res: call.res,
    auth: call.auth,
    app: ctx,
    db,
    idempotencyKey: call.idempotencyKey,
    path: call.path,
    origin: call.origin,
    // runs after the handler's writes are committed
    afterCommit: after.push.bind(after) as (action: () => Promise<void>) => void,
  };
}

/** The status a handler's answer goes out with. */
function statusOf(outcome: unknown): number {
  if (isFailure(outcome)) return STATUS_OF[outcome.code];
  if (isRawReply(outcome)) return 200;
  return (outcome as JsonReply).status;
}

const MUTATING = new Set<AnyRoute['method']>(['post', 'patch', 'put', 'delete']);

/** POSTs that change nothing (a quote reads): not in the trail, whoever calls them. */
const READS = new Set(['post /v1/consumptions/quote']);

/**
 * Routes whose work is not a change of the handler's transaction: the nightly run waits minutes for
 * queued jobs (a transaction held that long would pin a connection for nothing), verify reads on a
 * snapshot of its own. They are recorded after they answer.
 */
const NOT_ONE_TRANSACTION = new Set(['post /v1/admin/nightly-runs', 'post /v1/admin/verify']);

interface Audit {
  /** Whether the handler runs in a transaction of the trail's own (the change and its row commit together). */
  inTransaction: boolean;
  /** Appends the call's row with the answer's status (and the created resource's id). */
  record(db: Executor, outcome: unknown): Promise<void>;
  /** Appends the row of a call refused before its handler answered. */
  refused(status: number): Promise<void>;
}

const stringId = (value: unknown): string | undefined => {
  if (value === null || typeof value !== 'object' || !('id' in value)) return undefined;
  const id = (value as { id: unknown }).id;
  return typeof id === 'string' && id.length <= 200 ? id : undefined;
};

/**
 * The audit trail of a call (issue 18), or undefined when the call is not audited. Audited: every
 * change made from the pages (origin `ui`), and every change through an `admin` route from the API —
 * the catalogue and its prices, keys, webhook endpoints, grants and adjustments, the clock, the
 * nightly run. A refused call is recorded too, with its status, so the trail answers "who tried to
 * change the price"; a call refused before its route (no key, wrong scope) or that failed on an
 * outage is not (the request log has those).
 */
function auditOf(ctx: AppContext, route: AnyRoute, call: RouteCall): Audit | undefined {
  const name = `${route.method} ${route.path}`;
  const auth = call.auth;
  if (!auth || !MUTATING.has(route.method) || READS.has(name)) return undefined;
  if (call.origin !== 'ui' && route.access !== 'admin') return undefined;
  const pathId = (call.params as Record<string, unknown> | undefined)?.id;
  const write = (db: Executor, status: number, created: string | undefined) =>
    insertAuditEvent(db, {
      at: ctx.clock.now(),
      actor_key_id: auth.keyId,
      actor_name: auth.name,
      origin: call.origin,
      action: `${route.method.toUpperCase()} ${route.path}`,
      target_id: typeof pathId === 'string' && pathId !== '' ? pathId.slice(0, 200) : (created ?? null),
      request: auditedRequest(call.body),
      status,
      request_id: call.req?.id === undefined ? null : String(call.req.id),
    }).then(() => undefined);
  return {
    inTransaction: route.idempotency !== 'job' && !NOT_ONE_TRANSACTION.has(name),
    record: (db, outcome) => {
      const status = statusOf(outcome);
      const created =
        status < 400 && !isFailure(outcome) && !isRawReply(outcome) ? stringId((outcome as JsonReply).body) : undefined;
      return write(db, status, created);
    },
    refused: (status) => write(ctx.db, status, undefined),
  };
}
