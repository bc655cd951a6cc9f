/**
 * The reference route of `npm run load`, run by it in a process of its own: express 5, `express.json()`
 * and one BullMQ `queue.add` per request, answering 202 — the ceiling of "accept a JSON request and put it
 * on a queue" on this machine, against which the service's `POST /v1/consumptions` is read.
 *
 * It does what every such front door must do and nothing else: no authentication, no validation, no
 * Postgres. It adds the job the way the service does (a job id per request from the consume rule, the
 * service's default job options, a producer connection with the service's settings), on the same Redis,
 * under a queue name and prefix of its own that no worker reads.
 *
 *   env: REDIS_URL, BARE_PREFIX, BARE_QUEUE, PORT, HOST
 */
import { Queue } from 'bullmq';
import express from 'express';
import { jobIds } from '../src/jobs/job-id.js';
import { DEFAULT_JOB_OPTIONS } from '../src/queue/queues.js';
import { createRedis } from '../src/queue/redis.js';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = process.env.BARE_PREFIX ?? '{load-bare}';
const queueName = process.env.BARE_QUEUE ?? 'bare-consumption';
const port = Number(process.env.PORT ?? 0);
const host = process.env.HOST ?? '127.0.0.1';

const connection = createRedis(redisUrl, 'producer');
const queue = new Queue(queueName, { connection, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
queue.on('error', () => {});

const app = express();
app.use(express.json());
app.post('/v1/consumptions', async (req, res) => {
  const body = req.body as { client?: unknown; idempotency_key?: unknown };
  try {
    const job = await queue.add('consume', body, {
      jobId: jobIds.consume(String(body.client), String(body.idempotency_key)),
    });
    res.status(202).json({ job_id: job.id, status: 'queued' });
  } catch {
    res.status(503).json({ code: 'unavailable' });
  }
});

const server = app.listen(port, host, () => {
  // what `npm run load` waits for before it sends anything
  process.stdout.write('bare route is up\n');
});

process.once('SIGTERM', () => {
  server.close(() => {
    void queue.close().then(() => {
      connection.disconnect();
      process.exit(0);
    });
  });
  // keep-alive connections autocannon left open would hold close() for ever
  server.closeAllConnections();
});
