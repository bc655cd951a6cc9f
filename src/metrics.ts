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

export const jobDuration = new Histogram({
  name: 'credits_job_duration_seconds',
  help:
    'Time from a worker taking a job to its end, by queue and job name ' +
    '(a consumption includes its wait in the micro-batcher)',
  labelNames: ['queue', 'name'] as const,
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});

export const consumptionsApplied = new Counter({
  name: 'credits_consumptions_total',
  help: 'Uses this process applied, by outcome (applied, partial, rejected; a replayed use is not counted again)',
  labelNames: ['status'] as const,
  registers: [registry],
});

export const webhookDeliveriesFailed = new Counter({
  name: 'credits_webhook_deliveries_failed_total',
  help: 'Webhook deliveries given up after their last attempt',
  registers: [registry],
});

export const webhookAttempts = new Counter({
  name: 'credits_webhook_delivery_attempts_total',
  help: 'Webhook delivery attempts, by outcome (delivered, failed)',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

/**
 * The route's template with the path it is mounted under: a router mounted at /ui or /admin/queues names its
 * routes from there (`/clients`, `/`, `/api/queues`), which alone read as the API's or as nothing.
 */
function routeLabel(base: string, path: unknown): string {
  return (Array.isArray(path) ? path : [path]).map((one) => `${base}${String(one)}`).join(',');
}

export function httpMetrics() {
  return function recordHttpMetrics(req: Request, res: Response, next: NextFunction): void {
    const end = httpDuration.startTimer();
    res.on('finish', () => {
      const matched = (req.route as { path?: unknown } | undefined)?.path;
      const route =
        matched !== undefined
          ? routeLabel(req.baseUrl, matched)
          : res.statusCode === 404
            ? 'unmatched'
            : req.baseUrl || 'other';
      end({ method: req.method, route, status: String(res.statusCode) });
    });
    next();
  };
}
