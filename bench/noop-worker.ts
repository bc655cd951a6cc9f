import { Worker } from 'bullmq';
import { loadConfig } from '../src/config.js';
import { createRedis } from '../src/queue/redis.js';

/**
 * The raw BullMQ ceiling: a worker that does nothing, with the same connection setup, queue,
 * prefix and concurrency as the consumption worker. Run as its own process by bench/run.ts.
 */
const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = process.env.BULL_PREFIX ?? '{bench}';
// the consumption worker's concurrency, unless the bench asks for another (to find the ceiling)
const concurrency = Number(process.env.NOOP_CONCURRENCY ?? loadConfig().CONSUMPTION_CONCURRENCY);

const connection = createRedis(url, 'worker');
const worker = new Worker('consumption', async () => undefined, { connection, prefix, concurrency });
await worker.waitUntilReady();
process.stdout.write('ready\n');

const stop = async () => {
  await worker.close();
  connection.disconnect();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
