import type { RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import { type RedisReply, RedisStore } from 'rate-limit-redis';
import type { AppContext } from '../app-context.js';
import type { AuthContext } from './auth.js';
import { problemBody, sendProblem } from './problem.js';

/**
 * Requests per minute per API key (RATE_LIMIT_PER_MINUTE), counted in Redis so that every API
 * process shares one budget. Runs after authentication: the key, not the address, is what is
 * limited. When Redis cannot count, requests pass (the routes that need Redis answer 503 themselves).
 */
export function keyRateLimit(app: AppContext): RequestHandler {
  const store = new RedisStore({
    prefix: 'credits:ratelimit:',
    sendCommand: (command: string, ...args: string[]) => app.redis.call(command, ...args) as Promise<RedisReply>,
  });
  // The store loads its scripts at once; while Redis is down that fails, and it loads them again on
  // first use. Mark the first attempts handled so that an early failure is not an unhandled rejection.
  store.incrementScriptSha.catch(() => {});
  store.getScriptSha.catch(() => {});
  return rateLimit({
    windowMs: 60_000,
    limit: app.config.RATE_LIMIT_PER_MINUTE,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    store,
    passOnStoreError: true,
    keyGenerator: (_req, res) => `key:${(res.locals.auth as AuthContext | undefined)?.keyId ?? 'anonymous'}`,
    // no key, nothing to count; and while Redis is away nothing can be counted (fail open, quietly)
    skip: (_req, res) => res.locals.auth === undefined || app.redis.status !== 'ready',
    handler: (_req, res, _next, options) => {
      sendProblem(
        res,
        problemBody('rate_limited', `more than ${options.limit} requests a minute with this key; slow down`),
        {
          'retry-after': String(Math.ceil(options.windowMs / 1000)),
        },
      );
    },
  });
}
