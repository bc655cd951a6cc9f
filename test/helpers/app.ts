import { randomBytes } from 'node:crypto';
import type { DestinationStream } from 'pino';
import { inject } from 'vitest';
import type { AppContext } from '../../src/app-context.js';
import { ManualClock } from '../../src/clock.js';
import { type Config, loadConfig, type Role } from '../../src/config.js';
import { createApiKey } from '../../src/http/auth.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { removeQueueKeys } from '../../src/queue/remove-prefix.js';
import { type RunningRoles, startRoles } from '../../src/roles.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { createTestDatabase, type TestDatabase } from './database.js';

export interface TestResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
  text: string;
}

export interface RequestOptions {
  body?: unknown;
  /** `null` sends no Authorization header; default is the admin key. */
  key?: string | null;
  headers?: Record<string, string>;
  /** Sent as is, not JSON-encoded. */
  raw?: string;
}

export interface TestApp {
  ctx: AppContext;
  database: TestDatabase;
  runtime: Runtime;
  clock: ManualClock;
  baseUrl: string;
  /** Its queues' BULL_PREFIX: its own, or the one the test gave in `env`. */
  prefix: string;
  keys: { admin: string; write: string; read: string };
  request<T = any>(method: string, path: string, options?: RequestOptions): Promise<TestResponse<T>>;
  close(): Promise<void>;
}

export interface TestAppOptions {
  roles?: Role[];
  now?: string;
  env?: Record<string, string>;
  /** Where log lines go (default: nowhere); with LOG_LEVEL in env. */
  logTo?: DestinationStream;
  /** The clock of the in-process caches and rate-limit windows (default Date.now); siblings share it. */
  ticks?: () => number;
  /** A migrated database of the test's own making (default: a clone of the template). */
  database?: TestDatabase;
}

/**
 * For a file that reads no nightly report but runs the nightly sweep after moving its clock by weeks: each such run
 * makes every report type for each day missed, up to 31 days (README "Reports") — 186 statements and runs where the
 * file looks at none (cancel-ahead's Postgres time 12 s → 1.2 s without them). The files that check them keep them.
 */
export const NO_NIGHTLY_REPORTS = { NIGHTLY_REPORTS: 'none' } as const;

export function testConfig(prefix: string, env: Record<string, string> = {}): Config {
  return loadConfig({
    LOG_LEVEL: 'silent',
    BULL_PREFIX: prefix,
    BUSINESS_TZ: 'UTC',
    PORT: '0',
    HOST: '127.0.0.1',
    WAIT_TIMEOUT_MS: '10000',
    // node's one listening handle: the extra handles are made through a child process, and forking a test
    // worker's large process costs tens of ms of CPU at every start (test/e2e/accept-handles.test.ts covers them)
    HTTP_ACCEPT_HANDLES: '1',
    ...env,
  });
}

/**
 * The service as it runs in production (real Postgres, real Redis, real HTTP), on a database and
 * queue prefix of its own, with a clock the test moves.
 */
/**
 * One HTTP call to a service at `baseUrl`, with `defaultKey` unless `opts.key` says otherwise (`null`: none); the body
 * as JSON, or as sent (`raw`); the answer parsed as JSON when it is.
 */
export async function requestTo<T>(
  baseUrl: string,
  defaultKey: string,
  method: string,
  path: string,
  opts: RequestOptions = {},
): Promise<TestResponse<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  const key = opts.key === undefined ? defaultKey : opts.key;
  if (key !== null) headers.authorization = `Bearer ${key}`;
  let body: string | undefined;
  if (opts.raw !== undefined) body = opts.raw;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
  const res = await fetch(baseUrl + path, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: parsed as T, headers: res.headers, text };
}

export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const database = options.database ?? (await createTestDatabase());
  // a queue prefix of the app's own, its keys removed when it closes; or the test's (env BULL_PREFIX: several
  // services of one test share its queues, restore.test.ts), whose keys the test removes once all are closed
  const given = options.env?.BULL_PREFIX;
  const prefix = given ?? `{t${randomBytes(5).toString('hex')}}`;
  const config = testConfig(prefix, options.env);
  const clock = new ManualClock(options.now ?? '2026-01-15T10:00:00.000Z');
  const runtime = createRuntime({
    config,
    databaseUrl: database.url,
    redisUrl: inject('redisUrl'),
    log: createLogger(config.LOG_LEVEL, 'credits', options.logTo),
    clock,
    ...(options.ticks ? { ticks: options.ticks } : {}),
  });
  const roles: RunningRoles = await startRoles(runtime.ctx, options.roles ?? ['api']);
  const baseUrl = `http://127.0.0.1:${roles.port}`;
  const now = clock.now();
  const keys = {
    admin: (await createApiKey(database.db, { name: 'test admin', scopes: ['admin'], now })).key,
    write: (await createApiKey(database.db, { name: 'test write', scopes: ['write'], now })).key,
    read: (await createApiKey(database.db, { name: 'test read', scopes: ['read'], now })).key,
  };

  const request = <T>(method: string, path: string, opts: RequestOptions = {}): Promise<TestResponse<T>> =>
    requestTo<T>(baseUrl, keys.admin, method, path, opts);

  return {
    ctx: runtime.ctx,
    database,
    runtime,
    clock,
    baseUrl,
    prefix,
    keys,
    request,
    close: async () => {
      // each step named: a teardown that hangs says where, not only that vitest's hook timed out
      const started = Date.now();
      const step = (name: string, work: () => Promise<unknown>) => withinTeardown(name, work(), started);
      await step('stopping the roles', () => roles.stop());
      // leave Redis as it was found: this app's queues go with it (a prefix the test gave is the test's to remove)
      if (given === undefined) await step('removing the queue keys', () => removeQueueKeys(runtime.ctx.redis, prefix));
      await step('closing the connections', () => runtime.close());
      await step('dropping the database', () => database.drop());
    },
  };
}

/** What a test app's teardown may take in all: under vitest's hookTimeout (60 s), so that a hang is named. */
const TEARDOWN_MS = 50_000;

async function withinTeardown(name: string, work: Promise<unknown>, started: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const overran = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`app.close(): ${name} had not finished ${TEARDOWN_MS} ms after the teardown began`)),
      Math.max(0, TEARDOWN_MS - (Date.now() - started)),
    );
  });
  try {
    await Promise.race([work, overran]);
  } finally {
    clearTimeout(timer);
  }
}

export interface Sibling {
  ctx: AppContext;
  /** Its API, when it runs the api role. */
  baseUrl?: string;
  /** Stops its roles and ends every connection it opened (so their statistics are flushed). */
  stop(): Promise<void>;
}

/**
 * Another process of the service, inside this one: the roles given, on the app's database, queues
 * and clock, with pools and connections of its own — so that a test can end exactly the
 * connections that did a piece of work (see helpers/deadlocks.ts).
 */
export async function startSibling(
  app: TestApp,
  roles: Role[],
  options: {
    config?: Partial<Config>;
    poolMax?: number;
    /** Where it finds the app's database (through a proxy: helpers/pg-proxy.ts); the app's URL by default. */
    databaseUrl?: string;
    /** Its own logger (to read its lines); the app's by default. */
    log?: Logger;
  } = {},
): Promise<Sibling> {
  const runtime = createRuntime({
    // named by the roles it runs (its pool's application_name, its logs), not by the app's ROLES it was copied from
    config: { ...app.ctx.config, ...(roles.length > 0 ? { ROLES: roles } : {}), ...options.config },
    databaseUrl: options.databaseUrl ?? app.database.url,
    redisUrl: app.ctx.redisUrl,
    log: options.log ?? app.ctx.log,
    clock: app.clock,
    ticks: app.ctx.ticks,
    poolMax: options.poolMax ?? 5,
  });
  const running = await startRoles(runtime.ctx, roles);
  return {
    ctx: runtime.ctx,
    ...(running.port !== undefined ? { baseUrl: `http://127.0.0.1:${running.port}` } : {}),
    stop: async () => {
      await running.stop();
      await runtime.close();
    },
  };
}
