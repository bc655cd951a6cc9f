import { isIP } from 'node:net';
import { REPORT_TYPES, type ReportType } from '@credits/producer/report-types';
import cron from 'node-cron';
import { z } from 'zod';
import { WEEK_STARTS } from './domain/week.js';
import { parseClusterNodes } from './queue/redis.js';

/**
 * Every setting the service reads from its environment, validated once at start.
 * A bad value stops the process with a message naming the variable, instead of
 * surfacing later as a confusing runtime error.
 */
const roleSchema = z.enum(['api', 'worker', 'scheduler']);
export type Role = z.infer<typeof roleSchema>;

const cronSchema = z
  .string()
  .trim()
  .min(1)
  .refine((expression) => cron.validate(expression), { message: 'not a cron expression (e.g. "0 2 * * *")' });

const timeZoneSchema = z.string().refine(
  (tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not an IANA time zone (e.g. UTC, Europe/Paris)' },
);

/** One entry of TRUST_PROXY's list: express's names, an address, or a range (address/prefix length). */
function isProxyAddress(entry: string): boolean {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(entry)) return true;
  const [address = '', bits, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

/**
 * Which proxies' X-Forwarded-* headers are believed (express's `trust proxy`): a hop count, `true`/`false`, or
 * addresses and ranges. What the pages learn from them: https (the cookie's `Secure`, the forms' origin check).
 */
const trustProxySchema = z
  .string()
  .trim()
  .transform((value, ctx): boolean | number | string[] => {
    if (value === 'true' || value === 'false') return value === 'true';
    if (/^\d{1,2}$/.test(value)) return Number(value);
    const entries = value.split(',').map((entry) => entry.trim());
    const bad = entries.filter((entry) => !isProxyAddress(entry));
    if (bad.length === 0) return entries;
    ctx.addIssue({
      code: 'custom',
      message:
        'a hop count, true, false, or addresses and ranges separated by commas (e.g. "loopback, 10.0.0.0/8"); ' +
        `not ${bad.map((entry) => JSON.stringify(entry)).join(', ')}`,
    });
    return z.NEVER;
  });

/**
 * The report types the nightly run makes for each business day (README "Reports"): a list separated by commas, `all`
 * (the default) or `none`. A business that reads none of them, or some, spares the nightly run the rest — each is a
 * statement over the day's ledger, and a run after days down makes each missed day's (up to 31).
 */
const nightlyReportsSchema = z
  .string()
  .default('all')
  .transform((given, ctx): ReportType[] => {
    const value = given.trim();
    if (value === 'all') return [...REPORT_TYPES];
    if (value === 'none') return [];
    const entries = value.split(',').map((entry) => entry.trim());
    const bad = entries.filter((entry) => !(REPORT_TYPES as readonly string[]).includes(entry));
    if (bad.length === 0) return REPORT_TYPES.filter((type) => entries.includes(type));
    ctx.addIssue({
      code: 'custom',
      message: `all, none, or report types separated by commas (${REPORT_TYPES.join(', ')}); not ${bad
        .map((entry) => JSON.stringify(entry))
        .join(', ')}`,
    });
    return z.NEVER;
  });

/**
 * A connection URL of one of `schemes`. `z.url()` alone took `redis-host:6379` or `db:5432/credits` (a scheme
 * `redis-host:`, no host), and the clients then connected to 127.0.0.1 or failed with a confusing error at runtime.
 */
const urlOf = (what: string, schemes: readonly string[], check?: (url: URL) => string | undefined) =>
  z.url().superRefine((value, ctx) => {
    if (!URL.canParse(value)) return; // z.url() says so
    const url = new URL(value);
    const problem = schemes.includes(url.protocol)
      ? check?.(url)
      : `not a ${what} URL: it must start with ${schemes.map((scheme) => `${scheme}//`).join(' or ')}`;
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
const postgresUrl = urlOf('Postgres', ['postgres:', 'postgresql:']);
/** ioredis's database number is the path (`redis://host:6379/2`): a word there failed every command. */
const redisUrl = urlOf('Redis', ['redis:', 'rediss:'], (url) =>
  /^\/?(\d+)?$/.test(url.pathname)
    ? undefined
    : `the path names the database by its number (e.g. /0), not ${url.pathname}`,
);

/**
 * `BODY_LIMIT` in bytes: a number and an optional unit, b, kb, mb or gb ("2mb", "100kb", "512"); undefined if it is
 * not one. The API's body readers take this number, never the text (json-body.ts).
 */
export function bodyLimitBytes(limit: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(limit);
  if (!match) return undefined;
  const unit = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(match[2] ?? 'b').toLowerCase() as 'b'];
  return Math.floor(Number(match[1]) * unit);
}

/**
 * A whole number in [min, max], `fallback` when unset. Set but empty (`PORT=` in an env file, `PORT: ${PORT}` in
 * compose with nothing behind it) is refused: coerced, it was 0 — a random port, no wait, no grace.
 */
const intFromEnv = (min: number, max: number, fallback: number) =>
  z
    .string()
    .trim()
    .min(1, { error: 'empty: give a whole number, or unset it for the default' })
    .pipe(z.coerce.number<string>().int().min(min).max(max))
    .default(fallback);

const configSchema = z.object({
  /**
   * `production` refuses what only a developer's machine should do (see `productionProblems`): the
   * embedded Postgres and the spawned redis-server, and the manual clock.
   */
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  /**
   * `on`: every process migrates at start (knex's lock table serialises them) — the one-command
   * developer start. `off`: migrations are their own deploy step (`npm run migrate`); a process whose
   * schema is behind its code refuses to start instead.
   */
  MIGRATE: z.enum(['on', 'off']).default('on'),
  /** When unset, the start script finds or starts a Postgres (see src/infra). */
  DATABASE_URL: postgresUrl.optional(),
  /**
   * `true`: DATABASE_URL is a PgBouncer in transaction pooling. Then no named prepared statements, no
   * `statement_timeout` startup parameter (set it on the role), and what needs a session of its own —
   * LISTEN, migrations, creating the database — goes to DATABASE_DIRECT_URL.
   */
  PGBOUNCER: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  /** Postgres itself, not through a pooler (LISTEN, migrations); needed with PGBOUNCER=true, else DATABASE_URL. */
  DATABASE_DIRECT_URL: postgresUrl.optional(),
  /**
   * A streaming replica of DATABASE_URL that reports read from (their statements stream for
   * seconds); the primary otherwise. A report waits (REPORTS_MAX_LAG_MS at most, then it is retried)
   * until the replica has replayed everything committed before the report started.
   */
  REPORTS_DATABASE_URL: postgresUrl.optional(),
  REPORTS_MAX_LAG_MS: intFromEnv(0, 600_000, 30_000),
  /** When unset, the start script finds or starts a Redis (see src/infra). */
  REDIS_URL: redisUrl.optional(),
  /**
   * `host:port,host:port`: Redis Cluster nodes (a few; the rest are discovered). Every connection is
   * then a cluster client; REDIS_URL, if set, gives the credentials and TLS every node uses.
   */
  REDIS_CLUSTER_NODES: z
    .string()
    .optional()
    .transform((text, ctx) => {
      if (text === undefined || text.trim() === '') return undefined;
      try {
        return parseClusterNodes(text);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    }),
  PORT: intFromEnv(0, 65535, 3000),
  HOST: z.string().default('0.0.0.0'),
  /**
   * The proxies in front of the API whose X-Forwarded-Proto is believed. `loopback` (a proxy on the same machine);
   * behind an ingress or load balancer elsewhere, its addresses (e.g. `10.0.0.0/8`) or the hop count.
   */
  TRUST_PROXY: trustProxySchema.default(['loopback']),
  BUSINESS_TZ: timeZoneSchema.default('UTC'),
  /** The first day of the weekly buckets of reports and of the usage endpoint (in BUSINESS_TZ). */
  WEEK_START: z.enum(WEEK_STARTS).default('monday'),
  /** `{credits}` is a Redis Cluster hash tag: every key of every queue lands on one slot. */
  BULL_PREFIX: z.string().min(1).default('{credits}'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ROLES: z
    .string()
    .default('api,worker,scheduler')
    .transform((s) =>
      s
        .split(',')
        .map((r) => r.trim())
        .filter(Boolean),
    )
    .pipe(z.array(roleSchema).min(1)),
  DATA_DIR: z.string().default('.data'),
  DB_POOL_MAX: intFromEnv(1, 200, 10),
  /**
   * Listening handles of the API's port (src/http/accept-handles.ts): how many new connections a busy process takes up
   * per event-loop iteration. 1: node's own, one. 16 rather than 4: the wait phase of `npm run load` (500 new
   * connections in its first second) had a p99 of 144 against 255 ms, the better in each of six pairs (BENCHMARKS.md,
   * 2026-12-05 01:54–02:26); 32 measured no better than 16.
   */
  HTTP_ACCEPT_HANDLES: intFromEnv(1, 32, 16),
  WAIT_TIMEOUT_MS: intFromEnv(0, 60_000, 5_000),
  /**
   * The largest JSON body the API reads. Unchecked, body-parser read "2m" as 2 bytes (every call with a body 413)
   * and a word as no number at all (the start died with a TypeError after migrating).
   */
  BODY_LIMIT: z
    .string()
    .trim()
    .default('2mb')
    .refine((limit) => (bodyLimitBytes(limit) ?? 0) > 0, {
      error: 'a size in bytes, kb, mb or gb above 0 (e.g. "2mb", "512kb")',
    }),
  RATE_LIMIT_PER_MINUTE: intFromEnv(1, 10_000_000, 60_000),
  /**
   * How long an API key's verification (valid or not) is remembered in the process; a key revoked in
   * another process (or the CLI) stops working here within this time. 0: read `api_keys` every request.
   */
  API_KEY_CACHE_MS: intFromEnv(0, 300_000, 5_000),
  /**
   * Unknown API keys one caller address may have checked against the database in a minute (per process); past it
   * its key checks that need the database are 429 until the minute ends. 0: no limit.
   */
  AUTH_UNKNOWN_KEYS_PER_MINUTE: intFromEnv(0, 1_000_000, 30),
  /**
   * The rate limit is counted in the process and its counts sent to Redis this often (and after every
   * few requests of one key): see src/http/rate-limit.ts for the bound this gives across processes.
   */
  RATE_LIMIT_SYNC_MS: intFromEnv(10, 10_000, 200),
  /**
   * The front door groups concurrent requests: one statement records a group's commands and one
   * addBulk enqueues them, when it holds this many commands or its first has waited this long behind
   * a group being written (with none being written, at the end of the event loop's turn).
   */
  ACCEPT_BATCH_SIZE: intFromEnv(1, 5_000, 500),
  ACCEPT_BATCH_WAIT_MS: intFromEnv(0, 1_000, 2),
  /**
   * Consumption worker: jobs in flight, and how they are grouped into one transaction (the wait is
   * for company behind a batch applying in the lane; a lane with none applying flushes at once).
   */
  CONSUMPTION_CONCURRENCY: intFromEnv(1, 5_000, 1_000),
  CONSUMPTION_BATCH_SIZE: intFromEnv(1, 5_000, 400),
  CONSUMPTION_BATCH_WAIT_MS: intFromEnv(0, 1_000, 4),
  /** Lanes by client: batches of different lanes never wait on each other's locks. */
  CONSUMPTION_LANES: intFromEnv(1, 16, 2),
  /** Batches applying at once per lane. */
  CONSUMPTION_BATCHES_IN_FLIGHT: intFromEnv(1, 16, 1),
  /** Scheduler entries, in BUSINESS_TZ. */
  NIGHTLY_CRON: cronSchema.default('0 2 * * *'),
  NIGHTLY_REPORTS: nightlyReportsSchema,
  EXPIRE_CRON: cronSchema.default('*/5 * * * *'),
  RELAY_INTERVAL_MS: intFromEnv(50, 600_000, 1_000),
  /**
   * How long an accepted request (or a pending webhook delivery) may wait before the relay checks
   * that Redis still holds its job, and enqueues it again if not (Redis lost its data).
   */
  RELAY_GRACE_MS: intFromEnv(500, 3_600_000, 30_000),
  /**
   * BullMQ job lock: a worker that dies (kill -9, OOM) leaves its jobs locked this long; then a
   * worker's stalled-job check (every half of it) takes them back. A live worker renews its locks
   * every half of it too, so short is safe as long as the event loop is never blocked that long;
   * 5 s brings a crashed process's accepted work back within about 10 s of its death.
   */
  JOB_LOCK_MS: intFromEnv(1_000, 600_000, 5_000),
  /**
   * How often a job that fails for an unexpected reason is tried (with exponential backoff) before it
   * fails for good. A job that can never apply fails at once whatever this says.
   */
  JOB_ATTEMPTS: intFromEnv(1, 100, 8),
  WEBHOOK_TIMEOUT_MS: intFromEnv(100, 60_000, 10_000),
  /**
   * Attempts of a delivery before it fails for good and its endpoint is disabled. With the backoff below the
   * defaults retry for more than 24 hours (the arithmetic: src/webhooks/retry-schedule.ts).
   */
  WEBHOOK_MAX_ATTEMPTS: intFromEnv(1, 50, 24),
  /** First retry delay of a failed delivery; each next one doubles up to WEBHOOK_BACKOFF_MAX_MS, plus jitter. */
  WEBHOOK_BACKOFF_MS: intFromEnv(10, 3_600_000, 2_000),
  WEBHOOK_BACKOFF_MAX_MS: intFromEnv(10, 86_400_000, 7_200_000),
  /**
   * `true` lets endpoints point at loopback, private, link-local and other non-public addresses (tests, local
   * development). Off by default: the SSRF guard refuses them at creation and at each delivery.
   */
  WEBHOOK_ALLOW_PRIVATE: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('false')
    .transform((v) => v === 'true'),
  /** Days ahead for the nightly `expiring_soon` events and the expiring report. */
  EXPIRING_SOON_DAYS: intFromEnv(1, 365, 7),
  SHUTDOWN_TIMEOUT_MS: intFromEnv(1_000, 600_000, 30_000),
  /**
   * `manual`: the service's clock only moves through PUT /v1/admin/clock (admin key), for acceptance
   * runs that live through a year in minutes. Never in production.
   */
  CLOCK: z.enum(['system', 'manual']).default('system'),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {}

/** Redis Cluster's rule: a key's slot is the hash of the text between its first `{` and the next `}`, if any. */
export function hasHashTag(key: string): boolean {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = configSchema.safeParse(env);
  const lines = parsed.success ? [] : parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
  // behind a transaction pooler, what needs a session of its own (creating the database, migrations, LISTEN)
  // has nowhere else to go: the pooler refuses it, or LISTEN silently hears nothing
  if (parsed.data?.PGBOUNCER && !parsed.data.DATABASE_DIRECT_URL)
    lines.push(
      '  DATABASE_DIRECT_URL: PGBOUNCER=true needs it: Postgres itself, for migrations, creating the database, LISTEN',
    );
  // BullMQ's scripts touch several keys of a queue at once: a cluster runs them only on keys of one slot
  if (parsed.data?.REDIS_CLUSTER_NODES && !hasHashTag(parsed.data.BULL_PREFIX))
    lines.push(
      '  BULL_PREFIX: a Redis Cluster needs a hash tag in it (e.g. {credits}): else every job fails, CROSSSLOT',
    );
  if (!parsed.success || lines.length > 0) throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  return parsed.data;
}

/**
 * What a production process must not do, one line each: start an embedded Postgres or a
 * redis-server of its own (data in a local folder, a well-known password) because a URL is missing,
 * or run on a clock an admin key can move.
 */
export function productionProblems(config: Config): string[] {
  if (config.NODE_ENV !== 'production') return [];
  const problems: string[] = [];
  if (!config.DATABASE_URL)
    problems.push('NODE_ENV=production needs DATABASE_URL: it never starts an embedded Postgres of its own');
  if (!config.REDIS_URL && !config.REDIS_CLUSTER_NODES)
    problems.push('NODE_ENV=production needs REDIS_URL: it never spawns a redis-server of its own');
  if (config.CLOCK === 'manual')
    problems.push('NODE_ENV=production refuses CLOCK=manual: an admin key could move the time money depends on');
  return problems;
}

/** Where a session of its own goes (LISTEN, migrations): Postgres directly, not a transaction pooler. */
export const directDatabaseUrl = (config: Pick<Config, 'DATABASE_DIRECT_URL'>, databaseUrl: string): string =>
  config.DATABASE_DIRECT_URL ?? databaseUrl;
