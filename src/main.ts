import { prepareServices, SchemaBehindError, type Services } from './boot.js';
import { ManualClock, systemClock } from './clock.js';
import { type Config, ConfigError, loadConfig, productionProblems, type Role } from './config.js';
import { ListenError } from './http/server.js';
import { MissingServiceError } from './infra/services.js';
import { createLogger } from './logger.js';
import { type RunningRoles, startRoles } from './roles.js';
import { createRuntime, PACKAGE_VERSION } from './runtime.js';
import { startStageTimes } from './stage-times.js';
import { startTracing } from './telemetry.js';

/**
 * `npm start` (and `npm run start:prod`, compiled): finds or starts Postgres and Redis (in production
 * only finds them), migrates (unless MIGRATE=off), and runs the roles named by ROLES (api, worker,
 * scheduler; all three by default) in this process until SIGTERM/SIGINT.
 */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  const refused = productionProblems(config);
  if (refused.length > 0) {
    for (const line of refused) console.error(`refusing to start: ${line}`);
    process.exit(2);
  }
  const log = createLogger(config.LOG_LEVEL);
  // A signal while the process starts (an embedded Postgres being made, migrations) waits for the step under way,
  // then stops what was started and exits 0. Without a handler node died at once, and the Postgres and redis-server
  // started here — process groups of their own — ran on with nobody to stop them.
  let signalledAtStart: NodeJS.Signals | undefined;
  let signalledAtStartSince = 0;
  const atStart = (signal: NodeJS.Signals) => {
    if (signalledAtStart) {
      // as in the shutdown below: a signal echoed by npm is the same request; a later one asks to exit now
      if (performance.now() - signalledAtStartSince < SIGNAL_ECHO_MS) return;
      log.warn({ signal }, 'second signal while starting: exiting now');
      process.exit(1);
    }
    signalledAtStart = signal;
    signalledAtStartSince = performance.now();
    log.info({ signal }, 'signal while starting: stopping once the step under way ends');
  };
  process.on('SIGTERM', atStart);
  process.on('SIGINT', atStart);
  // before anything opens a queue or a connection: they are built traced or not
  const stopTracing = startTracing(process.env, { name: 'credits', version: PACKAGE_VERSION });
  if (stopTracing) log.info('tracing: spans are exported over OTLP (OTEL_EXPORTER_OTLP_ENDPOINT)');
  // debug: each waited request's stage times, for bench/load.ts --stages (src/stage-times.ts)
  if (process.env.STAGE_TIMES_DIR) startStageTimes(process.env.STAGE_TIMES_DIR, config.ROLES.join('+'));
  let services: Services;
  try {
    services = await prepareServices(config, log);
  } catch (error) {
    if (error instanceof MissingServiceError || error instanceof SchemaBehindError) {
      console.error(error.message);
      process.exit(3);
    }
    throw error;
  }
  if (signalledAtStart) {
    await services.stop();
    log.info({ signal: signalledAtStart }, 'stopped before the roles started');
    process.exit(0);
  }
  if (config.CLOCK === 'manual')
    log.warn('CLOCK=manual: time moves only through PUT /v1/admin/clock; never run this in production');
  const clock = config.CLOCK === 'manual' ? new ManualClock(new Date()) : systemClock;
  const runtime = createRuntime({ config, databaseUrl: services.databaseUrl, redisUrl: services.redisUrl, log, clock });
  let roles: RunningRoles;
  try {
    roles = await startRoles(runtime.ctx, config.ROLES as Role[]);
  } catch (error) {
    console.error(error instanceof ListenError ? `refusing to start: ${error.message}` : error);
    // the servers started here would outlive this process (see above)
    await services.stop().catch(() => undefined);
    process.exit(1);
  }
  // when the first signal came (performance.now()); a later one is a person asking to exit now
  let stoppingSince: number | undefined;
  const shutdown = async (signal: string) => {
    if (stoppingSince !== undefined) {
      // one Ctrl-C under `npm start` arrives twice: the terminal signals the whole foreground group, this process
      // included, and npm forwards its own copy. That echo must not skip the drain it asked for.
      if (performance.now() - stoppingSince < SIGNAL_ECHO_MS) {
        log.info({ signal }, 'the same signal again (npm passes on what the terminal sent): still draining');
        return;
      }
      log.warn({ signal }, 'second signal: exiting now');
      // the Postgres and Redis started here run in process groups of their own (no Ctrl-C reaches them): told to stop
      services.abandon();
      process.exit(1);
    }
    stoppingSince = performance.now();
    log.info({ signal }, 'shutting down: finishing in-flight work');
    const deadline = setTimeout(() => {
      log.error('shutdown took too long; exiting');
      services.abandon();
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS);
    deadline.unref();
    try {
      await roles.stop();
      await runtime.close();
      await services.stop();
      await stopTracing?.().catch((error: unknown) => log.warn({ err: error }, 'spans not flushed'));
      log.info('stopped');
      process.exit(0);
    } catch (error) {
      log.error({ err: error }, 'error while shutting down');
      process.exit(1);
    }
  };
  process.off('SIGTERM', atStart);
  process.off('SIGINT', atStart);
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  // said once a signal is handled: a supervisor that stops the service as soon as it reads this line (pino writes it
  // at once) must find the drain in place, not the default end of a process
  log.info(
    { roles: config.ROLES, port: roles.port, prefix: config.BULL_PREFIX, timeZone: config.BUSINESS_TZ },
    'credits is up',
  );
  // a signal that came while the roles started: they drain now
  if (signalledAtStart) void shutdown(signalledAtStart);
}

/** A second signal sooner than this after the first is the same request echoed (see the shutdown), in ms. */
const SIGNAL_ECHO_MS = 1_000;

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
