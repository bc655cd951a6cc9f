import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { AppContext } from '../app-context.js';
import type { RedisClient } from '../queue/redis.js';
import type { AuthContext } from './auth.js';
import { problemBody, sendProblem } from './problem.js';

const WINDOW_MS = 60_000;
/** Rounds of syncs a request waits through while Redis answers (each admits another allowance). */
const MAX_SYNC_ROUNDS = 1_000;
/** The least time a sync waits for Redis before it counts as not answered. */
const MIN_SYNC_TIMEOUT_MS = 1_000;

/**
 * How many requests of one key a process may admit on its own before it must hear from Redis again:
 * 1% of the limit, at least 1, at most 100. It is also the error bound per extra process (below).
 */
export const unsyncedAllowance = (limit: number): number => Math.max(1, Math.min(100, Math.floor(limit / 100)));

interface KeyWindow {
  /** The fixed minute this state counts (ticks / WINDOW_MS, floored). */
  window: number;
  /** The shared count of the window as Redis last answered it (every process's sent requests). */
  shared: number;
  /** Admitted here and not yet sent to Redis. */
  pending: number;
  /** Sent to Redis, answer not back yet. */
  sending: number;
  /** A request waits for this key's shared count: read it at the next sync even with nothing to send. */
  wanted: boolean;
}

export interface RateDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the window ends (at least 1). */
  resetS: number;
}

/**
 * Requests per minute per API key (RATE_LIMIT_PER_MINUTE), shared by every API process, without a
 * Redis round trip per request. Each process counts its admissions in memory and sends them to Redis
 * (one pipelined INCRBY per active key, keys `<BULL_PREFIX>:ratelimit:<key id>:<minute>` under the
 * prefix's Redis Cluster hash tag) every RATE_LIMIT_SYNC_MS, and at once when a key has `allowance`
 * requests unsent. A request is admitted while (shared count as last read) + (admitted here since
 * that read) is below the limit; a process that has admitted `allowance` requests since its last read
 * of a key waits for the next read before admitting more.
 *
 * Bound: with P processes, a minute admits at least the limit (nothing is refused before the shared
 * count really reaches it) and at most limit + (P − 1) × allowance, allowance = 1% of the limit
 * (1 to 100). Proof sketch: the process that read last saw every request the others had admitted
 * before their own last reads; each admits at most `allowance` after its last read.
 *
 * While Redis cannot be reached the count stays local (fail open, quietly): each process then admits
 * up to the limit on its own, and what it counted is sent when Redis is back.
 */
export class KeyRateLimiter {
  private readonly keys = new Map<string, KeyWindow>();
  private readonly allowance: number;
  private syncing: Promise<boolean> | null = null;
  private queued: Promise<boolean> | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    readonly limit: number,
    private readonly syncMs: number,
    private readonly ticks: () => number,
  ) {
    this.allowance = unsyncedAllowance(limit);
  }

  private state(keyId: string, window: number): KeyWindow {
    let state = this.keys.get(keyId);
    if (!state || state.window !== window) {
      state = { window, shared: 0, pending: 0, sending: 0, wanted: false };
      this.keys.set(keyId, state);
    }
    return state;
  }

  private decision(state: KeyWindow, allowed: boolean, now: number): RateDecision {
    const used = state.shared + state.pending + state.sending;
    return {
      allowed,
      limit: this.limit,
      remaining: Math.max(0, this.limit - used),
      resetS: Math.max(1, Math.ceil(((state.window + 1) * WINDOW_MS - now) / 1000)),
    };
  }

  /** Counts one request of the key; synchronous unless this process must hear from Redis first. */
  take(keyId: string): RateDecision | Promise<RateDecision> {
    const now = this.ticks();
    const state = this.state(keyId, Math.floor(now / WINDOW_MS));
    const unsent = state.pending + state.sending;
    if (state.shared + unsent >= this.limit) return this.decision(state, false, now);
    if (unsent >= this.allowance && this.redis.status === 'ready') return this.takeAfterSync(keyId);
    return this.admit(state, now);
  }

  private admit(state: KeyWindow, now: number): RateDecision {
    state.pending += 1;
    // a key with its allowance unsent is sent at once (while Redis answers); the rest within syncMs
    if (state.pending + state.sending >= this.allowance && this.redis.status === 'ready') void this.sync();
    else this.arm();
    return this.decision(state, true, now);
  }

  private async takeAfterSync(keyId: string): Promise<RateDecision> {
    // Wait for syncs while Redis answers them: each one lets this process admit another allowance,
    // so the shared bound holds however many requests wait here at once (every round admits some).
    // Only a sync that Redis did not answer lets the request through on the local count (fail open).
    for (let round = 0; round < MAX_SYNC_ROUNDS; round += 1) {
      const window = Math.floor(this.ticks() / WINDOW_MS);
      this.state(keyId, window).wanted = true;
      const heard = await this.sync();
      const now = this.ticks();
      const state = this.state(keyId, Math.floor(now / WINDOW_MS));
      const unsent = state.pending + state.sending;
      if (state.shared + unsent >= this.limit) return this.decision(state, false, now);
      if (unsent < this.allowance || !heard) return this.admit(state, now);
    }
    const now = this.ticks();
    const state = this.state(keyId, Math.floor(now / WINDOW_MS));
    return state.shared + state.pending + state.sending >= this.limit
      ? this.decision(state, false, now)
      : this.admit(state, now);
  }

  /** A sync soon, if none is due: counts are sent within `syncMs` of the request. */
  private arm(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.sync();
    }, this.syncMs);
    this.timer.unref();
  }

  /**
   * Sends what is pending (and reads what is wanted); one sync at a time, the next one queued behind
   * it. Answers whether Redis answered (true when there was nothing to send).
   */
  sync(): Promise<boolean> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (!this.syncing) {
      this.syncing = this.send().finally(() => {
        this.syncing = null;
      });
      return this.syncing;
    }
    this.queued ??= this.syncing.then(() => {
      this.queued = null;
      return this.sync();
    });
    return this.queued;
  }

  private async send(): Promise<boolean> {
    const current = Math.floor(this.ticks() / WINDOW_MS);
    const batch: Array<{ keyId: string; state: KeyWindow; delta: number }> = [];
    for (const [keyId, state] of this.keys) {
      if (state.window < current && state.sending === 0) {
        // a past minute: its count no longer matters to anyone
        this.keys.delete(keyId);
        continue;
      }
      if (state.pending === 0 && !state.wanted) continue;
      batch.push({ keyId, state, delta: state.pending });
      state.sending += state.pending;
      state.pending = 0;
      state.wanted = false;
    }
    if (batch.length === 0) return true;
    if (this.redis.status === 'end') {
      // the connection was closed for good (the process is stopping): nothing can be sent any more
      this.keys.clear();
      return false;
    }
    if (this.redis.status !== 'ready') {
      this.restore(batch);
      this.arm();
      return false;
    }
    const pipeline = this.redis.pipeline();
    for (const { keyId, state, delta } of batch) {
      const redisKey = `${this.prefix}:ratelimit:${keyId}:${state.window}`;
      pipeline.incrby(redisKey, delta);
      pipeline.pexpire(redisKey, 2 * WINDOW_MS);
    }
    // A Redis that stops answering without closing the connection (a partition, a paused server)
    // stays 'ready': the sync gives up after a while, so that no request waits on it for ever. Its
    // counts are sent again later; if the lost round trip did land, they are counted twice — the
    // error then limits more, never less.
    let replies: Array<[Error | null, unknown]> | null;
    let timer: NodeJS.Timeout | undefined;
    try {
      replies = await Promise.race([
        pipeline.exec(),
        new Promise<null>((resolve) => {
          timer = setTimeout(() => resolve(null), Math.max(5 * this.syncMs, MIN_SYNC_TIMEOUT_MS));
        }),
      ]);
    } catch {
      replies = null;
    } finally {
      clearTimeout(timer);
    }
    batch.forEach((item, index) => {
      const [error, total] = replies?.[index * 2] ?? [new Error('no reply'), null];
      item.state.sending -= item.delta;
      if (error || typeof total !== 'number') item.state.pending += item.delta;
      else item.state.shared = Math.max(item.state.shared, total);
    });
    for (const state of this.keys.values()) {
      if (state.pending > 0) {
        this.arm();
        break;
      }
    }
    return replies?.every(([error]) => !error) ?? false;
  }

  private restore(batch: Array<{ state: KeyWindow; delta: number }>): void {
    for (const { state, delta } of batch) {
      state.sending -= delta;
      state.pending += delta;
    }
  }

  /** Sends what is left (on shutdown), and stops the timer. */
  async close(): Promise<void> {
    await this.sync();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/**
 * The route step after authentication: the key, not the address, is what is limited. Answers carry
 * `RateLimit-Policy` and `RateLimit` (IETF draft 7); a refused request gets 429 `rate_limited` with
 * `Retry-After` (seconds until the minute ends). Its `close()` sends what the process admitted and has not sent yet:
 * the API calls it once its requests are answered, when it stops (server.ts), so that a process stopping within a
 * sync interval of its last requests does not leave them out of the shared count.
 */
export function keyRateLimit(app: AppContext): RequestHandler & { close(): Promise<void> } {
  const limiter = new KeyRateLimiter(
    app.redis,
    app.config.BULL_PREFIX,
    app.config.RATE_LIMIT_PER_MINUTE,
    app.config.RATE_LIMIT_SYNC_MS,
    app.ticks,
  );
  const policy = `${limiter.limit};w=${WINDOW_MS / 1000}`;
  const answer = (res: Response, next: NextFunction, decision: RateDecision): void => {
    res.setHeader('ratelimit-policy', policy);
    res.setHeader('ratelimit', `limit=${decision.limit}, remaining=${decision.remaining}, reset=${decision.resetS}`);
    if (decision.allowed) {
      next();
      return;
    }
    sendProblem(
      res,
      problemBody('rate_limited', `more than ${decision.limit} requests a minute with this key; slow down`),
      { 'retry-after': String(decision.resetS) },
    );
  };
  const rateLimit = (_req: Request, res: Response, next: NextFunction): void => {
    const auth = res.locals.auth as AuthContext | undefined;
    // no key, nothing to count
    if (auth === undefined) {
      next();
      return;
    }
    const decision = limiter.take(auth.keyId);
    if (decision instanceof Promise) decision.then((d) => answer(res, next, d), next);
    else answer(res, next, decision);
  };
  return Object.assign(rateLimit, { close: () => limiter.close() });
}
