import type { AppContext } from './app-context.js';
import { openOutcomeListeners } from './commands/index.js';
import type { Role } from './config.js';
import { startApi } from './http/server.js';
import { startScheduler } from './scheduler/index.js';
import { startWorkers } from './workers/index.js';

export interface RunningRoles {
  port?: number;
  /** Stops in the order that loses nothing: no new requests, no new jobs, then finish what is in flight. */
  stop(): Promise<void>;
}

export async function startRoles(ctx: AppContext, roles: readonly Role[]): Promise<RunningRoles> {
  const stops: Array<() => Promise<void>> = [];
  let port: number | undefined;
  if (roles.includes('api')) {
    const api = await startApi(ctx);
    port = api.port;
    stops.push(() => api.close());
    void openOutcomeListeners(ctx, ['consumption', 'renewal', 'recharge']).catch((error: unknown) =>
      ctx.log.warn({ err: error }, 'queue listeners not ready yet'),
    );
  }
  if (roles.includes('scheduler')) {
    const scheduler = startScheduler(ctx);
    stops.unshift(() => scheduler.stop());
  }
  if (roles.includes('worker')) {
    const workers = await startWorkers(ctx);
    stops.push(() => workers.close());
  }
  return {
    ...(port !== undefined ? { port } : {}),
    stop: async () => {
      for (const stop of stops) await stop();
    },
  };
}
