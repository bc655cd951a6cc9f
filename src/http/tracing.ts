import { SpanStatusCode } from '@opentelemetry/api';
import type { NextFunction, Request, Response } from 'express';
import { startRequestSpan } from '../telemetry.js';

/**
 * The SERVER span of each request (installed only when tracing is on): it continues a caller's
 * `traceparent`, everything the request does runs inside it (acceptance, enqueue, SQL), and it ends
 * with the answer, named by the route that answered.
 */
export function traceRequests() {
  return function traceRequest(req: Request, res: Response, next: NextFunction): void {
    const { span, run } = startRequestSpan(req.method, req.headers);
    res.on('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path;
      if (route) {
        span.updateName(`${req.method} ${route}`);
        span.setAttribute('http.route', route);
      }
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    run(next);
  };
}
