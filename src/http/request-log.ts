import { randomUUID } from 'node:crypto';
import type express from 'express';
import type { NextFunction, Request, Response } from 'express';
import helmet, { type HelmetOptions } from 'helmet';
import type { Logger } from '../logger.js';

declare module 'http' {
  interface IncomingMessage {
    /**
     * The request id: the caller's `X-Request-Id` when it is a sane token, else a random UUID (v4: it
     * names a request in the logs, nothing sorts by it, and it costs a tenth of a v7).
     */
    id: string;
    /** The process logger bound to this request (`req: {id, method, url}`); made on first use only. */
    log: Logger;
  }
}

const SANE_ID = /^[\w.-]{1,100}$/;
const UNLOGGED = new Set(['/healthz', '/readyz']);

type Level = 'debug' | 'info' | 'warn' | 'error';

/** A 503 is an outage the service answers as designed (logged once as such), not an error of its own. */
const levelOf = (status: number): Level =>
  status === 503 ? 'warn' : status >= 500 ? 'error' : status >= 400 ? 'info' : 'debug';

interface LoggedRequest {
  _log?: Logger;
  _started?: number;
}

/**
 * Request ids and one log line per request, at the price of what is actually written: the id is
 * read or made and echoed in `X-Request-Id`; the per-request logger (`req.log`, a pino child with
 * `req: {id, method, url}`) is made only when something logs through it; the closing line
 * (`request completed`, or `request errored` for a 5xx, with `res.statusCode` and `responseTime`) is
 * built only when its level is enabled — a 2xx is `debug`, so at `info` a good request serializes
 * nothing. /healthz and /readyz are not logged.
 */
export function requestLog(app: express.Express, log: Logger) {
  // `req.log` lives on this app's request prototype: a getter that makes the child once, when asked
  Object.defineProperty(app.request, 'log', {
    configurable: true,
    get(this: Request & LoggedRequest): Logger {
      this._log ??= log.child({ req: { id: this.id, method: this.method, url: this.originalUrl } });
      return this._log;
    },
    set(this: Request & LoggedRequest, value: Logger) {
      this._log = value;
    },
  });

  return function requestId(req: Request, res: Response, next: NextFunction): void {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && SANE_ID.test(given) ? given : randomUUID();
    req.id = id;
    res.setHeader('x-request-id', id);
    const url = req.url;
    if (!UNLOGGED.has(url) && log.isLevelEnabled('error')) {
      const started = performance.now();
      res.once('finish', () => {
        const status = res.statusCode;
        const level = levelOf(status);
        if (!log.isLevelEnabled(level)) return;
        const fields = {
          req: { id, method: req.method, url: req.originalUrl },
          res: { statusCode: status },
          responseTime: Math.round(performance.now() - started),
        };
        log[level](fields, status >= 500 ? 'request errored' : 'request completed');
      });
    }
    next();
  };
}

/**
 * Helmet's headers, computed once: helmet is run against a stand-in response when the app is built,
 * and every answer then gets the recorded list, set with no option parsing per request.
 */
export function securityHeaders(options: Readonly<HelmetOptions>) {
  const headers: Array<[string, string]> = [];
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      headers.push([name.toLowerCase(), String(value)]);
    },
    removeHeader() {},
  };
  helmet(options)({} as never, recorder as never, () => {});
  return function precomputedHeaders(_req: Request, res: Response, next: NextFunction): void {
    for (const [name, value] of headers) res.setHeader(name, value);
    next();
  };
}
