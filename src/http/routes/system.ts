import { z } from 'zod';
import { isSchemaCurrent } from '../../db/migrate.js';
import { pingDatabase } from '../../db/server.js';
import { registry } from '../../metrics.js';
import { isDraining } from '../drain.js';
import { buildOpenApi, DOCS_CSP, docsInitScript, docsPage } from '../openapi.js';
import { problemBody, sendProblem } from '../problem.js';
import { problemOf } from '../problem-schemas.js';
import { type AnyRoute, defineRoute } from '../route.js';

/**
 * What /readyz says about a failed check: the error's code or kind, not its message (which names
 * hosts and ports; the endpoint is public). The full error is logged.
 */
const downBecause = (error: unknown): string => {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && /^[A-Z0-9_]{2,32}$/.test(code)) return `down (${code})`;
  return error instanceof Error && /did not answer within/.test(error.message) ? 'down (timeout)' : 'down';
};

const withTimeout = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([
    promise,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms).unref(),
    ),
  ]);

/** Liveness, readiness, metrics and the API's own description. `routes` is the whole table, for the document. */
export function systemRoutes(allRoutes: () => readonly AnyRoute[]): AnyRoute[] {
  let openApiCache: unknown;
  return [
    defineRoute({
      method: 'get',
      path: '/healthz',
      access: 'public',
      tag: 'system',
      summary: 'Liveness: the process is up',
      responses: {
        200: {
          description: 'Alive',
          schema: z.object({ status: z.literal('ok'), version: z.string(), uptime_s: z.number() }),
        },
      },
      handler: async ({ app }) => ({
        status: 200,
        body: { status: 'ok', version: app.version, uptime_s: Math.round(process.uptime()) },
      }),
    }),
    defineRoute({
      method: 'get',
      path: '/readyz',
      access: 'public',
      tag: 'system',
      summary: 'Readiness: Postgres and Redis answer and the schema is current',
      responses: {
        200: {
          description: 'Ready',
          schema: z.object({ status: z.literal('ready'), checks: z.record(z.string(), z.string()) }),
        },
        503: {
          description:
            'Not ready; `checks` says what is wrong (`shutdown: "draining"` while the process drains after SIGTERM)',
          schema: problemOf(['unavailable'], { checks: z.record(z.string(), z.string()) }),
        },
      },
      handler: async ({ app, res }) => {
        if (isDraining(res)) {
          // no check is worth making: traffic must go elsewhere, whatever Postgres and Redis say
          sendProblem(
            res,
            problemBody('unavailable', 'shutting down', undefined, { checks: { shutdown: 'draining' } }),
            { 'retry-after': '5' },
          );
          return { raw: true };
        }
        const checks: Record<string, string> = {};
        await Promise.all([
          withTimeout(pingDatabase(app.db), 2_000, 'postgres')
            .then(() => (checks.postgres = 'ok'))
            .catch((e: unknown) => {
              app.log.warn({ err: e }, 'readiness: postgres is down');
              checks.postgres = downBecause(e);
            }),
          withTimeout(app.redis.ping(), 2_000, 'redis')
            .then(() => (checks.redis = 'ok'))
            .catch((e: unknown) => {
              app.log.warn({ err: e }, 'readiness: redis is down');
              checks.redis = downBecause(e);
            }),
          withTimeout(isSchemaCurrent(app.db), 2_000, 'migrations')
            .then((current) => (checks.migrations = current ? 'ok' : 'pending'))
            .catch(() => (checks.migrations = 'unknown')),
        ]);
        const ready = Object.values(checks).every((v) => v === 'ok');
        if (ready) return { status: 200, body: { status: 'ready', checks } };
        sendProblem(res, problemBody('unavailable', 'not ready', undefined, { checks }), { 'retry-after': '5' });
        return { raw: true };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/metrics',
      access: 'read',
      tag: 'system',
      summary: 'Prometheus metrics of this process',
      responses: { 200: { description: 'Prometheus text format', contentType: 'text/plain' } },
      handler: async ({ res }) => {
        res.set('content-type', registry.contentType).send(await registry.metrics());
        return { raw: true };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/openapi.json',
      access: 'public',
      tag: 'system',
      summary: 'The OpenAPI 3.1 document of this API',
      responses: {
        200: {
          description: 'OpenAPI document',
          schema: z.looseObject({ openapi: z.string(), info: z.looseObject({}), paths: z.looseObject({}) }),
        },
      },
      handler: async ({ app }) => {
        openApiCache ??= buildOpenApi(allRoutes(), { version: app.version });
        return { status: 200, body: openApiCache };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/docs',
      access: 'public',
      tag: 'system',
      summary: 'A page that renders the OpenAPI document',
      responses: { 200: { description: 'HTML page', contentType: 'text/html' } },
      handler: async ({ res }) => {
        res.set({ 'content-type': 'text/html; charset=utf-8', 'content-security-policy': DOCS_CSP }).send(docsPage());
        return { raw: true };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/docs/init.js',
      access: 'public',
      tag: 'system',
      summary: 'Script of the docs page',
      responses: { 200: { description: 'JavaScript', contentType: 'text/javascript' } },
      handler: async ({ res }) => {
        res.set('content-type', 'text/javascript; charset=utf-8').send(docsInitScript);
        return { raw: true };
      },
    }),
  ];
}
