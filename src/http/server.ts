import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import express from 'express';
import { bullBoard } from '../admin/bull-board.js';
import type { AppContext } from '../app-context.js';
import { stageTimes, watchConnections } from '../stage-times.js';
import { uiMount } from '../ui/index.js';
import { duplicateListeners } from './accept-handles.js';
import { buildApp, type ExtraMount, type MountedApp } from './app.js';
import type { AnyRoute } from './route.js';
import { allRoutes } from './routes/index.js';
import { systemRoutes } from './routes/system.js';

const require = createRequire(import.meta.url);

/** Swagger UI's files, served from its npm package so /docs works without a CDN. */
export const docsAssets: ExtraMount = {
  path: '/docs/assets',
  access: 'public',
  description: 'Swagger UI static files',
  mount: (app) => {
    // the package's path helper alone: its main module loads Swagger UI's 1.4 MB browser bundle into this process
    // (0.36 s of CPU and 13 MB of heap at every start, for files only ever served)
    const dir = (require('swagger-ui-dist/absolute-path.js') as () => string)();
    app.use('/docs/assets', express.static(dir, { index: false, maxAge: '1d' }));
  },
};

export interface ApiServer {
  server: Server;
  port: number;
  /** From now on /readyz answers 503 and new requests are refused, while the listener still answers (drain.ts). */
  beginDrain(): void;
  /**
   * The graceful drain: begins it if not begun, lets the requests in flight get their answer
   * within `graceMs` (a `?wait=true` still waiting then is answered 202), then closes the listener.
   */
  close(graceMs?: number): Promise<void>;
}

/** The listener could not bind its address (taken by another process, or a port below 1024 unprivileged). */
export class ListenError extends Error {
  constructor(host: string, port: number, cause: Error) {
    const code = (cause as NodeJS.ErrnoException).code ?? cause.message;
    super(
      code === 'EADDRINUSE'
        ? `${host}:${port} (HOST, PORT) is in use (EADDRINUSE): give each process its own PORT`
        : `${host}:${port} (HOST, PORT) cannot be listened on (${code})`,
      { cause },
    );
  }
}

const delay = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms).unref();
  });

/** How long connections still open once the listener closes may take to end before they are cut. */
const LINGER_MS = 1_000;

/** Everything mounted outside the JSON route table, each with its access declared for the audit. */
export function standardMounts(ctx: AppContext): ExtraMount[] {
  return [docsAssets, bullBoard(ctx), uiMount(ctx)];
}

export function createHttpApp(ctx: AppContext, extras: readonly ExtraMount[] = standardMounts(ctx)) {
  return buildApp(ctx, allRoutes(), extras);
}

export async function startApi(
  ctx: AppContext,
  extras: readonly ExtraMount[] = standardMounts(ctx),
  port = ctx.config.PORT,
  host = ctx.config.HOST,
): Promise<ApiServer> {
  return await serve(ctx, createHttpApp(ctx, extras), port, host, ctx.config.HTTP_ACCEPT_HANDLES);
}

/** What a process without the API role serves on its port: liveness, readiness and its metrics. */
const OPS_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

export function opsRoutes(): AnyRoute[] {
  // /metrics here answers a scraper without a key: a worker or scheduler process serves nothing else
  // on its port (keep it on an internal network); the API's own /metrics still needs a read key
  return systemRoutes(() => [])
    .filter((route) => OPS_PATHS.has(route.path))
    .map((route) => (route.path === '/metrics' ? { ...route, access: 'public' as const } : route));
}

/**
 * The probes and metrics of a worker-only or scheduler-only process, on its own port (PORT): the
 * same handlers as the API's (/readyz checks Postgres, Redis and the schema, and answers 503 while
 * the process drains); /metrics answers without a key, as Prometheus scrapes an internal port.
 */
export async function startOps(ctx: AppContext, port = ctx.config.PORT, host = ctx.config.HOST): Promise<ApiServer> {
  return await serve(ctx, buildApp(ctx, opsRoutes(), []), port, host);
}

async function serve(
  ctx: AppContext,
  mounted: MountedApp,
  port: number,
  host: string,
  acceptHandles = 1,
): Promise<ApiServer> {
  const { app, drain } = mounted;
  const server = await new Promise<Server>((resolve, reject) => {
    // Express 5 calls this back with the listen error too (EADDRINUSE): only a bound listener is up
    const s = app.listen(port, host, (error?: Error) =>
      error ? reject(new ListenError(host, port, error)) : resolve(s),
    );
  });
  // more handles on the same socket, each handing its connections to the server (accept-handles.ts)
  const listeners = await duplicateListeners(server, acceptHandles - 1).catch((error: unknown) => {
    ctx.log.warn({ err: error }, 'the API takes up one new connection per event-loop iteration (no extra handle)');
    return [];
  });
  for (const listener of listeners) listener.on('connection', (socket) => server.emit('connection', socket));
  // debug (STAGE_TIMES_DIR): when each connection was taken up and each request's head parsed
  if (stageTimes) watchConnections(server);
  // keep-alive longer than a typical load balancer's idle timeout
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 30_000;
  const address = server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  return {
    server,
    port: boundPort,
    beginDrain: () => drain.begin(),
    close: async (graceMs = 10_000) => {
      drain.begin();
      const idle = drain.whenIdle();
      if ((await Promise.race([idle.then(() => true), delay(graceMs).then(() => false)])) === false) {
        // time is up for waiting: every `?wait=true` answers 202 now (its job goes on) and the
        // other requests get a last moment before their connections are cut
        ctx.stopWaiting.abort();
        await Promise.race([idle, delay(LINGER_MS)]);
      }
      // nothing admitted is left: close the listeners (every handle of the port) and the idle keep-alive
      // connections; a probe still being answered (its connection closes after it) gets a moment, then is cut
      for (const listener of listeners) listener.close();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), LINGER_MS);
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
      // every request answered: the counts the rate limit admitted here and has not sent go to the shared count
      await mounted.finish().catch((error: unknown) => {
        ctx.log.warn({ err: error }, 'the rate limit could not send its last counts (Redis unavailable)');
      });
    },
  };
}
