import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, REPO_ROOT, ServiceProcess } from '../../chaos/services.js';
import { awaitOutcome } from '../../src/commands/index.js';
import { jobIdOf } from '../../src/jobs/definitions.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { metricSample } from '../helpers/prometheus.js';
import { serviceEnv } from '../helpers/service-env.js';

/**
 * Issue 16, every role observable: a worker-only and a scheduler-only process (`ROLES=worker`,
 * `ROLES=scheduler`, real processes) answer /healthz, /readyz and /metrics on their own port; the
 * worker's metrics count the jobs it ran (duration per job name, uses by outcome), every process's
 * metrics read the queues by state and the accepted-but-not-applied backlog, and a SIGTERM makes
 * /readyz say 503 before the process exits 0.
 */
const dir = path.join(REPO_ROOT, '.data', `test-roles-${randomBytes(4).toString('hex')}`);

describe('worker-only and scheduler-only processes are observable', () => {
  let app: TestApp;
  beforeAll(async () => {
    mkdirSync(dir, { recursive: true });
    // the processes run on the system clock: the data is made at the same time
    app = await startTestApp({ now: new Date().toISOString() });
  });
  afterAll(async () => {
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answer /healthz, /readyz and /metrics on their own port, with queue, backlog and job figures', async () => {
    const sms = await createCreditType(app, { code: 'obs-sms' });
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 100 }]);
    const client = await createClient(app);
    await subscribe(app, client.id, pkg.code);
    // accepted (202) before any worker runs: the backlog every role's /metrics reads
    const jobs: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const use = { client: client.id, credit_type: sms.code, quantity: 2, idempotency_key: `obs-${i}` };
      const res = await app.request('POST', '/v1/consumptions', { key: app.keys.write, body: use });
      expect(res.status, res.text).toBe(202);
      jobs.push(jobIdOf('consume', use));
    }

    const start = async (role: 'worker' | 'scheduler') => {
      const port = await freePort();
      const service = new ServiceProcess(
        role,
        role,
        { ...serviceEnv(app, port, dir), BUSINESS_TZ: 'UTC' },
        path.join(dir, `${role}.log`),
      );
      await service.waitUp(60_000);
      return { service, base: `http://127.0.0.1:${port}` };
    };
    // scraped as Prometheus does: no key (a worker's or scheduler's port serves nothing else)
    const metricsOf = async (base: string) => {
      const res = await fetch(`${base}/metrics`);
      expect(res.status).toBe(200);
      return await res.text();
    };

    // a scheduler alone: probes, and the backlog the API accepted (nothing applies it yet)
    const scheduler = await start('scheduler');
    const worker = { current: undefined as Awaited<ReturnType<typeof start>> | undefined };
    try {
      expect((await fetch(`${scheduler.base}/healthz`)).status).toBe(200);
      const ready = await fetch(`${scheduler.base}/readyz`);
      expect(ready.status, await ready.clone().text()).toBe(200);
      // a route of the API is not served here
      expect((await fetch(`${scheduler.base}/v1/credit-types`)).status).toBe(404);
      const before = await metricsOf(scheduler.base);
      expect(metricSample(before, 'credits_accepted_jobs')).toBe(3);
      expect(metricSample(before, 'credits_accepted_jobs_oldest_age_seconds')).toBeGreaterThanOrEqual(0);
      expect(metricSample(before, 'credits_queue_jobs', { queue: 'consumption', state: 'waiting' })).toBe(3);
      for (const state of ['active', 'delayed', 'failed', 'prioritized'])
        expect(metricSample(before, 'credits_queue_jobs', { queue: 'consumption', state })).toBe(0);
      expect(metricSample(before, 'credits_outbox_lag_seconds')).toBeGreaterThanOrEqual(0);
      expect(metricSample(before, 'credits_webhook_deliveries_pending')).toBe(0);

      // a worker alone applies them; its metrics say what it ran
      worker.current = await start('worker');
      const base = worker.current.base;
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      const outcomes = await Promise.all(
        jobs.map((id) => awaitOutcome(app.ctx, 'consume', id, { timeoutMs: 30_000, untilAdded: true })),
      );
      expect(outcomes.map((o) => o.state)).toEqual(['completed', 'completed', 'completed']);
      // the worker counts a job as it hears of its end, as the test does: read again if it is behind
      let text = await metricsOf(base);
      for (let i = 0; i < 20 && metricSample(text, 'credits_consumptions_total', { status: 'applied' }) !== 3; i += 1)
        text = await metricsOf(base);
      expect(metricSample(text, 'credits_consumptions_total', { status: 'applied' }), text).toBe(3);
      expect(metricSample(text, 'credits_job_duration_seconds_count', { queue: 'consumption', name: 'consume' })).toBe(
        3,
      );
      expect(metricSample(text, 'credits_consumption_batch_size_sum')).toBe(3);
      expect(metricSample(text, 'credits_accepted_jobs')).toBe(0);
      expect(metricSample(text, 'credits_queue_jobs', { queue: 'consumption', state: 'waiting' })).toBe(0);

      // SIGTERM: not ready while it drains, then a clean exit
      const draining = new Promise<void>((resolve) => {
        let seen = '';
        worker.current!.service.child.stdout!.on('data', (chunk: Buffer) => {
          seen += chunk.toString('utf8');
          if (seen.includes('"msg":"draining')) resolve();
        });
      });
      worker.current.service.stoppedOnPurpose = true;
      worker.current.service.child.kill('SIGTERM');
      await Promise.race([draining, worker.current.service.exited]);
      const duringDrain = await fetch(`${base}/readyz`).catch(() => undefined);
      if (duringDrain) expect(duringDrain.status).toBe(503);
      expect(await worker.current.service.exited).toEqual({ code: 0, signal: null });
    } finally {
      for (const s of [scheduler.service, worker.current?.service]) {
        if (!s) continue;
        s.stoppedOnPurpose = true;
        s.child.kill('SIGTERM');
        await s.exited;
      }
    }
    const log = readFileSync(path.join(dir, 'worker.log'), 'utf8');
    expect(log).toContain('"msg":"credits is up"');
  }, 120_000);
});
