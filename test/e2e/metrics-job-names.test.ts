import { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis } from '../../src/queue/redis.js';
import { startTestApp, type TestApp } from '../helpers/app.js';

/**
 * `credits_jobs_total{queue,name,outcome}` and `credits_job_duration_seconds{queue,name}` took the job's name as
 * pushed: a producer may push any name (the worker fails it, validation_failed), and each one made series of its
 * own in every worker process for as long as it ran — a producer naming jobs by their id grew /metrics without
 * bound. A name the registry does not know for its queue is counted as `unknown`.
 */
let app: TestApp;
let events: QueueEvents;
beforeAll(async () => {
  app = await startTestApp({ roles: ['api', 'worker'] });
  events = new QueueEvents('maintenance', {
    connection: createRedis(app.ctx.redisTarget, 'worker'),
    prefix: app.prefix,
  });
  await events.waitUntilReady();
});
afterAll(async () => {
  await events?.close();
  await app?.close();
});

describe('the job name label', () => {
  it('counts a name its queue does not know as unknown, never as pushed', async () => {
    const names = ['made-up-1', 'made-up-2', 'made-up-3'];
    const failed = new Set<string>();
    const allFailed = new Promise<void>((resolve) =>
      events.on('failed', ({ jobId }) => {
        failed.add(jobId);
        if (failed.size === names.length) resolve();
      }),
    );
    for (const name of names) await app.ctx.queues.maintenance.add(name, {}, { jobId: `r17-${name}` });
    await allFailed;
    const metrics = await app.request('GET', '/metrics');
    const lines = metrics.text
      .split('\n')
      .filter((line) => /^credits_job(s_total|_duration_seconds_count)\{/.test(line));
    for (const name of names)
      expect(
        lines.filter((line) => line.includes(name)),
        name,
      ).toEqual([]);
    expect(lines).toContainEqual(
      expect.stringMatching(/^credits_jobs_total\{queue="maintenance",name="unknown",outcome="failed"\} 3$/),
    );
  });
});
