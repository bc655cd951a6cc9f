import type { Request, Response } from 'express';
import type { AppContext } from '../app-context.js';
import { fingerprint } from '../canonical-json.js';
import { DomainError, type Failure, type FieldProblem } from '../domain/result.js';
import { zodProblems } from '../schemas/problems.js';
import type { AuthContext } from './auth.js';
import { runIdempotent } from './idempotency.js';
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
 * One call of a route: its schemas, its handler (in the idempotency transaction for a `stored` route
 * called with a key), then the work it left for after the commit. The HTTP edge (app.ts) and the pages
 * (src/ui) both call routes through here, so an action in a page is the API's action, never a copy.
 */
export async function runRoute(ctx: AppContext, route: AnyRoute, call: RouteCall): Promise<RouteOutcome> {
  const parts = {
    params: route.params?.safeParse(call.params),
    query: route.query?.safeParse(call.query),
    body: route.body?.safeParse(call.body ?? undefined),
  };
  // a route that takes no body refuses one, rather than ignoring what the caller meant to say
  const strayBody = !route.body && call.body !== undefined && !isEmptyObject(call.body);
  const problems = [
    ...(strayBody ? [{ field: '(body)', message: 'this route takes no body' }] : []),
    ...(parts.params && !parts.params.success ? zodProblems(parts.params.error, 'path') : []),
    ...(parts.query && !parts.query.success ? zodProblems(parts.query.error, 'query') : []),
    ...(parts.body && !parts.body.success ? zodProblems(parts.body.error) : []),
  ];
  if (problems.length > 0) return { kind: 'invalid', problems };

  const after: Array<() => Promise<void>> = [];
  const makeContext = (db: AppContext['db']) => ({
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
    afterCommit: (action: () => Promise<void>) => {
      after.push(action);
    },
  });

  let outcome: unknown;
  try {
    const key = call.idempotencyKey;
    if (route.idempotency === 'stored' && key !== undefined && call.auth) {
      if (key.length === 0 || key.length > 255) {
        return { kind: 'invalid', problems: [{ field: 'Idempotency-Key', message: 'must be 1–255 characters' }] };
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
        (tx) => route.handler(makeContext(tx as unknown as AppContext['db'])) as Promise<JsonReply>,
      );
      outcome = reply;
      if (!committed) after.length = 0;
    } else {
      outcome = await route.handler(makeContext(ctx.db));
    }
  } catch (error) {
    if (error instanceof DomainError) return { kind: 'failure', failure: error.failure };
    throw error;
  }
  for (const action of after) await action();

  if (isRawReply(outcome)) return { kind: 'raw' };
  if (isFailure(outcome)) return { kind: 'failure', failure: outcome };
  return { kind: 'reply', reply: outcome as JsonReply };
}
