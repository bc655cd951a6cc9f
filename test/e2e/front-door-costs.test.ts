import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../chaos/services.js';
import { insertApiKey } from '../../src/db/repositories/api-keys.js';
import { createApiKey, revokeApiKey } from '../../src/http/auth.js';
import { KeyRateLimiter, type RateDecision, unsyncedAllowance } from '../../src/http/rate-limit.js';
import { newId } from '../../src/ids.js';
import { createRedis, untilReady } from '../../src/queue/redis.js';
import { type Sibling, startSibling, startTestApp, type TestApp } from '../helpers/app.js';
import { logCapture } from '../helpers/log-capture.js';

/**
 * What every request pays once per process instead of once per request (issue 14): the API key's
 * check (an in-process cache whose clock the test moves, never a sleep) and the rate limit's count
 * (in-process, synced to Redis, shared by two API processes within the stated bound).
 */

// the caches' clock: the middle of a minute, so that no rate window ends unless the test moves it
let ticks = Date.UTC(2026, 0, 15, 10, 0, 30);
const LIMIT = 600;

let app: TestApp;
let other: Sibling;
beforeAll(async () => {
  app = await startTestApp({ env: { RATE_LIMIT_PER_MINUTE: String(LIMIT) }, ticks: () => ticks });
  other = await startSibling(app, ['api']);
});
afterAll(async () => {
  await other.stop();
  await app.close();
});

const get = (baseUrl: string, key: string, path = '/v1/credit-types') =>
  fetch(baseUrl + path, { headers: { authorization: `Bearer ${key}` } });

const newKey = async (name: string) => createApiKey(app.database.db, { name, scopes: ['read'], now: app.clock.now() });

describe('API keys are checked from a short-lived cache (API_KEY_CACHE_MS, default 5000)', () => {
  it('a key revoked elsewhere works here until the cache entry lapses, and not a moment after', async () => {
    expect(app.ctx.config.API_KEY_CACHE_MS).toBe(5_000);
    const key = await newKey('revoked elsewhere');
    expect((await get(app.baseUrl, key.key)).status).toBe(200);
    // revoked through the other process: that one drops it at once
    expect(await other.ctx.keys.revoke(key.id, app.clock.now())).toBe(true);
    expect((await get(other.baseUrl!, key.key)).status).toBe(401);
    // this process still remembers it as valid, for at most API_KEY_CACHE_MS of its cache clock
    ticks += 4_999;
    expect((await get(app.baseUrl, key.key)).status).toBe(200);
    ticks += 2;
    const after = await get(app.baseUrl, key.key);
    expect(after.status).toBe(401);
    expect(((await after.json()) as { code: string }).code).toBe('unauthorized');
  });

  it('a key revoked in this process is refused at once', async () => {
    const key = await newKey('revoked here');
    expect((await get(app.baseUrl, key.key)).status).toBe(200);
    await app.ctx.keys.revoke(key.id, app.clock.now());
    expect((await get(app.baseUrl, key.key)).status).toBe(401);
  });

  it('a direct write to the database is seen within the bound too', async () => {
    const key = await newKey('revoked by SQL');
    expect((await get(app.baseUrl, key.key)).status).toBe(200);
    await revokeApiKey(app.database.db, key.id, app.clock.now());
    expect((await get(app.baseUrl, key.key)).status).toBe(200);
    ticks += 5_001;
    expect((await get(app.baseUrl, key.key)).status).toBe(401);
  });

  it('remembers "not valid" as well, keyed by a hash of the token, never the token', async () => {
    // a token nobody has yet: refused, and the refusal remembered
    const token = `crd_${randomBytes(6).toString('base64url').slice(0, 8)}${randomBytes(24).toString('base64url')}`;
    expect((await get(app.baseUrl, token)).status).toBe(401);
    await insertApiKey(app.database.db, {
      id: newId(),
      name: 'late',
      prefix: token.slice(0, 12),
      hash: createHash('sha256').update(token, 'utf8').digest(),
      scopes: ['read'],
      created_at: app.clock.now(),
    });
    expect((await get(app.baseUrl, token)).status).toBe(401);
    ticks += 5_001;
    expect((await get(app.baseUrl, token)).status).toBe(200);

    const cache = (app.ctx.keys as unknown as { cache: Map<string, unknown> }).cache;
    expect(cache.size).toBeGreaterThan(0);
    for (const cacheKey of cache.keys()) {
      expect(cacheKey).not.toContain('crd_');
      expect(cacheKey).not.toBe(token);
    }
  });

  it('API_KEY_CACHE_MS=0 reads the key every time', async () => {
    const fresh = await startSibling(app, ['api'], { config: { API_KEY_CACHE_MS: 0 } });
    try {
      const key = await newKey('uncached');
      expect((await get(fresh.baseUrl!, key.key)).status).toBe(200);
      await revokeApiKey(app.database.db, key.id, app.clock.now());
      expect((await get(fresh.baseUrl!, key.key)).status).toBe(401);
    } finally {
      await fresh.stop();
    }
  });
});

describe('the rate limit is counted in each process and shared through Redis', () => {
  it('two API processes together admit the limit, plus at most one unsynced allowance, then 429', async () => {
    // the middle of a later minute on the caches' clock (it only moves forward)
    ticks = Date.UTC(2026, 0, 15, 10, 5, 30);
    const key = await newKey('shared budget');
    const allowance = unsyncedAllowance(LIMIT);
    expect(allowance).toBe(6);
    const bases = [app.baseUrl, other.baseUrl!];
    const statuses: number[] = [];
    const retryAfter: number[] = [];
    let sent = 0;
    const total = LIMIT + 150;
    // 16 callers at once, alternating between the two processes
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (sent < total) {
          const n = sent++;
          const res = await get(bases[n % 2]!, key.key);
          statuses.push(res.status);
          if (res.status === 429) {
            const body = (await res.json()) as { code: string; status: number };
            expect(body).toMatchObject({ code: 'rate_limited', status: 429 });
            retryAfter.push(Number(res.headers.get('retry-after')));
          } else await res.arrayBuffer();
        }
      }),
    );
    const admitted = statuses.filter((s) => s === 200).length;
    const refused = statuses.filter((s) => s === 429).length;
    expect(admitted + refused).toBe(total);
    // nothing refused before the shared count really reached the limit; one extra process's allowance at most
    expect(admitted).toBeGreaterThanOrEqual(LIMIT);
    expect(admitted).toBeLessThanOrEqual(LIMIT + (2 - 1) * allowance);
    // the minute's end is 30 s away on the caches' clock
    for (const seconds of retryAfter) expect(seconds).toBe(30);

    // the counts live in Redis under the queues' hash tag
    const window = Math.floor(ticks / 60_000);
    const stored = Number(await app.ctx.redis.get(`${app.prefix}:ratelimit:${key.id}:${window}`));
    expect(stored).toBeGreaterThan(0);
    expect(stored).toBeLessThanOrEqual(admitted);

    // a new minute, a new budget
    ticks += 60_000;
    const next = await get(other.baseUrl!, key.key);
    expect(next.status).toBe(200);
    expect(next.headers.get('ratelimit')).toMatch(new RegExp(`^limit=${LIMIT}, remaining=\\d+, reset=\\d+$`));
    expect(next.headers.get('ratelimit-policy')).toBe(`${LIMIT};w=60`);
  });
});

describe('many requests of one key at once, in several processes', () => {
  it('admit the limit plus at most one unsynced allowance per other process, however many wait', async () => {
    const limit = 100;
    const prefix = `${app.prefix}-burst`;
    const now = Date.UTC(2026, 0, 15, 11, 0, 10);
    const processes = Array.from({ length: 3 }, () => {
      const redis = createRedis(app.ctx.redisUrl, 'producer');
      return { redis, limiter: new KeyRateLimiter(redis, prefix, limit, 200, () => now) };
    });
    try {
      await Promise.all(processes.map((p) => untilReady(p.redis, 5_000)));
      // 300 requests of one key in each process at the same moment
      const decisions = await Promise.all(
        processes.flatMap((p) => Array.from({ length: 300 }, () => Promise.resolve(p.limiter.take('burst')))),
      );
      const admitted = decisions.filter((d) => d.allowed).length;
      expect(admitted).toBeGreaterThanOrEqual(limit);
      expect(admitted).toBeLessThanOrEqual(limit + (processes.length - 1) * unsyncedAllowance(limit));
    } finally {
      for (const p of processes) {
        await p.limiter.close();
        p.redis.disconnect();
      }
    }
  });
});

describe('a Redis that stops answering without closing its connection', () => {
  it('holds no request for ever: a sync gives up, and the request passes on the local count', async () => {
    // a redis-server of this test's own, then frozen (SIGSTOP): its connection stays up, nothing answers
    const port = await freePort();
    const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', ''], {
      stdio: 'ignore',
    });
    const redis = createRedis(`redis://127.0.0.1:${port}`, 'producer');
    try {
      for (let i = 0; redis.status !== 'ready'; i += 1) {
        if (i > 400) throw new Error('the test redis-server did not start');
        await new Promise((r) => setTimeout(r, 25));
      }
      const now = Date.UTC(2026, 0, 15, 11, 0, 10);
      const limiter = new KeyRateLimiter(redis, app.prefix, 100, 50, () => now);
      server.kill('SIGSTOP');
      expect(redis.status).toBe('ready');
      const decisions = await Promise.all(Array.from({ length: 5 }, () => Promise.resolve(limiter.take('stalled'))));
      expect(decisions.every((d) => d.allowed)).toBe(true);
    } finally {
      server.kill('SIGCONT');
      server.kill('SIGKILL');
      redis.disconnect();
    }
  });
});

describe('while Redis cannot be reached', () => {
  it('each process still holds the limit on its own count, and a new minute starts afresh', async () => {
    const redis = createRedis(app.ctx.redisUrl, 'producer');
    redis.disconnect();
    let now = Date.UTC(2026, 0, 15, 11, 0, 10);
    const limiter = new KeyRateLimiter(redis, app.prefix, 10, 200, () => now);
    const take = async () => (await limiter.take('offline')) as RateDecision;
    const decisions: RateDecision[] = [];
    for (let i = 0; i < 15; i += 1) decisions.push(await take());
    expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
    expect(decisions.at(-1)).toMatchObject({ allowed: false, limit: 10, remaining: 0, resetS: 50 });
    now += 60_000;
    expect((await take()).allowed).toBe(true);
    await limiter.close();
  });
});

describe('one log line per request, built only when its level is on', () => {
  const log = logCapture();
  let logged: TestApp;
  beforeAll(async () => {
    logged = await startTestApp({ env: { LOG_LEVEL: 'debug' }, logTo: log.stream });
  });
  afterAll(async () => {
    await logged.close();
  });
  const about = (id: string) => log.entries().filter((l) => (l.req as { id?: string } | undefined)?.id === id);

  it('logs the request id, method, url, status and time once; a refusal logs through the same id', async () => {
    const ok = await logged.request('GET', '/v1/credit-types', { headers: { 'x-request-id': 'trace-ok' } });
    expect(ok.headers.get('x-request-id')).toBe('trace-ok');
    expect(about('trace-ok')).toEqual([
      expect.objectContaining({
        level: 20,
        msg: 'request completed',
        req: { id: 'trace-ok', method: 'GET', url: '/v1/credit-types' },
        res: { statusCode: 200 },
        responseTime: expect.any(Number),
      }),
    ]);

    const bad = await logged.request('POST', '/v1/credit-types', {
      body: { code: 'Bad Code' },
      headers: { 'x-request-id': 'trace-bad' },
    });
    expect(bad.status).toBe(422);
    const badLines = about('trace-bad');
    expect(badLines.map((l) => l.msg)).toEqual(['request refused: validation failed', 'request completed']);
    expect(badLines[1]).toMatchObject({ level: 30, res: { statusCode: 422 } });
    // the security headers, from the list computed once
    expect(bad.headers.get('x-content-type-options')).toBe('nosniff');
    expect(bad.headers.get('x-frame-options')).toBe('SAMEORIGIN');
  });

  it('at info a good request writes nothing; /healthz is never logged', async () => {
    logged.ctx.log.level = 'info';
    try {
      await logged.request('GET', '/v1/credit-types', { headers: { 'x-request-id': 'trace-quiet' } });
      await logged.request('GET', '/healthz', { key: null, headers: { 'x-request-id': 'trace-health' } });
    } finally {
      logged.ctx.log.level = 'debug';
    }
    await logged.request('GET', '/healthz', { key: null, headers: { 'x-request-id': 'trace-health2' } });
    expect(about('trace-quiet')).toEqual([]);
    expect(about('trace-health')).toEqual([]);
    expect(about('trace-health2')).toEqual([]);
  });
});
