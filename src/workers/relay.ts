import pg from 'pg';
import type { Job } from 'bullmq';
import type { AppContext } from '../app-context.js';
import { arrays } from '../db/knex.js';
import { COMMAND_TYPES, type OutboxEventRow } from '../db/repositories/outbox.js';
import { deliverJob, rechargeJob, type RechargeData } from '../jobs/definitions.js';
import { failureFromReason } from '../jobs/job-error.js';
import { rechargeFingerprint } from '../jobs/recharge.js';
import { enqueueAccepted, recordAccepted, type JobToAccept } from '../services/accept.js';
import { liveEndpoints } from '../webhooks/endpoints.js';
import { newId } from '../ids.js';
import type { QueueName } from '../queue/names.js';

/** How long a request may sit accepted before the relay checks that Redis still holds its job. */
export const ACCEPTED_GRACE_MS = 30_000;
const BATCH = 500;

const isCommand = (type: string): boolean => (COMMAND_TYPES as readonly string[]).includes(type);

const deliveryJobOptions = (app: AppContext) => ({ attempts: app.config.WEBHOOK_MAX_ATTEMPTS, backoff: { type: 'exponential' as const, delay: app.config.WEBHOOK_BACKOFF_MS } });

/**
 * Moves committed outbox events on: one delivery row per subscribed webhook endpoint and, for the
 * service's own commands (an automatic recharge), an accepted job — both in the transaction that
 * marks the events dispatched — then enqueues them. Several relays may run: rows are claimed with
 * SKIP LOCKED. Returns how many events it dispatched.
 */
export async function dispatchOutbox(app: AppContext): Promise<number> {
  const toEnqueue = await app.db.transaction(async (tx) => {
    const events = (await tx('outbox_events').whereNull('dispatched_at').orderBy('seq').limit(BATCH).forUpdate().skipLocked()) as OutboxEventRow[];
    if (events.length === 0) return null;
    const endpoints = await liveEndpoints(tx);
    const now = new Date();
    const deliveries: Array<{ id: string; endpoint_id: string; event_id: string }> = [];
    const commands: JobToAccept[] = [];
    for (const event of events) {
      if (isCommand(event.type)) {
        if (event.type === 'command.auto_recharge') {
          const data = event.payload.data as { subscription_id: string; balance_id: string };
          const job: RechargeData = { subscription_id: data.subscription_id, idempotency_key: `auto-${data.balance_id}`, auto: true, accepted_at: event.created_at.toISOString() };
          commands.push({ queue: rechargeJob.queue, name: rechargeJob.name, jobId: rechargeJob.jobId(job), data: job as Record<string, unknown>, requestHash: rechargeFingerprint(job), subjectId: data.subscription_id });
        }
        continue;
      }
      for (const endpoint of endpoints) {
        if (endpoint.events.includes('*') || endpoint.events.includes(event.type)) deliveries.push({ id: newId(), endpoint_id: endpoint.id, event_id: event.id });
      }
    }
    let created: string[] = [];
    if (deliveries.length > 0) {
      const result = await tx.raw<{ rows: Array<{ id: string }> }>(
        `INSERT INTO webhook_deliveries (id, endpoint_id, event_id, status, attempts, next_attempt_at, created_at)
         SELECT d.id, d.endpoint_id, d.event_id, 'pending', 0, ?, ? FROM unnest(?::uuid[], ?::uuid[], ?::uuid[]) AS d(id, endpoint_id, event_id)
         ON CONFLICT (endpoint_id, event_id) DO NOTHING RETURNING id`,
        arrays([now, now, deliveries.map((d) => d.id), deliveries.map((d) => d.endpoint_id), deliveries.map((d) => d.event_id)]),
      );
      created = result.rows.map((r) => r.id);
    }
    if (commands.length > 0) {
      const recorded = await recordAccepted(tx, commands);
      if (!recorded.ok) app.log.error({ detail: recorded.detail }, 'an automatic recharge clashed with an earlier one');
    }
    await tx('outbox_events').whereIn('seq', events.map((e) => e.seq.toString())).update({ dispatched_at: now });
    return { count: events.length, created, commands };
  });
  if (!toEnqueue) return 0;
  // After the commit. If Redis fails here, the pending rows stay and the sweeps below re-enqueue them.
  if (toEnqueue.created.length > 0) {
    await app.queues.webhooks.addBulk(toEnqueue.created.map((id) => ({ name: deliverJob.name, data: { delivery_id: id }, opts: { ...deliveryJobOptions(app), jobId: deliverJob.jobId({ delivery_id: id }) } })));
  }
  if (toEnqueue.commands.length > 0) await enqueueAccepted(app, toEnqueue.commands);
  return toEnqueue.count;
}

interface AcceptedRow {
  job_id: string;
  queue: QueueName;
  name: string;
  data: Record<string, unknown>;
}

/**
 * Requests the API accepted (written to Postgres first) whose job Redis no longer holds — Redis lost
 * its data, or the enqueue after the commit failed — are enqueued again under the same job id. A job
 * that failed for good is forgotten here (its failure is in BullMQ); one that ran out of retries on
 * a transient error is retried. Returns how many jobs it (re)enqueued or retried.
 */
export async function requeueAccepted(app: AppContext): Promise<number> {
  const now = Date.now();
  const rows = (await app.db('accepted_jobs')
    .where('accepted_at', '<', new Date(now - ACCEPTED_GRACE_MS))
    .andWhere((q) => q.whereNull('last_enqueued_at').orWhere('last_enqueued_at', '<', new Date(now - ACCEPTED_GRACE_MS)))
    .orderBy('accepted_at')
    .limit(BATCH)) as AcceptedRow[];
  let moved = 0;
  const touched: string[] = [];
  const done: string[] = [];
  for (const row of rows) {
    const queue = app.queues[row.queue];
    const job = (await queue.getJob(row.job_id)) as Job | undefined;
    if (!job) {
      await queue.add(row.name, row.data, { jobId: row.job_id });
      moved += 1;
      touched.push(row.job_id);
      continue;
    }
    const state = await job.getState();
    if (state === 'completed') done.push(row.job_id);
    else if (state === 'failed') {
      if (failureFromReason(job.failedReason)) done.push(row.job_id);
      else {
        await job.retry('failed');
        moved += 1;
        touched.push(row.job_id);
      }
    } else touched.push(row.job_id);
  }
  if (done.length > 0) await app.db('accepted_jobs').whereIn('job_id', done).delete();
  if (touched.length > 0) {
    await app.db('accepted_jobs').whereIn('job_id', touched).update({ last_enqueued_at: new Date(now), enqueue_attempts: app.db.raw('enqueue_attempts + 1') });
  }
  return moved;
}

/** Pending webhook deliveries whose job Redis no longer holds are enqueued again. */
export async function requeueDeliveries(app: AppContext): Promise<number> {
  const rows = (await app.db('webhook_deliveries')
    .where({ status: 'pending' })
    .andWhere('next_attempt_at', '<', new Date(Date.now() - ACCEPTED_GRACE_MS))
    .orderBy('next_attempt_at')
    .limit(BATCH)
    .select('id')) as Array<{ id: string }>;
  let moved = 0;
  for (const { id } of rows) {
    const jobId = deliverJob.jobId({ delivery_id: id });
    const job = (await app.queues.webhooks.getJob(jobId)) as Job | undefined;
    if (!job) {
      await app.queues.webhooks.add(deliverJob.name, { delivery_id: id }, { ...deliveryJobOptions(app), jobId });
      moved += 1;
    } else if ((await job.getState()) === 'failed') {
      await job.retry('failed');
      moved += 1;
    }
  }
  return moved;
}

/**
 * Runs the outbox dispatch as soon as a transaction commits an event (LISTEN/NOTIFY) and every
 * `intervalMs` anyway, and the two recovery sweeps every few seconds. Runs in each worker process.
 */
export class Relay {
  private timer: NodeJS.Timeout | undefined;
  private listener: pg.Client | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private lastSweep = 0;

  constructor(
    private readonly app: AppContext,
    private readonly options: { intervalMs: number; sweepEveryMs?: number } = { intervalMs: app.config.RELAY_INTERVAL_MS },
  ) {}

  async start(): Promise<void> {
    this.timer = setInterval(() => this.kick(), this.options.intervalMs);
    await this.listen();
    this.kick();
  }

  private async listen(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({ connectionString: this.app.databaseUrl, application_name: 'credits-relay' });
    client.on('notification', () => this.kick());
    client.on('error', (error) => {
      this.app.log.warn({ err: error }, 'relay listener lost its connection; polling until it is back');
      this.listener = undefined;
      setTimeout(() => void this.listen(), 2_000).unref();
    });
    try {
      await client.connect();
      await client.query('LISTEN credits_outbox');
      this.listener = client;
    } catch (error) {
      this.app.log.warn({ err: error }, 'relay cannot LISTEN yet; polling');
      await client.end().catch(() => undefined);
      setTimeout(() => void this.listen(), 2_000).unref();
    }
  }

  /** Asks for a pass; passes never overlap, and a kick during one asks for another. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.pass().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  private async pass(): Promise<void> {
    try {
      while (!this.stopped && (await dispatchOutbox(this.app)) === BATCH) {
        // a full batch: more may be waiting
      }
      if (Date.now() - this.lastSweep >= (this.options.sweepEveryMs ?? 5_000)) {
        this.lastSweep = Date.now();
        await requeueAccepted(this.app);
        await requeueDeliveries(this.app);
      }
    } catch (error) {
      this.app.log.warn({ err: error }, 'relay pass failed; it will run again');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
    await this.listener?.end().catch(() => undefined);
  }
}
