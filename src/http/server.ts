import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import express from 'express';
import { bullBoard } from '../admin/bull-board.js';
import type { AppContext } from '../app-context.js';
import { uiMount } from '../ui/index.js';
import { buildApp, type ExtraMount } from './app.js';
import { allRoutes } from './routes/index.js';

const require = createRequire(import.meta.url);

/** Swagger UI's files, served from its npm package so /docs works without a CDN. */
export const docsAssets: ExtraMount = {
  path: '/docs/assets',
  access: 'public',
  description: 'Swagger UI static files',
  mount: (app) => {
    const dir = (require('swagger-ui-dist') as { getAbsoluteFSPath(): string }).getAbsoluteFSPath();
    app.use('/docs/assets', express.static(dir, { index: false, maxAge: '1d' }));
  },
};

export interface ApiServer {
  server: Server;
  port: number;
  close(graceMs?: number): Promise<void>;
}

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
  const { app } = createHttpApp(ctx, extras);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(port, host, () => resolve(s));
    s.once('error', reject);
  });
  // keep-alive longer than a typical load balancer's idle timeout
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 30_000;
  const address = server.address();
  const boundPort = typeof address === 'object' && address ? address.port : port;
  return {
    server,
    port: boundPort,
    // Stop accepting, let requests in flight finish, and cut connections that are still open
    // after the grace period (a client that never reads its response must not block shutdown).
    close: (graceMs = 10_000) =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), graceMs);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
