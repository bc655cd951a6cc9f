/**
 * What the front door's middleware costs per request, against a bare express route in the same run
 * (issue 14, "per-request costs paid once"). Absolute rates swing between runs on a shared two-core
 * host; ratios to the bare route measured in the same run, interleaved, much less.
 *
 * Servers in this process, each loaded in turn by autocannon (GET, keep-alive, a Bearer key),
 * the sequence repeated `--rounds` times so that a neighbour's load that comes and goes is spread over
 * all of them:
 *   bare     express 5 + express.json() + one route answering a small JSON body;
 *   id_and_log, headers, auth, limit   bare + one of the pieces below alone (limit: a fixed key id);
 *   pieces   bare + the per-request pieces this issue changed, as they are now: request id and log
 *            line (request-log.ts), precomputed security headers, the key from the verifier's cache,
 *            the in-process rate limit (rate-limit.ts);
 *   before   bare + the same pieces as they were: pino-http (child logger per request), helmet run per
 *            request, express-rate-limit counting in Redis (rate-limit-redis, one round trip each);
 *   service  the service's whole stack (buildApp: the pieces, metrics, drain gate, body parser,
 *            route table step, handler plumbing) with one read route answering the same body.
 * Printed: each one's req/s per round, its ratio to the bare route (the mean of the bare rounds), and
 * the time each adds per request (1/rate − 1/bare rate); and, steadier on a shared host, the CPU this
 * process spent per request (server and the in-process autocannon client alike, so a variant's extra
 * CPU over the bare one is what its middleware costs): `_cpu_ratio` = bare CPU/request ÷ its own
 * (1 = free), `_cpu_added_us`. One JSON line on stdout.
 *
 *   node --import tsx bench/middleware.ts [--seconds 5] [--connections 50] [--rounds 3]
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import express, { type NextFunction, type Request, type Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import { type RedisReply, RedisStore } from 'rate-limit-redis';
import { loadConfig } from '../src/config.js';
import { buildApp } from '../src/http/app.js';
import { type AuthContext, createApiKey, presentedKey } from '../src/http/auth.js';
import { keyRateLimit } from '../src/http/rate-limit.js';
import { requestLog, securityHeaders } from '../src/http/request-log.js';
import { type AnyRoute, defineRoute } from '../src/http/route.js';
import { newId } from '../src/ids.js';
import { createLogger } from '../src/logger.js';
import { createRuntime } from '../src/runtime.js';
import { openScratch } from './scratch.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '3' },
  },
});
const seconds = Number(args.seconds);
const connections = Number(args.connections);
const rounds = Number(args.rounds);

const config = loadConfig({ ...process.env, LOG_LEVEL: 'info', RATE_LIMIT_PER_MINUTE: '10000000' });
const scratch = await openScratch('bench', config);
// production's level (info): a 200 writes no line; the lines that are written go nowhere
const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
const runtime = createRuntime({
  config: { ...config, BULL_PREFIX: scratch.prefix },
  databaseUrl: scratch.databaseUrl,
  redisUrl: scratch.redisUrl,
  log: createLogger('info', 'credits', sink),
});
const ctx = runtime.ctx;
if (ctx.redis.status !== 'ready') await once(ctx.redis, 'ready');
const { key } = await createApiKey(ctx.db, { name: 'bench', scopes: ['read'], now: new Date() });
const BODY = { ok: true, items: [1, 2, 3] };

const bareApp = () => {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(express.json());
  return app;
};

/** Authentication as the service does it, from the verifier's cache. */
const authenticate = async (req: Request, res: Response, next: NextFunction) => {
  const presented = presentedKey(req);
  const auth = presented ? await ctx.keys.verify(presented) : null;
  if (!auth) {
    res.status(401).end();
    return;
  }
  res.locals.auth = auth;
  next();
};

const answer = (_req: Request, res: Response) => {
  res.json(BODY);
};

const bare = bareApp();
bare.get('/x', answer);

const pieces = bareApp();
pieces.use(requestLog(pieces, ctx.log));
pieces.use(securityHeaders({ contentSecurityPolicy: false, crossOriginEmbedderPolicy: false }));
pieces.get('/x', authenticate, keyRateLimit(ctx), answer);

const before = bareApp();
before.use(
  pinoHttp({
    logger: ctx.log,
    genReqId: (req, res) => {
      const given = req.headers['x-request-id'];
      const id = typeof given === 'string' && /^[\w.-]{1,100}$/.test(given) ? given : newId();
      res.setHeader('x-request-id', id);
      return id;
    },
    customLogLevel: (_req, res, error) =>
      res.statusCode === 503
        ? 'warn'
        : error || res.statusCode >= 500
          ? 'error'
          : res.statusCode >= 400
            ? 'info'
            : 'debug',
    autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' },
    serializers: {
      req: (req: { id: unknown; method: unknown; url: unknown }) => ({ id: req.id, method: req.method, url: req.url }),
    },
  }),
);
before.use(helmet({ contentSecurityPolicy: false, crossOriginEmbedderPolicy: false }));
const store = new RedisStore({
  prefix: `${scratch.prefix}:before-ratelimit:`,
  sendCommand: (command: string, ...rest: string[]) => ctx.redis.call(command, ...rest) as Promise<RedisReply>,
});
before.get(
  '/x',
  authenticate,
  rateLimit({
    windowMs: 60_000,
    limit: config.RATE_LIMIT_PER_MINUTE,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    store,
    passOnStoreError: true,
    keyGenerator: (_req, res) => `key:${(res.locals.auth as AuthContext | undefined)?.keyId ?? 'anonymous'}`,
    skip: (_req, res) => res.locals.auth === undefined || ctx.redis.status !== 'ready',
  }),
  answer,
);

// each changed piece alone on the bare route
const idAndLog = bareApp();
idAndLog.use(requestLog(idAndLog, ctx.log));
idAndLog.get('/x', answer);
const headers = bareApp();
headers.use(securityHeaders({ contentSecurityPolicy: false, crossOriginEmbedderPolicy: false }));
headers.get('/x', answer);
const auth = bareApp();
auth.get('/x', authenticate, answer);
const limit = bareApp();
const benchKey: AuthContext = { keyId: 'bench-limit', name: 'bench', scopes: ['read'] };
limit.get(
  '/x',
  (_req: Request, res: Response, next: NextFunction) => {
    res.locals.auth = benchKey;
    next();
  },
  keyRateLimit(ctx),
  answer,
);

const benchRoute = defineRoute({
  method: 'get',
  path: '/x',
  access: 'read',
  summary: 'bench',
  tag: 'bench',
  responses: { 200: { description: 'ok' } },
  handler: async () => ({ status: 200, body: BODY }),
});
const service = buildApp(ctx, [benchRoute as AnyRoute]).app;

const listen = (app: express.Express) =>
  new Promise<{ server: Server; url: string }>((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({ server, url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/x` });
    });
  });

const variants = {
  bare: await listen(bare),
  id_and_log: await listen(idAndLog),
  headers: await listen(headers),
  auth: await listen(auth),
  limit: await listen(limit),
  pieces: await listen(pieces),
  before: await listen(before),
  service: await listen(service),
};
type Variant = keyof typeof variants;

const load = (url: string, duration: number) =>
  new Promise<{ rate: number; non2xx: number; p99: number; cpuUs: number }>((resolve, reject) => {
    const cpu = process.cpuUsage();
    autocannon(
      { url, connections, duration, headers: { authorization: `Bearer ${key}` } },
      (error: unknown, result: autocannon.Result) => {
        if (error) {
          reject(error);
          return;
        }
        const used = process.cpuUsage(cpu);
        resolve({
          rate: result.requests.total / result.duration,
          non2xx: result.non2xx,
          p99: result.latency.p99,
          cpuUs: (used.user + used.system) / Math.max(1, result.requests.total),
        });
      },
    );
  });

const names = Object.keys(variants) as Variant[];
const perVariant = <T>(make: () => T) => Object.fromEntries(names.map((n) => [n, make()])) as Record<Variant, T>;
const rates = perVariant<number[]>(() => []);
const non2xx = perVariant(() => 0);
const p99 = perVariant<number[]>(() => []);
const cpuUs = perVariant<number[]>(() => []);
// a short warm-up of each (JIT, the key cache, the Lua scripts), not counted
for (const variant of names) await load(variants[variant].url, 1);
for (let round = 0; round < rounds; round += 1) {
  for (const variant of names) {
    const figures = await load(variants[variant].url, seconds);
    rates[variant].push(Math.round(figures.rate));
    non2xx[variant] += figures.non2xx;
    p99[variant].push(figures.p99);
    cpuUs[variant].push(Math.round(figures.cpuUs));
    process.stderr.write(
      `round ${round + 1} ${variant}: ${Math.round(figures.rate)} req/s, p99 ${figures.p99} ms, ` +
        `${Math.round(figures.cpuUs)} µs CPU/request\n`,
    );
  }
}

const mean = (values: number[]) => values.reduce((s, v) => s + v, 0) / values.length;
const bareRate = mean(rates.bare);
const bareCpu = mean(cpuUs.bare);
const line: Record<string, unknown> = {
  bench: 'middleware',
  at: new Date().toISOString(),
  seconds,
  connections,
  rounds,
  bare_rps: rates.bare,
  bare_cpu_us: cpuUs.bare,
};
for (const variant of names.filter((n) => n !== 'bare')) {
  const rate = mean(rates[variant]);
  line[`${variant}_rps`] = rates[variant];
  line[`${variant}_ratio`] = Number((rate / bareRate).toFixed(3));
  line[`${variant}_added_us_per_request`] = Math.round((1 / rate - 1 / bareRate) * 1e6);
  line[`${variant}_cpu_us`] = cpuUs[variant];
  line[`${variant}_cpu_ratio`] = Number((bareCpu / mean(cpuUs[variant])).toFixed(3));
  line[`${variant}_cpu_added_us`] = Math.round(mean(cpuUs[variant]) - bareCpu);
}
line.p99_ms = p99;
line.non2xx = non2xx;
process.stdout.write(`${JSON.stringify(line)}\n`);

for (const { server } of Object.values(variants)) {
  server.closeAllConnections();
  server.close();
}
await runtime.close();
await scratch.finish({ keep: false });
