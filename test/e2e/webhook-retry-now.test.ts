import { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import { createRedis } from '../../src/queue/redis.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { Receiver } from '../helpers/receiver.js';

/**
 * POST /v1/webhook-deliveries/{id}/retry on a delivery that waits for its next attempt (its last one failed, and
 * the backoff puts the next an hour away) sends it now, as it says: the row's `next_attempt_at` and the job agree.
 */
let app: TestApp;
let receiver: Receiver;

beforeAll(async () => {
  app = await startTestApp({
    roles: ['api', 'worker'],
    now: '2026-04-01T00:00:00.000Z',
    // the first retry an hour after a failure: only a retry by hand can come sooner
    env: { WEBHOOK_BACKOFF_MS: '3600000', WEBHOOK_MAX_ATTEMPTS: '5', WEBHOOK_ALLOW_PRIVATE: 'true' },
  });
  receiver = new Receiver();
  await receiver.start();
});
afterAll(async () => {
  await app.close();
  receiver.stop();
});

describe('a retry by hand of a delivery waiting for its next attempt', () => {
  it('sends it now, not when its backoff ends', async () => {
    const endpoint = await app.request('POST', '/v1/webhook-endpoints', {
      body: { url: receiver.url, events: ['subscription.created'] },
    });
    expect(endpoint.status, endpoint.text).toBe(201);
    const connection = createRedis(app.ctx.redisTarget, 'worker');
    const events = new QueueEvents('webhooks', { connection, prefix: app.ctx.config.BULL_PREFIX });
    try {
      await events.waitUntilReady();
      const delayed = new Promise<string>((resolve) => events.once('delayed', ({ jobId }) => resolve(jobId)));

      receiver.statuses = [500];
      const ct = await createCreditType(app);
      const pkg = await createPackage(app, [{ credit_type: ct.code, units: 5 }]);
      const client = await createClient(app);
      await subscribe(app, client.id, pkg.code);
      await receiver.until(1);
      const jobId = await delayed;
      const [delivery] = await app.database.db('webhook_deliveries').where({ endpoint_id: endpoint.body.id });
      expect(jobId).toBe(`delivery|${delivery!.id}`);
      expect(delivery).toMatchObject({ status: 'pending', attempts: 1 });
      expect(new Date(delivery!.next_attempt_at).getTime()).toBeGreaterThan(Date.now() + 30 * 60_000);

      const retried = await app.request('POST', `/v1/webhook-deliveries/${delivery!.id}/retry`);
      expect(retried.status, retried.text).toBe(202);
      // the second attempt comes now (the receiver answers 200 this time), not an hour away
      const done = await awaitOutcome(app.ctx, 'deliver', jobId, { timeoutMs: 20_000 });
      expect(done).toMatchObject({ state: 'completed', value: { status: 'delivered', attempts: 2 } });
      expect(receiver.received).toHaveLength(2);
      const [after] = await app.database.db('webhook_deliveries').where({ id: delivery!.id });
      expect(after).toMatchObject({ status: 'delivered', attempts: 2 });
      expect(receiver.received[1]!.headers['webhook-id']).toBe(receiver.received[0]!.headers['webhook-id']);
    } finally {
      await events.close();
      connection.disconnect();
    }
  });
});
