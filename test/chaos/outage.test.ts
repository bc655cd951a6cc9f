import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChaosPostgres, ChaosRedis, freePort, prepareDatabase, REPO_ROOT, sleep } from '../../chaos/services.js';
import { loadConfig } from '../../src/config.js';
import { createApiKey } from '../../src/http/auth.js';
import { createLogger } from '../../src/logger.js';
import { checkRedisSettings, createRedis } from '../../src/queue/redis.js';
import { type RunningRoles, startRoles } from '../../src/roles.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';

/**
 * Issue 7, outages: on a Redis and a Postgres of its own (so that stopping them disturbs nothing
 * else), the service (api and worker roles, one process) answers 503 `unavailable` at once while
 * either is down, accepts nothing, says so in /readyz, and recovers by itself when they are back.
 */
const dir = path.join(REPO_ROOT, '.data', `test-outage-${randomBytes(4).toString('hex')}`);
let redis: ChaosRedis;
let postgres: ChaosPostgres;
let runtime: Runtime;
let roles: RunningRoles;
let baseUrl = '';
let key = '';
let subscriptionId = '';
let serial = 0;

interface Answer {
  status: number;
  body: any;
  text: string;
  contentType: string;
  ms: number;
}

async function call(
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const started = performance.now();
  const res = await fetch(baseUrl + url, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  return {
    status: res.status,
    body: parsed,
    text,
    contentType: res.headers.get('content-type') ?? '',
    ms: performance.now() - started,
  };
}

/** Polls a fact (an HTTP answer) until it holds; bounded. */
async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

const consumption = () => {
  serial += 1;
  return { client: 'outage-client', credit_type: 'sms', quantity: 1, idempotency_key: `outage-${serial}` };
};

/** How long each 503 took: a benchmark figure printed at the end (BENCHMARKS.md), not an assertion. */
const unavailableMs: number[] = [];

/**
 * A 503 as the contract says: problem+json, code unavailable, and no stack trace. An API answer says
 * nothing of the failure's inner details either (/readyz names the failing check). "At once" is held
 * by the fetch's own bound (no hang); the time it took is recorded, not asserted: on two shared cores
 * a bound would measure the neighbours.
 */
function expectUnavailable(answer: Answer, readiness = false): void {
  expect(answer.status, answer.text).toBe(503);
  expect(answer.contentType).toMatch(/^application\/problem\+json/);
  expect(answer.body.code).toBe('unavailable');
  unavailableMs.push(answer.ms);
  expect(answer.text).not.toMatch(/\n\s+at |\\n\s+at |node_modules|\.ts:\d+/);
  if (!readiness) expect(answer.text).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|Stream isn't writeable/);
}

async function count(table: string): Promise<number> {
  const [row] = (await runtime.ctx.db(table).count({ n: '*' })) as Array<{ n: unknown }>;
  return Number(row?.n ?? 0);
}

/** Applied for real: polls the consumption until the worker has applied it. */
async function consumeAndApply(): Promise<void> {
  const body = consumption();
  const accepted = await call('POST', '/v1/consumptions', body);
  expect(accepted.status, accepted.text).toBe(202);
  await until(
    'the consumption is applied',
    async () => (await call('GET', `/v1/consumptions/${accepted.body.id}`)).body?.status === 'applied',
  );
}

beforeAll(async () => {
  redis = new ChaosRedis(await freePort(), path.join(dir, 'redis'), path.join(dir, 'redis.log'));
  postgres = new ChaosPostgres(await freePort(), path.join(dir, 'postgres'), path.join(dir, 'postgres.log'));
  await Promise.all([redis.start(), postgres.start()]);
  const databaseUrl = await prepareDatabase(postgres.serverUrl, 'credits_outage');
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    REDIS_URL: redis.url,
    LOG_LEVEL: 'silent',
    PORT: '0',
    HOST: '127.0.0.1',
    BULL_PREFIX: '{outage}',
    RELAY_GRACE_MS: '2000',
  });
  runtime = createRuntime({ config, databaseUrl, redisUrl: redis.url, log: createLogger('silent') });
  roles = await startRoles(runtime.ctx, ['api', 'worker']);
  baseUrl = `http://127.0.0.1:${roles.port}`;
  key = (await createApiKey(runtime.ctx.db, { name: 'outage', scopes: ['admin'], now: new Date() })).key;
  for (const [url, body] of [
    ['/v1/credit-types', { code: 'sms', name: 'SMS', unit: 'message' }],
    [
      '/v1/packages',
      {
        code: 'outage',
        name: 'Outage',
        price: 100,
        currency: 'USD',
        validity: { count: 1, unit: 'month' },
        items: [{ credit_type: 'sms', units: 1000 }],
      },
    ],
    ['/v1/clients', { external_ref: 'outage-client', name: 'Outage' }],
    ['/v1/subscriptions', { client: 'outage-client', package: 'outage' }],
  ] as const) {
    const res = await call('POST', url, body);
    expect(res.status, res.text).toBe(201);
    if (url === '/v1/subscriptions') subscriptionId = res.body.id;
  }
  await consumeAndApply();
}, 120_000);

// a test that failed halfway through an outage leaves the next one its services back
afterEach(async () => {
  await Promise.all([redis?.start(), postgres?.start()]);
}, 30_000);

afterAll(async () => {
  if (unavailableMs.length > 0) {
    const sorted = [...unavailableMs].sort((a, b) => a - b);
    const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
    console.log(`[outage] ${sorted.length} answers 503: median ${at(0.5)} ms, max ${at(1)} ms`);
  }
  try {
    await roles?.stop();
    await runtime?.close();
  } finally {
    await redis?.stop();
    await postgres?.stop();
    postgres?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);

describe('outages: 503 unavailable at once, nothing accepted, /readyz tells the truth, recovery by itself', () => {
  it('while Redis is down', async () => {
    const accepted = await count('accepted_jobs');
    const consumptions = await count('consumptions');
    const periods = await count('subscription_periods');
    await redis.stop();

    await until('/readyz says Redis is down', async () => (await call('GET', '/readyz')).status === 503);
    const ready = await call('GET', '/readyz');
    expectUnavailable(ready, true);
    expect(ready.body.checks.redis).toMatch(/^down/);
    expect(ready.body.checks.postgres).toBe('ok');

    expectUnavailable(await call('POST', '/v1/consumptions', consumption()));
    expectUnavailable(await call('POST', '/v1/consumptions/batch', { items: [consumption(), consumption()] }));
    expectUnavailable(
      await call('POST', `/v1/subscriptions/${subscriptionId}/recharge`, undefined, {
        'Idempotency-Key': 'outage-recharge',
      }),
    );
    expectUnavailable(
      await call('POST', `/v1/subscriptions/${subscriptionId}/renew`, undefined, { 'Idempotency-Key': 'outage-renew' }),
    );
    // reads need only Postgres
    expect((await call('GET', '/v1/clients/outage-client/balances')).status).toBe(200);
    // nothing was accepted: no accepted job, no consumption, and the renewal's key is not taken
    expect(await count('accepted_jobs')).toBe(accepted);
    expect(await count('consumptions')).toBe(consumptions);
    expect(await runtime.ctx.db('idempotency_records').where({ key: 'outage-renew' }).first()).toBeUndefined();

    await redis.start();
    await until('/readyz is ready again', async () => (await call('GET', '/readyz')).status === 200);
    await consumeAndApply();
    // the refused renewal, sent again with the same key, is accepted and applied now
    const renew = await call('POST', `/v1/subscriptions/${subscriptionId}/renew`, undefined, {
      'Idempotency-Key': 'outage-renew',
    });
    expect(renew.status, renew.text).toBe(202);
    await until('the renewal is applied', async () => (await count('subscription_periods')) === periods + 1);
  }, 90_000);

  it('while Postgres is down', async () => {
    const before = await runtime.ctx.queues.consumption.getJobCounts(
      'waiting',
      'active',
      'delayed',
      'completed',
      'failed',
    );
    const client = await call('GET', '/v1/clients/outage-client');
    expect(client.status).toBe(200);
    await postgres.stop();

    await until('/readyz says Postgres is down', async () => (await call('GET', '/readyz')).status === 503);
    const ready = await call('GET', '/readyz');
    expectUnavailable(ready, true);
    expect(ready.body.checks.postgres).toMatch(/^down/);
    expect(ready.body.checks.redis).toBe('ok');

    expectUnavailable(await call('GET', '/v1/clients'));
    expectUnavailable(await call('GET', `/v1/clients/${client.body.id}/balances`));
    expectUnavailable(await call('GET', `/v1/subscriptions/${subscriptionId}`));
    expectUnavailable(await call('POST', '/v1/consumptions', consumption()));
    expectUnavailable(await call('POST', '/v1/consumptions/batch', { items: [consumption()] }));
    expectUnavailable(await call('POST', '/v1/clients', { external_ref: 'outage-new', name: 'New' }));
    expectUnavailable(
      await call('POST', `/v1/subscriptions/${subscriptionId}/recharge`, undefined, {
        'Idempotency-Key': 'outage-recharge-2',
      }),
    );
    // nothing reached the queue either
    expect(
      await runtime.ctx.queues.consumption.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed'),
    ).toEqual(before);

    await postgres.start();
    await until('/readyz is ready again', async () => (await call('GET', '/readyz')).status === 200);
    expect((await call('GET', '/v1/clients')).status).toBe(200);
    await consumeAndApply();
  }, 90_000);

  it('while both are down, /readyz names both; then both come back', async () => {
    await Promise.all([redis.stop(), postgres.stop()]);
    await until('/readyz names both', async () => {
      const ready = await call('GET', '/readyz');
      return ready.status === 503 && /^down/.test(ready.body.checks.redis) && /^down/.test(ready.body.checks.postgres);
    });
    expectUnavailable(await call('POST', '/v1/consumptions', consumption()));
    await Promise.all([redis.start(), postgres.start()]);
    await until('/readyz is ready again', async () => (await call('GET', '/readyz')).status === 200);
    await consumeAndApply();
  }, 90_000);
});

describe('the Redis settings the queues depend on are checked at start', () => {
  const warnings: string[] = [];
  const log = { warn: (_: object, message: string) => void warnings.push(message) };

  it('says nothing when appendonly is yes and the policy noeviction', async () => {
    const result = await checkRedisSettings(runtime.ctx.redis, log);
    expect(result).toEqual({ appendonly: 'yes', maxmemoryPolicy: 'noeviction', warnings: [] });
  });

  it('warns (and does not fail) when they are not, or when Redis will not tell', async () => {
    const careless = new ChaosRedis(await freePort(), path.join(dir, 'careless'), path.join(dir, 'careless.log'), [
      '--appendonly',
      'no',
      '--maxmemory-policy',
      'allkeys-lru',
    ]);
    const managed = new ChaosRedis(await freePort(), path.join(dir, 'managed'), path.join(dir, 'managed.log'), [
      '--rename-command',
      'CONFIG',
      '""',
    ]);
    await Promise.all([careless.start(), managed.start()]);
    const a = createRedis(careless.url, 'worker');
    const b = createRedis(managed.url, 'worker');
    try {
      const loose = await checkRedisSettings(a, log);
      expect(loose.appendonly).toBe('no');
      expect(loose.maxmemoryPolicy).toBe('allkeys-lru');
      expect(loose.warnings).toHaveLength(2);
      expect(loose.warnings[0]).toMatch(/appendonly no.*appendonly yes/);
      expect(loose.warnings[1]).toMatch(/allkeys-lru.*noeviction/);
      const refused = await checkRedisSettings(b, log);
      expect(refused.warnings).toHaveLength(1);
      expect(refused.warnings[0]).toMatch(/could not read the Redis settings/);
      expect(warnings).toEqual([...loose.warnings, ...refused.warnings]);
    } finally {
      a.disconnect();
      b.disconnect();
      await Promise.all([careless.stop(), managed.stop()]);
    }
  });
});
