import type { AppContext } from './app-context.js';
import type { Role } from './config.js';
import { startApi, startOps } from './http/server.js';
import { untilReady } from './queue/redis.js';
import { startScheduler } from './scheduler/index.js';
import { startWorkers } from './workers/index.js';

export interface RunningRoles {
  port?: number;
  /**
   * Stops in the order that loses nothing. At once, before anything is awaited, the API begins to
   * drain (/readyz 503, new requests refused); then the scheduler stops, the requests in flight get
   * their answers while the workers still run (a `?wait=true` needs them for its result), and last
   * the workers stop taking jobs and finish the ones they hold.
   */
  stop(): Promise<void>;
}

export async function startRoles(ctx: AppContext, roles: readonly Role[]): Promise<RunningRoles> {
  const stops: Array<() => Promise<void>> = [];
  let port: number | undefined;
  let beginDrain: (() => void) | undefined;
  await untilReady(ctx.redis, 5_000);
  // a worker or scheduler process answers its probes and metrics on its own port; it says "not ready" as
  // soon as it drains and closes its listener last, once its work is done. It listens first: a port it
  // cannot have (ListenError) stops the start before any job is taken or scheduled.
  const ops = roles.includes('api') ? undefined : await startOps(ctx);
  if (roles.includes('api')) {
    const api = await startApi(ctx);
    port = api.port;
    beginDrain = () => api.beginDrain();
    // half of the shutdown's time for the requests in flight, the rest for the workers' batches
    stops.push(() => api.close(Math.floor(ctx.config.SHUTDOWN_TIMEOUT_MS / 2)));
    // the `?wait=true` listeners open at their queue's first waiter, and close when nobody waits (outcome.ts)
  }
  if (roles.includes('scheduler')) {
    const scheduler = startScheduler(ctx);
    stops.unshift(() => scheduler.stop());
  }
  if (roles.includes('worker')) {
    const workers = await startWorkers(ctx);
    stops.push(() => workers.close());
  }
  if (ops) {
    port = ops.port;
    beginDrain = () => ops.beginDrain();
    stops.push(() => ops.close(1_000));
  }
  return {
    ...(port !== undefined ? { port } : {}),
    stop: async () => {
      if (beginDrain) {
        beginDrain();
        ctx.log.info('draining: /readyz answers 503, new requests are refused, requests in flight are answered');
      }
      for (const stop of stops) await stop();
    },
  };
}
