import type { Job } from 'bullmq';
import type { AppContext } from '../app-context.js';
import { acceptGroup, type Command, enqueue, type Routed, requeueLost, route } from '../commands/index.js';
import { directDatabaseUrl } from '../config.js';
import { type Listening, listen } from '../db/listen.js';
import { claimUndispatched, markDispatched, OUTBOX_CHANNEL } from '../db/repositories/outbox.js';
import { createDeliveries, pendingDeliveriesDue, relayEndpoints } from '../db/repositories/webhooks.js';
import { withTransaction } from '../db/transact.js';
import { endpointReceives } from '../domain/endpoint-window.js';
import { COMMAND_TYPES } from '../domain/event.js';
import { newId } from '../ids.js';
import { jobIdOf } from '../jobs/definitions.js';
import { rechargeFingerprint } from '../jobs/recharge.js';
import { relayRequeued } from '../metrics.js';
import { stepDone } from '../queue/job-step.js';
import { WEBHOOK_BACKOFF_TYPE } from '../webhooks/retry-schedule.js';

const BATCH = 500;

const isCommand = (type: string): boolean => (COMMAND_TYPES as readonly string[]).includes(type);

/**
 * A webhook delivery's job: WEBHOOK_MAX_ATTEMPTS attempts, retried by the workers' `webhook` backoff strategy
 * (capped exponential with jitter: src/webhooks/retry-schedule.ts).
 */
const deliveryJob = (app: AppContext, deliveryId: string): Routed<'deliver'> =>
  route({
    name: 'deliver',
    data: { delivery_id: deliveryId },
    options: {
      attempts: app.config.WEBHOOK_MAX_ATTEMPTS,
      backoff: { type: WEBHOOK_BACKOFF_TYPE },
    },
  });

/**
 * Moves committed outbox events on: one delivery row per subscribed webhook endpoint and, for the
 * service's own commands (an automatic recharge), an accepted command — both in the transaction that
 * marks the events dispatched — then enqueues them. Several relays may run: rows are claimed with
 * SKIP LOCKED. Returns how many events it dispatched.
 */
export async function dispatchOutbox(app: AppContext): Promise<number> {
  const toEnqueue = await withTransaction(app.db, async (tx) => {
    const events = await claimUndispatched(tx, BATCH);
    if (events.length === 0) return null;
    const endpoints = await relayEndpoints(tx);
    const now = new Date();
    const deliveries: Array<{ id: string; endpoint_id: string; event_id: string }> = [];
    const commands: Array<Command<'recharge'>> = [];
    for (const event of events) {
      if (isCommand(event.type)) {
        if (event.type === 'command.auto_recharge') {
          const data = event.payload.data as { subscription_id: string; balance_id: string };
          const recharge = {
            subscription_id: data.subscription_id,
            idempotency_key: `auto-${data.balance_id}`,
            auto: true,
            accepted_at: event.created_at.toISOString(),
          };
          commands.push({
            name: 'recharge',
            data: recharge,
            requestHash: rechargeFingerprint(recharge),
            subjectId: data.subscription_id,
          });
        }
        continue;
      }
      for (const endpoint of endpoints) {
        if (endpointReceives(endpoint, event)) {
          deliveries.push({ id: newId(), endpoint_id: endpoint.id, event_id: event.id });
        }
      }
    }
    const created = await createDeliveries(tx, deliveries, now);
    // each automatic recharge a request of its own: one whose key clashes with an earlier request is refused alone,
    // not with every other of the batch (whose events are marked dispatched all the same). One request per job id,
    // as acceptGroup asks: two events of one balance are the same recharge (its key names the balance).
    const distinct = [...new Map(commands.map((c) => [route(c).jobId, c])).values()];
    const results = await acceptGroup(
      tx,
      distinct.map((c) => ({ commands: [c] })),
    );
    const admitted = results.flatMap((accepted) => {
      if (accepted.ok) return accepted.value;
      app.log.error({ detail: accepted.detail }, 'an automatic recharge clashed with an earlier one');
      return [];
    });
    await markDispatched(
      tx,
      events.map((e) => e.seq),
      now,
    );
    return { count: events.length, created, commands: admitted };
  });
  if (!toEnqueue) return 0;
  // After the commit. If Redis fails here, the pending rows stay and the sweeps below enqueue them again.
  await enqueue(
    app,
    toEnqueue.created.map((id) => deliveryJob(app, id)),
    { accepted: false },
  );
  await enqueue(app, toEnqueue.commands);
  return toEnqueue.count;
}

/**
 * Pending webhook deliveries whose job Redis no longer holds are enqueued again (and one whose job
 * failed on a transient error is retried), a batch at a time until none is due.
 */
export async function requeueDeliveries(app: AppContext, graceMs = app.config.RELAY_GRACE_MS): Promise<number> {
  let moved = 0;
  for (let after: string | undefined; ; ) {
    const ids = await pendingDeliveriesDue(app.db, { before: new Date(Date.now() - graceMs), after, limit: BATCH });
    if (ids.length === 0) break;
    const jobIds = ids.map((id) => jobIdOf('deliver', { delivery_id: id }));
    const states = await Promise.all(jobIds.map((jobId) => app.queues.webhooks.getJobState(jobId)));
    // a delivery still to make whose job completed gave up (its endpoint was disabled then, and has
    // been enabled since): that job is removed, so that the delivery's job id is free again
    // (a job another relay or a worker took meanwhile cannot be removed or run again: looked at next time, and the
    // sweep goes on with the rest rather than end at the first)
    for (const [index, jobId] of jobIds.entries()) {
      if (states[index] !== 'completed') continue;
      const job = (await app.queues.webhooks.getJob(jobId)) as Job | undefined;
      if (await stepDone(job?.remove())) states[index] = 'unknown';
    }
    const missing = ids.filter((_, index) => states[index] === 'unknown');
    if (missing.length > 0) {
      await enqueue(
        app,
        missing.map((id) => deliveryJob(app, id)),
        { accepted: false },
      );
      moved += missing.length;
      relayRequeued.inc({ kind: 'delivery' }, missing.length);
      app.log.warn({ count: missing.length }, 'webhook deliveries were missing from Redis; enqueued them again');
    }
    for (const [index, jobId] of jobIds.entries()) {
      if (states[index] !== 'failed') continue;
      const job = (await app.queues.webhooks.getJob(jobId)) as Job | undefined;
      if (job && (await stepDone(job.retry('failed')))) moved += 1;
    }
    if (ids.length < BATCH) break;
    after = ids[ids.length - 1];
  }
  return moved;
}

/**
 * Runs the outbox dispatch as soon as a transaction commits an event (LISTEN/NOTIFY) and every
 * `intervalMs` anyway, and the two recovery sweeps every few seconds. Runs in each worker process.
 */
export class Relay {
  private timer: NodeJS.Timeout | undefined;
  private listener: Listening | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private lastSweep = 0;

  constructor(
    private readonly app: AppContext,
    private readonly options: { intervalMs: number; sweepEveryMs?: number } = {
      intervalMs: app.config.RELAY_INTERVAL_MS,
      sweepEveryMs: Math.min(5_000, app.config.RELAY_GRACE_MS),
    },
  ) {}

  async start(): Promise<void> {
    this.timer = setInterval(() => this.kick(), this.options.intervalMs);
    await this.listen();
    this.kick();
  }

  /**
   * Whatever ends the listening connection (an error, the server closing it, a failed connect), listen again: polling
   * covers the gap.
   */
  private async listen(): Promise<void> {
    if (this.stopped) return;
    const retry = (error: unknown, message: string) => {
      this.listener = undefined;
      if (this.stopped) return;
      this.app.log.warn({ err: error }, message);
      setTimeout(() => void this.listen(), 2_000).unref();
    };
    try {
      const listening = await listen(directDatabaseUrl(this.app.config, this.app.databaseUrl), OUTBOX_CHANNEL, {
        applicationName: 'credits-relay',
        onNotify: () => this.kick(),
        onLost: (error) => retry(error, 'relay listener lost its connection; polling until it is back'),
      });
      if (this.stopped) {
        await listening.end();
        return;
      }
      this.listener = listening;
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
        await requeueLost(this.app);
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
    await this.listener?.end();
  }
}
