import express, { type NextFunction, type Request, type Response } from 'express';
import type { AppContext } from '../app-context.js';
import { isDataException, isTransientDbError } from '../db/knex.js';
import { DomainError } from '../domain/result.js';
import { httpMetrics } from '../metrics.js';
import { connectionTimes, nowMs, parsedTimes, type StageTimes, stageTimes } from '../stage-times.js';
import { tracingEnabled } from '../telemetry.js';
import { type AuthContext, hasScope, presentedKey } from './auth.js';
import { HttpDrain } from './drain.js';
import { IDEMPOTENCY_HEADER } from './idempotency.js';
import { jsonBody } from './json-body.js';
import { problemBody, problemFromFailure, sendProblem } from './problem.js';
import { keyRateLimit } from './rate-limit.js';
import { refuseUnstorableText } from './refuse-unstorable-text.js';
import { writeJson } from './reply.js';
import { requestLog, securityHeaders } from './request-log.js';
import { type Access, type AnyRoute, concretePath, expressPath } from './route.js';
import { runRoute } from './run-route.js';
import { traceRequests } from './tracing.js';
import { KeyCheckThrottled } from './unknown-key-throttle.js';

export interface MountedApp {
  app: express.Express;
  routes: readonly AnyRoute[];
  /** The graceful drain of this app (server.ts begins it on SIGTERM). */
  drain: HttpDrain;
  /** Once every request is answered, on close: what is left to do (the rate limit's unsent counts). */
  finish(): Promise<void>;
}

/** Extra mounts outside the JSON route table (Bull Board, pages); each declares its access for the audit. */
export interface ExtraMount {
  path: string;
  access: Access;
  description: string;
  mount(app: express.Express): void;
}

const isRedisDown = (error: unknown): boolean => {
  const message = error instanceof Error ? error.message : String(error);
  // ioredis with the offline queue off (the API's producer connection) fails at once while Redis is
  // away; a Redis still loading its append-only file answers LOADING
  return (
    /Stream isn't writeable|enableOfflineQueue|Connection is closed|ECONNREFUSED|Redis is unavailable/i.test(message) ||
    /MaxRetriesPerRequestError|Reached the max retries per request limit|^LOADING\b|^MISCONF\b/i.test(message)
  );
};

/** Known causes of "we cannot serve this right now": answered 503 `unavailable`, never a 500. */
export function isUnavailable(error: unknown): boolean {
  return isTransientDbError(error) || isRedisDown(error);
}

/**
 * The first step of every route: who is calling. A public route lets anyone through; any other needs
 * a valid key (401 without one) with at least the route's scope (403 with a smaller one). The key's
 * identity is left in `res.locals.auth` for the rate limit and the handler.
 */
function authenticate(ctx: AppContext, route: AnyRoute) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    if (route.access === 'public') {
      next();
      return;
    }
    // the API takes its key as Bearer only (API.md): a browser sends remembered Basic credentials by itself, so
    // Basic on /v1 would let another site's bodiless POST (a revoke, a payment) ride on them; /metrics keeps Basic
    // for scrapers configured with it
    const key = presentedKey(req, { basic: !route.path.startsWith('/v1/') });
    if (!key) {
      sendProblem(res, problemBody('unauthorized', 'an API key is required: send "Authorization: Bearer <key>"'), {
        'www-authenticate': 'Bearer realm="credits"',
      });
      return;
    }
    const auth = await ctx.keys.verify(key, () => req.ip);
    if (!auth) {
      sendProblem(res, problemBody('unauthorized', 'the API key is not valid or has been revoked'), {
        'www-authenticate': 'Bearer realm="credits", error="invalid_token"',
      });
      return;
    }
    if (!hasScope(auth, route.access)) {
      sendProblem(
        res,
        problemBody(
          'forbidden',
          `this route needs a key with the "${route.access}" scope; this key has: ${auth.scopes.join(', ')}`,
        ),
      );
      return;
    }
    res.locals.auth = auth;
    next();
  };
}

/**
 * Debug (STAGE_TIMES_DIR): when a request reached the app and when its answer was written, by the
 * body's idempotency key (the load tool's requests each have their own).
 */
function httpStageTimes(times: StageTimes) {
  return function stageTimesOfRequest(req: Request, res: Response, next: NextFunction): void {
    const at = nowMs();
    res.once('finish', () => {
      const key = (req.body as { idempotency_key?: unknown } | undefined)?.idempotency_key;
      if (typeof key !== 'string') return;
      times.mark(key, 'http_in', at);
      times.mark(key, 'http_out');
      const parsed = parsedTimes.get(req);
      if (parsed !== undefined) times.mark(key, 'http_parsed', parsed);
      // the connection's first request only: when the server took the connection up
      const accepted = connectionTimes.get(req.socket);
      if (accepted !== undefined) {
        connectionTimes.delete(req.socket);
        times.mark(key, 'conn_accept', accepted);
      }
    });
    next();
  };
}

function handlerFor(ctx: AppContext, route: AnyRoute) {
  return async (req: Request, res: Response): Promise<void> => {
    const outcome = await runRoute(ctx, route, {
      params: req.params,
      query: req.query,
      body: req.body ?? undefined,
      idempotencyKey: req.get(IDEMPOTENCY_HEADER),
      // the route's own path with the call's parameters, as the pages' forms name it (src/ui/form.ts), not
      // `req.path`: the router also takes another case and a trailing slash (`/V1/Reports/`), which a key stored
      // under `/v1/reports` would not match — the same request again would make a second run
      path: concretePath(route.path, req.params),
      req,
      res,
      auth: (res.locals.auth as AuthContext | undefined) ?? null,
      origin: 'api',
    });
    switch (outcome.kind) {
      case 'invalid':
        req.log?.info({ problems: outcome.problems }, 'request refused: validation failed');
        sendProblem(
          res,
          problemBody(
            'validation_failed',
            outcome.problems.map((p) => `${p.field}: ${p.message}`).join('; '),
            outcome.problems,
          ),
        );
        return;
      case 'failure':
        req.log?.info({ code: outcome.failure.code, detail: outcome.failure.detail }, 'request refused');
        sendProblem(res, problemFromFailure(outcome.failure));
        return;
      case 'reply':
        writeJson(res, outcome.reply.status, outcome.reply.body, outcome.reply.headers);
        return;
      case 'raw':
        return;
    }
  };
}

type Step = (req: Request, res: Response, next: NextFunction) => unknown;

/** Whether a route's path (OpenAPI style, `{id}` for a parameter) matches this literal path as the router would. */
function couldMatch(routePath: string, path: string): boolean {
  const want = routePath.toLowerCase().split('/');
  const have = path.toLowerCase().split('/');
  return (
    want.length === have.length && want.every((part, i) => (/^\{\w+\}$/.test(part) ? have[i] !== '' : part === have[i]))
  );
}

/**
 * The routes without parameters, by `<method> <path>`, each run as the router runs its steps: `next()`
 * goes on to the next step, `next(error)` (or a rejected promise) goes to the error handlers. A route
 * is left to the router when an earlier route of the same method could take its path, or when an
 * extra mount (the pages, Bull Board, the docs) lies under its path: what answers a request is then
 * always what the router alone would have chosen. (A route's last step answers or fails; none passes
 * a request on to the routes after it, which here would run the same route again through the router.)
 */
function exactRoutes(routes: readonly AnyRoute[], extras: readonly ExtraMount[], steps: (route: AnyRoute) => Step[]) {
  const table = new Map<string, { steps: Step[]; route: { path: string } }>();
  routes.forEach((route, index) => {
    if (route.path.includes('{')) return;
    const key = `${route.method.toUpperCase()} ${route.path}`;
    const mounted = extras.some((e) => route.path === e.path || route.path.startsWith(`${e.path}/`));
    const shadowed = routes.slice(0, index).some((r) => r.method === route.method && couldMatch(r.path, route.path));
    if (mounted || shadowed || table.has(key)) return;
    table.set(key, { steps: steps(route), route: { path: expressPath(route.path) } });
  });
  return function exactRoute(req: Request, res: Response, done: NextFunction): void {
    const found = table.get(`${req.method} ${req.path}`);
    if (!found) {
      done();
      return;
    }
    // what the router sets for a matched route: the metrics and the trace name it by its path
    req.params = {};
    (req as { route?: unknown }).route = found.route;
    runSteps(found.steps, req, res, done);
  };
}

/**
 * Runs steps as the router runs a layer's handlers: `next()` goes on to the next step (after the
 * last, to `done()`), `next(error)` (or a rejected promise) goes to `done(error)`, `next('route')`
 * and `next('router')` leave to `done()`.
 */
function runSteps(steps: readonly Step[], req: Request, res: Response, done: NextFunction): void {
  new StepRun(steps, req, res, done).next();
}

/**
 * One run of `runSteps`. `next` is bound once (a bound method, not a closure: under tsx every named
 * closure made per request is also named by Object.defineProperty, about a microsecond each).
 */
class StepRun {
  private at = 0;
  readonly next: (error?: unknown) => void;

  constructor(
    private readonly steps: readonly Step[],
    private readonly req: Request,
    private readonly res: Response,
    private readonly done: NextFunction,
  ) {
    this.next = this.step.bind(this);
  }

  private step(error?: unknown): void {
    const done = this.done;
    if (error === 'route' || error === 'router') {
      done();
      return;
    }
    if (error) {
      done(error);
      return;
    }
    const step = this.steps[this.at];
    this.at += 1;
    if (!step) {
      done();
      return;
    }
    try {
      const result = step(this.req, this.res, this.next);
      if (result instanceof Promise) result.catch((e: unknown) => done(e ?? new Error('Rejected promise')));
    } catch (e) {
      done(e);
    }
  }
}

/**
 * Steps every request goes through, run as one layer of the app: the router tries each of its layers
 * on the path and goes through its own next() machinery between them, for work that applies to every
 * path anyway. The same steps in the same order as one `app.use` each.
 */
function everyRequest(steps: readonly Step[]) {
  const frontSteps = (req: Request, res: Response, done: NextFunction): void => {
    runSteps(steps, req, res, done);
  };
  // the steps' names, for the audit of what runs on every request (test/e2e/security.test.ts)
  return Object.assign(frontSteps, { steps: steps.map((step) => step.name) });
}

export function buildApp(ctx: AppContext, routes: readonly AnyRoute[], extras: readonly ExtraMount[] = []): MountedApp {
  const app = express();
  app.disable('x-powered-by');
  // answers are small and mostly to POSTs: hashing each for an ETag costs more than it saves
  app.set('etag', false);
  app.set('trust proxy', ctx.config.TRUST_PROXY);
  app.set('query parser', 'simple');
  app.set('json replacer', (_key: string, value: unknown) => (typeof value === 'bigint' ? value.toString() : value));
  const drain = new HttpDrain();
  const front: Step[] = [];
  if (tracingEnabled()) front.push(traceRequests());
  if (stageTimes) front.push(httpStageTimes(stageTimes));
  front.push(
    // the request id, and one log line per request only when its level is on (request-log.ts)
    requestLog(app, ctx.log),
    httpMetrics(),
    // before everything that does work: while the process drains, new requests are refused here
    function drainGate(req: Request, res: Response, next: NextFunction) {
      drain.admit(req, res, next);
    },
    // Security headers on every answer. The pages set their own Content-Security-Policy (/ui strict,
    // /docs its own); Bull Board's page needs inline scripts, so none is set here.
    // Helmet's list is computed once when the app is built (request-log.ts).
    securityHeaders({ contentSecurityPolicy: false, crossOriginEmbedderPolicy: false }),
  );
  app.use(everyRequest(front));
  // the pages take ids from their paths and queries too (their forms are checked by their schemas)
  app.use('/ui', refuseUnstorableText);

  for (const extra of extras) extra.mount(app);

  const limit = keyRateLimit(ctx);
  // JSON.parse, except that a number a double would round is kept as its decimal text (json-body.ts) — after the key
  // and the rate limit: a caller without a key is 401 whatever it sends (API.md), and no stranger's body is read
  const body = jsonBody(ctx.config.BODY_LIMIT);
  const steps = (route: AnyRoute): Step[] => [
    authenticate(ctx, route),
    limit,
    ...body,
    refuseUnstorableText,
    handlerFor(ctx, route),
  ];
  // A route without parameters is found by its exact method and path in one Map lookup, where the router
  // would try the path on every route mounted before it; the router keeps every route for the rest
  // (parameters, another case, a trailing slash, HEAD).
  app.use(exactRoutes(routes, extras, steps));
  for (const route of routes) app[route.method](expressPath(route.path), ...steps(route));

  app.use(function notFound(req: Request, res: Response) {
    sendProblem(res, problemBody('not_found', `no route ${req.method} ${req.path}`));
  });

  // Express 5 passes rejected handler promises here.
  app.use(function problemForError(error: unknown, req: Request, res: Response, next: NextFunction) {
    if (res.headersSent) {
      next(error);
      return;
    }
    const typed = error as { type?: string; status?: number; expose?: boolean };
    if (error instanceof DomainError) {
      sendProblem(res, problemFromFailure(error.failure));
      return;
    }
    if (error instanceof KeyCheckThrottled) {
      req.log?.info({ ip: req.ip }, 'key check refused: too many unknown keys from this address');
      sendProblem(res, problemBody('rate_limited', error.message), { 'retry-after': String(error.retryAfterS) });
      return;
    }
    if (typed.type === 'entity.parse.failed') {
      sendProblem(
        res,
        problemBody('validation_failed', 'the body is not valid JSON', [
          { field: '(body)', message: 'is not valid JSON' },
        ]),
      );
      return;
    }
    if (typed.type === 'entity.encoding.invalid') {
      const message = 'is not well-formed UTF-8';
      sendProblem(res, problemBody('validation_failed', `the body ${message}`, [{ field: '(body)', message }]));
      return;
    }
    if (error instanceof URIError) {
      // the router could not decode a path parameter (`/v1/clients/%E0%A4%A`): text that is not UTF-8,
      // refused like any unstorable text (422), not an internal error
      const message = 'is not valid percent-encoded UTF-8';
      sendProblem(res, problemBody('validation_failed', `the path ${message}`, [{ field: '(path)', message }]));
      return;
    }
    if (typed.type === 'entity.too.large') {
      sendProblem(res, problemBody('payload_too_large', `the body is larger than ${ctx.config.BODY_LIMIT}`));
      return;
    }
    if (typed.expose && typed.status && typed.status < 500) {
      sendProblem(res, problemBody('validation_failed', error instanceof Error ? error.message : 'bad request'));
      return;
    }
    if (isDataException(error)) {
      // a value Postgres refused (out of range, not storable as text): bad input that got past
      // validation. The statement failed, so its transaction wrote nothing. Warned: the edge
      // should have refused it, and that is worth a look.
      req.log?.warn({ err: error }, 'request refused by Postgres as a data exception');
      sendProblem(
        res,
        problemBody('validation_failed', `a value in the request cannot be stored: ${(error as Error).message}`),
      );
      return;
    }
    if (isUnavailable(error)) {
      req.log?.warn({ err: error }, 'dependency unavailable');
      sendProblem(
        res,
        problemBody(
          'unavailable',
          'a dependency (Postgres or Redis) cannot be reached right now; nothing was accepted, retry later',
        ),
        { 'retry-after': '5' },
      );
      return;
    }
    req.log?.error({ err: error }, 'unhandled error');
    res
      .status(500)
      .set('content-type', 'application/problem+json; charset=utf-8')
      .send(
        JSON.stringify({
          type: 'urn:credits:problem:internal',
          title: 'Internal error',
          status: 500,
          detail: `an unexpected error occurred (request ${String(req.id)})`,
          code: 'internal',
        }),
      );
  });

  return { app, routes, drain, finish: () => limit.close() };
}
