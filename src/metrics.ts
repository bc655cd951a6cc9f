import type { NextFunction, Request, Response } from 'express';
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/** Prometheus metrics of this process, served at GET /metrics. */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

export const httpDuration = new Histogram({
  name: 'credits_http_request_duration_seconds',
  help: 'HTTP request duration by route and status',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

export const jobsProcessed = new Counter({
  name: 'credits_jobs_total',
  help: 'Jobs finished by queue, name and outcome (completed, rejected, failed)',
  labelNames: ['queue', 'name', 'outcome'] as const,
  registers: [registry],
});

export const consumptionBatchSize = new Histogram({
  name: 'credits_consumption_batch_size',
  help: 'Consumptions applied per transaction',
  buckets: [1, 5, 10, 25, 50, 100, 200, 400, 800],
  registers: [registry],
});

export const consumptionBatchSeconds = new Histogram({
  name: 'credits_consumption_batch_duration_seconds',
  help: 'Duration of one consumption batch transaction',
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
  registers: [registry],
});

export const relayRequeued = new Counter({
  name: 'credits_relay_requeued_total',
  help: 'Jobs the relay enqueued again because Redis no longer held them, by kind (accepted request, webhook delivery)',
  labelNames: ['kind'] as const,
  registers: [registry],
});

export function httpMetrics() {
  return function recordHttpMetrics(req: Request, res: Response, next: NextFunction): void {
    const end = httpDuration.startTimer();
    res.on('finish', () => {
      const route =
        (req.route as { path?: string } | undefined)?.path ??
        (res.statusCode === 404 ? 'unmatched' : req.baseUrl || 'other');
      end({ method: req.method, route, status: String(res.statusCode) });
    });
    next();
  };
}
