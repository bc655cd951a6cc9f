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
 * a transient error is retried. Each row is looked at once per `graceMs`, a batch at a time until
 * none is due (after Redis lost its data there may be many). Returns how many jobs it (re)enqueued
 * or retried.
 */
export async function requeueAccepted(app: AppContext, graceMs = app.config.RELAY_GRACE_MS): Promise<number> {
  let moved = 0;
  for (;;) {
    const now = Date.now();
    const due = new Date(now - graceMs);
    const rows = (await app.db('accepted_jobs')
      .where('accepted_at', '<', due)
      .andWhere((q) => q.whereNull('last_enqueued_at').orWhere('last_enqueued_at', '<', due))
      .orderBy('accepted_at')
      .limit(BATCH)
      .select('job_id', 'queue', 'name', 'data')) as AcceptedRow[];
    if (rows.length === 0) break;
    const states = await Promise.all(rows.map((row) => app.queues[row.queue].getJobState(row.job_id)));
    const missing: AcceptedRow[] = [];
    const touched: string[] = [];
    const done: string[] = [];
    for (const [index, row] of rows.entries()) {
      const state = states[index];
      if (state === 'unknown') {
        missing.push(row);
        touched.push(row.job_id);
      } else if (state === 'completed') done.push(row.job_id);
      else if (state === 'failed') {
        const job = (await app.queues[row.queue].getJob(row.job_id)) as Job | undefined;
        if (job && failureFromReason(job.failedReason)) done.push(row.job_id);
        else {
          await job?.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
          moved += 1;
          touched.push(row.job_id);
        }
      } else touched.push(row.job_id);
    }
    if (missing.length > 0) {
      await enqueueAccepted(app, missing.map((row) => ({ queue: row.queue, name: row.name, jobId: row.job_id, data: row.data, requestHash: '' })));
      moved += missing.length;
      app.log.warn({ count: missing.length }, 'accepted requests were missing from Redis; enqueued them again');
    }
    if (done.length > 0) await app.db('accepted_jobs').whereIn('job_id', done).delete();
    if (touched.length > 0) {
      await app.db('accepted_jobs').whereIn('job_id', touched).update({ last_enqueued_at: new Date(now), enqueue_attempts: app.db.raw('enqueue_attempts + 1') });
    }
    if (rows.length < BATCH) break;
  }
  return moved;
}

/**
 * Pending webhook deliveries whose job Redis no longer holds are enqueued again (and one whose job
 * failed on a transient error is retried), a batch at a time until none is due.
 */
export async function requeueDeliveries(app: AppContext, graceMs = app.config.RELAY_GRACE_MS): Promise<number> {
  let moved = 0;
  for (let after = '00000000-0000-0000-0000-000000000000'; ; ) {
    const rows = (await app.db('webhook_deliveries')
      .where({ status: 'pending' })
      .andWhere('next_attempt_at', '<', new Date(Date.now() - graceMs))
      .andWhere('id', '>', after)
      .orderBy('id')
      .limit(BATCH)
      .select('id')) as Array<{ id: string }>;
    if (rows.length === 0) break;
    const jobIds = rows.map(({ id }) => deliverJob.jobId({ delivery_id: id }));
    const states = await Promise.all(jobIds.map((jobId) => app.queues.webhooks.getJobState(jobId)));
    const missing = rows.filter((_, index) => states[index] === 'unknown');
    if (missing.length > 0) {
      await app.queues.webhooks.addBulk(
        missing.map(({ id }) => ({ name: deliverJob.name, data: { delivery_id: id }, opts: { ...deliveryJobOptions(app), jobId: deliverJob.jobId({ delivery_id: id }) } })),
      );
      moved += missing.length;
      app.log.warn({ count: missing.length }, 'webhook deliveries were missing from Redis; enqueued them again');
    }
    for (const [index, jobId] of jobIds.entries()) {
      if (states[index] !== 'failed') continue;
      const job = (await app.queues.webhooks.getJob(jobId)) as Job | undefined;
      await job?.retry('failed');
      moved += 1;
    }
    if (rows.length < BATCH) break;
    after = rows[rows.length - 1]!.id;
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
    private readonly options: { intervalMs: number; sweepEveryMs?: number } = { intervalMs: app.config.RELAY_INTERVAL_MS, sweepEveryMs: Math.min(5_000, app.config.RELAY_GRACE_MS) },
  ) {}

  async start(): Promise<void> {
    this.timer = setInterval(() => this.kick(), this.options.intervalMs);
    await this.listen();
    this.kick();
  }

  private async listen(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({ connectionString: this.app.databaseUrl, application_name: 'credits-relay' });
    // Whatever ends this connection (an error, the server closing it, a failed connect), listen
    // again once: polling covers the gap.
    let retrying = false;
    const retry = (error: unknown, message: string) => {
      if (retrying || this.stopped) return;
      retrying = true;
      if (this.listener === client) this.listener = undefined;
      this.app.log.warn({ err: error }, message);
      void client.end().catch(() => undefined);
      setTimeout(() => void this.listen(), 2_000).unref();
    };
    client.on('notification', () => this.kick());
    client.on('error', (error) => retry(error, 'relay listener lost its connection; polling until it is back'));
    client.on('end', () => retry(undefined, 'relay listener connection ended; polling until it is back'));
    try {
      await client.connect();
      await client.query('LISTEN credits_outbox');
      if (retrying || this.stopped) {
        await client.end().catch(() => undefined);
        return;
      }
      this.listener = client;
      // events committed while nobody listened are picked up now, not at the next poll
      this.kick();
    } catch (error) {
      retry(error, 'relay cannot LISTEN yet; polling');
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
