import type { NextFunction, Request, Response } from 'express';
import { problemBody, sendProblem } from './problem.js';

/** Probes answer for themselves while draining: alive (/healthz), not ready (/readyz). */
const PROBES = new Set(['/healthz', '/readyz']);

/**
 * The API's side of a graceful shutdown (SIGTERM). While it drains, the listener still answers —
 * closing it at once would leave a load balancer with refused connections instead of a clear "not
 * ready" — but it takes no new work:
 *
 * - /readyz answers 503 (`checks.shutdown: "draining"`), so traffic moves elsewhere; /healthz stays 200;
 * - any other new request is refused with 503 `unavailable`: nothing was recorded, and the caller
 *   retries the same request (API.md), reaching another process;
 * - requests admitted before the signal run to their answer (a `?wait=true` gets its job's result,
 *   or 202 if the wait must end first);
 * - every answer while draining closes its connection, so that no idle keep-alive connection holds
 *   the listener open.
 *
 * `whenIdle` says when no admitted request is left: then the listener can close.
 */
export class HttpDrain {
  private draining = false;
  private admitted = 0;
  private readonly idleWaiters: Array<() => void> = [];

  begin(): void {
    this.draining = true;
    this.wakeIfIdle();
  }

  /** Resolves once draining and no admitted request is still being answered. */
  whenIdle(): Promise<void> {
    return new Promise((resolve) => {
      this.idleWaiters.push(resolve);
      this.wakeIfIdle();
    });
  }

  /** Before anything that does work (app.ts `drainGate`): counts what it admits, refuses what comes while draining. */
  admit(req: Request, res: Response, next: NextFunction): void {
    if (!this.draining) {
      this.admitted += 1;
      // 'close' follows the end of every response, sent or cut
      res.once('close', () => {
        this.admitted -= 1;
        this.wakeIfIdle();
      });
      next();
      return;
    }
    res.set('connection', 'close');
    res.locals.draining = true;
    if (PROBES.has(req.path)) {
      next();
      return;
    }
    sendProblem(
      res,
      problemBody('unavailable', 'the service is shutting down; nothing was accepted, retry the same request'),
      { 'retry-after': '1' },
    );
  }

  private wakeIfIdle(): void {
    if (!this.draining || this.admitted > 0) return;
    for (const wake of this.idleWaiters.splice(0)) wake();
  }
}

/** Whether this request came while the API drains (set by `HttpDrain.admit`): /readyz then answers 503. */
export const isDraining = (res: Response): boolean => res.locals.draining === true;
