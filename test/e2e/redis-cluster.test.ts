import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { awaitOutcome } from '../../src/commands/index.js';
import { consumptionId } from '../../src/ids.js';
import { jobIdOf } from '../../src/jobs/definitions.js';
import { CreditsProducer } from '../../src/producer/index.js';
import { verifyInvariants } from '../../src/services/verify.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { createClient, createCreditType, createPackage, subscribe } from '../helpers/fixtures.js';
import { type RedisCluster, startRedisCluster } from '../helpers/redis-cluster.js';

/**
 * Issue 17, BullMQ on Redis Cluster: the service (API, workers, QueueEvents, relay) and the typed
 * producer run on a 3-master cluster of `redis-server --cluster-enabled yes` (REDIS_CLUSTER_NODES).
 * Mid-run the master that holds the queues' slot (every key is under the BULL_PREFIX hash tag) is
 * killed; its replica takes over. Nothing is lost: every use the API accepted is applied once (the
 * relay enqueues again what the failover dropped), and the producer's stream, replayed after the
 * failover as its guarantee says, is applied once too.
 */
describe('BullMQ on a Redis Cluster, through a master failover', () => {
  let cluster: RedisCluster;
  let app: TestApp;
  beforeAll(async () => {
    cluster = await startRedisCluster();
    app = await startTestApp({
      roles: ['api', 'worker'],
      env: {
        REDIS_CLUSTER_NODES: cluster.nodesSetting,
        RELAY_GRACE_MS: '1000',
        RELAY_INTERVAL_MS: '200',
        RATE_LIMIT_PER_MINUTE: '1000000',
      },
    });
  }, 60_000);
  afterAll(async () => {
    await app?.close();
    await cluster?.stop();
  });

  it('applies every accepted use once, and the replayed producer stream once, across the failover', async () => {
    const sms = await createCreditType(app, { code: 'cl-sms' });
    const pkg = await createPackage(app, [{ credit_type: sms.code, units: 10_000 }]);
    const client = await createClient(app);
    const sub = await subscribe(app, client.id, pkg.code);
    const use = (key: string) => ({ client: client.id, credit_type: sms.code, quantity: 1, idempotency_key: key });

    // a client that retries the same request while the cluster fails over (503 or no answer), as a caller should
    const send = async (key: string): Promise<void> => {
      for (let attempt = 0; ; attempt += 1) {
        const res = await app
          .request('POST', '/v1/consumptions', { key: app.keys.write, body: use(key) })
          .catch(() => undefined);
        if (res && (res.status === 202 || res.status === 200)) return;
        if (res && res.status !== 503) throw new Error(`${key}: ${res.status} ${res.text}`);
        if (attempt > 200) throw new Error(`${key}: not accepted through the failover`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const producer = new CreditsProducer({
      connection: { url: inject('redisUrl'), clusterNodes: cluster.nodes },
      prefix: app.prefix,
      now: () => app.clock.now(),
    });
    const produced = Array.from({ length: 30 }, (_, i) => use(`p-${i}`));
    try {
      const before = Array.from({ length: 100 }, (_, i) => `a-${i}`);
      await Promise.all(before.map(send));
      await Promise.all(produced.map((u) => producer.consume(u)));

      const master = await cluster.masterOf(app.prefix);
      const after = Array.from({ length: 100 }, (_, i) => `b-${i}`);
      const during = Promise.all(after.map(send));
      await cluster.kill(master);
      const promoted = await cluster.failedOver(app.prefix, master, 30_000);
      expect(promoted).not.toBe(master);
      await during;

      // the producer's guarantee is Redis's durability: after a failover it replays what it sent (idempotent)
      for (const u of produced) {
        for (let attempt = 0; ; attempt += 1) {
          const done = await producer.consume(u).then(
            () => true,
            () => false,
          );
          if (done) break;
          if (attempt > 100) throw new Error('the producer could not reach the promoted master');
          await new Promise((r) => setTimeout(r, 50));
        }
      }

      const keys = [...before, ...after, ...produced.map((u) => u.idempotency_key)];
      // the producer's jobs, by their own ids
      const outcomes = await Promise.all(
        produced.map((u) =>
          awaitOutcome(app.ctx, 'consume', jobIdOf('consume', u), { timeoutMs: 30_000, untilAdded: true }),
        ),
      );
      // the API's uses travel in a consume job of their own or, grouped, in a consume-batch carrier (issue 14)
      // that the failover may have dropped (the relay then sends each use again on its own): waited for as the
      // fact itself — each use's consumption row — for at most 30 s
      const apiKeys = [...before, ...after];
      let statuses = new Map<string, string>();
      await vi
        .waitFor(
          async () => {
            const found = (await app.database
              .db('consumptions')
              .whereIn(
                'id',
                apiKeys.map((k) => consumptionId(client.id, k)),
              )
              .select('idempotency_key', 'status')) as Array<{ idempotency_key: string; status: string }>;
            statuses = new Map(found.map((r) => [r.idempotency_key, r.status]));
            if (statuses.size < apiKeys.length) throw new Error(`${statuses.size} of ${apiKeys.length} uses written`);
          },
          { timeout: 30_000, interval: 50 },
        )
        // past the bound the check below names each use still missing
        .catch(() => undefined);
      const notApplied = [
        ...apiKeys.map((key) => ({ key, status: statuses.get(key) })),
        ...outcomes.map((o, i) => ({
          key: produced[i]!.idempotency_key,
          status: o.state === 'completed' ? o.value.status : o.state,
        })),
      ].filter((o) => o.status !== 'applied');
      expect(notApplied).toEqual([]);

      // exactly once: one row per key, the balance moved by the count
      const rows = await app.database.db('consumptions').where({ client_id: client.id }).select('id');
      expect(new Set(rows.map((r) => r.id))).toEqual(new Set(keys.map((k) => consumptionId(client.id, k))));
      const [balance] = await app.database.db('balances').where({ subscription_id: sub.id }).select('consumed');
      expect(BigInt(balance!.consumed)).toBe(BigInt(keys.length));
      expect((await verifyInvariants(app.database.db)).violations).toEqual([]);
    } finally {
      await producer.close();
    }
  }, 120_000);
});
